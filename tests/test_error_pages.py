"""Pages for people when something goes wrong, and the share gate (issue 14): every error status
a browser can meet is the site's own page (its header, a plain sentence, what to do, a way home,
no code or trace in the text) while the API keeps its ``{"error", "detail"}`` JSON; a mistyped
link says it does not exist; a gone link says why and what to do; the gate names what is shared
before a view is counted, and no field value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import abort

from credshare.foundation.errors import RateLimitedError
from credshare.webapp import create_app
from tests.helpers import OWNER, accept_delivery, create_link, issue_to, owner_client, post

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
FIELD_VALUES = ["Avery 0 Quinn", "2018-05-20", "1991-04-12", "D-000000", "1234567893", "Boston", "F0001234"]


@pytest.fixture
def app(web_app):
    @web_app.get("/test-only/gone")
    def _gone():
        abort(410)

    @web_app.get("/test-only/slow-down")
    def _slow_down():
        raise RateLimitedError("Too many attempts here. Wait a minute, then try again.", code="rate_limited")

    @web_app.get("/api/v1/test-only/gone")
    def _api_gone():
        abort(410)

    @web_app.get("/api/v1/test-only/slow-down")
    def _api_slow_down():
        raise RateLimitedError("Too many attempts here. Wait a minute, then try again.", code="rate_limited")

    return web_app


@pytest.fixture
def boom_app(tmp_path: Path):
    """Not TESTING, so an unhandled exception becomes the 500 answer."""
    app = create_app({"MONGODB_URI": "mongomock://localhost/boom", "CREDSHARE_DATA_DIR": str(tmp_path / "boom")})

    @app.get("/test-only/boom")
    def _boom():
        raise RuntimeError("secret internals at line 42")

    @app.get("/api/v1/test-only/boom")
    def _api_boom():
        raise RuntimeError("secret internals at line 42")

    return app


def _too_large(client, path: str, headers: dict[str, str]):
    limit = client.application.config["MAX_CONTENT_LENGTH"]
    return client.post(path, data=b"x" * (limit + 1), headers={**headers, "Content-Type": "application/json"})


# (status, code, the request a browser sends, the same trouble on the API)
CASES = [
    (404, "not_found", lambda c: c.get("/no-such-page", headers=BROWSER), lambda c: c.get("/api/v1/no-such-thing")),
    (405, "method_not_allowed", lambda c: c.get("/sign-out", headers=BROWSER),
     lambda c: c.get("/api/v1/issuers/some-board/batches")),
    (410, "gone", lambda c: c.get("/test-only/gone", headers=BROWSER), lambda c: c.get("/api/v1/test-only/gone")),
    (413, "request_too_large", lambda c: _too_large(c, "/sign-in", BROWSER), lambda c: _too_large(c, "/api/v1/session", {})),
    (429, "rate_limited", lambda c: c.get("/test-only/slow-down", headers=BROWSER),
     lambda c: c.get("/api/v1/test-only/slow-down")),
]


def _text_of(html: str) -> str:
    """What a reader sees: the page's text without tags or attributes."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.split("<body>", 1)[1]))


def assert_styled_error_page(html: str, status: int, code: str) -> str:
    assert '<header class="site">' in html and 'class="brand" href="/"' in html, "the site header (base.html)"
    assert f'data-status="{status}" data-code="{code}"' in html, "the code sits in a data- attribute"
    assert re.search(r'<a href="/">[^<]*home page</a>', html), "a way back home"
    assert re.search(r"<h1[^>]*>[A-Z]", html) and 'role="alert"' in html
    text = _text_of(html)
    assert "_" not in code or code not in text, "no internal code in what people read"
    assert "Traceback" not in text and "werkzeug" not in html.lower()
    sentences = re.findall(r'<p class="error" role="alert">([^<]+)</p>', html)
    assert sentences and sentences[0].strip()[0].isupper() and sentences[0].strip().endswith("."), sentences
    return text


@pytest.mark.parametrize("status, code, page, _api", CASES, ids=[str(c[0]) for c in CASES])
def test_each_error_status_is_the_sites_own_page_for_a_browser(app, status, code, page, _api) -> None:
    res = page(app.test_client())
    assert res.status_code == status and res.mimetype == "text/html"
    assert_styled_error_page(res.get_data(as_text=True), status, code)


@pytest.mark.parametrize("status, code, _page, api", CASES, ids=[str(c[0]) for c in CASES])
def test_each_error_status_under_the_api_stays_json(app, status, code, _page, api) -> None:
    res = api(app.test_client())
    assert res.status_code == status and res.mimetype == "application/json"
    body = res.get_json()
    assert body["error"] == code and isinstance(body["detail"], str) and body["detail"]


def test_a_server_failure_is_the_styled_500_page_without_the_trace(boom_app, caplog) -> None:
    client = boom_app.test_client()
    page = client.get("/test-only/boom", headers=BROWSER)
    assert page.status_code == 500 and page.mimetype == "text/html"
    text = assert_styled_error_page(page.get_data(as_text=True), 500, "internal_error")
    assert "secret internals" not in page.get_data(as_text=True) and "Try again in a minute" in text
    api = client.get("/api/v1/test-only/boom")
    assert api.status_code == 500 and api.get_json()["error"] == "internal_error"
    assert "secret internals" not in api.get_data(as_text=True)


# -- share links --------------------------------------------------------------------------


@pytest.fixture
def owner_and_entry(app, web_svc):
    owner = owner_client(app, OWNER)
    issue_to(web_svc, OWNER)
    return owner, accept_delivery(owner)


def test_a_mistyped_link_says_plainly_that_it_does_not_exist(app, owner_and_entry) -> None:
    owner, entry_id = owner_and_entry
    _, token = create_link(owner, entry_id)
    mistyped = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    res = app.test_client().get(f"/s/{mistyped}", headers=BROWSER)
    assert res.status_code == 404
    html = res.get_data(as_text=True)
    text = assert_styled_error_page(html, 404, "share_unknown")
    assert "This link does not exist" in text and "ask the physician for a new link" in text
    assert "can no longer be opened" not in text
    api = app.test_client().get(f"/api/v1/shares/{mistyped}")
    assert api.status_code == 404 and api.get_json()["error"] == "share_unknown"
    assert api.get_json()["detail"].startswith("This link does not exist")


@pytest.mark.parametrize("state, code, words", [
    ("revoked", "share_revoked", "The physician revoked this link"),
    ("used up", "share_used_up", "opened as many times as the physician allowed"),
    ("expired", "share_expired", "This link has expired"),
    ("locked", "share_locked", "locked"),
])
def test_a_gone_link_says_which_and_what_to_do(app, owner_and_entry, clock, state, code, words) -> None:
    owner, entry_id = owner_and_entry
    form = {"max_views": "1"} if state == "used up" else {"passcode": "tulip-4812", "attempts": "1"} if state == "locked" else {}
    link_id, token = create_link(owner, entry_id, **form)
    visitor = app.test_client()
    if state == "revoked":
        assert post(owner, f"/shares/{link_id}/revoke", {"confirm": "yes"}).status_code == 302
    elif state == "used up":
        assert visitor.get(f"/api/v1/shares/{token}").status_code == 200
    elif state == "expired":
        clock.advance(31 * 24 * 3600)
    else:
        assert visitor.get(f"/api/v1/shares/{token}", headers={"X-Share-Passcode": "nope"}).status_code == 410
    res = app.test_client().get(f"/s/{token}", headers=BROWSER)
    assert res.status_code == 410
    text = assert_styled_error_page(res.get_data(as_text=True), 410, code)
    assert words in text and "new link" in text and "does not exist" not in text


def test_the_gate_names_what_is_shared_before_a_view_is_counted(app, owner_and_entry) -> None:
    owner, entry_id = owner_and_entry
    link_id, token = create_link(owner, entry_id, recipient="St. Mary's Medical Staff Office", passcode="tulip-4812",
                                 attempts="3", max_views="4")
    visitor = app.test_client()
    res = visitor.get(f"/s/{token}")
    assert res.status_code == 200
    html = res.get_data(as_text=True)
    gate = html.split('id="gate-summary"', 1)[1].split("</dl>", 1)[0]
    assert re.search(r'id="gate-type"[^>]*>Medical degree<', gate)
    assert "St. Mary&#39;s Medical Staff Office" in gate
    assert "Example University School of Medicine" in gate, "the issuer hosted here, by its registered name"
    assert re.search(r'id="gate-expires" data-expires="\d+">\d{4}-\d\d-\d\d \d\d:\d\d UTC<', gate)
    assert 'data-views-left="4">4<' in gate
    for value in FIELD_VALUES:
        assert value not in html, value
    assert 'id="passcode"' in html and "3 attempt(s) left" in html, "the passcode form as it was"
    assert "· 0 view(s)" in owner.get(f"/shares/{link_id}").get_data(as_text=True), "the gate counted no view"
    wrong = visitor.post(f"/s/{token}", data={"passcode": "0000", "csrf_token": _csrf(html)})
    assert wrong.status_code == 401 and 'id="gate-type"' in wrong.get_data(as_text=True)
    assert "Wrong passcode: 2 attempt(s) left" in wrong.get_data(as_text=True)


def test_a_gate_without_a_recipient_or_limit_does_not_invent_them(app, owner_and_entry) -> None:
    owner, entry_id = owner_and_entry
    _, token = create_link(owner, entry_id)
    html = app.test_client().get(f"/s/{token}").get_data(as_text=True)
    assert "No recipient was named" in html and 'id="gate-views"' not in html
    assert "The physician who holds this credential" in html


def test_a_link_made_before_the_gate_words_were_sealed_still_names_them(app, web_svc, owner_and_entry) -> None:
    owner, entry_id = owner_and_entry
    link_id, token = create_link(owner, entry_id, recipient="Board office")
    web_svc.store.collection("shares").update_one({"_id": link_id}, {"$unset": {"sealed_gate": ""}})
    assert web_svc.store.collection("shares").find_one({"_id": link_id}).get("sealed_gate") is None
    html = app.test_client().get(f"/s/{token}").get_data(as_text=True)
    assert "Board office" in html and re.search(r'id="gate-type"[^>]*>Medical degree<', html)


def test_the_link_document_keeps_the_gate_words_sealed(web_svc, owner_and_entry) -> None:
    owner, entry_id = owner_and_entry
    link_id, _ = create_link(owner, entry_id, recipient="St. Mary's Medical Staff Office")
    dump = repr(web_svc.store.collection("shares").find_one({"_id": link_id}))
    assert "sealed_gate" in dump
    for clear in ("St. Mary", "Medical degree", "medical-degree", *FIELD_VALUES):
        assert clear not in dump, clear


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_messages_people_read_start_with_a_capital_letter() -> None:
    """The texts of the errors raised in the services and pages people meet."""
    root = Path(__file__).resolve().parents[1]
    raised = re.compile(r'(?:InputError|NotFoundError|ConflictError|RateLimitedError|AuthenticationError|ForbiddenError'
                        r'|PasscodeNeeded|ShareGone|ShareBusy|CsrfError|LinkCheckError)\(\s*f?"(.)')
    found = []
    for name in ("holding/shares.py", "holding/wallet.py", "holding/accounts.py", "holding/receiving.py",
                 "sharing/csrf.py", "sharing/check_pages.py", "sharing/verify_pages.py"):
        found += [(name, first) for first in raised.findall((root / name).read_text(encoding="utf-8"))]
    assert len(found) > 40, "the pattern finds the messages"
    assert [f for f in found if not f[1].isupper()] == []
    from credshare.holding import shares

    assert all(message[0].isupper() and "new link" in message for _, message in shares._GONE.values())
    assert shares.UNKNOWN_LINK.startswith("This link does not exist") and "new link" in shares.UNKNOWN_LINK
