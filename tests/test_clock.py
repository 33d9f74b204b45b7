"""One clock (issue 11, item 3): foundation/clock.py reads the time and nothing else does; the
composition root hands its clock to every service, so a test moves time instead of sleeping."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from credshare.compose import AppServices
from credshare.foundation.clock import SYSTEM_CLOCK, ManualClock
from tests.conftest import ROOT
from tests.helpers import modules

# wall-clock reads: time.time (called or handed on), time.time_ns, datetime.now(), datetime.utcnow(), datetime.today(),
# date.today(), and time.gmtime() / time.localtime() / time.ctime() without an argument
READS = re.compile(r"\btime\.time(_ns)?\b|\b(datetime|date)\.(now|utcnow|today)\(|\btime\.(gmtime|localtime|ctime)\(\)"
                   r"|from time import [^#]*\btime\b|from datetime import [^#]*\b(now|today)\b")


def direct_reads(path: Path, source: str) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{n}" for n, line in enumerate(source.splitlines(), 1) if READS.search(line)]


def test_only_the_clock_reads_the_time() -> None:
    found = []
    for _, path in modules():
        if path != ROOT / "foundation" / "clock.py":
            found += direct_reads(path, path.read_text(encoding="utf-8"))
    assert found == []


@pytest.mark.parametrize("line", [
    "now = int(time.time())", "stamp = time.time_ns()", "at = datetime.now(timezone.utc)", "datetime.utcnow()",
    "day = date.today()", "time.gmtime()", "from time import time", "x = datetime.today()",
    "RateLimiter(store, 'k', 3, 60, clock=time.time)",
])
def test_the_check_catches_a_direct_read(line: str) -> None:
    assert direct_reads(ROOT / "storage" / "x.py", f"def f():\n    {line}\n")


@pytest.mark.parametrize("line", [
    "now = self._clock.seconds()", "datetime.fromtimestamp(ts, timezone.utc)", "deadline = time.monotonic() + 5",
    "time.gmtime(doc['expires_at'])", "started = time.perf_counter()",
])
def test_the_check_lets_other_time_functions_be(line: str) -> None:
    assert direct_reads(ROOT / "storage" / "x.py", f"def f():\n    {line}\n") == []


def test_a_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(1_800_000_000.5)
    assert clock.now() == 1_800_000_000.5 and clock.seconds() == 1_800_000_000
    assert clock.utcnow() == datetime(2027, 1, 15, 8, 0, 0, 500000, tzinfo=timezone.utc)
    clock.advance(59.5)
    assert clock.now() == 1_800_000_060.0
    with pytest.raises(ValueError):
        clock.advance(-1)
    started = ManualClock()
    assert abs(started.now() - time.time()) < 5 and started.now() == int(started.now())
    assert abs(SYSTEM_CLOCK.now() - time.time()) < 5 and SYSTEM_CLOCK.utcnow().tzinfo is timezone.utc


def test_the_services_share_the_one_clock(clocked_services: AppServices, clock: ManualClock) -> None:
    """Every service built by the composition root reads its time from the clock it was given."""
    svc = clocked_services
    parts = [svc.deployment, svc.log, svc.issuers, svc.status, svc.batches, svc.evidence, svc.accounts, svc.wallet,
             svc.shares, svc.token_failures, svc.sign_in_failures, svc.confirmation_mails, svc.registrations]
    assert all(part._clock is clock for part in parts)  # type: ignore[attr-defined]
    clock.advance(3600)
    issuer, _ = svc.issuers.create("clock-med", "Clock Medical School")
    assert issuer["created_at"] == clock.seconds()
    assert svc.log.checkpoint()["signed_at"] == clock.seconds()


def test_the_web_app_serves_on_the_services_clock(tmp_path: Path) -> None:
    """``create_app(config, services=...)`` with services on a ManualClock: the web layer reads
    the time from them too (a backup's name and stamp, here on a day still years away)."""
    from credshare.webapp import create_app
    from tests.conftest import services_on
    from tests.helpers import PASSPHRASE, csrf_from, register

    config = {"MONGODB_URI": "mongomock://localhost/clock", "CREDSHARE_DATA_DIR": str(tmp_path),
              "CREDSHARE_ARGON2_PROFILE": "test"}
    app = create_app({**config, "TESTING": True}, services=services_on(config, ManualClock(2_000_000_000)))
    client = app.test_client()
    register(client)
    res = client.post("/account/backup", data={"passphrase": PASSPHRASE, "passphrase_confirm": PASSPHRASE,
                                               "csrf_token": csrf_from(client, "/account")})
    assert res.status_code == 200
    assert res.headers["Content-Disposition"] == 'attachment; filename="credshare-backup-2033-05-18.json"'
    assert json.loads(res.get_data())["created_at"] == "2033-05-18T03:33:20+00:00"
