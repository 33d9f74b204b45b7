"""Mirror benchmark (C2SP tlog-tiles): a log on the embedded store (a fresh temporary data
dir) copied by credshare/log_mirror.py into a directory, reading tiles straight from the log's
store (``LogReader.tile_data``, no HTTP), then a second round with one more small batch.

    .venv/bin/python bench/bench_mirror.py [--leaves 70000]

Prints the seconds, the tiles and bundles fetched and written, and the bytes on disk; then
the seconds to compute one inclusion and one consistency proof client side from the mirror's
files (anchoring.tiles.TileReader, every tile read checked against the checkpoint).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from credshare.anchoring.cosignature import Cosigner  # noqa: E402
from credshare.anchoring.note import NoteSigner, open_checkpoint  # noqa: E402
from credshare.anchoring.tiles import TileReader, parse_tile_path  # noqa: E402
from credshare.log_mirror import mirror  # noqa: E402
from credshare.storage import open_store  # noqa: E402
from credshare.storage.tlog import TransparencyLog  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leaves", type=int, default=70_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="credshare-bench-mirror-"))
    store = open_store(None, root / "data")
    signer = NoteSigner.from_seed("bench.example/log", bytes(32))
    log = TransparencyLog(store, signer, [Cosigner.from_seed("bench.example/log/dev-witness/1", bytes([1]) * 32)])
    for start in range(0, args.leaves, 100_000):
        log.append([b"credential-%d" % i for i in range(start, min(start + 100_000, args.leaves))])

    def fetch(path: str) -> bytes | None:
        if path == "checkpoint":
            return log.checkpoint()["note"].encode()
        return log.tile_data(parse_tile_path(path))

    out = root / "mirror"
    for round_ in (1, 2):
        t = time.perf_counter()
        result = mirror(fetch, out, log_key=signer.verifier)
        seconds = time.perf_counter() - t
        on_disk = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        print(f"round {round_}: {result.size:,} leaves in {seconds:.2f} s; fetched {result.fetched}, "
              f"wrote {len(result.written)} files; {on_disk / 1e6:.1f} MB on disk")
        log.append([b"later-%d" % round_])

    checkpoint = open_checkpoint((out / "checkpoint").read_text(), signer.verifier, signer.name)

    def local(path: str) -> bytes | None:
        file = out / path
        return file.read_bytes() if file.is_file() else None

    t = time.perf_counter()
    reader = TileReader(local, checkpoint)
    reader.inclusion_proof(checkpoint.size // 3)
    reader.consistency_proof(checkpoint.size // 2)
    print(f"inclusion + consistency proof from the mirror's files (cold reader): "
          f"{(time.perf_counter() - t) * 1e3:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
