"""The shared rate limiter under real concurrency: an attempt is counted and judged in one
atomic step, so however many race, exactly ``limit`` get through; on every store backend, with
threads and with processes, and through every caller (sign-in, password change, issuer API
tokens, registrations, confirmation mails)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from credshare.foundation.clock import ManualClock
from credshare.holding import vault
from credshare.holding.accounts import AccountService
from credshare.storage import Store, open_store
from credshare.storage.rate_limit import RateLimiter
from credshare.webapp import create_app
from tests.conftest import BACKENDS, ROOT
from tests.helpers import race

ALL = pytest.mark.parametrize("store_location", BACKENDS, indirect=True)
PERSISTENT = pytest.mark.parametrize("store_location", ["embedded", "mongodb"], indirect=True)
PARALLEL, LIMIT = 40, 10
PASSWORD = "correct horse battery staple"


# -- the limiter itself, on every backend ------------------------------------------------------

@ALL
def test_parallel_attempts_on_threads_let_exactly_the_limit_through(store: Store) -> None:
    limiter = RateLimiter(store, "t", LIMIT, 60, clock=ManualClock())
    taken = race(PARALLEL, lambda i: "through" if limiter.take("k") else "refused")
    assert taken == {"through": LIMIT, "refused": PARALLEL - LIMIT}
    assert limiter.take("k") is None and limiter.take("other") is not None  # per key


@ALL
def test_given_back_attempts_do_not_count_and_windows_add_up(store: Store) -> None:
    clock = ManualClock(1_800_000_000.0)  # a window start; TTL expiry is in the future, so nothing is swept
    limiter = RateLimiter(store, "t", 3, 60, clock=clock)
    first = limiter.take("k")
    assert first is not None
    limiter.give_back(first)  # a right password: not a failure
    assert [limiter.take("k") is not None for _ in range(4)] == [True, True, True, False]
    clock.advance(60)  # the next window still sees the previous one's three
    assert limiter.take("k") is None and limiter.retry_after() == 120
    clock.advance(60)
    assert limiter.take("k") is not None


@pytest.mark.slow
@PERSISTENT
def test_parallel_attempts_from_processes_let_exactly_the_limit_through(store_location, store: Store) -> None:
    uri, data_dir = store_location
    RateLimiter(store, "p", LIMIT, 3600)  # creates the collection and its index before the race
    script = (
        "import sys; from pathlib import Path; from storage import open_store\n"
        "from credshare.storage.rate_limit import RateLimiter\n"
        "limiter = RateLimiter(open_store(sys.argv[1] or None, Path(sys.argv[2])), 'p', 10, 3600)\n"
        "print(sum(limiter.take('k') is not None for _ in range(int(sys.argv[3]))))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, uri or "", str(data_dir), "10"], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True) for _ in range(4)]
    through = [int(proc.communicate(timeout=300)[0]) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    assert sum(through) == LIMIT, through


# -- every caller ----------------------------------------------------------------------------

@pytest.mark.slow
def test_forty_parallel_wrong_passwords_get_exactly_ten_checks(tmp_path: Path, monkeypatch) -> None:
    store = open_store(None, tmp_path / "data")  # the embedded store
    try:
        accounts = AccountService(store, profile="test", secret_key="e" * 40,
                                  limiter=RateLimiter(store, "sign-in-failures", LIMIT, 60))
        accounts.register("ada@example.org", PASSWORD)
        checked: list[int] = []
        real = vault.auth_matches
        monkeypatch.setattr(vault, "auth_matches", lambda key, stored: checked.append(1) or real(key, stored))
        outcomes = race(PARALLEL, lambda i: accounts.sign_in("ada@example.org", f"wrong password {i}", "10.0.0.1").info.email)
        assert outcomes == {"credentials_invalid": LIMIT, "rate_limited": PARALLEL - LIMIT}
        assert len(checked) == LIMIT
        checked.clear()
        outcomes = race(PARALLEL, lambda i: accounts.change_password(
            accounts.sign_in("ada@example.org", PASSWORD, "10.0.0.2").info.account_id, b"", f"wrong password {i}",
            "another long passphrase") or "changed")
        assert outcomes == {"password_wrong": LIMIT, "rate_limited": PARALLEL - LIMIT}
    finally:
        store.close()


@pytest.fixture
def app(tmp_path: Path):
    return create_app({"CREDSHARE_DATA_DIR": str(tmp_path / "data"), "CREDSHARE_ARGON2_PROFILE": "test",
                       "CREDSHARE_PUBLIC_URL": "http://localhost", "TESTING": True})


@pytest.mark.slow
def test_forty_parallel_wrong_issuer_tokens_get_exactly_ten_tries(app) -> None:
    app.extensions["credshare"].issuers.create("example-med", "Example University School of Medicine")

    def attempt(i: int) -> str:
        answer = app.test_client().post("/api/v1/issuers/example-med/batches", json={"type": "x", "rows": []},
                                        headers={"Authorization": f"Bearer csi_wrong{i}"})
        return answer.get_json()["error"]

    assert race(PARALLEL, attempt) == {"issuer_token_invalid": LIMIT, "rate_limited": PARALLEL - LIMIT}


@pytest.mark.slow
def test_parallel_registrations_and_confirmation_mails_stop_at_their_limits(app) -> None:
    from tests.helpers import csrf_from

    svc = app.extensions["credshare"]
    clients = [app.test_client() for _ in range(25)]
    forms = [{"email": f"r{i}@example.org", "password": PASSWORD, "password_confirm": PASSWORD,
              "csrf_token": csrf_from(c, "/register")} for i, c in enumerate(clients)]
    answers = race(25, lambda i: str(clients[i].post("/register", data=forms[i]).status_code))
    assert answers == {"302": 20, "429": 5} and svc.store.collection("accounts").count() == 20
    token = next(c.get_cookie("credshare_session").value for c in clients if c.get_cookie("credshare_session"))
    owners = [app.test_client() for _ in range(12)]
    for owner in owners:
        owner.set_cookie("credshare_session", token)
    csrf = csrf_from(owners[0], "/account")
    sent = race(12, lambda i: str(owners[i].post("/account/confirm-email", data={"csrf_token": csrf}).status_code))
    assert sent == {"302": 5, "429": 7}  # 5 an hour (the one sent on registering is not a resend)
