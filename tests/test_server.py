"""`credshare serve` as a real process: URL banner, /healthz over HTTP, kill -9 and restart,
several gunicorn workers, and logs free of tokens."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.slow


class Server:
    def __init__(self, data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        exe = shutil.which("credshare", path=str(Path(sys.executable).parent))
        assert exe, "credshare console script missing: pip install -e ."
        env = {**os.environ, "CREDSHARE_DATA_DIR": str(data_dir), **(env or {})}
        env.pop("MONGODB_URI", None)
        self.stderr_path = data_dir.parent / f"server-{self.port}.log"
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [exe, "serve", "--port", str(self.port), *extra],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=self._stderr, text=True, start_new_session=True,
        )
        assert self.proc.stdout is not None
        self.banner = self.proc.stdout.readline().strip()

    def get(self, path: str) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as res:
                return res.status, json.loads(res.read() or b"{}") if "json" in res.headers.get("Content-Type", "") else {}
        except urllib.error.HTTPError as err:
            return err.code, {}

    def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                body: bytes | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
        """One raw HTTP/1.1 request: (status, headers, body)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            res = conn.getresponse()
            return res.status, res.headers, res.read()
        finally:
            conn.close()

    def kill_9(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)  # master and workers, as an OOM killer or power cut would
        self.proc.wait(timeout=10)
        self._stderr.close()

    def stop(self) -> str:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        self._stderr.close()
        return self.stderr_path.read_text()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "instance"


@pytest.fixture
def server(data_dir: Path) -> Iterator[Server]:
    srv = Server(data_dir)
    yield srv
    srv.stop()


def test_serve_prints_its_url_and_answers_healthz(server: Server) -> None:
    assert server.banner.startswith(f"credshare is running at http://127.0.0.1:{server.port}/")
    assert "embedded store" in server.banner
    status, body = server.get("/healthz")
    assert status == 200
    assert body["status"] == "ok" and body["store"]["backend"] == "embedded"
    status, _ = server.get("/")
    assert status == 200


def test_store_keeps_its_data_through_kill_9(data_dir: Path) -> None:
    first = Server(data_dir)
    _, before = first.get("/healthz")
    first.kill_9()
    second = Server(data_dir)
    try:
        status, after = second.get("/healthz")
        assert status == 200
        assert after["instance_id"] == before["instance_id"]
    finally:
        second.stop()


def test_several_workers_share_one_embedded_store(data_dir: Path) -> None:
    srv = Server(data_dir, "--workers", "3")
    try:
        ids = {srv.get("/healthz")[1]["instance_id"] for _ in range(30)}
        assert len(ids) == 1
    finally:
        log = srv.stop()
    assert log.count("Booting worker") == 3


def test_logs_never_show_tokens_or_query_strings(server: Server) -> None:
    token = "Zk9" * 15
    server.get(f"/s/{token}?passcode=445566")
    server.get(f"/api/v1/shares/{token}")
    server.get(f"/healthz?token={token}")
    log = server.stop()
    assert "GET /healthz 200" in log
    assert token not in log and "445566" not in log


def _deep_sign_in(port: int, depth: int = 100_000) -> tuple[int, str]:
    """What an attacker can send without an account: a CSRF token from GET /api/v1/session (its
    anonymous cookie along), then a sign-in body nested ``depth`` levels deep."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/api/v1/session")
        first = conn.getresponse()
        csrf = json.loads(first.read())["csrf_token"]
        cookie = first.getheader("Set-Cookie", "").split(";", 1)[0]
        body = ('{"email":' + "[" * depth + "]" * depth + "}").encode()
        conn.request("POST", "/api/v1/session", body=body, headers={
            "Content-Type": "application/json", "X-CSRF-Token": csrf, "Cookie": cookie})
        answer = conn.getresponse()
        return answer.status, json.loads(answer.read() or b"{}").get("error", "")
    finally:
        conn.close()


def test_four_workers_survive_100_deeply_nested_bodies_and_innocent_requests_succeed(data_dir: Path) -> None:
    """Issue 10, item 1: such a body used to kill the worker with SIGSEGV (py_ecc had raised
    the recursion limit before gunicorn forked), failing every request in flight on it."""
    from concurrent.futures import ThreadPoolExecutor

    srv = Server(data_dir, "--workers", "4", "--threads", "4")
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            attacks = [pool.submit(_deep_sign_in, srv.port) for _ in range(100)]
            innocent = [pool.submit(srv.get, "/healthz") for _ in range(100)]
            attack_answers = [f.result(timeout=120) for f in attacks]
            innocent_answers = [f.result(timeout=120)[0] for f in innocent]
    finally:
        log = srv.stop()
    assert set(attack_answers) == {(400, "json_too_deep")}
    assert innocent_answers == [200] * 100
    # (a worker "was sent SIGTERM" by the stop at the end is the normal shutdown)
    assert "SIGSEGV" not in log and "SIGKILL" not in log and "Traceback" not in log, log[-2000:]
    assert log.count("Booting worker") == 4  # no worker had to be replaced
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def test_error_answers_over_http_have_the_error_shape(server: Server) -> None:
    status, headers, body = server.request("GET", "/api/v1/no-such-thing")
    assert status == 404 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"] == "not_found"
    status, headers, body = server.request("GET", "/no-such-page", BROWSER)
    assert status == 404 and headers["Content-Type"].startswith("text/html")
    assert b'data-code="not_found"' in body and b'<header class="site">' in body
    status, headers, body = server.request("DELETE", "/api/v1/issuers/x/batches")
    assert status == 405 and json.loads(body)["error"] == "method_not_allowed" and "POST" in headers["Allow"]
    status, _, body = server.request("GET", "/api/v1/shares/" + "a" * 3000)  # over MAX_URL_BYTES, under gunicorn's limit
    assert status == 414 and json.loads(body)["error"] == "url_too_long"
    status, _, body = server.request("GET", "/s/" + "a" * 3000, BROWSER)
    assert status == 414 and b'data-code="url_too_long"' in body
    # what gunicorn refuses before credshare sees it has the same shape (JSON: no page can be chosen)
    status, headers, body = server.request("GET", "/api/v1/shares/" + "a" * 9000)
    assert (status, headers["Content-Type"], json.loads(body)["error"]) == (414, "application/json", "url_too_long")
    status, headers, body = server.request("GET", "/healthz", {"X-Long": "b" * 9000})
    assert (status, headers["Content-Type"], json.loads(body)["error"]) == (431, "application/json", "headers_too_large")


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(data_dir: Path) -> None:
    srv = Server(data_dir, env={"CREDSHARE_TRUSTED_PROXIES": "1"})
    try:
        def guess(client: str) -> int:
            return srv.request("POST", "/api/v1/issuers/proxied/batches", {
                "Authorization": "Bearer csi_guess", "X-Forwarded-For": client, "Content-Type": "application/json"},
                b'{"type": "medical-license", "rows": []}')[0]

        assert [guess("203.0.113.5") for _ in range(10)] == [401] * 10
        assert guess("203.0.113.5") == 429
        assert guess("198.51.100.7") == 401
    finally:
        srv.stop()
