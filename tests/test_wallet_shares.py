"""The wallet, share links and the verifier, through real HTTP handling (Flask's test client)
on the embedded store: owner pages, the verifier page and JSON API, bundle and receipt, the
store dump, and one owner never reaching another's credentials or links."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from credshare.disclosure.jws import PublicKey
from credshare.foundation.clock import ManualClock
from credshare.verifier.bundle import TrustedLog, verify_bundle
from credshare.verifier.receipt import read_receipt
from tests.helpers import (
    OWNER,
    PASSWORD,
    accept_delivery,
    confirmation_link,
    create_link,
    csrf_from,
    independently_witnessed,
    issue_license,
    issue_to,
    only_dev_witnessed,
    open_link,
    owner_client,
    post,
    register,
    trusting,
    witness_policy_text,
)

OTHER = "ben@example.org"
SECRET_VALUES = ["Avery 0 Quinn", "1991-04-12", "D-000000", "1234567893", "Example University School of Medicine"]


@pytest.fixture
def app(web_app):
    """This module's app is the browser-facing one of tests/conftest.py."""
    return web_app


@pytest.fixture
def svc(web_svc):
    return web_svc


@pytest.fixture
def shared(app, svc):
    """An owner who accepted an issuer's delivery and shared 3 fields with a passcode."""
    owner = owner_client(app, OWNER)
    issue_to(svc, OWNER)
    entry_id = accept_delivery(owner)
    link_id, token = create_link(owner, entry_id, recipient="St. Mary's Medical Staff Office", passcode="tulip-4812",
                                 attempts="3")
    return owner, entry_id, link_id, token


def disclosed_paths(page: str) -> list[str]:
    table = page.split('id="disclosed"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'data-path="([^"]+)"', table)


def test_verifier_sees_exactly_the_three_fields_verified_after_the_passcode(app, shared) -> None:
    owner, _, link_id, token = shared
    verifier = app.test_client()
    first = verifier.get(f"/s/{token}")  # the gate: nothing shown, no view counted
    assert first.status_code == 200 and "Passcode" in first.get_data(as_text=True) and "Avery" not in first.get_data(as_text=True)
    assert verifier.head(f"/s/{token}/bundle").status_code == 200
    wrong = verifier.post(f"/s/{token}", data={"passcode": "0000", "csrf_token": csrf_from(verifier, f"/s/{token}")})
    assert wrong.status_code == 401 and "2 attempt(s) left" in wrong.get_data(as_text=True)
    right = verifier.post(f"/s/{token}", data={"passcode": "tulip-4812", "csrf_token": csrf_from(verifier, f"/s/{token}")})
    page = right.get_data(as_text=True)
    assert right.status_code == 200 and 'data-outcome="incomplete"' in page  # the log's own witnesses only
    assert sorted(disclosed_paths(page)) == ["conferral_date", "degree", "legal_name"]
    assert "Avery 0 Quinn" in page and "1991-04-12" not in page and "D-000000" not in page
    assert "St. Mary&#39;s Medical Staff Office" in page
    assert 'data-status="failed"' not in page and 'data-check="witness_quorum" data-status="unchecked"' in page
    assert "development only (the log&#39;s own key)" in page
    # the grant cookie lets the same browser fetch the bundle and receipt without the passcode again
    assert verifier.get(f"/s/{token}/bundle").status_code == 200
    assert verifier.get(f"/s/{token}/receipt").status_code == 200
    log = owner.get(f"/shares/{link_id}").get_data(as_text=True)
    assert "wrong passcode" in log and "viewed" in log and "bundle downloaded" in log
    assert "· 1 view(s)" in log  # the gate, HEAD, bundle and receipt after the counted view added none
    again = verifier.get(f"/s/{token}")  # within its grant, the same browser sees it again, uncounted
    assert 'data-outcome="incomplete"' in again.get_data(as_text=True)


def test_the_json_api_bundle_and_receipt(app, svc, shared) -> None:
    _, _, link_id, token = shared
    api = app.test_client()
    need = api.get(f"/api/v1/shares/{token}")
    assert need.status_code == 401 and need.get_json() == {"error": "passcode_required", "detail": need.get_json()["detail"],
                                                            "attempts_left": 3}
    body = api.get(f"/api/v1/shares/{token}", headers={"X-Share-Passcode": "tulip-4812"}).get_json()
    assert only_dev_witnessed(body["verification"]), body["verification"]["checks"]
    assert sorted(f["path"][0] for f in body["fields"]) == ["conferral_date", "degree", "legal_name"]
    assert body["link"]["id"] == link_id and body["link"]["views"] == 1 and body["fields_withheld"] > 0
    bundle = api.get(f"/api/v1/shares/{token}/bundle", headers={"X-Share-Passcode": "tulip-4812"}).get_json()
    trust = TrustedLog.from_text(api.get("/log/trust").get_data())  # the server's own suggestion
    assert only_dev_witnessed(verify_bundle(bundle, trusted=trusting(bundle, trust), now=int(time.time())))
    independent = TrustedLog.from_text(witness_policy_text(svc.log.signer.verifier.encode()))
    witnessed = independently_witnessed(bundle)
    report = verify_bundle(witnessed,
                           trusted=trusting(witnessed, independent), now=int(time.time()))
    assert report.outcome == "verified"
    receipt = api.get(f"/api/v1/shares/{token}/receipt", headers={"X-Share-Passcode": "tulip-4812"}).get_json()
    keys = [PublicKey.from_jwk(k) for k in api.get("/.well-known/credshare-receipt-keys").get_json()["keys"]]
    payload = read_receipt(receipt["jws"], keys)
    assert payload == receipt["receipt"] and only_dev_witnessed(payload)
    assert {f["label"] for f in payload["fields_verified"]} >= {"Legal name"} or len(payload["fields_verified"]) == 3


def test_revoked_link_gives_410_at_once(app, shared) -> None:
    owner, _, link_id, token = shared
    assert post(owner, f"/shares/{link_id}/revoke", {"confirm": "yes"}).status_code == 302
    gone = app.test_client().get(f"/s/{token}")
    assert gone.status_code == 410 and "revoked" in gone.get_data(as_text=True)
    assert app.test_client().head(f"/s/{token}").status_code == 410
    assert app.test_client().get(f"/api/v1/shares/{token}").get_json()["error"] == "share_revoked"
    assert 'data-state="revoked"' in owner.get(f"/shares/{link_id}").get_data(as_text=True)


def test_wrong_passcodes_lock_the_link(app, shared) -> None:
    _, _, _, token = shared
    api = app.test_client()
    answers = [api.get(f"/api/v1/shares/{token}", headers={"X-Share-Passcode": "nope"}) for _ in range(3)]
    assert [a.get_json().get("attempts_left") for a in answers[:2]] == [2, 1]
    assert answers[2].status_code == 410 and answers[2].get_json()["error"] == "share_locked"
    right = api.get(f"/api/v1/shares/{token}", headers={"X-Share-Passcode": "tulip-4812"})
    assert right.status_code == 410 and right.get_json()["error"] == "share_locked"


def test_view_limit_and_unknown_token(app, svc) -> None:
    owner = owner_client(app, OWNER)
    issue_to(svc, OWNER)
    entry_id = accept_delivery(owner)
    _, token = create_link(owner, entry_id, max_views="2")
    api = app.test_client()
    assert [api.get(f"/api/v1/shares/{token}").status_code for _ in range(3)] == [200, 200, 410]
    assert api.get(f"/api/v1/shares/{token}").get_json()["error"] == "share_used_up"
    assert api.get("/api/v1/shares/" + "A" * 43).get_json()["error"] == "share_unknown"


def test_deleting_a_credential_revokes_its_links(app, shared) -> None:
    owner, entry_id, _, token = shared
    assert post(owner, f"/wallet/{entry_id}/delete").status_code == 302  # not confirmed: nothing happens
    assert owner.get(f"/wallet/{entry_id}").status_code == 200
    assert post(owner, f"/wallet/{entry_id}/delete", {"confirm": "yes"}).status_code == 302
    assert owner.get(f"/wallet/{entry_id}").status_code == 404
    assert app.test_client().get(f"/api/v1/shares/{token}").get_json()["error"] == "share_revoked"


def test_revoked_credential_shows_revoked_to_owner_and_verifier(app, svc, shared) -> None:
    owner, entry_id, _, token = shared
    record = svc.store.collection("credentials").find_one({})
    svc.status.set_status("example-med", record["status_list"], record["status_idx"], "revoked")
    assert 'data-state="revoked"' in owner.get("/wallet").get_data(as_text=True)
    body = app.test_client().get(f"/api/v1/shares/{token}", headers={"X-Share-Passcode": "tulip-4812"}).get_json()
    assert body["verification"]["outcome"] == "not_verified" and body["verification"]["credential"]["status"] == "revoked"


def test_upload_checks_fully_and_stores_nothing_on_failure(app, svc) -> None:
    owner = owner_client(app, OWNER)
    holder = app.extensions["credshare"].store.collection("accounts").find_one({"email": OWNER})["holder_jwk"]
    good = issue_to(svc, "", holder_jwk=json.dumps(holder))
    tampered = dict(good, sd_jwt=good["sd_jwt"].replace("~", "~" + good["sd_jwt"].split("~")[1] + "~", 1))
    refused = post(owner, "/wallet/upload", {"credential": json.dumps(tampered)})
    assert refused.status_code == 422 and "the same disclosure is presented twice" in refused.get_data(as_text=True)
    other_issuer_key = dict(good, anchor_proof=dict(good["anchor_proof"], leaf_index=good["anchor_proof"]["leaf_index"] + 1))
    refused = post(owner, "/wallet/upload", {"credential": json.dumps(other_issuer_key)})
    assert refused.status_code == 422 and 'data-check="inclusion"' in refused.get_data(as_text=True)
    foreign = issue_to(svc, "")  # bound to no key of this owner
    refused = post(owner, "/wallet/upload", {"credential": json.dumps(foreign)})
    assert refused.status_code == 422 and "holder_key_mismatch" in refused.get_data(as_text=True)
    assert svc.store.collection("wallet_credentials").count() == 0
    added = post(owner, "/wallet/upload", {"credential": json.dumps(good)})
    assert added.status_code == 302
    again = post(owner, "/wallet/upload", {"credential": json.dumps(good)}, follow_redirects=True)
    assert "already in your wallet" in again.get_data(as_text=True)
    assert svc.store.collection("wallet_credentials").count() == 1


def test_one_owner_never_reaches_anothers_credentials_or_links(app, svc, shared) -> None:
    _, entry_id, link_id, _ = shared
    other = owner_client(app, OTHER)
    assert other.get(f"/wallet/{entry_id}").status_code == 404
    assert other.get(f"/shares/{link_id}").status_code == 404
    assert post(other, f"/wallet/{entry_id}/shares", {"field": json.dumps(["degree"])}).status_code == 404
    assert post(other, f"/shares/{link_id}/revoke", {"confirm": "yes"}).status_code == 404
    assert post(other, f"/wallet/{entry_id}/delete", {"confirm": "yes"}).status_code == 404
    assert "Avery" not in other.get("/wallet").get_data(as_text=True)
    assert link_id not in other.get("/shares").get_data(as_text=True)
    assert svc.store.collection("shares").find_one({"_id": link_id})["revoked_at"] is None


def test_a_store_dump_holds_no_field_value_and_no_token(app, svc, shared) -> None:
    _, _, _, token = shared
    app.test_client().get(f"/api/v1/shares/{token}", headers={"X-Share-Passcode": "tulip-4812"})
    svc.store.collection("wallet_deliveries").delete_many({})  # delivered offers are sealed under the server key
    dump = ""
    for name in ("accounts", "sessions", "wallet_credentials", "shares", "share_access", "wallet_deliveries"):
        dump += json.dumps(svc.store.collection(name).find(), default=str)
    for value in SECRET_VALUES + [token, "tulip-4812", "St. Mary"]:
        assert value not in dump, value
    sessions = json.dumps(svc.store.collection("sessions").find(), default=str)
    assert OWNER not in sessions and svc.store.collection("sessions").count() >= 1  # only accounts name the address
    raw = (Path(svc.settings.data_dir) / "credshare.sqlite3").read_bytes()
    wal = Path(svc.settings.data_dir) / "credshare.sqlite3-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    for value in [token, "tulip-4812", "St. Mary's"]:
        assert value.encode() not in raw, value


def test_encrypted_backup_restores_into_a_new_account_that_can_share_again(app, svc, shared) -> None:
    import io

    owner, _, _, _ = shared
    backup = post(owner, "/account/backup",
                  {"passphrase": "a long backup passphrase", "passphrase_confirm": "a long backup passphrase"})
    assert backup.status_code == 200 and "attachment" in backup.headers["Content-Disposition"]
    assert "Avery" not in backup.get_data(as_text=True)  # the credentials inside are sealed
    fresh = owner_client(app, "ada.new@example.org")
    restored = fresh.post("/account/restore", data={
        "backup": (io.BytesIO(backup.data), "backup.json"), "passphrase": "a long backup passphrase",
        "csrf_token": csrf_from(fresh, "/account")}, content_type="multipart/form-data", follow_redirects=True)
    assert "Restored 1 entr" in restored.get_data(as_text=True)
    page = fresh.get("/wallet").get_data(as_text=True)
    entry_id = re.search(r'data-credential="([^"]+)"', page).group(1)
    _, token = create_link(fresh, entry_id, paths=[["degree"]])
    body = app.test_client().get(f"/api/v1/shares/{token}").get_json()
    assert only_dev_witnessed(body["verification"])


def test_credential_expiry_is_its_own_and_an_expired_one_is_shared_only_as_history(app, svc) -> None:
    owner = owner_client(app, OWNER)
    issue_license(svc, OWNER, "2020-12-31")
    entry_id = accept_delivery(owner)
    assert 'data-state="expired"' in owner.get("/wallet").get_data(as_text=True)
    refused = post(owner, f"/wallet/{entry_id}/shares", {"field": json.dumps(["license_number"]), "days": "30"},
                   follow_redirects=True)
    assert "credential_expired" in refused.get_data(as_text=True)
    _, token = create_link(owner, entry_id, paths=[["license_number"]], history="yes")
    page = open_link(app.test_client(), token).get_data(as_text=True)
    # verified as history but for the witnesses: this log's are its own development ones
    assert 'data-outcome="incomplete"' in page and "expired 2020-12-31, shared as history" in page
    assert "active until" in page  # the link's own validity, shown beside the credential's
    body = app.test_client().get(f"/api/v1/shares/{token}").get_json()
    assert only_dev_witnessed(body["verification"], history=True)
    assert body["verification"]["credential"]["expires_at"] == 1609459199 and body["link"]["shared_as_history"] is True


def test_an_unexpired_license_carries_exp_from_its_expiration_date(app, svc) -> None:
    owner = owner_client(app, OWNER)
    issue_license(svc, OWNER, "2031-06-30")
    entry_id = accept_delivery(owner)
    page = owner.get(f"/wallet/{entry_id}").get_data(as_text=True)
    assert "until 2031-06-30" in page and 'data-state="valid"' in page


def test_demo_fills_a_wallet_with_several_types_once(app) -> None:
    from credshare.demo import DEMO_CREDENTIALS, prepare_demo

    svc = app.extensions["credshare"]
    first = prepare_demo(svc)
    assert first.credentials == len(DEMO_CREDENTIALS) == 4
    again = prepare_demo(svc)
    assert again == first and svc.store.collection("wallet_credentials").count() == 4
    client = app.test_client()
    client.post("/sign-in", data={"email": first.email, "password": first.password, "csrf_token": csrf_from(client)})
    page = client.get("/wallet").get_data(as_text=True)
    assert page.count('data-state="valid"') == 4


def test_the_owner_json_api_end_to_end(app, svc) -> None:
    api = app.test_client()
    register(api, email=OWNER, password=PASSWORD)
    link = confirmation_link(app, OWNER)
    api.post(link, data={"csrf_token": csrf_from(api, link)})
    api.post("/sign-out", data={"csrf_token": csrf_from(api, "/wallet")})
    csrf = api.get("/api/v1/session").get_json()["csrf_token"]
    assert api.post("/api/v1/session", json={"email": OWNER, "password": "wrong password!"},
                    headers={"X-CSRF-Token": csrf}).get_json()["error"] == "credentials_invalid"
    assert api.post("/api/v1/session", json={"email": OWNER, "password": PASSWORD}).get_json()["error"] == "csrf_invalid"
    signed = api.post("/api/v1/session", json={"email": OWNER, "password": PASSWORD}, headers={"X-CSRF-Token": csrf})
    assert signed.get_json() == {"signed_in": True, "email": OWNER}
    csrf = api.get("/api/v1/session").get_json()["csrf_token"]  # bound to the new session
    holder = svc.store.collection("accounts").find_one({"email": OWNER})["holder_jwk"]
    credential = issue_to(svc, "", holder_jwk=json.dumps(holder))
    added = api.post("/api/v1/wallet/credentials", data=json.dumps(credential), headers={"X-CSRF-Token": csrf})
    assert added.status_code == 201 and all(c["status"] != "failed" for c in added.get_json()["checks"])
    listed = api.get("/api/v1/wallet/credentials").get_json()["credentials"]
    assert len(listed) == 1 and listed[0]["status"] == "valid" and listed[0]["type"] == "medical-degree"
    entry_id = listed[0]["id"]
    assert api.post(f"/api/v1/wallet/credentials/{entry_id}/links", json={"fields": [["degree"]]}).status_code == 400
    made = api.post(f"/api/v1/wallet/credentials/{entry_id}/links", headers={"X-CSRF-Token": csrf},
                    json={"fields": [["degree"], ["npi"]], "days": 7, "recipient": "FCVS", "max_views": 3})
    assert made.status_code == 201, made.get_json()
    link = made.get_json()
    token = link["url"].rsplit("/", 1)[1]
    seen = app.test_client().get(f"/api/v1/shares/{token}").get_json()
    assert sorted(f["path"][0] for f in seen["fields"]) == ["degree", "npi"]
    assert api.get(f"/api/v1/links/{link['id']}").get_json()["views"] == 1
    revoked = api.post(f"/api/v1/links/{link['id']}/revoke", headers={"X-CSRF-Token": csrf}).get_json()
    assert revoked["state"] == "revoked"
    assert app.test_client().get(f"/api/v1/shares/{token}").status_code == 410
    stranger = app.test_client()
    assert stranger.get("/api/v1/links").get_json()["error"] == "sign_in_required"
    other = owner_client(app, OTHER)
    assert other.get(f"/api/v1/links/{link['id']}").status_code == 404
    assert other.get("/api/v1/wallet/credentials").get_json() == {"credentials": []}
    bad = api.post("/api/v1/wallet/credentials", data="{}", headers={"X-CSRF-Token": csrf})
    assert bad.status_code == 400 and bad.get_json()["error"] == "credential_malformed"


def test_an_unreadable_status_list_reads_as_status_unknown_never_valid(app, svc, shared) -> None:
    owner, _, _, token = shared
    from credshare.issuing.status import LISTS

    svc.store.collection(LISTS).delete_many({})
    page = owner.get("/wallet").get_data(as_text=True)
    assert 'data-state="status unknown"' in page and 'data-state="valid"' not in page
    body = app.test_client().get(f"/api/v1/shares/{token}", headers={"X-Share-Passcode": "tulip-4812"}).get_json()
    assert body["verification"]["outcome"] == "incomplete"
    assert body["verification"]["credential"]["status"] == "unknown"


def test_bundle_and_receipt_count_as_views_unless_a_counted_view_granted_them(app, svc) -> None:
    owner = owner_client(app, OWNER)
    issue_to(svc, OWNER)
    entry_id = accept_delivery(owner)
    _, token = create_link(owner, entry_id, max_views="2")
    api = app.test_client()
    seen = api.get(f"/api/v1/shares/{token}")
    grant = seen.headers["X-Share-Grant"]
    for path in ("bundle", "receipt", "bundle"):
        assert api.get(f"/api/v1/shares/{token}/{path}", headers={"X-Share-Grant": grant}).status_code == 200
    forged = grant[:-1] + ("1" if grant.endswith("0") else "0")
    assert api.get(f"/api/v1/shares/{token}/bundle", headers={"X-Share-Grant": forged}).status_code == 200  # counted
    assert api.get(f"/api/v1/shares/{token}/receipt").status_code == 410  # no grant: would be a third view
    assert api.get(f"/api/v1/shares/{token}").get_json()["error"] == "share_used_up"


def test_parallel_wrong_passcodes_never_exceed_the_attempt_budget(app, svc, shared, monkeypatch) -> None:
    import threading

    from credshare.holding import vault
    from credshare.holding.shares import PasscodeNeeded, ShareGone

    _, _, link_id, token = shared
    checks: list[int] = []
    real = vault.passcode_matches
    monkeypatch.setattr(vault, "passcode_matches", lambda stored, given: checks.append(1) or real(stored, given))
    outcomes: list[str] = []

    def guess(i: int) -> None:
        try:
            svc.shares.open(token, (f"198.51.{i}.7", "bot"), passcode=f"guess-{i}")
            outcomes.append("opened")
        except (PasscodeNeeded, ShareGone) as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(checks) == 3 and "opened" not in outcomes  # the budget of 3, however many raced
    assert svc.store.collection("shares").find_one({"_id": link_id})["attempts_left"] == 0
    assert app.test_client().get(f"/api/v1/shares/{token}", headers={"X-Share-Passcode": "tulip-4812"}).status_code == 410


def test_deliveries_wait_for_a_confirmed_address_and_a_squatter_gets_nothing(app, svc) -> None:
    squatter = owner_client(app, OWNER, confirm=False)  # registers the physician's address, cannot read its mail
    assert 'id="confirm-email"' in squatter.get("/wallet").get_data(as_text=True)
    issue_to(svc, OWNER)
    assert svc.store.collection("wallet_deliveries").count() == 0
    assert "data-offer" not in squatter.get("/wallet").get_data(as_text=True)
    link = confirmation_link(app, OWNER)
    scanner = app.test_client()  # a mail scanner or link previewer opening the link: confirms nothing
    assert scanner.get(link).status_code == 302 and "/sign-in" in scanner.get(link).headers["Location"]
    other = owner_client(app, OTHER)  # someone signed in to another account who got hold of the link
    refused = other.post(link, data={"csrf_token": csrf_from(other, link)})
    assert refused.status_code == 400 and "email_token_invalid" in refused.get_data(as_text=True)
    assert svc.store.collection("accounts").find_one({"email": OWNER})["email_verified"] is False
    holder = svc.store.collection("accounts").find_one({"email": OWNER})["holder_jwk"]
    bound = issue_to(svc, "", holder_jwk=json.dumps(holder))
    upload = post(squatter, "/wallet/upload", {"credential": json.dumps(bound)}, follow_redirects=True)
    assert "email_unconfirmed" in upload.get_data(as_text=True) and svc.store.collection("wallet_credentials").count() == 0
    assert squatter.post(link, data={"csrf_token": csrf_from(squatter, link)}).status_code == 302  # the mailbox owner
    assert squatter.post(link, data={"csrf_token": csrf_from(squatter, link)}).status_code == 400  # single use
    issue_to(svc, OWNER)
    assert 'data-offer="' in squatter.get("/wallet").get_data(as_text=True)


def test_odd_addresses_are_refused(app) -> None:
    for address in ("a@attacker.test,victim@hospital.test", "Ada <ada@example.org>", "ada@localhost", "a;b@example.org"):
        answer = register(app.test_client(), email=address, password=PASSWORD)
        assert answer.status_code == 400 and "email_invalid" in answer.get_data(as_text=True), address


def test_an_unconfirmed_account_lapses_and_frees_its_address(app, svc, clock: ManualClock) -> None:
    owner_client(app, OWNER, confirm=False)
    assert register(app.test_client(), email=OWNER, password=PASSWORD).status_code == 409
    clock.advance(47 * 3600)
    assert register(app.test_client(), email=OWNER, password=PASSWORD).status_code == 409
    svc.accounts.email_confirmation(svc.store.collection("accounts").find_one({"email": OWNER})["_id"])  # resent
    # 48 hours after registering, even with a link resent later (still valid), the address is free
    clock.advance(2 * 3600)
    assert register(app.test_client(), email=OWNER, password=PASSWORD).status_code == 302
    assert svc.store.collection("accounts").count({"email": OWNER}) == 1


def test_a_session_keeps_working_after_its_idle_deadline_is_refreshed(app, svc, clock: ManualClock) -> None:
    """The refresh writes datetimes with $set; on the embedded store they must stay datetimes."""
    from datetime import datetime, timedelta

    owner = owner_client(app, OWNER)
    sessions = svc.store.collection("sessions")
    sessions.update_many({}, {"$set": {"email": OWNER}})  # as sessions made by earlier versions kept
    clock.advance(5 * 60)
    for _ in range(3):
        assert owner.get("/wallet").status_code == 200
    (doc,) = sessions.find({})
    assert isinstance(doc["expires_at"], datetime) and doc["expires_at"] == clock.utcnow() + timedelta(minutes=30)
    assert "email" not in doc  # the refresh drops the old copy of the address


def test_the_right_passcode_never_costs_an_attempt_and_a_grant_outlives_the_last_view(app, svc) -> None:
    owner = owner_client(app, OWNER)
    issue_to(svc, OWNER)
    entry_id = accept_delivery(owner)
    _, token = create_link(owner, entry_id, passcode="caf\u00e9-9", attempts="1", max_views="2")
    api = app.test_client()
    header = {"X-Share-Passcode": "caf\u00e9-9".encode().decode("latin-1")}  # UTF-8 on the wire
    first = api.get(f"/api/v1/shares/{token}", headers=header)
    assert first.status_code == 200
    assert api.get(f"/api/v1/shares/{token}", headers=header).status_code == 200  # still 1 attempt: not locked
    assert api.get(f"/api/v1/shares/{token}", headers=header).get_json()["error"] == "share_used_up"
    grant = {"X-Share-Grant": first.headers["X-Share-Grant"]}
    assert api.get(f"/api/v1/shares/{token}", headers=grant).status_code == 410  # used up: no more views
    assert api.get(f"/api/v1/shares/{token}/bundle", headers=grant).status_code == 200
    assert api.get(f"/api/v1/shares/{token}/receipt", headers=grant).status_code == 200
    assert api.get(f"/api/v1/shares/{token}/bundle", headers=header).status_code == 410


def test_swapped_sealed_values_and_a_planted_holder_key_are_not_taken(app, svc) -> None:
    owner = owner_client(app, OWNER)
    issue_to(svc, OWNER)
    issue_to(svc, OWNER)
    page = owner.get("/wallet").get_data(as_text=True)
    for offer in re.findall(r'data-offer="([^"]+)"', page):
        post(owner, f"/wallet/offers/{offer}/accept")
    entries = svc.store.collection("wallet_credentials")
    first, second = entries.find({}, sort=[("_id", 1)])
    entries.update_one({"_id": first["_id"]}, {"$set": {"sealed": second["sealed"]}})  # someone with store access
    assert owner.get(f"/wallet/{first['_id']}").status_code == 404
    assert owner.get(f"/wallet/{second['_id']}").status_code == 200
    # a holder key written into the account's plain copy does not become the wallet's key
    stranger = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    svc.store.collection("accounts").update_one({"email": OWNER}, {"$set": {"holder_jwk": stranger}})
    foreign = issue_to(svc, "", holder_jwk=json.dumps(stranger))
    refused = post(owner, "/wallet/upload", {"credential": json.dumps(foreign)})
    assert refused.status_code == 422 and "holder_key_mismatch" in refused.get_data(as_text=True)


def test_registrations_are_limited_per_network(app, svc) -> None:
    answers = [register(app.test_client(), email=f"r{i}@example.org", password=PASSWORD).status_code for i in range(21)]
    assert answers[:20] == [302] * 20 and answers[20] == 429
    assert svc.store.collection("accounts").count() == 20


def test_a_previewer_fetching_the_bundle_url_is_sent_to_the_gate_and_uses_no_view(app, svc) -> None:
    owner = owner_client(app, OWNER)
    issue_to(svc, OWNER)
    _, token = create_link(owner, accept_delivery(owner), max_views="1")
    previewer = app.test_client()
    for path in ("bundle", "receipt", "receipt.json"):
        answer = previewer.get(f"/s/{token}/{path}")
        assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/s/{token}")
    verifier = app.test_client()
    assert 'data-outcome="incomplete"' in open_link(verifier, token).get_data(as_text=True)  # the one view
    assert verifier.get(f"/s/{token}/bundle").status_code == 200


@pytest.mark.slow
def test_parallel_right_passcodes_are_never_answered_locked(app, svc) -> None:
    """A link with 1 attempt, 30 openers with the right passcode at once: an attempt held for a
    passcode check is not a spent one, so nobody is told the link is locked (issue 10, item 8)."""
    from tests.helpers import race

    owner = owner_client(app, OWNER)
    issue_to(svc, OWNER)
    link_id, token = create_link(owner, accept_delivery(owner), passcode="tulip-4812", attempts="1")
    outcomes = race(30, lambda i: svc.shares.open(token, (f"198.51.{i}.7", "browser"), passcode="tulip-4812") and "opened")
    assert set(outcomes) <= {"opened", "share_busy"}, outcomes  # told to retry at worst, never locked
    retried = race(outcomes["share_busy"], lambda i: svc.shares.open(token, ("198.51.0.7", "b"), passcode="tulip-4812")
                   and "opened") if outcomes["share_busy"] else {}
    assert set(retried) <= {"opened"}
    doc = svc.store.collection("shares").find_one({"_id": link_id})
    assert doc["attempts_left"] == 1 and doc["views"] == 30
    log = [a["outcome"] for a in svc.store.collection("share_access").find({"share": link_id})]
    assert "locked" not in log and log.count("viewed") == 30
    assert 'data-state="active"' in owner.get(f"/shares/{link_id}").get_data(as_text=True)


def test_a_visitor_finding_every_passcode_slot_held_is_told_to_retry_and_stale_holds_are_freed(app, svc, monkeypatch,
                                                                                              clock: ManualClock) -> None:
    from credshare.holding import shares as shares_module

    owner = owner_client(app, OWNER)
    issue_to(svc, OWNER)
    link_id, token = create_link(owner, accept_delivery(owner), passcode="tulip-4812", attempts="2")
    links = svc.store.collection("shares")
    monkeypatch.setattr(shares_module, "PASSCODE_WAIT_SECONDS", 0.0)
    # two checks running
    links.update_one({"_id": link_id}, {"$set": {"passcode_slots": 0, "passcode_held_at": clock.seconds()}})
    busy = open_link(app.test_client(), token, passcode="tulip-4812")
    assert busy.status_code == 429 and 'data-code="share_busy"' in busy.get_data(as_text=True)
    assert "Try again in a moment" in busy.get_data(as_text=True)
    api = app.test_client().get(f"/api/v1/shares/{token}", headers={"X-Share-Passcode": "tulip-4812"})
    assert api.status_code == 429 and api.get_json()["error"] == "share_busy"
    assert links.find_one({"_id": link_id})["attempts_left"] == 2
    # holds older than any check takes were left by a process that died mid-check: freed
    clock.advance(shares_module.PASSCODE_HOLD_SECONDS + 1)
    assert open_link(app.test_client(), token, passcode="tulip-4812").status_code == 200
    doc = links.find_one({"_id": link_id})
    assert (doc["attempts_left"], doc["passcode_slots"]) == (2, 2)
    log = owner.get(f"/shares/{link_id}").get_data(as_text=True)
    assert "asked to retry" in log and "locked" not in log


@pytest.mark.slow
def test_a_link_made_while_its_credential_is_deleted_never_stays_active(app, svc) -> None:
    """Link creation and deletion of its credential race on real threads, 15 rounds: every link
    of a deleted credential ends revoked (or was never made)."""
    from tests.helpers import race

    owner = owner_client(app, OWNER)
    token = owner.get_cookie("credshare_session").value
    csrf = csrf_from(owner, "/wallet")
    clients = [app.test_client() for _ in range(2)]
    for client in clients:
        client.set_cookie("credshare_session", token)
    links = svc.store.collection("shares")
    left_active, made = [], 0
    for _ in range(15):
        issue_to(svc, OWNER)
        entry_id = accept_delivery(owner)
        forms = [{"field": json.dumps(["degree"]), "days": "30", "csrf_token": csrf}, {"confirm": "yes", "csrf_token": csrf}]
        paths = [f"/wallet/{entry_id}/shares", f"/wallet/{entry_id}/delete"]
        race(2, lambda i, paths=paths, forms=forms: str(clients[i].post(paths[i], data=forms[i]).status_code))
        assert svc.store.collection("wallet_credentials").count({"_id": entry_id}) == 0
        made += links.count({"credential": entry_id})
        left_active += [doc["_id"] for doc in links.find({"credential": entry_id, "revoked_at": None})]
    assert left_active == [], f"{len(left_active)} of 15 rounds left an active link to a deleted credential ({made} made)"


def api_owner(app, svc) -> tuple[Any, str, str]:
    """A confirmed owner signed in on the JSON API with one issued credential: (client, csrf, entry id)."""
    api = owner_client(app, OWNER)
    issue_to(svc, OWNER)
    entry_id = accept_delivery(api)
    return api, api.get("/api/v1/session").get_json()["csrf_token"], entry_id


@pytest.mark.parametrize("body, code", [
    ({"fields": [["degree"]], "passcode": ["pw-1234"]}, "share_passcode_invalid"),
    ({"fields": [["degree"]], "passcode": 12345678}, "share_passcode_invalid"),
    ({"fields": [["degree"]], "recipient": ["FCVS"]}, "share_recipient_invalid"),
    ({"fields": [["degree"]], "recipient": {"name": "FCVS"}}, "share_recipient_invalid"),
    ({"fields": [["degree"]], "recipient": "x" * 201}, "share_recipient_invalid"),
    ({"fields": [["degree"]] * 10_000}, "share_fields_invalid"),
    ({"fields": [["degree"], ["degree"]]}, "share_fields_duplicate"),
    ({"fields": [["iss"]]}, "share_field_not_disclosable"),
    ({"fields": [["degree"], ["vct"]]}, "share_field_not_disclosable"),
    ({"fields": [["cnf"]]}, "share_field_not_disclosable"),
    ({"fields": [["status"]]}, "share_field_not_disclosable"),
    ({"fields": [["_sd"]]}, "share_field_not_disclosable"),
    ({"fields": [["no_such_claim"]]}, "share_field_not_disclosable"),
    ({"fields": [[["degree"]]]}, "share_fields_invalid"),
    ({"fields": [[True]]}, "share_fields_invalid"),
    ({"fields": [[]]}, "share_fields_invalid"),
    ({"fields": "degree"}, "share_fields_invalid"),
    ({"fields": []}, "share_fields_missing"),
    ({"fields": [["degree"]], "days": "30"}, "share_expiry_invalid"),
    ({"fields": [["degree"]], "max_views": 1.5}, "share_views_invalid"),
    ({"fields": [["degree"]], "history": "yes"}, "share_history_invalid"),
])
def test_the_owner_api_refuses_loosely_typed_link_requests_and_stores_nothing(app, svc, body, code) -> None:
    api, csrf, entry_id = api_owner(app, svc)
    answer = api.post(f"/api/v1/wallet/credentials/{entry_id}/links", json=body, headers={"X-CSRF-Token": csrf})
    assert (answer.status_code, answer.get_json()["error"]) == (400, code), answer.get_json()
    assert svc.store.collection("shares").count() == 0


def test_the_form_goes_through_the_same_checks(app, svc) -> None:
    owner = owner_client(app, OWNER)
    issue_to(svc, OWNER)
    entry_id = accept_delivery(owner)
    for fields, code in (([["iss"]], "share_field_not_disclosable"), ([["degree"], ["degree"]], "share_fields_duplicate"),
                         ([["degree"]] * 300, "share_fields_invalid"), (["[" * 5000 + "]" * 5000], "share_fields_invalid")):
        data = {"field": [f if isinstance(f, str) else json.dumps(f) for f in fields], "days": "30"}
        page = post(owner, f"/wallet/{entry_id}/shares", data, follow_redirects=True).get_data(as_text=True)
        assert f'data-code="{code}"' in page and f"[{code}]" not in page, code
    assert svc.store.collection("shares").count() == 0
    link_id, _ = create_link(owner, entry_id, paths=[["degree"]], recipient="FCVS", passcode="tulip-4812")
    assert svc.shares.get(svc.accounts.session(owner.get_cookie("credshare_session").value), link_id).paths == [["degree"]]


def test_sharing_a_revoked_credential_asks_first_and_every_link_shows_the_credential_status(app, svc) -> None:
    api, csrf, entry_id = api_owner(app, svc)
    before_id, _ = create_link(api, entry_id, paths=[["degree"]], recipient="Mercy Hospital")
    record = svc.store.collection("credentials").find_one({})
    svc.status.set_status("example-med", record["status_list"], record["status_idx"], "revoked")
    links = svc.store.collection("shares")
    # the page warns before the form and asks for a confirmation the server checks too
    page = api.get(f"/wallet/{entry_id}").get_data(as_text=True)
    assert 'id="status-warning"' in page and 'name="acknowledge_status" value="revoked"' in page
    refused = post(api, f"/wallet/{entry_id}/shares", {"field": json.dumps(["degree"]), "days": "30"}, follow_redirects=True)
    assert 'data-code="credential_revoked"' in refused.get_data(as_text=True) and links.count() == 1
    made_id, _ = create_link(api, entry_id, paths=[["degree"]], acknowledge_status="revoked")
    share_page = api.get(f"/shares/{made_id}").get_data(as_text=True)
    assert 'data-credential-state="revoked"' in share_page and 'id="credential-warning"' in share_page
    # the JSON API refuses unless the same status is acknowledged, and says so in every link
    url = f"/api/v1/wallet/credentials/{entry_id}/links"
    answer = api.post(url, json={"fields": [["degree"]]}, headers={"X-CSRF-Token": csrf})
    assert (answer.status_code, answer.get_json()["error"]) == (409, "credential_revoked")
    answer = api.post(url, json={"fields": [["degree"]], "acknowledge_status": "suspended"}, headers={"X-CSRF-Token": csrf})
    assert answer.get_json()["error"] == "credential_revoked" and links.count() == 2
    answer = api.post(url, json={"fields": [["degree"]], "acknowledge_status": "revoked"}, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 201 and answer.get_json()["credential_status"] == "revoked"
    listed = api.get("/api/v1/links").get_json()["links"]
    assert len(listed) == 3 and {link["credential_status"] for link in listed} == {"revoked"}
    assert all(link["state"] == "active" for link in listed)  # the link itself still opens, and shows the revocation
    # the links list shows the credential's status beside each link, never a plain "active"
    table = api.get("/shares").get_data(as_text=True)
    row = table.split(f'data-link="{before_id}"', 1)[1].split("</tr>", 1)[0]
    assert 'data-credential-state="revoked"' in row and "badge link-active" not in row
    row = api.get(f"/wallet/{entry_id}").get_data(as_text=True).split(f'data-link="{before_id}"', 1)[1].split("</tr>", 1)[0]
    assert 'data-credential-state="revoked"' in row and "badge link-active" not in row
    # suspended: the same, with its own code; back to valid: no question asked
    svc.status.set_status("example-med", record["status_list"], record["status_idx"], "suspended")
    answer = api.post(url, json={"fields": [["degree"]], "acknowledge_status": "revoked"}, headers={"X-CSRF-Token": csrf})
    assert (answer.status_code, answer.get_json()["error"]) == (409, "credential_suspended")
    svc.status.set_status("example-med", record["status_list"], record["status_idx"], "valid")
    answer = api.post(url, json={"fields": [["degree"]]}, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 201 and answer.get_json()["credential_status"] == "valid"
    assert 'id="status-warning"' not in api.get(f"/wallet/{entry_id}").get_data(as_text=True)
    row = api.get("/shares").get_data(as_text=True).split(f'data-link="{before_id}"', 1)[1].split("</tr>", 1)[0]
    assert 'data-credential-state="valid"' in row and "badge link-active" in row


def _confirmed_owner_holding_one(svc, email: str):
    """A confirmed account (made through the services, no Flask) that accepted one delivery."""
    from dataclasses import replace

    info = svc.accounts.register(email, PASSWORD).info
    svc.accounts.mark_email_confirmed(info.account_id)
    info = replace(info, email_verified=True)
    issue_to(svc, email)
    svc.wallet.accept_offer(info, svc.wallet.offers(info)[0]["id"])
    return info


def test_the_restore_rule_is_the_wallet_services(svc) -> None:
    """WalletService.restore_backup: a backup's credentials are bound to its holder key, so it
    restores into an empty account (which takes that key) or one already holding that key, never
    over a wallet holding credentials bound to another key (restore_conflict); nothing changes then."""
    from dataclasses import replace

    from credshare.foundation.errors import CredshareError

    passphrase = "a long backup passphrase"
    ada = _confirmed_owner_holding_one(svc, OWNER)
    backup = svc.wallet.backup(ada, passphrase)
    with pytest.raises(CredshareError) as err:
        svc.wallet.restore_backup(ada, backup, "not the passphrase at all")
    assert err.value.code == "backup_passphrase_wrong"
    ben = _confirmed_owner_holding_one(svc, OTHER)
    with pytest.raises(CredshareError) as err:
        svc.wallet.restore_backup(ben, backup, passphrase)
    assert err.value.code == "restore_conflict" and len(svc.wallet.entries(ben)) == 1
    assert svc.accounts.holder_signer(ben).public_jwk == ben.holder_jwk  # his key stays his
    empty = svc.accounts.register("cleo@example.org", PASSWORD).info
    svc.accounts.mark_email_confirmed(empty.account_id)
    empty = replace(empty, email_verified=True)
    assert svc.wallet.restore_backup(empty, backup, passphrase) == 1
    assert svc.accounts.holder_signer(empty).public_jwk == ada.holder_jwk
    assert svc.wallet.restore_backup(ada, backup, passphrase) == 0  # same key: no conflict; already held


def test_deleting_a_credential_revokes_its_live_links_as_one_service_call(app, svc, shared) -> None:
    """ShareService.delete_credential, which the page and the owner API both call."""
    owner, entry_id, link_id, _ = shared
    info = svc.accounts.session(owner.get_cookie("credshare_session").value)
    assert svc.shares.delete_credential(info, entry_id) == 1
    assert svc.store.collection("shares").find_one({"_id": link_id})["revoked_at"] is not None
    assert svc.wallet.entries(info) == [] and not svc.wallet.holds(info, entry_id)


def test_what_a_verifier_takes_away_is_assembled_by_the_receipt_service(svc, shared) -> None:
    """ReceiptService, called on an opened share (no Flask): the API's JSON view, the offline
    bundle and the receipt signed with the published receipt key, all about the same link."""
    _, _, link_id, token = shared
    opened, _ = svc.shares.open(token, ("192.0.2.1", "test"), passcode="tulip-4812")
    view = svc.receipts.verification(opened)
    assert view["link"] == svc.receipts.link(opened) and view["link"]["id"] == link_id and view["link"]["views"] == 1
    assert view["link"]["recipient"] == "St. Mary's Medical Staff Office" and view["fields_withheld"] == opened.withheld > 0
    labels = {f["path"][0]: f["label"] for f in view["fields"]}
    assert labels.keys() == {"legal_name", "degree", "conferral_date"} and labels["legal_name"] != "legal_name"
    assert only_dev_witnessed(view["verification"])
    doc = svc.receipts.receipt(opened)
    signer = svc.receipt_signer
    assert read_receipt(doc["jws"], [PublicKey.from_jwk(signer.public_jwk)]) == doc["receipt"]
    assert doc["kid"] == signer.kid and doc["keys"] == "http://localhost/.well-known/credshare-receipt-keys"
    assert doc["receipt"]["iss"] == svc.settings.public_url and doc["receipt"]["fields_verified"] == view["fields"]
    assert doc["receipt"]["link"] == view["link"]
    bundle = svc.receipts.bundle(opened)
    trust = TrustedLog.from_text(witness_policy_text(svc.log.signer.verifier.encode()))
    witnessed = independently_witnessed(bundle)
    assert verify_bundle(witnessed,
                         trusted=trusting(witnessed, trust), now=int(time.time())).outcome == "verified"
    assert bundle["share"]["id"] == link_id and bundle["share"]["withheld"] == opened.withheld
