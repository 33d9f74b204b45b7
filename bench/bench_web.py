"""Web benchmark: what a verifier's requests cost, next to a Flask hello-world on the same
server configuration, measured in one run (issue 11, item 5).

    .venv/bin/python bench/bench_web.py [--seconds 10] [--connections 16]

Both servers are gunicorn, 2 gthread workers x 4 threads, on 127.0.0.1, each in its own
process group; the load comes from wrk (Debian's ``wrk`` package), 2 threads and 16
connections. Measured:

* hello-world: ``GET /`` answering "hello" (the baseline);
* the share gate page: ``GET /s/<token>`` (what a verifier opens first);
* the full JSON verification: ``GET /api/v1/shares/<token>`` of a share of 3 license fields,
  every check re-run on each request.

Printed: requests per second, p99 latency, and each side's ratio to hello-world. Targets
(issue 11): gate page >= 0.6x, full verification >= 0.35x, p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import free_port, stop_process_group  # noqa: E402

BIN = Path(sys.executable).parent
HELLO = "from flask import Flask\napp = Flask(__name__)\n\n@app.get('/')\ndef hello():\n    return 'hello'\n"
LICENSE_FIELDS = [["licensee_name"], ["license_number"], ["license_status"]]


def wait_until_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def prepare_share(data_dir: Path) -> str:
    """An issuer, a physician holding a medical license, and a link showing 3 of its fields."""
    from credshare.compose import build_services
    from credshare.demo import prepare_demo
    from credshare.foundation.config import load_settings

    svc = build_services(load_settings({**os.environ, "CREDSHARE_DATA_DIR": str(data_dir), "CREDSHARE_ARGON2_PROFILE": "test"}))
    demo = prepare_demo(svc)
    info = svc.accounts.sign_in(demo.email, demo.password, "bench").info
    entry = next(e for e in svc.wallet.entries(info) if getattr(svc.wallet.credential_type(e), "slug", None) == "medical-license")
    link = svc.shares.create(info, entry, LICENSE_FIELDS, holder=svc.accounts.holder_signer(info), days=7)
    svc.store.close()
    return link.token


def wrk(url: str, seconds: int, connections: int) -> tuple[float, float]:
    """(requests per second, p99 latency in ms) of ``url`` under wrk; non-2xx answers fail."""
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"{url}: some answers were not 2xx\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return rate, float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    opts = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench_web needs wrk: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="credshare-bench-web-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREDSHARE_", "MONGODB_"))}
    env.update(CREDSHARE_DATA_DIR=str(work / "data"), CREDSHARE_ARGON2_PROFILE="test")
    token = prepare_share(work / "data")
    (work / "hello.py").write_text(HELLO)
    hello_port, cs_port = free_port(), free_port()
    hello = start([str(BIN / "gunicorn"), "-w", "2", "--threads", "4", "-k", "gthread", "-b", f"127.0.0.1:{hello_port}",
                   "hello:app"], env, work)
    served = start([str(BIN / "credshare"), "serve", "--workers", "2", "--threads", "4", "--port", str(cs_port)], env, work)
    try:
        wait_until_up(f"http://127.0.0.1:{hello_port}/", hello)
        wait_until_up(f"http://127.0.0.1:{cs_port}/healthz", served)
        base = f"http://127.0.0.1:{cs_port}"
        cases = [("hello-world GET /", f"http://127.0.0.1:{hello_port}/"),
                 ("share gate page GET /s/<token>", f"{base}/s/{token}"),
                 ("full JSON verification GET /api/v1/shares/<token>", f"{base}/api/v1/shares/{token}")]
        results = []
        for name, url in cases:
            wrk(url, 2, opts.connections)  # warm up: the first verification reads and keeps what it can
            results.append((name, *wrk(url, opts.seconds, opts.connections)))
    finally:
        stop_process_group(served)
        stop_process_group(hello)
        shutil.rmtree(work, ignore_errors=True)
    baseline = results[0][1]
    print(f"gunicorn 2 workers x 4 threads, wrk 2 threads x {opts.connections} connections, {opts.seconds} s each")
    for (name, rate, p99), target in zip(results, ("baseline", ">= 0.6x", ">= 0.35x, p99 < 50 ms"), strict=True):
        print(f"{name:<52} {rate:8.0f} req/s  {rate / baseline:5.2f}x  p99 {p99:6.1f} ms  (target {target})")


if __name__ == "__main__":
    main()
