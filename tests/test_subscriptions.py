"""holding/subscriptions.py through the web app: a CVO that opened a link subscribes on the
verified page (or by the JSON API); when the issuer revokes, the status watch queues a signed
event that a webhook receiver on 127.0.0.1 gets, verifiable with the server's published receipt
key; reinstating is told too; an endpoint answering 500 ends "failing", reported; an e-mail
subscriber gets the change in words; unsubscribing stops it; a wrong secret is refused; the
link ending sends a last notice."""

from __future__ import annotations

import re
from email import message_from_bytes, policy as email_policy
from pathlib import Path
from typing import Any, Iterator

import pytest

from credshare.disclosure.jws import PublicKey, parse_compact
from credshare.holding.subscriptions import EVENT_TYP, MAX_PER_LINK
from tests.helpers import (
    WebhookReceiver,
    accept_delivery,
    create_link,
    csrf_from,
    issue_license,
    issue_to,
    open_link,
    owner_client,
    post,
)

OWNER = "dr.watched@example.org"
CVO = "monitoring@cvo.example.org"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver()
    yield hook
    hook.close()


@pytest.fixture
def shared(web_app, web_svc) -> tuple[Any, str, str, dict[str, Any]]:
    """A physician's degree shared through a link; (owner client, link id, token, issuer record)."""
    client = owner_client(web_app, OWNER)
    issue_to(web_svc, OWNER)
    entry_id = accept_delivery(client)
    link_id, token = create_link(client, entry_id, recipient="St. Mary's Medical Staff Office")
    record = web_svc.store.collection("credentials").find_one({})
    return client, link_id, token, record


def subscribe_on_page(app, token: str, channel: str, target: str) -> tuple[Any, str, str]:
    """A CVO opens the link, then subscribes with the form on the verified page; (its client,
    the subscription id, the unsubscribe address)."""
    cvo = app.test_client()
    page = open_link(cvo, token).get_data(as_text=True)
    assert 'id="subscribe"' in page and f'action="/s/{token}/subscribe"' in page
    answer = cvo.post(f"/s/{token}/subscribe", data={"channel": channel, "target": target,
                                                     "csrf_token": csrf_from(cvo, f"/s/{token}")})
    body = answer.get_data(as_text=True)
    assert answer.status_code == 201, body
    address = re.search(r'id="unsubscribe-link">(http://localhost/subscriptions/([^/<]+)/[^<]+)</a>', body)
    return cvo, address.group(2), address.group(1)


def watch(svc, clock, seconds: float = 61) -> None:
    clock.advance(seconds)
    svc.notifications_run()


def events(svc, hook: WebhookReceiver) -> list[dict[str, Any]]:
    """Each JWS received, verified with the key the server publishes for its receipts."""
    keys = svc.receipt_signer
    published = PublicKey.from_jwk({**keys.public_jwk, "kid": keys.kid})
    out = []
    for content_type, jws in hook.received:
        assert content_type == "application/jose"
        parsed = parse_compact(jws.decode())
        assert parsed.header["typ"] == EVENT_TYP and parsed.verify_with([published])
        out.append(parsed.payload)
    return out


def mails_to(svc, to: str) -> list[tuple[str, str]]:
    outbox = Path(svc.settings.data_dir) / "outbox"
    found = []
    for path in sorted(outbox.glob("*.eml")):
        message = message_from_bytes(path.read_bytes(), policy=email_policy.default)
        if message["To"] == to:
            found.append((str(message["Subject"]), message.get_content()))
    return found


def test_a_webhook_is_told_when_the_issuer_revokes_and_reinstates(web_app, web_svc, shared, receiver, clock) -> None:
    _, link_id, token, record = shared
    _, sub_id, _ = subscribe_on_page(web_app, token, "webhook", receiver.url)
    watch(web_svc, clock)
    assert receiver.received == []  # nothing changed: nothing is sent
    web_svc.status.set_status("example-med", record["status_list"], record["status_idx"], "revoked")
    watch(web_svc, clock, 30)
    assert receiver.received == []  # not due yet (every 60 s)
    watch(web_svc, clock, 31)
    told = events(web_svc, receiver)
    assert [(e["event"], e["previous"], e["status"]) for e in told] == [("revoked", "valid", "revoked")]
    event = told[0]
    assert event["sub"] == sub_id and event["link"] == link_id and event["iss"] == "http://localhost"
    assert event["type"] == "Medical degree" and event["vct"] == web_svc.types["medical-degree"].vct
    assert token not in str(told) and "Avery" not in str(told)  # never the token, never a field value
    watch(web_svc, clock)
    assert len(receiver.received) == 1  # told once
    web_svc.status.set_status("example-med", record["status_list"], record["status_idx"], "valid")
    watch(web_svc, clock)
    assert [(e["event"], e["status"]) for e in events(web_svc, receiver)] == [("revoked", "revoked"),
                                                                               ("reinstated", "valid")]
    stored = str(web_svc.store.collection("status_subscriptions").find())
    assert receiver.url not in stored and "Avery" not in stored  # sealed at rest
    assert web_svc.types["medical-degree"].vct not in stored  # the type too, as the link keeps it


def test_an_email_subscriber_is_told_in_words_and_can_unsubscribe(web_app, web_svc, shared, clock) -> None:
    _, _, token, record = shared
    _, sub_id, unsubscribe = subscribe_on_page(web_app, token, "email", CVO)
    web_svc.status.set_status("example-med", record["status_list"], record["status_idx"], "suspended")
    watch(web_svc, clock)
    told = mails_to(web_svc, CVO)
    assert [s for s, _ in told] == ["Credential status changed: suspended"]
    assert "Medical degree" in told[0][1] and "suspended by its issuer" in told[0][1]
    assert token not in told[0][1] and unsubscribe not in told[0][1] and "Avery" not in told[0][1]
    page = web_app.test_client()
    shown = page.get(unsubscribe.removeprefix("http://localhost")).get_data(as_text=True)
    assert 'data-state="active"' in shown and "suspended" in shown
    wrong = unsubscribe.rsplit("/", 1)[0] + "/not-the-secret"
    assert page.get(wrong.removeprefix("http://localhost")).status_code == 404
    assert page.post(wrong.removeprefix("http://localhost"),
                     data={"csrf_token": csrf_from(page, unsubscribe.removeprefix("http://localhost"))}).status_code == 404
    assert web_svc.store.collection("status_subscriptions").find_one({"_id": sub_id})["state"] == "active"
    path = unsubscribe.removeprefix("http://localhost")
    ended = page.post(path, data={"csrf_token": csrf_from(page, path)}).get_data(as_text=True)
    assert 'data-state="unsubscribed"' in ended
    web_svc.status.set_status("example-med", record["status_list"], record["status_idx"], "valid")
    watch(web_svc, clock)
    assert len(mails_to(web_svc, CVO)) == 1  # unsubscribed: nothing more


def test_a_failing_webhook_is_retried_and_reported(web_app, web_svc, shared, clock) -> None:
    _, _, token, record = shared
    hook = WebhookReceiver(500)
    try:
        cvo = web_app.test_client()
        opened = cvo.get(f"/api/v1/shares/{token}")
        answer = cvo.post(f"/api/v1/shares/{token}/subscriptions", json={"webhook": hook.url},
                          headers={"X-Share-Grant": opened.headers["X-Share-Grant"]})
        assert answer.status_code == 201, answer.get_json()
        made = answer.get_json()
        secret = {"X-Subscription-Secret": made["secret"]}
        web_svc.status.set_status("example-med", record["status_list"], record["status_idx"], "revoked")
        watch(web_svc, clock)
        waits = []
        for _ in range(10):
            state = cvo.get(f"/api/v1/subscriptions/{made['id']}", headers=secret).get_json()
            if state["failing"]:
                break
            last = web_svc.store.collection("status_subscriptions").find_one({"_id": made["id"]})["last_delivery"]
            attempt = web_svc.deliveries.get(last)
            waits.append(attempt["next_try"] - clock.now())
            clock.advance(waits[-1])
            web_svc.deliveries.run_once()
        assert waits == [30.0, 60.0, 120.0, 240.0, 480.0]  # growing delays, then failed
        assert len(hook.received) == 6
        assert state["failing"] and state["last_error"]["code"] == "webhook_refused" and state["state"] == "active"
        assert cvo.get(f"/api/v1/subscriptions/{made['id']}",
                       headers={"X-Subscription-Secret": "wrong"}).status_code == 404
        page = cvo.get(made["unsubscribe"].removeprefix("http://localhost")).get_data(as_text=True)
        assert 'data-failing="yes"' in page
    finally:
        hook.close()


def test_the_link_ending_sends_a_last_notice(web_app, web_svc, shared, receiver, clock) -> None:
    owner, link_id, token, _ = shared
    _, sub_id, _ = subscribe_on_page(web_app, token, "webhook", receiver.url)
    assert post(owner, f"/shares/{link_id}/revoke", {"confirm": "yes"}).status_code == 302
    watch(web_svc, clock)
    watch(web_svc, clock)
    told = events(web_svc, receiver)
    assert [(e["event"], e.get("link_state")) for e in told] == [("link_ended", "revoked")]
    doc = web_svc.store.collection("status_subscriptions").find_one({"_id": sub_id})
    assert doc["state"] == "ended" and "sealed" not in doc


def test_subscribing_is_bounded_and_checked(web_app, web_svc, shared) -> None:
    _, _, token, _ = shared
    api = web_app.test_client()
    grant = api.get(f"/api/v1/shares/{token}").headers["X-Share-Grant"]
    headers = {"X-Share-Grant": grant}
    refused = api.post(f"/api/v1/shares/{token}/subscriptions", json={"webhook": "http://cvo.example.org/hook"},
                       headers=headers)
    assert refused.status_code == 400 and refused.get_json()["error"] == "webhook_url_refused"
    both = api.post(f"/api/v1/shares/{token}/subscriptions", json={"webhook": "https://a.example/h", "email": CVO},
                    headers=headers)
    assert both.status_code == 400
    for _ in range(MAX_PER_LINK):
        assert api.post(f"/api/v1/shares/{token}/subscriptions", json={"email": CVO},
                        headers=headers).status_code == 201
    full = api.post(f"/api/v1/shares/{token}/subscriptions", json={"email": CVO}, headers=headers)
    assert full.status_code == 409 and full.get_json()["error"] == "subscriptions_full"
    # a browser that did not open the link is sent to the gate: no view counted, nothing subscribed
    stranger = web_app.test_client()
    answer = stranger.post(f"/s/{token}/subscribe", data={"channel": "email", "target": CVO,
                                                          "csrf_token": csrf_from(stranger, f"/s/{token}")})
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/s/{token}")


def test_could_not_be_checked_is_not_a_change(web_app, web_svc, shared, receiver, clock) -> None:
    _, _, token, _ = shared
    subscribe_on_page(web_app, token, "webhook", receiver.url)
    issuers = web_svc.store.collection("issuers")
    gone = issuers.find_one({"_id": "example-med"})
    issuers.delete_one({"_id": "example-med"})  # the issuer is no longer known here: no status can be read
    watch(web_svc, clock)
    assert receiver.received == []
    issuers.insert_one(gone)
    watch(web_svc, clock)
    assert receiver.received == []  # known again and still valid: nothing changed


def test_the_credential_expiring_is_told(web_app, web_svc, receiver, clock) -> None:
    import time as time_module

    client = owner_client(web_app, OWNER)
    ends = time_module.strftime("%Y-%m-%d", time_module.gmtime(clock.now() + 3 * 86400))
    issue_license(web_svc, OWNER, ends)
    entry_id = accept_delivery(client)
    _, token = create_link(client, entry_id, paths=[["license_number"]])
    subscribe_on_page(web_app, token, "webhook", receiver.url)
    watch(web_svc, clock)
    assert receiver.received == []
    watch(web_svc, clock, 4 * 86400)
    assert [(e["event"], e["previous"], e["status"]) for e in events(web_svc, receiver)] == [
        ("expired", "valid", "expired")]
