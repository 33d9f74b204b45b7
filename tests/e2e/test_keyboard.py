"""Keyboard only (issue 14: "keyboard navigation works"): a physician creates a share link and a
credentialing specialist opens it and reads the checks, with Tab, Shift+Tab, Space and Enter and
no pointer, in a real browser. Every control the Tab key reaches shows where the focus is, and the
first Tab stop on every page is a link that skips the site header.

Only the setup (signing up, the credential file) uses the pointer: a file chooser is the operating
system's dialog, not the page's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import CHOSEN, LiveServer, issue_file, register

pytestmark = pytest.mark.slow

MAX_TABS = 120  # more stops than any page has: a control not reached by then is not reachable

# what has the focus, and whether it is drawn: an outline or a box shadow around it
_FOCUSED = """() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const style = getComputedStyle(el);
    const ring = (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0) || style.boxShadow !== 'none';
    return {tag: el.tagName.toLowerCase(), id: el.id, name: el.getAttribute('name') || '',
            text: (el.innerText || el.value || el.getAttribute('aria-label') || '').trim().slice(0, 80),
            path: el.getAttribute('data-path') || '', href: el.getAttribute('href') || '', ring: ring};
}"""


def tab_to(page: Any, wanted: Any, *, backwards: bool = False) -> dict[str, Any]:
    """Press Tab (Shift+Tab) until ``wanted(focused)`` holds, asserting on the way that every
    stop shows a focus ring; fails when MAX_TABS stops go by without it."""
    seen = []
    for _ in range(MAX_TABS):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        focused = page.evaluate(_FOCUSED)
        if focused is None:
            continue
        seen.append(focused)
        assert focused["ring"], f"focus not visible on {focused}"
        if wanted(focused):
            return focused
    pytest.fail(f"not reached by {MAX_TABS} Tab presses; stops seen: {[(s['tag'], s['text']) for s in seen][:40]}")


def test_the_first_tab_stop_skips_the_header(page: Any) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    first = page.evaluate(_FOCUSED)
    assert first is not None and first["text"] == "Skip to main content" and first["ring"], first
    assert page.evaluate("() => document.querySelector('.skip-link').getBoundingClientRect().top >= 0")
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"


def test_a_link_is_made_and_checked_with_the_keyboard_alone(new_context: Any, live_server: LiveServer,
                                                            tmp_path: Path) -> None:
    physician = new_context().new_page()
    register(physician, live_server)
    physician.goto("/wallet")
    physician.get_by_label("Credential file").set_input_files(str(issue_file(live_server, tmp_path)))
    physician.get_by_role("button", name="Check and add").click()
    physician.wait_for_load_state()
    credential_page = physician.url.removeprefix(live_server.url)

    # from the wallet to the credential, by its link
    physician.goto("/wallet")
    tab_to(physician, lambda f: f["tag"] == "a" and f["href"] == credential_page)
    with physician.expect_navigation():
        physician.keyboard.press("Enter")
    assert physician.url.endswith(credential_page)
    # choose the fields with Space, type a label and a passcode, and press Enter on the button
    for path in CHOSEN:
        tab_to(physician, lambda f, p=path: f["tag"] == "input" and f["path"] == p)
        physician.keyboard.press("Space")
        assert physician.locator(f'input[name="field"][data-path="{path}"]').is_checked()
    tab_to(physician, lambda f: f["id"] == "recipient")
    physician.keyboard.type("St. Mary's Medical Staff Office")
    tab_to(physician, lambda f: f["id"] == "passcode")
    physician.keyboard.type("4812")
    tab_to(physician, lambda f: f["tag"] == "button" and f["text"] == "Create link")
    with physician.expect_navigation():
        physician.keyboard.press("Enter")
    url = physician.locator("#share-url").input_value()
    assert "/s/" in url

    # the credentialing specialist: passcode, then the verdict and the checks behind it
    verifier = new_context().new_page()
    verifier.goto(url)
    tab_to(verifier, lambda f: f["tag"] == "input" and f["name"] == "passcode")
    verifier.keyboard.type("4812")
    with verifier.expect_navigation():
        verifier.keyboard.press("Enter")
    assert verifier.locator("#verdict").count() == 1
    for summary in range(verifier.locator("main details > summary").count()):
        # every folded section opens from the keyboard
        details = verifier.locator("main details").nth(summary)
        if not details.is_visible() or details.get_attribute("open") is not None:
            continue
        text = details.locator("summary").first.inner_text().strip()[:80]
        tab_to(verifier, lambda f, t=text: f["tag"] == "summary" and f["text"] == t)
        verifier.keyboard.press("Enter")
        assert details.get_attribute("open") is not None, text
    # and back up the page with Shift+Tab to the site's own links, every stop drawn
    tab_to(verifier, lambda f: f["tag"] == "a" and f["text"] == "credshare", backwards=True)
