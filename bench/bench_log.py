"""Transparency-log benchmark on the embedded store (a fresh temporary data dir).

    .venv/bin/python bench/bench_log.py [--leaves 1000000]

1. Append 100,000 leaves as one batch and publish one checkpoint (signed, cosigned by the
   default 3 local development witnesses, Ed25519 cosignature/v1).
2. Grow the log to 1,000,000 leaves, then time inclusion and consistency proofs from stored
   subtree hashes, against the baseline of recomputing them from all leaf hashes in memory
   (what a log without stored hashes must do), measured in the same run.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from credshare.anchoring import merkle  # noqa: E402
from credshare.anchoring.cosignature import Cosigner  # noqa: E402
from credshare.anchoring.note import NoteSigner  # noqa: E402
from credshare.storage import open_store  # noqa: E402
from credshare.storage.tlog import TransparencyLog  # noqa: E402


def leaves(start: int, count: int) -> list[bytes]:
    return [b"credential-%d" % i for i in range(start, start + count)]


class HashCounter:
    """Counts interior-node hashes made while proofs are generated."""

    def __init__(self) -> None:
        self.count = 0
        self._original = merkle.node_hash

    def __enter__(self) -> HashCounter:
        def counting(left: bytes, right: bytes) -> bytes:
            self.count += 1
            return hashlib.sha256(b"\x01" + left + right).digest()

        merkle.node_hash = counting
        return self

    def __exit__(self, *exc: object) -> None:
        merkle.node_hash = self._original


def timed_hash_us(n: int = 100_000) -> float:
    left, right = bytes(32), bytes(range(32))
    t = time.perf_counter()
    for _ in range(n):
        merkle.node_hash(left, right)
    return (time.perf_counter() - t) / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leaves", type=int, default=1_000_000)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="credshare-bench-"))
    store = open_store(None, data_dir)
    witnesses = [Cosigner.from_seed(f"bench.example/log/dev-witness/{i + 1}", bytes([i + 1]) * 32) for i in range(3)]
    log = TransparencyLog(store, NoteSigner.from_seed("bench.example/log", bytes(32)), witnesses)

    t0 = time.perf_counter()
    log.append(leaves(0, 100_000))
    append_s = time.perf_counter() - t0
    print(f"append 100,000 leaves + 1 checkpoint (3 witnesses): {append_s:.2f} s "
          f"({append_s / 100_000 * 1e6:.1f} us per leaf)")

    size = 100_000
    while size < args.leaves:
        step = min(200_000, args.leaves - size)
        log.append(leaves(size, step))
        size += step
    size, root = log.head()
    all_hashes = [merkle.document_leaf(leaf) for leaf in leaves(0, size)]
    memory = merkle.memory_subtree(all_hashes)
    rng = random.Random(1)

    def timed(fn, n: int) -> tuple[float, float]:
        times, hashes = [], []
        for _ in range(n):
            with HashCounter() as counter:
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
            hashes.append(counter.count)
        return statistics.median(times) * 1e3, statistics.mean(hashes)

    print(f"\nat {size:,} leaves (root {root.hex()[:16]}...):")
    print(f"{'operation':28} {'stored hashes':>14} {'node hashes':>12} {'recompute':>12} {'ratio':>8}")
    for name, ours, baseline in (
        ("inclusion proof", lambda: log.inclusion_proof(rng.randrange(size)),
         lambda: merkle.inclusion_proof(rng.randrange(size), size, memory)),
        ("consistency proof", lambda: log.consistency_proof(rng.randrange(1, size)),
         lambda: merkle.consistency_proof(rng.randrange(1, size), size, memory)),
    ):
        log._full_chunks.clear()
        cold_ms, _ = timed(ours, 1)
        ours_ms, ours_hashes = timed(ours, 200)
        base_ms, _ = timed(baseline, 3)
        print(f"{name:28} {ours_ms:11.3f} ms {ours_hashes:12.1f} {base_ms:9.1f} ms {ours_ms / base_ms:8.5f}"
              f"   (first, cold cache: {cold_ms:.2f} ms)")
    index = rng.randrange(size)
    assert merkle.verify_inclusion(all_hashes[index], index, size, log.inclusion_proof(index), root)
    per_hash_us = timed_hash_us()
    print(f"\nhashing per proof: node hashes x {per_hash_us:.2f} us = well under a millisecond "
          f"(the rest is reading stored hashes)")
    print(f"data dir: {data_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
