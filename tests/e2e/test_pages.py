"""Every page a physician and a credentialing specialist see, in a real browser at a desktop
width (1280 px) and a phone width (390 px): none scrolls sideways (issue 14: "no horizontal
scroll on any page"), and axe-core, the accessibility engine from npm (node_modules/axe-core),
finds no serious or critical WCAG 2.1 A/AA violation on any of them.

The walk: home, register, sign-in, an issuer's credential offer (OpenID4VCI) mailed to the
physician, the wallet with an error message, a refused upload, the wallet (and a card unfolded), a
credential with its share form, the new link (URL, QR), the links list, one link with its access
log (its Copy button tried), the account page, the revoke step; the share gate (and again after a
wrong passcode), the verifier page (and again with its technical checks unfolded), the receipt,
the /check form and a /check result (this server checking its own link over HTTP; unfolded too),
the link once revoked (410); an error page (404).
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import AXE, CHOSEN, ROW, WIDTHS, LiveServer, Walk, issue_file, register, run_cli

pytestmark = pytest.mark.slow

PASSCODE = "4812"

def offer_page(server: LiveServer) -> str:
    """The issuer's system offers the physician a credential (OpenID4VCI, issuing/vci.py): the path
    of the offer page mailed to them."""
    token = run_cli(server, "issuer", "new-token", "example-med")["api_token"]
    request = urllib.request.Request(
        f"{server.url}/api/v1/issuers/example-med/offers", method="POST",
        data=json.dumps({"type": "medical-degree", "rows": [ROW]}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 201
    for mail in sorted((server.data_dir / "outbox").glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True):
        found = re.search(r"http://127\.0\.0\.1:\d+(/offer/[A-Za-z0-9_-]+)", mail.read_text(errors="replace"))
        if found:
            return found.group(1)
    raise AssertionError("no offer mailed")


def test_every_page_fits_a_phone_and_passes_axe(new_context: Any, live_server: LiveServer, tmp_path: Path) -> None:
    assert AXE.is_file(), f"{AXE} is missing: run `npm ci`"
    walk = Walk()

    anonymous = new_context().new_page()
    anonymous.goto("/")
    walk.check(anonymous, "home")
    anonymous.goto("/sign-in")
    walk.check(anonymous, "sign-in")
    missing = anonymous.goto("/no-such-page")
    assert missing is not None and missing.status == 404
    walk.check(anonymous, "404 page")

    physician = new_context(permissions=["clipboard-read", "clipboard-write"]).new_page()
    physician.goto("/register")
    walk.check(physician, "register")
    register(physician, live_server)
    credential_file = issue_file(live_server, tmp_path)
    physician.goto(offer_page(live_server))
    assert physician.locator("#offer-expires").count() == 1
    walk.check(physician, "credential offer")
    not_a_credential = tmp_path / "diploma-scan.json"
    not_a_credential.write_text('{"this": "is not a credential"}')
    physician.goto("/wallet")
    physician.get_by_label("Credential file").set_input_files(str(not_a_credential))
    physician.get_by_role("button", name="Check and add").click()
    physician.wait_for_load_state()
    assert physician.locator(".error").count() >= 1
    walk.check(physician, "wallet with a message")
    doc = json.loads(credential_file.read_text())  # the issuer's signature spoilt: refused with its checks
    jwt, _, rest = doc["sd_jwt"].partition("~")
    head, payload, signature = jwt.split(".")
    signature = signature[:20] + ("A" if signature[20] != "A" else "B") + signature[21:]
    doc["sd_jwt"] = f"{head}.{payload}.{signature}~{rest}"
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(doc))
    physician.get_by_label("Credential file").set_input_files(str(tampered))
    with physician.expect_response(lambda r: r.url.endswith("/wallet/upload")) as refused:
        physician.get_by_role("button", name="Check and add").click()
    assert refused.value.status == 422
    walk.check(physician, "upload refused")
    physician.goto("/wallet")
    physician.get_by_label("Credential file").set_input_files(str(credential_file))
    physician.get_by_role("button", name="Check and add").click()
    physician.wait_for_load_state()
    assert "passed every check" in physician.content()
    credential_page = physician.url  # the upload lands on the new credential's page
    physician.goto("/wallet")
    assert physician.locator(f'a[href="{credential_page.removeprefix(live_server.url)}"]').count() >= 1
    walk.check(physician, "wallet")
    card = physician.locator("article.card").first
    assert card.locator("details.card-fields dl.fields").is_hidden()  # folded: type, issuer, status, expiry
    card.locator("details.card-fields > summary").click()
    assert card.locator("details.card-fields dl.fields").is_visible()
    walk.check(physician, "wallet with a card unfolded")
    physician.goto(credential_page)
    assert physician.locator("#share-form").count() == 1
    walk.check(physician, "credential and share form")
    for path in CHOSEN:
        physician.locator(f'input[name="field"][data-path="{path}"]').check()
    # a long unbroken word, as an e-mail address is, must wrap rather than widen the page
    physician.locator("#recipient").fill(
        "St. Mary's Medical Staff Office, credentialing-office@stmarys-regional-medical-center.example.org")
    physician.locator("#passcode").fill(PASSCODE)
    physician.get_by_role("button", name="Create link").click()
    physician.wait_for_load_state()
    url = physician.locator("#share-url").input_value()
    walk.check(physician, "new link")
    link_page = physician.url

    verifier = new_context().new_page()
    verifier.goto(url)
    assert verifier.get_by_label("Passcode").count() == 1
    walk.check(verifier, "share gate")
    verifier.get_by_label("Passcode").fill("0000")
    verifier.get_by_role("button", name="Open").click()
    verifier.wait_for_load_state()
    assert "attempt(s) left" in verifier.content()
    walk.check(verifier, "share gate after a wrong passcode")
    verifier.get_by_label("Passcode").fill(PASSCODE)
    verifier.get_by_role("button", name="Open").click()
    verifier.wait_for_load_state()
    assert verifier.locator("#verdict").count() == 1
    walk.check(verifier, "verifier page")
    verifier.locator("#checks > summary").click()  # the technical checks, unfolded, fit a phone too
    assert verifier.locator('tr[data-check="issuer_signature"]').is_visible()
    walk.check(verifier, "verifier page, checks unfolded")
    verifier.goto(url + "/receipt")
    walk.check(verifier, "receipt")
    # the report's Print button: shown by its script, pressed from the keyboard (window.print counted)
    verifier.evaluate("window.printed = 0; window.print = () => { window.printed += 1; }; window.clicks = 0;"
                      "document.addEventListener('click', () => { window.clicks += 1; }, true)")
    printing = verifier.get_by_role("button", name="Print")
    assert printing.is_visible()
    printing.focus()
    verifier.keyboard.press("Enter")
    assert verifier.evaluate("[window.printed, window.clicks]") == [1, 1]
    jti = verifier.locator("#report-recheck-url").inner_text().rsplit("/", 1)[1]
    verifier.goto(f"/receipts/{jti}")
    assert "This receipt is genuine" in verifier.content()
    walk.check(verifier, "receipt re-check")
    verifier.goto("/check")
    walk.check(verifier, "check form")
    verifier.locator("#link").fill(url)
    verifier.locator("#passcode").fill(PASSCODE)
    verifier.locator("#check").click()
    verifier.wait_for_load_state()
    assert verifier.locator("[data-outcome]").count() >= 1, verifier.content()[:2000]
    walk.check(verifier, "check result")
    verifier.locator("#checks > summary").click()
    walk.check(verifier, "check result, checks unfolded")
    verifier.goto(url)  # within its grant: the verification again, and its status subscription form
    verifier.get_by_label("E-mail address or webhook address").fill("monitoring@cvo.example.org")
    verifier.get_by_role("button", name="Subscribe").click()
    verifier.wait_for_load_state()
    address = verifier.locator("#unsubscribe-link").get_attribute("href") or ""
    walk.check(verifier, "status subscription made")
    verifier.goto("/subscriptions/" + address.split("/subscriptions/", 1)[1])
    assert verifier.locator("#subscription-state").get_attribute("data-state") == "active"
    walk.check(verifier, "status subscription page")

    physician.goto("/shares")
    walk.check(physician, "links list")
    physician.goto(link_page)
    assert physician.locator('[data-outcome="viewed"]').count() >= 1
    walk.check(physician, "one link and its access log")
    # the Copy button (static/copy.js) copies the address and says so to a screen reader
    physician.get_by_role("button", name="Copy the link").click()
    expect(physician.locator("#copy-status")).to_have_text("Copied")  # polls without eval: the CSP forbids it
    assert physician.evaluate("navigator.clipboard.readText()") == url
    physician.goto("/account")
    walk.check(physician, "account")
    physician.goto(link_page)
    assert physician.get_by_role("button", name="Revoke this link now").is_hidden()  # behind its confirmation step
    physician.locator("#revoke-step > summary").click()
    walk.check(physician, "revoke confirmation")
    physician.get_by_role("button", name="Revoke this link now").click()
    physician.wait_for_load_state()
    assert physician.locator("#link-state").get_attribute("data-state") == "revoked"
    gone = verifier.goto(url)
    assert gone is not None and gone.status == 410
    walk.check(verifier, "revoked link")

    assert len(walk.seen) == 27, walk.seen
    assert (walk.overflow, walk.violations) == ([], []), (
        "pages wider than the viewport:\n" + "\n".join(walk.overflow)
        + "\naxe-core violations (serious or critical):\n" + "\n".join(walk.violations))


def test_the_walk_sees_a_page_too_wide_and_an_inaccessible_one(page: Any) -> None:
    """The two checks above can fail: a 600 px wide box, an input without a label and pale grey
    text on white, added to the home page, are each reported, at the widths where they are wrong."""
    page.goto("/")
    page.evaluate("""() => {
        const main = document.querySelector('main');
        const wide = document.createElement('div');
        wide.style.width = '600px';
        wide.textContent = 'wide';
        const input = document.createElement('input');
        input.type = 'text';
        const pale = document.createElement('p');
        pale.style.color = '#cccccc';
        pale.style.background = '#ffffff';
        pale.textContent = 'Hard to read';
        main.append(wide, input, pale);
    }""")
    walk = Walk()
    walk.check(page, "home, spoiled")
    assert [o.split(":")[0] for o in walk.overflow] == ["home, spoiled at 390 px"], walk.overflow
    for width in WIDTHS:
        assert {("home, spoiled", width, "label"), ("home, spoiled", width, "color-contrast")} <= walk.rules, \
            walk.violations
