"""holding/notifications.py through the web app: the physician's e-mails about their links
land in ``<data dir>/outbox`` at the right moment, once, and not when turned off."""

from __future__ import annotations

import re
from email import message_from_bytes, policy as email_policy
from pathlib import Path

import pytest

from tests.helpers import accept_delivery, create_link, csrf_from, issue_to, open_link, owner_client, post

OWNER = "dr.notices@example.org"


@pytest.fixture
def owner(web_app, web_svc):
    client = owner_client(web_app, OWNER)
    issue_to(web_svc, OWNER)
    return client, accept_delivery(client)


def mails_to(app, to: str) -> list[tuple[str, str]]:
    """(subject, body) of each message in the outbox to ``to``, oldest first."""
    svc = app.extensions["credshare"]
    svc.deliveries.run_once()
    outbox = Path(svc.settings.data_dir) / "outbox"
    found = []
    for path in sorted(outbox.glob("*.eml")):
        message = message_from_bytes(path.read_bytes(), policy=email_policy.default)
        if message["To"] == to and not message["Subject"].startswith("Confirm"):
            found.append((str(message["Subject"]), message.get_content()))
    return found


def test_first_open_and_last_view_are_told_once(web_app, owner) -> None:
    client, entry_id = owner
    link_id, token = create_link(client, entry_id, recipient="St. Mary's Medical Staff Office", max_views="2")
    assert mails_to(web_app, OWNER) == []  # made, not opened
    verifier = web_app.test_client()
    assert open_link(verifier, token).status_code == 200
    told = mails_to(web_app, OWNER)
    assert [s for s, _ in told] == ["Your credential link was opened"]
    body = told[0][1]
    assert "St. Mary's Medical Staff Office" in body and f"http://localhost/shares/{link_id}" in body
    assert "Medical degree" in body and "Avery" not in body  # the type in words, never a field value
    assert open_link(web_app.test_client(), token).status_code == 200  # the second and last view
    assert [s for s, _ in mails_to(web_app, OWNER)] == ["Your credential link was opened",
                                                        "Your credential link is used up"]
    assert web_app.test_client().get(f"/s/{token}").status_code == 410  # used up; nothing more is told
    assert len(mails_to(web_app, OWNER)) == 2


def test_a_locked_link_is_told(web_app, owner) -> None:
    client, entry_id = owner
    _, token = create_link(client, entry_id, passcode="tulip-4812", attempts="2")
    api = web_app.test_client()
    for _ in range(3):
        api.get(f"/api/v1/shares/{token}", headers={"X-Share-Passcode": "nope"})
    assert [s for s, _ in mails_to(web_app, OWNER)] == ["Your credential link is locked"]


def test_turned_off_is_not_sent(web_app, web_svc, owner) -> None:
    client, entry_id = owner
    account = web_svc.store.collection("accounts").find_one({"email": OWNER})["_id"]
    prefs = web_svc.physician_notices.set_preferences(account, ["link_used_up"])
    assert prefs == {"link_opened": False, "link_locked": False, "link_used_up": True, "link_expiring": False,
                     "credential_status": False, "delivery_waiting": False}
    _, token = create_link(client, entry_id, max_views="1")
    assert open_link(web_app.test_client(), token).status_code == 200
    assert [s for s, _ in mails_to(web_app, OWNER)] == ["Your credential link is used up"]


def test_the_account_page_turns_them_off(web_app, owner) -> None:
    client, entry_id = owner
    page = client.get("/account").get_data(as_text=True)
    assert page.count('name="notice"') == 6 and page.count(" checked") >= 6
    answer = client.post("/account/notifications", data={"notice": ["link_locked"],
                                                         "csrf_token": csrf_from(client, "/account")})
    assert answer.status_code == 302
    page = client.get("/account").get_data(as_text=True)
    assert 'value="link_locked" checked' in page and 'value="link_opened" checked' not in page
    _, token = create_link(client, entry_id)
    assert open_link(web_app.test_client(), token).status_code == 200
    assert mails_to(web_app, OWNER) == []


def watch_round(svc, clock) -> None:
    """One round of the notification thread, a minute later (the status watch is due)."""
    clock.advance(61)
    svc.notifications_run()


def test_the_issuer_revoking_and_reinstating_a_credential_is_told(web_app, web_svc, owner, clock) -> None:
    client, entry_id = owner
    record = web_svc.store.collection("credentials").find_one({})
    watch_round(web_svc, clock)
    assert mails_to(web_app, OWNER) == []  # nothing changed
    web_svc.status.set_status("example-med", record["status_list"], record["status_idx"], "revoked")
    watch_round(web_svc, clock)
    watch_round(web_svc, clock)
    told = mails_to(web_app, OWNER)
    assert [s for s, _ in told] == ["Your credential was revoked by its issuer"]  # once
    assert "Medical degree" in told[0][1] and f"http://localhost/wallet/{entry_id}" in told[0][1]
    assert "Avery" not in told[0][1]
    web_svc.status.set_status("example-med", record["status_list"], record["status_idx"], "valid")
    watch_round(web_svc, clock)
    assert [s for s, _ in mails_to(web_app, OWNER)][1:] == ["Your credential is valid again"]
    stored = str(web_svc.store.collection("status_subscriptions").find())
    assert "Avery" not in stored and OWNER not in stored  # sealed: no field value, no address
    assert web_svc.types["medical-degree"].vct not in stored  # nor which type of credential the account holds


def test_a_credential_status_mail_turned_off_or_deleted_is_not_sent(web_app, web_svc, owner, clock) -> None:
    client, entry_id = owner
    account = web_svc.store.collection("accounts").find_one({"email": OWNER})["_id"]
    web_svc.physician_notices.set_preferences(account, ["link_opened"])
    record = web_svc.store.collection("credentials").find_one({})
    web_svc.status.set_status("example-med", record["status_list"], record["status_idx"], "suspended")
    watch_round(web_svc, clock)
    assert mails_to(web_app, OWNER) == []  # turned off
    web_svc.physician_notices.set_preferences(account, ["credential_status"])
    assert client.post(f"/wallet/{entry_id}/delete", data={"csrf_token": csrf_from(client, "/wallet"),
                                                           "confirm": "yes"}).status_code == 302
    assert web_svc.store.collection("status_subscriptions").count({"entry": entry_id}) == 0
    web_svc.status.set_status("example-med", record["status_list"], record["status_idx"], "revoked")
    watch_round(web_svc, clock)
    assert mails_to(web_app, OWNER) == []  # deleted: no longer watched


def test_a_link_about_to_expire_is_told_once(web_app, web_svc, owner, clock) -> None:
    client, entry_id = owner
    link_id, _ = create_link(client, entry_id, days="2")
    create_link(client, entry_id, days="1")  # made to last a day: never "about to expire"
    watch_round(web_svc, clock)
    assert mails_to(web_app, OWNER) == []
    clock.advance(24 * 3600)
    watch_round(web_svc, clock)
    watch_round(web_svc, clock)
    told = mails_to(web_app, OWNER)
    assert [s for s, _ in told] == ["Your credential link expires soon"]
    assert f"http://localhost/shares/{link_id}" in told[0][1]


def test_a_delivery_waiting_is_told_once_and_not_when_off(web_app, web_svc, clock) -> None:
    owner_client(web_app, OWNER)
    issue_to(web_svc, OWNER)
    watch_round(web_svc, clock)
    watch_round(web_svc, clock)
    told = mails_to(web_app, OWNER)
    assert [s for s, _ in told] == ["A credential is waiting in your wallet"]
    assert "Example University School of Medicine delivered a Medical degree credential" in told[0][1]
    assert "Avery" not in told[0][1]
    account = web_svc.store.collection("accounts").find_one({"email": OWNER})["_id"]
    web_svc.physician_notices.set_preferences(account, [])
    issue_to(web_svc, OWNER)
    watch_round(web_svc, clock)
    assert len(mails_to(web_app, OWNER)) == 1


def test_a_blockcerts_record_is_named_by_its_own_type_in_the_mails(blockcerts_wallet) -> None:
    """A Blockcerts record names its type itself ("Doctor of Medicine"): its link's first open and
    the school revoking it are told by that name, never with a field value."""
    from tests.helpers import BLOCKCERTS_FIXTURES, NORTHFIELD_REVOCATION

    app, sites = blockcerts_wallet
    svc = app.extensions["credshare"]
    client = owner_client(app, OWNER)
    added = post(client, "/wallet/upload", {"credential": (BLOCKCERTS_FIXTURES / "v3-doctor-of-medicine.json").read_text()})
    entry_id = added.headers["Location"].rsplit("/", 1)[1]
    made = post(client, f"/wallet/{entry_id}/shares", {"days": "30", "recipient": "Mercy MSO"})
    token = re.search(r'value="http://localhost/s/([A-Za-z0-9_-]+)"', client.get(made.headers["Location"]).get_data(
        as_text=True)).group(1)
    assert open_link(app.test_client(), token).status_code == 200
    ((subject, body),) = mails_to(app, OWNER)
    assert subject == "Your credential link was opened" and "your Doctor of Medicine link (made for \"Mercy MSO\")" in body
    sites.serve[NORTHFIELD_REVOCATION] = "revocation-list-revoked.json"
    svc.clock.advance(3600)
    svc.subscriptions.run_once()
    subject, body = mails_to(app, OWNER)[-1]
    assert subject == "Your credential was revoked by its issuer" and "your Doctor of Medicine credential" in body
    assert "Okafor" not in body
