"""One verification, in process: what opening a share costs in store operations and time
(issue 11, item 5), on the embedded store, without a web server.

    .venv/bin/python bench/bench_verify.py [--opens 200] [--detail]

A demo physician shares 3 fields of a medical license (as bench/bench_web.py does). Measured:
the first open (cold caches) and then ``--opens`` more of the same link, each a counted view
with every check re-run (``ShareService.open``), and the gate (``ShareService.gate``, what
``GET /s/<token>`` does). Printed per open: store reads and writes (tests/store_counter.py)
and the median and mean time. ``--detail`` lists the operations by collection.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_web import LICENSE_FIELDS  # noqa: E402

from tests.store_counter import StoreCounter  # noqa: E402

CLIENT = ("203.0.113.7", "bench-verify/1")


def prepare(data_dir: Path) -> tuple[object, str]:
    from credshare.compose import build_services
    from credshare.demo import prepare_demo
    from credshare.foundation.config import load_settings

    svc = build_services(load_settings({**os.environ, "CREDSHARE_DATA_DIR": str(data_dir), "CREDSHARE_ARGON2_PROFILE": "test"}))
    demo = prepare_demo(svc)
    info = svc.accounts.sign_in(demo.email, demo.password, "bench").info
    entry = next(e for e in svc.wallet.entries(info) if getattr(svc.wallet.credential_type(e), "slug", None) == "medical-license")
    link = svc.shares.create(info, entry, LICENSE_FIELDS, holder=svc.accounts.holder_signer(info), days=7)
    return svc, link.token


def measure(fn, n: int, counter: StoreCounter) -> tuple[float, float, float, float]:
    """(reads per call, writes per call, median ms, mean ms) of ``n`` calls of ``fn``."""
    counter.reset()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return counter.reads / n, counter.writes / n, statistics.median(times) * 1e3, statistics.mean(times) * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--opens", type=int, default=200)
    parser.add_argument("--detail", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="credshare-bench-verify-"))
    try:
        return run(args, *prepare(work / "data"))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, svc: object, token: str) -> int:
    shares = svc.shares  # type: ignore[attr-defined]

    def open_once() -> None:
        opened, _ = shares.open(token, CLIENT)
        # every check passes but the witness quorum, which the demo log's own development
        # witnesses never make (unchecked: the outcome is incomplete)
        assert not [c for c in opened.report.checks if c.status != "passed" and c.name != "witness_quorum"] \
            and opened.report.status_of("witness_quorum") == "unchecked", opened.report.to_json()

    with StoreCounter() as counter:
        first = measure(open_once, 1, counter)
        detail = list(counter.by_collection())
        opens = measure(open_once, args.opens, counter)
        detail_warm = [(c, op, n / args.opens) for c, op, n in counter.by_collection()]
        gate = measure(lambda: shares.gate(token, CLIENT), args.opens, counter)
    print(f"{'':34} {'reads':>6} {'writes':>6} {'median':>9} {'mean':>9}")
    for name, (reads, writes, median, mean) in (("first open (cold)", first), (f"open, next {args.opens}", opens),
                                                 (f"gate, {args.opens}", gate)):
        print(f"{name:34} {reads:6.1f} {writes:6.1f} {median:6.2f} ms {mean:6.2f} ms")
    if args.detail:
        print("\nfirst open:", ", ".join(f"{c}.{op} {n}" for c, op, n in detail))
        print("each next open:", ", ".join(f"{c}.{op} {n:g}" for c, op, n in detail_warm))
    return 0


if __name__ == "__main__":
    sys.exit(main())
