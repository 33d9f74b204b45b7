"""Issuer API batches: ``POST /api/v1/issuers/<id>/batches`` with medical-degree rows, on the
embedded store (worker processes from 2,000 rows on), then the same request again with its
``Idempotency-Key``: the retry must return the same credentials and issue nothing.

    .venv/bin/python bench/bench_api_batch.py [--counts 2000,20000]

Each count runs in a fresh child process (its peak memory is its own) with a fresh data dir.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def row(i: int) -> dict[str, str]:
    return {
        "legal_name": f"Avery {i} Quinn", "given_name": "Avery", "family_name": f"Quinn{i}",
        "former_names": "Avery Smith", "date_of_birth": "1991-04-12",
        "medical_school.name": "Example University School of Medicine", "medical_school.city": "Boston",
        "medical_school.country": "US", "medical_school.identifier": "F0001234", "degree": "MD",
        "program": "MD/PhD", "attendance_start": "2012-08-01", "attendance_end": "2018-05-20",
        "conferral_date": "2018-05-20", "accreditation": "LCME", "npi": "1234567893", "diploma_number": f"D-{i:07d}",
    }


def run(count: int) -> dict:
    from credshare.webapp import create_app

    work = Path(tempfile.mkdtemp(prefix="credshare-api-bench-"))
    app = create_app({"CREDSHARE_DATA_DIR": str(work / "data")})
    svc = app.extensions["credshare"]
    _, token = svc.issuers.create("bench-med", "Bench School of Medicine")
    client = app.test_client()
    body = {"type": "medical-degree", "rows": [row(i) for i in range(count)]}
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"bench-{count}"}
    url = "/api/v1/issuers/bench-med/batches"
    started = time.perf_counter()
    first = client.post(url, json=body, headers=headers)
    seconds = time.perf_counter() - started
    assert first.status_code == 201, first.get_data(as_text=True)[:500]
    answer = first.get_json()
    assert len(answer["credentials"]) == count
    workers = answer["workers"]
    del answer
    size, records = svc.log.head()[0], svc.store.collection("credentials").count()
    started = time.perf_counter()
    again = client.post(url, json=body, headers=headers)
    retry_seconds = time.perf_counter() - started
    assert again.status_code == 201 and again.get_data() == first.get_data(), "the retry returns the first answer"
    assert svc.log.head()[0] == size and svc.store.collection("credentials").count() == records == count
    return {"count": count, "seconds": seconds, "retry_seconds": retry_seconds, "workers": workers,
            "response_mb": len(first.get_data()) / 2**20,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", default="2000,20000")
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run(args.child)))
        return 0
    for count in (int(c) for c in args.counts.split(",")):
        out = subprocess.run([sys.executable, __file__, "--child", str(count)], capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{count:,} rows: failed\n{out.stderr[-3000:]}")
            return 1
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{r['count']:,} rows: 201 in {r['seconds']:.1f} s on {r['workers']} worker(s), "
              f"{r['response_mb']:.0f} MB answer; retry with the same key {r['retry_seconds']:.1f} s, "
              f"nothing issued; peak memory {r['peak_rss_mb']:.0f} MB"
              " (this process, with the test client holding both answers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
