"""Shared fixtures: a real MongoDB wire-protocol server (nx-27017) for the pymongo path, store
factories for the storage contract suite, and services on a clock the test moves
(``clock``, ``clocked_services``, ``cli_on_clock``)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import pytest

from credshare import cli_issue, cli_log
from credshare.compose import AppServices, build_services
from credshare.foundation.clock import ManualClock
from credshare.foundation.config import load_settings
from credshare.storage import Store, open_store
from credshare.webapp import create_app

ROOT = Path(__file__).resolve().parent.parent
GANACHE = ROOT / "node_modules" / ".bin" / "ganache"
BACKENDS = ("mongomock", "embedded", "mongodb")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on {port} after {timeout}s")


def stop_process_group(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """Stop a server started in its own process group (``start_new_session=True``), master and
    workers: SIGTERM to the group, SIGKILL if it lingers past ``timeout``."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def mongodb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """nx-27017 on 127.0.0.1: real pymongo over TCP to a MongoDB wire-protocol server."""
    exe = shutil.which("nx-27017", path=str(Path(sys.executable).parent)) or shutil.which("nx-27017")
    if exe is None:
        pytest.fail("nx-27017 is not installed: pip install -e '.[test]'")
    workdir = tmp_path_factory.mktemp("nx27017")
    (workdir / "dbs").mkdir()  # one SQLite file per logical database: tests stay isolated
    port = free_port()
    log = open(workdir / "server.log", "wb")
    proc = subprocess.Popen(
        [exe, "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(workdir / "dbs"),
         "--log-file", str(workdir / "nx.log"), "--pid-file", str(workdir / "nx.pid")],
        stdout=log, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True,
    )
    try:
        wait_for_port(port, proc)
        yield f"mongodb://127.0.0.1:{port}"
    finally:
        stop_process_group(proc)
        log.close()


def _rpc(url: str, method: str, params: list[Any] | None = None, timeout: float = 2.0) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer = json.loads(response.read())
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


@dataclasses.dataclass
class Ganache:
    url: str
    private_key: str
    address: str


def _await_chain_id(url: str, port: int, proc: subprocess.Popen, log_path: Path, expected: int = 1337) -> None:
    """Wait until the node answers eth_chainId (``expected``: ganache's default, 1337); fail with
    its log otherwise."""
    try:
        wait_for_port(port, proc, timeout=90)
        deadline = time.monotonic() + 30
        while True:
            try:
                chain_id = int(_rpc(url, "eth_chainId"), 16)
                break
            except (OSError, ValueError, RuntimeError):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"ganache did not come up ({exc}); log:\n{log_path.read_text(errors='replace')[-2000:]}")
    assert chain_id == expected, chain_id


@contextlib.contextmanager
def _ganache_node(workdir: Path, chain_id: int | None = None) -> Iterator[Ganache]:
    """ganache 7 on 127.0.0.1 with the deterministic wallet (on ``chain_id``, default 1337). The
    first account's key is read from the file ganache writes (--wallet.accountKeysPath) and
    checked against eth_accounts; the account is then locked in the node, so only locally
    signed transactions get in."""
    if not os.access(GANACHE, os.X_OK):
        pytest.fail(f"{GANACHE.relative_to(ROOT)} is missing: run `npm ci` in {ROOT} to install ganache")
    keys_file = workdir / "keys.json"
    port = free_port()
    log_path = workdir / "ganache.log"
    chain = ["--chain.chainId", str(chain_id)] if chain_id is not None else []
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(GANACHE), "--server.host", "127.0.0.1", "--server.port", str(port), "--server.ws", "false",
             "--wallet.deterministic", "--wallet.accountKeysPath", str(keys_file),
             "--database.dbPath", str(workdir / "db"), "--logging.quiet", *chain],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir, start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _await_chain_id(url, port, proc, log_path, 1337 if chain_id is None else chain_id)
            from eth_account import Account
            from web3 import Web3

            first = _rpc(url, "eth_accounts")[0]
            key = json.loads(keys_file.read_text())["private_keys"][first.lower()]
            assert Account.from_key(key).address.lower() == first.lower()
            assert _rpc(url, "personal_lockAccount", [first]) is True
            with pytest.raises(RuntimeError, match="authentication needed"):
                _rpc(url, "eth_sendTransaction", [{"from": first, "to": first, "value": "0x0"}])
            yield Ganache(url, key, Web3.to_checksum_address(first))
        finally:
            stop_process_group(proc)


@pytest.fixture(scope="session")
def ganache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ganache]:
    """ganache 7 on 127.0.0.1 (chain id 1337), see :func:`_ganache_node`."""
    with _ganache_node(tmp_path_factory.mktemp("ganache")) as node:
        yield node


SEPOLIA_CHAIN_ID = 11155111


@pytest.fixture(scope="session")
def ganache_sepolia(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ganache]:
    """ganache 7 on 127.0.0.1 posing as Ethereum Sepolia (chain id 11155111), so a Blockcerts
    issuer (cert-issuer ``chain = ethereum_sepolia``) signs for it and a lookup accepts it."""
    with _ganache_node(tmp_path_factory.mktemp("ganache-sepolia"), SEPOLIA_CHAIN_ID) as node:
        yield node


StoreOpener = Callable[[], Store]


@pytest.fixture
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str | None, Path]:
    """(uri, data_dir) naming a fresh, empty database on the backend under test."""
    backend = request.param
    if backend == "embedded":
        return None, tmp_path / "data"
    if backend == "mongodb":
        server = request.getfixturevalue("mongodb_server")
        return f"{server}/t_{secrets.token_hex(6)}", tmp_path / "data"
    return f"mongomock://localhost/t_{secrets.token_hex(6)}", tmp_path / "data"


@pytest.fixture
def open_test_store(store_location: tuple[str | None, Path]) -> Iterator[StoreOpener]:
    """Opens (and later closes) stores on the database ``store_location`` names."""
    opened: list[Store] = []

    def opener() -> Store:
        store = open_store(*store_location)
        opened.append(store)
        return store

    yield opener
    for store in opened:
        store.close()


@pytest.fixture
def store(open_test_store: StoreOpener) -> Store:
    return open_test_store()


@pytest.fixture
def clock() -> ManualClock:
    """A clock that starts at the real time and moves only with ``clock.advance(seconds)``."""
    return ManualClock()


LOCAL_PEERS = {"CREDSHARE_FETCH_ALLOW_HOSTS": "127.0.0.1"}


def services_on(env: Mapping[str, str], clock: ManualClock) -> AppServices:
    """The services ``create_app(env)`` would build, on ``clock``: ``create_app(env, services=...)``.
    The other organisations of a test (webhook receivers, issuers' sites) are on this machine:
    allowed by name for URLs from outside, unless ``env`` says otherwise."""
    return build_services(load_settings({**os.environ, **LOCAL_PEERS, **env}), clock=clock)


@pytest.fixture
def clocked_services(tmp_path: Path, clock: ManualClock) -> Iterator[AppServices]:
    """Services on ``clock`` over a fresh embedded store in the test's data directory (two local
    witnesses, the cheap Argon2 profile); ``create_app(services=clocked_services)`` serves them."""
    services = services_on({"CREDSHARE_DATA_DIR": str(tmp_path / "data"), "CREDSHARE_LOCAL_WITNESSES": "2",
                            "CREDSHARE_PUBLIC_URL": "https://credshare.test", "CREDSHARE_ARGON2_PROFILE": "test"}, clock)
    yield services
    services.store.close()


@pytest.fixture
def cli_on_clock(monkeypatch: pytest.MonkeyPatch, clock: ManualClock) -> ManualClock:
    """Commands run in this process (click's ``CliRunner``) build their services on ``clock``."""
    for module in (cli_issue, cli_log):
        monkeypatch.setattr(module, "build_services", lambda settings=None: build_services(settings, clock=clock))
    return clock


# -- the app under test -----------------------------------------------------------------------
# Two instances, each on a fresh data directory and the test's ``clock``: an issuer's (``env`` is
# also what the CLI tests hand to ``credshare``: the same data directory, the same clock) and the
# browser-facing one of the wallet tests.


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"CREDSHARE_DATA_DIR": str(tmp_path / "data"), "CREDSHARE_LOCAL_WITNESSES": "2",
            "CREDSHARE_PUBLIC_URL": "https://credshare.test"}


@pytest.fixture
def app(env, clock, cli_on_clock):
    return create_app(env, services=services_on(env, clock))


@pytest.fixture
def svc(app):
    return app.extensions["credshare"]


@pytest.fixture
def issuer(svc) -> str:
    svc.issuers.create("example-med", "Example University School of Medicine")
    return "example-med"


@pytest.fixture
def listed_wallet(tmp_path: Path, clock: ManualClock):
    """A wallet's instance on ``clock`` whose CREDSHARE_TRUST_LIST is a file the test writes
    (empty at first): the app and that file's path."""
    trust = tmp_path / "trust.toml"
    trust.write_text('format = "credshare-trust-list/v1"\n')
    config = {"CREDSHARE_DATA_DIR": str(tmp_path / "data"), "CREDSHARE_ARGON2_PROFILE": "test",
              "CREDSHARE_PUBLIC_URL": "http://localhost", "CREDSHARE_LOCAL_WITNESSES": "2",
              "CREDSHARE_TRUST_LIST": str(trust)}
    services = build_services(load_settings({**LOCAL_PEERS, **config}), clock=clock)
    yield create_app({**config, "TESTING": True}, services=services), trust
    services.store.close()


@pytest.fixture
def web_app(tmp_path: Path, clock: ManualClock):
    """The wallet's instance on ``clock``: http://localhost, the fast Argon2 profile, three local
    witnesses, Flask's TESTING."""
    config = {"CREDSHARE_DATA_DIR": str(tmp_path / "data"), "CREDSHARE_ARGON2_PROFILE": "test",
              "CREDSHARE_PUBLIC_URL": "http://localhost", "CREDSHARE_LOCAL_WITNESSES": "3"}
    return create_app({**config, "TESTING": True}, services=services_on(config, clock))


@pytest.fixture
def blockcerts_wallet(tmp_path: Path, clock: ManualClock):
    """A wallet's instance on ``clock`` (as ``web_app``) whose trust list recognises the two
    Blockcerts issuers of tests/fixtures/blockcerts, and whose Blockcerts sources reach their
    servers through ``tests.helpers.BlockcertsSites``: the app and the sites."""
    from credshare.federation.blockcerts_sources import BlockcertsSources
    from tests.helpers import BLOCKCERTS_TRUST_LIST, BlockcertsSites

    trust = tmp_path / "trust.toml"
    trust.write_text(BLOCKCERTS_TRUST_LIST)
    config = {"CREDSHARE_DATA_DIR": str(tmp_path / "data"), "CREDSHARE_ARGON2_PROFILE": "test",
              "CREDSHARE_PUBLIC_URL": "http://localhost", "CREDSHARE_LOCAL_WITNESSES": "3",
              "CREDSHARE_TRUST_LIST": str(trust)}
    services = services_on(config, clock)
    sites = BlockcertsSites()
    services.__dict__["blockcerts_sources"] = BlockcertsSources(fetch=sites)  # before the evidence service is built
    yield create_app({**config, "TESTING": True}, services=services), sites
    services.store.close()


@pytest.fixture
def web_svc(web_app):
    """``web_app``'s services, with the issuer example-med created."""
    svc = web_app.extensions["credshare"]
    svc.issuers.create("example-med", "Example University School of Medicine")
    return svc


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    """Print how many storage contract tests passed on each backend."""
    passed: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for outcome, bucket in (("passed", passed), ("failed", failed)):
        for report in terminalreporter.stats.get(outcome, []):
            if report.when != "call" or "test_storage_contract" not in report.nodeid:
                continue
            params = report.nodeid.rpartition("[")[2].rstrip("]").split("-")
            for backend in BACKENDS:
                if backend in params:
                    bucket[backend] += 1
    if passed or failed:
        terminalreporter.write_sep("-", "storage contract by backend")
        for backend in BACKENDS:
            terminalreporter.write_line(f"{backend:>10}: {passed[backend]} passed, {failed[backend]} failed")
