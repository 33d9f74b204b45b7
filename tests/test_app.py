"""The Flask app on the in-memory store: pages, health, headers, errors, configuration."""

from __future__ import annotations

import json
import logging
import os
import re
import stat
from pathlib import Path

import pytest

from credshare.foundation.config import SECRET_KEY_FILENAME, load_settings
from credshare.foundation.errors import ConfigError, StoreUnavailableError
from credshare.webapp import create_app


@pytest.fixture
def app(tmp_path: Path):
    return create_app({"MONGODB_URI": "mongomock://localhost/apptest", "CREDSHARE_DATA_DIR": str(tmp_path), "TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


def test_home_page_speaks_to_each_audience(client) -> None:
    page = client.get("/").get_data(as_text=True)
    for section in ("For physicians", "For credential verification organizations", "For issuers"):
        assert section in page
    assert "credshare verify" in page


def test_healthz_reports_status_and_backend(client) -> None:
    res = client.get("/healthz")
    assert res.status_code == 200
    body = res.get_json()
    assert body["status"] == "ok"
    assert body["store"] == {"backend": "mongomock"}
    assert len(body["instance_id"]) == 32
    assert client.get("/healthz").get_json()["instance_id"] == body["instance_id"]


def test_healthz_is_503_when_the_store_fails(app, client, monkeypatch) -> None:
    store = app.extensions["credshare"].store

    def down() -> None:
        raise StoreUnavailableError("down")

    monkeypatch.setattr(store, "ping", down)
    res = client.get("/healthz")
    assert res.status_code == 503
    assert res.get_json()["status"] == "unavailable"
    assert res.get_json()["error"] == "store_unavailable"


def test_security_headers_on_every_response(client) -> None:
    for path in ("/", "/healthz", "/no-such-page"):
        headers = client.get(path).headers
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "default-src 'self'" in headers["Content-Security-Policy"]


def test_unknown_api_route_is_json_with_a_code(client) -> None:
    res = client.get("/api/v1/nothing")
    assert res.status_code == 404
    assert res.get_json()["error"] == "not_found"


def test_access_log_never_contains_the_concrete_path_or_query(client, caplog) -> None:
    token = "tok_" + "A" * 40
    with caplog.at_level(logging.INFO, logger="credshare.access"):
        client.get(f"/s/{token}?passcode=987654")  # a share link: logged by its route, never its token
        client.get(f"/no/such/{token}")
        client.get(f"/?token={token}")
        client.get("/healthz")
    text = caplog.text
    assert token not in text and "987654" not in text
    assert "GET /s/<token> 404" in text and "GET - 404" in text and "GET / 200" in text and "GET /healthz 200" in text


def test_unknown_store_scheme_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        create_app({"MONGODB_URI": "postgres://x", "CREDSHARE_DATA_DIR": str(tmp_path)})
    assert err.value.code == "config_invalid"


def test_secret_key_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    env = {"CREDSHARE_DATA_DIR": str(tmp_path / "d")}
    first = load_settings(env)
    path = tmp_path / "d" / SECRET_KEY_FILENAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o700
    assert load_settings(env).secret_key == first.secret_key
    assert len(first.secret_key) >= 32
    assert first.secret_key not in repr(first)


def test_secret_key_from_environment_wins_and_is_not_written(tmp_path: Path) -> None:
    settings = load_settings({"CREDSHARE_DATA_DIR": str(tmp_path), "CREDSHARE_SECRET_KEY": "k" * 40})
    assert settings.secret_key == "k" * 40
    assert not (tmp_path / SECRET_KEY_FILENAME).exists()


@pytest.mark.parametrize(
    "env, fragment",
    [
        ({"CREDSHARE_SECRET_KEY": "short"}, "at least 32"),
        ({"CREDSHARE_PORT": "http"}, "CREDSHARE_PORT"),
        ({"CREDSHARE_PORT": "70000"}, "CREDSHARE_PORT"),
    ],
)
def test_bad_settings_are_refused(tmp_path: Path, env, fragment) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_settings({"CREDSHARE_DATA_DIR": str(tmp_path), **env})


def test_world_readable_secret_is_refused(tmp_path: Path) -> None:
    load_settings({"CREDSHARE_DATA_DIR": str(tmp_path)})
    os.chmod(tmp_path / SECRET_KEY_FILENAME, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_settings({"CREDSHARE_DATA_DIR": str(tmp_path)})


def test_log_endpoints_publish_what_offline_verification_needs(tmp_path: Path) -> None:
    from credshare.anchoring.note import NoteVerifier
    from credshare.anchoring.policy import parse_policy
    from credshare.anchoring.proof import verify_anchor_proof

    app = create_app({"MONGODB_URI": "mongomock://localhost/logtest", "CREDSHARE_DATA_DIR": str(tmp_path),
                      "CREDSHARE_LOCAL_WITNESSES": "2", "CREDSHARE_WITNESS_QUORUM": "2"})
    client = app.test_client()
    assert client.get("/log/checkpoint").status_code == 404
    assert client.get("/log").get_json()["tree_size"] == 0
    app.extensions["credshare"].log.append([b"jwt-a", b"jwt-b", b"jwt-c"])
    log_key = NoteVerifier.decode(client.get("/log/key").get_data(as_text=True))
    trust = client.get("/log/trust")
    assert trust.mimetype == "text/plain"
    policy = parse_policy(trust.get_data())  # the log's own suggestion: its dev witnesses
    assert policy.logs == (log_key,) and len(policy.witnesses) == 2
    proof = client.get("/log/proof/2").get_json()
    assert client.get("/log/checkpoint").get_data(as_text=True) == proof["checkpoint"]
    verdict = verify_anchor_proof(proof, b"jwt-c", log_key=log_key, policy=policy)
    assert verdict.verified, verdict.to_json()
    assert [w.development_only for w in verdict.witnesses] == [True, True]
    assert {c.name: c.status for c in verdict.checks}["witness_quorum"] == "unchecked"
    served = client.get("/log/witnesses").get_json()
    assert [w["development_only"] for w in served["witnesses"]] == [True, True] and not served["quorum_independent"]
    assert (tmp_path / "log_ed25519.seed").stat().st_mode & 0o777 == 0o600
    bad = client.get("/log/proof/9")
    assert bad.status_code == 400 and bad.get_json()["error"] == "proof_unavailable"


# --- client addresses behind a reverse proxy (CREDSHARE_TRUSTED_PROXIES, werkzeug ProxyFix) ---

def _proxied_app(tmp_path: Path, proxies: str):
    return create_app({"CREDSHARE_DATA_DIR": str(tmp_path / "data"), "CREDSHARE_ARGON2_PROFILE": "test",
                       "CREDSHARE_PUBLIC_URL": "http://localhost", "CREDSHARE_TRUSTED_PROXIES": proxies,
                       "TESTING": True})


def _guess_issuer_token(client, forwarded_for: str) -> int:
    """One wrong issuer token sent through the proxy (REMOTE_ADDR 127.0.0.1) for ``forwarded_for``."""
    return client.post("/api/v1/issuers/proxied-board/batches", json={"type": "medical-license", "rows": []},
                       headers={"Authorization": "Bearer csi_guess", "X-Forwarded-For": forwarded_for}).status_code


def _access_log_after_opening(app, forwarded_for: str) -> str:
    """An owner's link opened once by a verifier whose request carries ``forwarded_for``; the owner's page."""
    from tests.helpers import OWNER, accept_delivery, create_link, issue_to, owner_client

    svc = app.extensions["credshare"]
    svc.issuers.create("example-med", "Example University School of Medicine")
    owner = owner_client(app, OWNER)
    issue_to(svc, OWNER)
    link_id, token = create_link(owner, accept_delivery(owner))
    opened = app.test_client().get(f"/api/v1/shares/{token}", headers={"X-Forwarded-For": forwarded_for})
    assert opened.status_code == 200, opened.get_json()
    return owner.get(f"/shares/{link_id}").get_data(as_text=True)


def test_behind_one_trusted_proxy_each_forwarded_client_has_its_own_rate_limit(tmp_path: Path) -> None:
    app = _proxied_app(tmp_path, "1")
    app.extensions["credshare"].issuers.create("proxied-board", "Proxied Board")
    client = app.test_client()
    assert [_guess_issuer_token(client, "203.0.113.5") for _ in range(10)] == [401] * 10
    assert _guess_issuer_token(client, "203.0.113.5") == 429
    assert _guess_issuer_token(client, "198.51.100.7") == 401, "another client behind the proxy is not blocked"
    # the proxy appends the address it saw: only the last (the proxy's own) entry counts, not a forged first one
    assert _guess_issuer_token(client, "198.51.100.7, 203.0.113.5") == 429


def test_behind_one_trusted_proxy_the_access_log_shows_the_forwarded_network(tmp_path: Path) -> None:
    page = _access_log_after_opening(_proxied_app(tmp_path, "1"), "198.51.100.77")
    assert "198.51.100.0/24" in page and "127.0.0.0/24" not in page


def test_without_a_trusted_proxy_a_forged_forwarded_for_changes_nothing(tmp_path: Path) -> None:
    app = _proxied_app(tmp_path, "0")
    app.extensions["credshare"].issuers.create("proxied-board", "Proxied Board")
    client = app.test_client()
    assert [_guess_issuer_token(client, f"203.0.113.{i}") for i in range(10)] == [401] * 10
    assert _guess_issuer_token(client, "198.51.100.7") == 429, "a forged X-Forwarded-For must not escape the limit"
    page = _access_log_after_opening(app, "198.51.100.77")
    assert "127.0.0.0/24" in page and "198.51.100.0/24" not in page


def test_trusted_proxies_setting_is_checked(tmp_path: Path) -> None:
    assert load_settings({"CREDSHARE_DATA_DIR": str(tmp_path)}).trusted_proxies == 0
    assert load_settings({"CREDSHARE_DATA_DIR": str(tmp_path), "CREDSHARE_TRUSTED_PROXIES": "2"}).trusted_proxies == 2
    with pytest.raises(ConfigError, match="CREDSHARE_TRUSTED_PROXIES"):
        load_settings({"CREDSHARE_DATA_DIR": str(tmp_path), "CREDSHARE_TRUSTED_PROXIES": "yes"})


def test_client_addresses_are_read_in_one_place_only() -> None:
    """Every client address comes from sharing.context.client_address(), which ProxyFix feeds:
    no other module reads the peer address or a forwarding header."""
    root = Path(__file__).resolve().parent.parent
    reads = re.compile(r"remote_addr|access_route|REMOTE_ADDR|HTTP_X_FORWARDED|headers.*X-Forwarded")
    sources = [root / "app.py", *(path for folder in ("sharing", "holding", "credshare", "issuing", "storage", "verifier")
                                  for path in (root / folder).rglob("*.py"))]
    readers = [f"{path.relative_to(root)}:{n}" for path in sources
               for n, line in enumerate(path.read_text().splitlines(), 1) if reads.search(line)]
    assert readers == ["sharing/context.py:" + readers[0].rpartition(":")[2]], readers


# --- Flask's own session cookie (flash messages) ---

def _flask_session_cookies(app, response) -> list[tuple[list[str], dict]]:
    """(attributes, decoded payload) of each ``session=`` cookie a response sets."""
    serializer = app.session_interface.get_signing_serializer(app)
    found = []
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(f"{app.config['SESSION_COOKIE_NAME']}="):
            value, *attributes = [part.strip() for part in header.split(";")]
            payload = value.partition("=")[2]
            found.append(([a.lower() for a in attributes], serializer.loads(payload) if payload else {}))
    return found


@pytest.mark.parametrize("public_url, secure", [("https://credshare.example.org", True), ("http://localhost", False)])
def test_flask_session_cookie_is_secure_under_https_and_carries_no_email(tmp_path: Path, public_url, secure) -> None:
    from email import message_from_bytes, policy

    from tests.helpers import csrf_from, register

    email = "dr.flash@example.org"
    app = create_app({"MONGODB_URI": "mongomock://localhost/flashtest", "CREDSHARE_DATA_DIR": str(tmp_path),
                      "CREDSHARE_ARGON2_PROFILE": "test", "CREDSHARE_PUBLIC_URL": public_url, "TESTING": True})
    client = app.test_client()
    answers = [register(client, email=email, password="correct horse battery staple")]
    answers.append(client.post("/account/confirm-email", data={"csrf_token": csrf_from(client, "/account")}))
    mail = message_from_bytes(sorted((tmp_path / "outbox").glob("*.eml"))[-1].read_bytes(), policy=policy.default)
    link = re.search(r"https?://[^/\s]+(/confirm-email/[A-Za-z0-9_-]+)", mail.get_content()).group(1)
    answers.append(client.post(link, data={"csrf_token": csrf_from(client, link)}))
    assert [a.status_code for a in answers] == [302, 302, 302]
    cookies = [cookie for answer in answers for cookie in _flask_session_cookies(app, answer)]
    assert len(cookies) == 3, "each answer flashes a message"
    for attributes, payload in cookies:
        assert ("secure" in attributes) is secure, attributes
        assert "httponly" in attributes and "samesite=lax" in attributes
        assert payload.get("_flashes"), payload
        assert email not in json.dumps(payload).lower(), payload


# --- ids are exact strings on every store ---

def test_an_upper_cased_credential_id_reaches_nothing(tmp_path: Path) -> None:
    """The embedded store once matched a 24-hex-digit id in any letter case: deleting
    /wallet/<ID in upper case> deleted the credential."""
    from tests.helpers import OWNER, accept_delivery, issue_to, owner_client, post

    app = _proxied_app(tmp_path, "0")  # the embedded store
    svc = app.extensions["credshare"]
    assert svc.store.backend == "embedded"
    svc.issuers.create("example-med", "Example University School of Medicine")
    owner = owner_client(app, OWNER)
    issue_to(svc, OWNER)
    entry_id = accept_delivery(owner)
    shouted = entry_id.upper()
    assert shouted != entry_id
    assert owner.get(f"/wallet/{shouted}").status_code == 404
    assert post(owner, f"/wallet/{shouted}/delete", {"confirm": "yes"}).status_code == 404
    assert owner.get(f"/wallet/{entry_id}").status_code == 200
    assert svc.store.collection("wallet_credentials").count({"_id": entry_id}) == 1


# --- every error answer has the {"error", "detail"} shape: JSON for the API, a page for browsers ---

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
WANTS_JSON = {"Accept": "application/json"}


def _long_url(prefix: str) -> str:
    from credshare.sharing.hardening import MAX_URL_BYTES

    return prefix + "a" * MAX_URL_BYTES


def _too_large(app, client, path: str, headers: dict[str, str]):
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert limit == 16 * 1024 * 1024
    return client.post(path, data=b"x" * (limit + 1), headers={**headers, "Content-Type": "application/json"})


# (status, code, request as a browser would send it, request on an API route or asking for JSON)
FRAMEWORK_ERRORS = [
    (404, "not_found", lambda app, c: c.get("/no-such-page", headers=BROWSER),
     lambda app, c: c.get("/api/v1/no-such-thing")),
    (405, "method_not_allowed", lambda app, c: c.get("/sign-out", headers=BROWSER),
     lambda app, c: c.get("/api/v1/issuers/some-board/batches")),
    (413, "request_too_large", lambda app, c: _too_large(app, c, "/sign-in", BROWSER),
     lambda app, c: _too_large(app, c, "/api/v1/session", {})),
    (414, "url_too_long", lambda app, c: c.get(_long_url("/wallet/"), headers=BROWSER),
     lambda app, c: c.get(_long_url("/api/v1/shares/"))),
]


@pytest.mark.parametrize("status, code, _page, api", FRAMEWORK_ERRORS, ids=[str(e[0]) for e in FRAMEWORK_ERRORS])
def test_framework_errors_on_the_api_are_json_with_a_code(app, client, status, code, _page, api) -> None:
    res = api(app, client)
    assert res.status_code == status
    assert res.mimetype == "application/json", res.get_data(as_text=True)[:300]
    body = res.get_json()
    assert set(body) == {"error", "detail"} and body["error"] == code and body["detail"], body
    assert res.headers["Cache-Control"] == "no-store" and res.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("status, code, page, _api", FRAMEWORK_ERRORS, ids=[str(e[0]) for e in FRAMEWORK_ERRORS])
def test_framework_errors_for_browsers_are_a_page_with_the_code_in_data_only(app, client, status, code, page, _api) -> None:
    res = page(app, client)
    assert res.status_code == status
    assert res.mimetype == "text/html"
    html = res.get_data(as_text=True)
    assert '<header class="site">' in html and "<footer" in html, "the site's own page (base.html)"
    assert f'data-status="{status}" data-code="{code}"' in html
    assert f"<code>{code}</code>" not in html and html.count(code) == 1, "the code sits only in data-code"
    assert 'role="alert"' in html and "<h1" in html and 'href="/"' in html
    assert "werkzeug" not in html.lower() and "Internal Server Error" not in html


def test_a_client_asking_for_json_gets_json_on_a_page_route(client) -> None:
    res = client.get("/no-such-page", headers=WANTS_JSON)
    assert res.status_code == 404 and res.get_json() == {"error": "not_found", "detail": res.get_json()["detail"]}
    assert client.get("/no-such-page", headers={"Accept": "*/*"}).mimetype == "text/html"


def test_405_keeps_its_allow_header(client) -> None:
    for res in (client.get("/sign-out", headers=BROWSER), client.get("/api/v1/issuers/some-board/batches")):
        assert res.status_code == 405 and set(res.headers["Allow"].replace(" ", "").split(",")) >= {"POST"}


def test_head_of_an_unknown_route_is_a_bare_404(client) -> None:
    res = client.head("/api/v1/no-such-thing")
    assert res.status_code == 404 and res.get_data() == b""


def test_an_error_of_ours_on_a_page_route_is_a_page_and_json_on_the_api(app, client) -> None:
    from credshare.foundation.errors import NotFoundError

    @app.get("/test-only/raises")
    def _raises():
        raise NotFoundError("no such thing here", code="thing_unknown")

    page = client.get("/test-only/raises", headers=BROWSER)
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert 'data-code="thing_unknown"' in page.get_data(as_text=True) and "no such thing here" in page.get_data(as_text=True)
    api = client.get("/test-only/raises", headers=WANTS_JSON)
    assert api.get_json() == {"error": "thing_unknown", "detail": "no such thing here"}


def test_an_unhandled_exception_is_a_500_in_the_same_shape(tmp_path: Path, caplog) -> None:
    app = create_app({"MONGODB_URI": "mongomock://localhost/boom", "CREDSHARE_DATA_DIR": str(tmp_path)})  # not TESTING

    @app.get("/test-only/boom")
    def _boom():
        raise RuntimeError("secret internals")

    @app.get("/api/v1/test-only/boom")
    def _api_boom():
        raise RuntimeError("secret internals")

    client = app.test_client()
    with caplog.at_level(logging.ERROR):
        page = client.get("/test-only/boom", headers=BROWSER)
        api = client.get("/api/v1/test-only/boom")
    assert page.status_code == 500 and 'data-code="internal_error"' in page.get_data(as_text=True)
    assert api.status_code == 500 and api.get_json()["error"] == "internal_error"
    assert "secret internals" not in page.get_data(as_text=True) + api.get_data(as_text=True)
    assert "secret internals" in caplog.text, "the traceback is logged"


def test_the_error_page_renders_when_the_store_is_down(app, client, monkeypatch) -> None:
    from credshare.foundation.errors import StoreUnavailableError

    def down(_token):
        raise StoreUnavailableError("the store is down")

    monkeypatch.setattr(type(app.extensions["credshare"].accounts), "session", lambda self, token: down(token))
    client.set_cookie("credshare_session", "some-session-token")
    res = client.get("/wallet", headers=BROWSER)
    assert res.status_code == 503 and 'data-code="store_unavailable"' in res.get_data(as_text=True)
    assert "the store is down" not in res.get_data(as_text=True), "people get plain words, not the technical detail"
    assert "Sign in" in res.get_data(as_text=True), "the header shows the signed-out navigation"
