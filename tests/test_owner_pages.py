"""The physician's pages in words (issue 14): readable browser names and outcomes in a link's
access log, times to the second, a Copy button beside every link address, a revoke that
asks first, each link's credential status, folded wallet cards that tell two credentials of
one type apart, and messages without internal codes in their text."""

from __future__ import annotations

import re

import pytest

from credshare.sharing.access_log import browser_name, outcome_words
from credshare.sharing.display import exact, iso, sentence
from tests.helpers import OWNER, accept_delivery, create_link, issue_to, open_link, owner_client, post

CHROME_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/131.0.0.0 Safari/537.36")
SAFARI_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Version/17.5 Mobile/15E148 Safari/604.1")
DAY = 24 * 3600
CODE_IN_TEXT = re.compile(r"\[[a-z]+(?:_[a-z]+)+\]")  # "[share_fields_invalid]", as messages once ended


@pytest.mark.parametrize(("agent", "name"), [
    (CHROME_WINDOWS, "Chrome 131 on Windows"),
    (SAFARI_IPHONE, "Safari 17 on iPhone"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
     "Safari/605.1.15", "Safari 18 on macOS"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36 Edg/131.0.2903.86", "Edge 131 on Windows"),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox 133 on Linux"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1", "Chrome 131 on iPhone"),
    ("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 "
     "Chrome/122.0.0.0 Mobile Safari/537.36", "Samsung Internet 26 on Android"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile "
     "Safari/537.36", "Chrome 131 on Android"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36 OPR/115.0.0.0", "Opera 115 on Windows"),
    ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36", "Chrome 131 on ChromeOS"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.6778.33 "
     "Safari/537.36", "Headless Chrome 131 on Linux"),
    ("Mozilla/5.0 (Windows NT 10.0; Trident/7.0; rv:11.0) like Gecko", "Internet Explorer on Windows"),
    ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "Slack link preview"),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "Facebook link preview"),
    ("curl/8.5.0", "curl (a command-line program)"),
    ("python-requests/2.32.3", "A Python program"),
    ("Werkzeug/3.1.3", "Unknown browser"),
    ("Mozilla/5.0 (Windows NT 10.0) SomethingNew/1.0", "Unknown browser on Windows"),
    ("", "Unknown browser"),
    (None, "Unknown browser"),
    ("   ", "Unknown browser"),
    ("Chrome/131 " + "x" * 500, "Unknown browser"),  # longer than anything logged: not looked into
])
def test_a_stored_user_agent_reads_as_a_browser_name(agent, name) -> None:
    assert browser_name(agent) == name


@pytest.mark.parametrize(("outcome", "words"), [
    ("viewed", "Opened: the shared fields were shown"),
    ("viewed again", "Opened: the shared fields were shown (again, by the same browser: not counted as a new view)"),
    ("wrong passcode", "Wrong passcode: nothing shown"),
    ("revoked", "Refused: you revoked the link"),
    ("used up", "Refused: every allowed view was used"),
    ("receipt (API)", "Took the signed verification receipt, by a program"),
    ("something new", "Something new"),
    (None, "Not recorded"),
])
def test_an_outcome_reads_as_words(outcome, words) -> None:
    assert outcome_words(outcome) == words


def test_times_are_to_the_second_with_their_zone_and_messages_are_sentences() -> None:
    assert (exact(1_700_000_005), iso(1_700_000_005)) == ("2023-11-14 22:13:25 UTC", "2023-11-14T22:13:25Z")
    assert (exact(None), iso(None)) == ("—", "")
    assert sentence("choose at least one field") == "Choose at least one field."
    assert sentence("Is it? ") == "Is it?" and sentence("") == ""


@pytest.fixture
def app(web_app):
    return web_app


@pytest.fixture
def svc(web_svc):
    return web_svc


@pytest.fixture
def owner_with_link(app, svc):
    owner = owner_client(app, OWNER)
    issue_to(svc, OWNER)
    entry_id = accept_delivery(owner)
    link_id, token = create_link(owner, entry_id, recipient="Mercy Hospital")
    return owner, entry_id, link_id, token


def test_every_link_address_has_a_copy_button_and_stays_selectable_text(app, owner_with_link) -> None:
    owner, entry_id, link_id, token = owner_with_link
    url = f"http://localhost/s/{token}"
    one = owner.get(f"/shares/{link_id}").get_data(as_text=True)
    assert f'<input id="share-url" class="share-url" readonly value="{url}">' in one
    assert re.search(r'<button type="button" class="copy" data-copy="share-url" hidden[^>]*>Copy</button>', one)
    for page in (owner.get("/shares").get_data(as_text=True), owner.get(f"/wallet/{entry_id}").get_data(as_text=True),
                 one):
        assert 'id="copy-status" aria-live="polite"' in page and '/static/copy.js" defer></script>' in page
    for page in (owner.get("/shares").get_data(as_text=True), owner.get(f"/wallet/{entry_id}").get_data(as_text=True)):
        assert f'<code id="url-{link_id}">{url}</code>' in page
        assert re.search(rf'data-copy="url-{link_id}" hidden aria-label="Copy the link for Mercy Hospital, created [0-9-]+">'
                         r'Copy</button>', page)
    script = app.test_client().get("/static/copy.js")
    assert script.status_code == 200 and b"navigator.clipboard" in script.data and b"Copied" in script.data
    # a revoked link's address is no longer offered to copy
    assert post(owner, f"/shares/{link_id}/revoke", {"confirm": "yes"}).status_code == 302
    assert f'<code id="url-{link_id}">' not in owner.get("/shares").get_data(as_text=True)
    assert 'data-copy="share-url"' not in owner.get(f"/shares/{link_id}").get_data(as_text=True)


def test_revoking_asks_first_and_a_post_without_the_confirmation_revokes_nothing(app, svc, owner_with_link) -> None:
    owner, _, link_id, token = owner_with_link
    page = owner.get(f"/shares/{link_id}").get_data(as_text=True)
    step = page[page.index('<details class="confirm" id="revoke-step">'):]
    step = step[:step.index("</details>")]
    assert "<summary>Revoke this link</summary>" in step
    assert '<button type="submit" class="danger" id="revoke" name="confirm" value="yes">Revoke this link now</button>' in step
    unconfirmed = post(owner, f"/shares/{link_id}/revoke", follow_redirects=True)
    told = unconfirmed.get_data(as_text=True)
    assert unconfirmed.status_code == 200 and 'data-code="revoke_not_confirmed"' in told and "Nothing was revoked." in told
    assert not CODE_IN_TEXT.search(told)
    assert svc.store.collection("shares").find_one({"_id": link_id})["revoked_at"] is None
    assert app.test_client().head(f"/s/{token}").status_code == 200
    assert post(owner, f"/shares/{link_id}/revoke", {"confirm": "no"}).status_code == 302
    assert svc.store.collection("shares").find_one({"_id": link_id})["revoked_at"] is None
    assert post(owner, f"/shares/{link_id}/revoke", {"confirm": "yes"}).status_code == 302
    assert svc.store.collection("shares").find_one({"_id": link_id})["revoked_at"] is not None
    assert app.test_client().head(f"/s/{token}").status_code == 410


def test_the_access_log_names_browsers_times_to_the_second_newest_first_and_outcomes_in_words(
        app, clock, owner_with_link) -> None:
    owner, _, link_id, token = owner_with_link
    first = app.test_client()
    first.environ_base["HTTP_USER_AGENT"] = CHROME_WINDOWS
    assert open_link(first, token).status_code == 200
    clock.advance(7)
    second = app.test_client()
    second.environ_base["HTTP_USER_AGENT"] = SAFARI_IPHONE
    assert open_link(second, token).status_code == 200
    page = owner.get(f"/shares/{link_id}").get_data(as_text=True)
    table = page[page.index('<table class="access"'):page.index("</table>", page.index('<table class="access"'))]
    assert "<caption>Newest first; times in UTC, to the second." in table
    rows = re.findall(r'<time datetime="([0-9T:-]+Z)">([0-9-]+ [0-9:]{8} UTC)</time></td>'
                      r'<td role="cell" data-label="Browser"[^>]*>([^<]+)</td>'
                      r'<td role="cell" data-label="What happened" data-outcome="([^"]+)">([^<]+)</td>', table)
    assert [(r[2], r[3], r[4]) for r in rows] == [
        ("Safari 17 on iPhone", "viewed", "Opened: the shared fields were shown"),
        ("Chrome 131 on Windows", "viewed", "Opened: the shared fields were shown")]
    newer, older = rows
    assert newer[0] > older[0] and newer[1].replace(" UTC", "").replace(" ", "T") + "Z" == newer[0]
    assert CHROME_WINDOWS not in table.replace(f'data-user-agent="{CHROME_WINDOWS}"', "")  # the raw agent only as data


def test_each_link_shows_its_credential_status_now_and_it_changes_when_the_issuer_revokes(
        app, svc, owner_with_link) -> None:
    owner, entry_id, link_id, _ = owner_with_link

    def states(path: str) -> list[str]:
        return re.findall(r'data-credential-state="([^"]+)"', owner.get(path).get_data(as_text=True))

    for path in ("/shares", f"/wallet/{entry_id}", f"/shares/{link_id}"):
        assert states(path) == ["valid"], path
    record = svc.store.collection("credentials").find_one({})
    svc.status.set_status("example-med", record["status_list"], record["status_idx"], "revoked")
    for path in ("/shares", f"/wallet/{entry_id}", f"/shares/{link_id}"):
        assert states(path) == ["revoked"], path
    assert ">open, shows revoked<" in owner.get("/shares").get_data(as_text=True)
    svc.status.set_status("example-med", record["status_list"], record["status_idx"], "suspended")
    assert states("/shares") == ["suspended"]


def _cards(page: str) -> list[str]:
    return re.findall(r'<article class="card".*?</article>', page, re.S)


def test_wallet_cards_are_folded_to_the_facts_that_tell_them_apart(app, svc, clock) -> None:
    clock.advance((DAY - 600 - int(clock.seconds()) % DAY) % DAY)  # ten minutes before midnight UTC: two issue dates
    owner = owner_client(app, OWNER)
    issue_to(svc, OWNER, diploma_number="D-111111")
    first = accept_delivery(owner)
    clock.advance(1200)
    issue_to(svc, OWNER, diploma_number="D-222222")
    second = accept_delivery(owner)
    page = owner.get("/wallet").get_data(as_text=True)
    cards = _cards(page)
    assert len(cards) == 2
    told = {}
    for card in cards:
        entry = re.search(r'data-credential="([^"]+)"', card).group(1)
        folded, _, unfolded = card.partition('<details class="card-fields">')
        assert unfolded and "<summary>Show all " in unfolded and "</details>" in unfolded
        # before the fold: type, issuer, number, issue date, status and expiry; the fields only after it
        assert ">Medical degree</a></h3>" in folded and 'data-state="valid"' in folded
        assert "<dt>Issuer</dt><dd>Example University School of Medicine</dd>" in folded
        assert "<dt>Expires</dt><dd>Does not expire</dd>" in folded
        number = re.search(r"<dt>Diploma number</dt><dd>(D-[0-9]+)</dd>", folded).group(1)
        issued = re.search(r'<dt>Issued</dt><dd><time datetime="[^"]+">([0-9-]+)</time>', folded).group(1)
        assert "Date of birth" not in folded and "<dt>Date of birth</dt>" in unfolded
        told[entry] = (number, issued)
    assert told[first][0] == "D-111111" and told[second][0] == "D-222222" and told[first][1] < told[second][1]
    credential = owner.get(f"/wallet/{second}").get_data(as_text=True)
    assert "Diploma number <strong>D-222222</strong>" in credential and f"on {told[second][1]}" in credential


def test_no_raw_type_identifier_or_issuer_id_is_shown_to_the_physician(app, svc) -> None:
    owner = owner_client(app, OWNER)
    issue_to(svc, OWNER)
    waiting = owner.get("/wallet").get_data(as_text=True)
    offer = re.search(r"<li data-offer=.*?</li>", waiting, re.S).group(0)
    assert "<strong>Medical degree</strong> from Example University School of Medicine" in offer
    entry_id = accept_delivery(owner)
    create_link(owner, entry_id)
    for path in ("/wallet", "/shares", f"/wallet/{entry_id}"):
        shown = re.sub(r"<[^>]+>", " ", owner.get(path).get_data(as_text=True))
        assert "urn:credshare:vct" not in shown and "example-med" not in shown and "medical-degree" not in shown, path


def test_messages_start_with_a_capital_say_what_to_do_and_keep_their_code_as_data(app, svc) -> None:
    owner = owner_client(app, OWNER)
    issue_to(svc, OWNER)
    entry_id = accept_delivery(owner)
    cases = [
        (f"/wallet/{entry_id}/shares", {"days": "30"}, "share_fields_missing",
         "The link was not created. Choose at least one field to share. Correct the form below and create the link again."),
        (f"/wallet/{entry_id}/shares", {"field": '["degree"]', "days": "many"}, "share_form_invalid",
         "The link was not created. Days must be a whole number. Correct the form below"),
        ("/wallet/upload", {"credential": "not a credential"}, None, "Nothing was added. "),
        ("/wallet/receive", {"offer": "nonsense", "tx_code": "1"}, None, "Nothing was received. "),
        (f"/wallet/{entry_id}/delete", {}, "delete_not_confirmed", "Nothing was deleted. Tick the box"),
    ]
    for path, form, code, words in cases:
        page = post(owner, path, form, follow_redirects=True).get_data(as_text=True)
        message = re.search(r'<p class="error" role="alert" data-code="([a-z_]+)">([^<]+)</p>', page)
        assert message is not None, (path, page[:3000])
        assert code is None or message.group(1) == code, (path, message.group(1))
        assert message.group(2).startswith(words), (path, message.group(2))
        assert message.group(2)[0].isupper() and message.group(2).rstrip().endswith(".")
        assert not CODE_IN_TEXT.search(page), path
