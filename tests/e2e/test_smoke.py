"""The home page in a real browser: it renders, carries the security headers, loads its own
stylesheet, logs no console error, and the browser really enforces the Content-Security-Policy."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import LiveServer, run_cli

pytestmark = pytest.mark.slow


def test_home_page_renders_with_security_headers_and_no_console_errors(
        page: Any, live_server: LiveServer, console_errors: list[str]) -> None:
    responses: list[Any] = []
    page.on("response", lambda r: responses.append(r))
    failed: list[str] = []
    page.on("requestfailed", lambda req: failed.append(f"{req.url}: {req.failure}"))

    response = page.goto("/")
    page.wait_for_load_state("networkidle")

    assert response is not None and response.status == 200
    assert response.url == live_server.url + "/"
    assert page.title() == "credshare"
    heading = page.get_by_role("heading", level=1)
    assert heading.count() == 1
    assert heading.inner_text().startswith("Share exactly the credential fields a verifier needs")
    assert page.get_by_role("heading", name="For physicians", level=2).is_visible()

    headers = response.headers  # lower-case names
    csp = headers.get("content-security-policy", "")
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, csp
    assert headers.get("referrer-policy") == "no-referrer"
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("x-frame-options") == "DENY"

    # the stylesheet came from the server and the browser applied it
    css = [r for r in responses if r.url.endswith("/static/style.css")]
    assert [r.status for r in css] == [200]
    assert css[0].headers.get("referrer-policy") == "no-referrer"
    assert page.evaluate("document.styleSheets.length") >= 1
    assert failed == []
    assert console_errors == []


def test_browser_enforces_the_content_security_policy(page: Any, console_errors: list[str]) -> None:
    """An injected inline script must not run, and the refusal shows up as a console error (so the
    console check of the other test can see errors when there are some)."""
    page.goto("/")
    violations = page.evaluate("""() => new Promise(resolve => {
        const seen = [];
        document.addEventListener('securitypolicyviolation', e => seen.push(e.effectiveDirective));
        const s = document.createElement('script');
        s.textContent = 'window.__injected = true';
        document.body.appendChild(s);
        setTimeout(() => resolve(seen), 200);
    })""")
    assert page.evaluate("window.__injected === true") is False
    assert violations and violations[0].startswith("script-src")
    assert any("Content Security Policy" in e for e in console_errors), console_errors


def test_two_contexts_do_not_share_cookies(new_context: Any, live_server: LiveServer) -> None:
    """What the fixtures promise the flow tests: one context per person, cookies kept apart."""
    physician, verifier = new_context(), new_context()
    physician.add_cookies([{"name": "probe", "value": "1", "url": live_server.url}])
    assert [c["name"] for c in physician.cookies(live_server.url)] == ["probe"]
    assert verifier.cookies(live_server.url) == []


def test_cli_runs_against_the_live_servers_data_dir(live_server: LiveServer) -> None:
    """``run_cli`` reaches the same data directory: an issuer it creates is served at once, and a
    failing command hands back its error document."""
    created = run_cli(live_server, "issuer", "create", "e2e-smoke-med", "--name", "E2E Smoke School of Medicine")
    assert created["api_token"]
    answer = live_server.get("/.well-known/jwt-vc-issuer/issuers/e2e-smoke-med")
    assert answer.status == 200
    assert answer.json()["issuer"] == f"{live_server.url}/issuers/e2e-smoke-med"
    again = run_cli(live_server, "issuer", "create", "e2e-smoke-med", "--name", "Twice", check=False)
    assert again is not None and again.get("error"), again
