"""Shared fixtures: a real MongoDB wire-protocol server (nx-27017) for the pymongo path, and
store factories for the storage contract suite."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator

import pytest

from storage import Store, open_store

ROOT = Path(__file__).resolve().parent.parent
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
        stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
    )
    try:
        wait_for_port(port, proc)
        yield f"mongodb://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


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
