"""Blockcerts records in the physician's wallet, in share links and on the verifier page (issue
15, item 2), through real HTTP handling (Flask's test client) on the embedded store, with the
real gathering code (federation/blockcerts_sources.py) reaching the issuers' servers through
``BlockcertsSites`` (the fixture files of tests/fixtures/blockcerts, made by cert-issuer).

Every genuine fixture is anchored on cert-issuer's mockchain, so a link to it is never
"verified": it is "could not be fully checked", the anchor being a test anchor (as Blockcerts
itself says of mock records)."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest

from credshare.verifier.bundle import verify_bundle
from credshare.verifier.trust_list import TrustList
from tests.helpers import (
    BLOCKCERTS_FIXTURES,
    BLOCKCERTS_TRUST_LIST,
    LAKESIDE,
    NORTHFIELD,
    NORTHFIELD_REVOCATION,
    OWNER,
    PASSWORD,
    blockcerts_fixture,
    csrf_from,
    open_link,
    owner_client,
    post,
)

MD = "v3-doctor-of-medicine.json"
MD_ID = "urn:uuid:6c1e2b9a-3f4d-4e8a-9b21-5d0c7a8e1f01"
RESIDENCY = "v2-residency-completion.json"
EXPIRED = "v3-acls-expired.json"


@pytest.fixture
def app(blockcerts_wallet):
    return blockcerts_wallet[0]


@pytest.fixture
def sites(blockcerts_wallet):
    return blockcerts_wallet[1]


@pytest.fixture
def svc(app):
    return app.extensions["credshare"]


def upload_file(client, name: str):
    """What the wallet page's form sends: the file chosen."""
    data = {"file": (io.BytesIO((BLOCKCERTS_FIXTURES / name).read_bytes()), name), "credential": ""}
    return post(client, "/wallet/upload", data, content_type="multipart/form-data")


def added(client, name: str) -> str:
    response = upload_file(client, name)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    return response.headers["Location"].rsplit("/", 1)[1]


def api(client, method: str, path: str, **kwargs: Any):
    token = client.get("/api/v1/session").get_json()["csrf_token"]
    return client.open(path, method=method, headers={"X-CSRF-Token": token, **kwargs.pop("headers", {})}, **kwargs)


def make_link(client, entry_id: str, **form: Any) -> tuple[str, str]:
    """The credential page's share form, as a Blockcerts record's has it: no field to tick."""
    response = post(client, f"/wallet/{entry_id}/shares", {"days": "30", **form})
    assert response.status_code == 302 and "/shares/" in response.headers["Location"], response.get_data(as_text=True)
    link_id = response.headers["Location"].rsplit("/", 1)[1]
    page = client.get(f"/shares/{link_id}").get_data(as_text=True)
    token = re.search(r'value="http://localhost/s/([A-Za-z0-9_-]+)"', page).group(1)
    return link_id, token


def check(checks: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(c for c in checks if c["check"] == name)


# -- upload ----------------------------------------------------------------------------------------

def test_a_v3_record_uploaded_as_a_file_is_checked_kept_and_shown_whole(app, sites) -> None:
    owner = owner_client(app, OWNER)
    response = upload_file(owner, MD)
    assert response.status_code == 302
    entry_id = response.headers["Location"].rsplit("/", 1)[1]
    detail = owner.get(f"/wallet/{entry_id}").get_data(as_text=True)
    # told plainly what could not be checked: the test anchor
    assert "Nothing failed, but not everything could be checked: it was recorded on a test chain, not a public " \
           "blockchain" in detail
    assert "verification method" not in detail.split('id="record-fields"')[0]  # the physician is spared the jargon
    assert "<h1>Doctor of Medicine</h1>" in detail and "Northfield School of Medicine" in detail
    assert "Dr. Amara Okafor" in detail and "Graduation date" in detail and "2026-05-22" in detail
    assert 'id="blockcerts-note"' in detail and "shared whole" in detail
    assert 'name="field"' not in detail  # nothing to choose: no field checkbox
    assert 'id="blockcerts-unchecked"' in detail
    assert sites.fetched.count(NORTHFIELD) == 1  # the profile fetched once, on arrival
    wallet = owner.get("/wallet").get_data(as_text=True)
    card = wallet.split(f'data-credential="{entry_id}"', 1)[1].split("</article>", 1)[0]
    assert "Doctor of Medicine" in card and 'data-state="valid"' in card and "data-blockcerts" in card
    assert "Does not expire" not in card and "2076-05-22" in card  # its expiry, from the record
    assert "Issued" in card and "2026-05-22" in card
    assert sites.fetched.count(NORTHFIELD) == 1  # shown again: the kept snapshot, not fetched anew
    assert sites.fetched.count(NORTHFIELD_REVOCATION) >= 2  # the revocation list is read again


def test_a_v2_record_pasted_through_the_api_is_added_and_listed(app, sites) -> None:
    owner = owner_client(app, OWNER)
    answer = api(owner, "POST", "/api/v1/wallet/credentials", data=(BLOCKCERTS_FIXTURES / RESIDENCY).read_text())
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert body["format"] == "blockcerts" and body["outcome"] == "incomplete"
    assert check(body["checks"], "blockchain_anchor")["status"] == "unchecked"
    assert check(body["checks"], "blockchain_anchor")["code"] == "blockcerts_test_anchor"
    assert check(body["checks"], "document_hash")["status"] == "passed"
    listed = owner.get("/api/v1/wallet/credentials").get_json()["credentials"]
    (item,) = listed
    assert item["id"] == body["id"] and item["format"] == "blockcerts" and item["type_name"] == "Residency completion"
    assert item["issuer"] == {"id": LAKESIDE, "name": "Lakeside Residency Program"}
    assert {f["label"]: f["value"] for f in item["fields"]}["Recipient"] == "Dr. Amara Okafor"
    assert not any(f["disclosable"] for f in item["fields"])
    # the paste form takes it too
    other = owner_client(app, "ben@example.org")
    pasted = post(other, "/wallet/upload", {"credential": (BLOCKCERTS_FIXTURES / RESIDENCY).read_text()})
    assert pasted.status_code == 302 and "/wallet/" in pasted.headers["Location"]


@pytest.mark.parametrize("name, failed, code", [
    ("tampered-v3-field-changed.json", "document_hash", "blockcerts_hash_mismatch"),
    ("tampered-v2-field-changed.json", "document_hash", "blockcerts_hash_mismatch"),
    ("tampered-v3-path-changed.json", "merkle_proof", "blockcerts_merkle_path_mismatch"),
    ("tampered-v2-root-changed.json", "merkle_proof", "blockcerts_merkle_path_mismatch"),
])
def test_a_tampered_record_is_refused_whole_with_the_failed_check(app, svc, name, failed, code) -> None:
    owner = owner_client(app, OWNER)
    answer = api(owner, "POST", "/api/v1/wallet/credentials", data=(BLOCKCERTS_FIXTURES / name).read_text())
    assert answer.status_code == 422
    body = answer.get_json()
    assert body["error"] == "credential_refused"
    assert {"check": failed, "status": "failed", "code": code}.items() <= check(body["checks"], failed).items()
    page = upload_file(owner, name)
    assert page.status_code == 422
    assert f'<li data-check="{failed}" data-check-code="{code}">' in page.get_data(as_text=True)
    assert owner.get("/api/v1/wallet/credentials").get_json()["credentials"] == []


def test_a_record_of_an_issuer_whose_key_was_revoked_or_that_is_not_recognised_is_refused(app, sites) -> None:
    owner = owner_client(app, OWNER)
    sites.serve[NORTHFIELD] = "issuer-profile-key-revoked.json"
    body = api(owner, "POST", "/api/v1/wallet/credentials", data=(BLOCKCERTS_FIXTURES / MD).read_text()).get_json()
    assert body["error"] == "credential_refused"
    assert check(body["checks"], "issuer_key_valid")["code"] == "blockcerts_key_revoked"
    # cert-verifier-js's own mocknet record: its issuer is on no trust list here
    foreign = api(owner, "POST", "/api/v1/wallet/credentials",
                  data=(BLOCKCERTS_FIXTURES / "cvjs-v2-mocknet-valid-2.0.json").read_text())
    assert foreign.status_code == 422 and check(foreign.get_json()["checks"], "issuer_trust")["status"] == "failed"
    # an issuer this server does not recognise: nothing the record names is fetched
    named = blockcerts_fixture("cvjs-v2-mocknet-valid-2.0.json")["badge"]["issuer"]
    assert named["id"] not in sites.fetched and named.get("revocationList") not in sites.fetched
    assert all(url.startswith(("https://northfield-med.example/", "https://lakeside-residency.example/"))
               for url in sites.fetched)
    assert owner.get("/api/v1/wallet/credentials").get_json()["credentials"] == []


def test_a_record_whose_issuer_profile_cannot_be_had_now_is_not_taken_unchecked(app, sites) -> None:
    owner = owner_client(app, OWNER)
    sites.serve[NORTHFIELD] = None  # the issuer's server answers 404
    answer = api(owner, "POST", "/api/v1/wallet/credentials", data=(BLOCKCERTS_FIXTURES / MD).read_text())
    assert answer.status_code == 422 and answer.get_json()["error"] == "credential_unchecked"
    assert "try again later" in answer.get_json()["detail"]
    sites.serve[NORTHFIELD] = "issuer-profile.json"
    assert api(owner, "POST", "/api/v1/wallet/credentials", data=(BLOCKCERTS_FIXTURES / MD).read_text()).status_code == 201


def test_the_same_record_is_refused_twice_another_of_its_batch_is_not(app) -> None:
    owner = owner_client(app, OWNER)
    added(owner, MD)
    again = upload_file(owner, MD)
    assert again.status_code == 302 and again.headers["Location"].endswith("/wallet")
    page = owner.get("/wallet").get_data(as_text=True)
    assert 'data-code="credential_duplicate"' in page and "already in your wallet" in page
    # the same record with its members reordered and reformatted is the same record
    reordered = json.dumps(dict(reversed(list(blockcerts_fixture(MD).items()))), indent=3)
    refused = api(owner, "POST", "/api/v1/wallet/credentials", data=reordered)
    assert refused.status_code == 400 and refused.get_json()["error"] == "credential_duplicate"
    assert upload_file(owner, "v3-doctor-of-medicine-2.json").status_code == 302
    # another physician may hold the same record: the digest is keyed per wallet
    assert upload_file(owner_client(app, "ben@example.org"), MD).status_code == 302


def test_the_vault_and_the_store_hold_no_field_of_the_record_in_clear(app, svc) -> None:
    owner = owner_client(app, OWNER)
    entry_id = added(owner, MD)
    make_link(owner, entry_id, recipient="Credentials committee")
    dump = json.dumps([doc for name in ("wallet_credentials", "shares", "status_subscriptions")
                       for doc in svc.store.collection(name).find({})], default=str)
    for secret in ("Amara Okafor", "Doctor of Medicine", MD_ID, "northfield-med", "Credentials committee"):
        assert secret not in dump


def test_an_encrypted_backup_carries_the_records_checked_again_on_restore(app, sites) -> None:
    owner = owner_client(app, OWNER)
    added(owner, MD)
    added(owner, RESIDENCY)
    passphrase = "a long backup passphrase"
    backup = post(owner, "/account/backup", {"passphrase": passphrase, "passphrase_confirm": passphrase})
    assert backup.status_code == 200 and "Okafor" not in backup.get_data(as_text=True)
    profile_fetches = sites.fetched.count(NORTHFIELD)
    fresh = owner_client(app, "ada.new@example.org")
    restored = fresh.post("/account/restore", data={
        "backup": (io.BytesIO(backup.data), "backup.json"), "passphrase": passphrase,
        "csrf_token": csrf_from(fresh, "/account")}, content_type="multipart/form-data", follow_redirects=True)
    assert "Restored 2 entr" in restored.get_data(as_text=True)
    # the backup is its owner's file: the profile snapshot in it is not taken for the issuer's
    assert sites.fetched.count(NORTHFIELD) == profile_fetches + 1
    listed = fresh.get("/api/v1/wallet/credentials").get_json()["credentials"]
    assert sorted(c["type_name"] for c in listed) == ["Doctor of Medicine", "Residency completion"]
    assert all(c["format"] == "blockcerts" for c in listed)
    # and a link from the restored wallet opens
    _, token = make_link(fresh, next(c["id"] for c in listed if c["type_name"] == "Doctor of Medicine"))
    assert app.test_client().get(f"/api/v1/shares/{token}").get_json()["verification"]["format"] == "blockcerts"


def test_a_backup_whose_record_no_longer_checks_restores_without_it(app, sites) -> None:
    owner = owner_client(app, OWNER)
    added(owner, MD)
    added(owner, RESIDENCY)
    passphrase = "a long backup passphrase"
    backup = post(owner, "/account/backup", {"passphrase": passphrase, "passphrase_confirm": passphrase})
    sites.serve[NORTHFIELD] = "issuer-profile-key-revoked.json"  # as the school publishes it now
    fresh = owner_client(app, "ada.new@example.org")
    restored = fresh.post("/account/restore", data={
        "backup": (io.BytesIO(backup.data), "backup.json"), "passphrase": passphrase,
        "csrf_token": csrf_from(fresh, "/account")}, content_type="multipart/form-data", follow_redirects=True)
    assert "Restored 1 entr" in restored.get_data(as_text=True)
    listed = fresh.get("/api/v1/wallet/credentials").get_json()["credentials"]
    assert [c["type_name"] for c in listed] == ["Residency completion"]


# -- share links -----------------------------------------------------------------------------------

def test_a_link_with_every_option_opens_to_the_whole_record_checked_again(app, sites) -> None:
    owner = owner_client(app, OWNER)
    entry_id = added(owner, MD)
    link_id, token = make_link(owner, entry_id, recipient="St. Mary's Medical Staff Office", passcode="tulip-4812",
                               attempts="3", max_views="2", days="7")
    share_page = owner.get(f"/shares/{link_id}").get_data(as_text=True)
    assert 'id="shared-whole"' in share_page and "Doctor of Medicine" in share_page
    verifier = app.test_client()
    gate = verifier.get(f"/s/{token}").get_data(as_text=True)
    assert "a Doctor of Medicine" in gate and "St. Mary&#39;s Medical Staff Office" in gate and 'id="gate-whole"' in gate
    assert "Amara" not in gate and 'data-views-left="2"' in gate
    wrong = open_link(verifier, token, "0000")
    assert wrong.status_code == 401 and "2 attempt(s) left" in wrong.get_data(as_text=True)
    revocation_reads = sites.fetched.count(NORTHFIELD_REVOCATION)
    right = open_link(verifier, token, "tulip-4812")
    page = right.get_data(as_text=True)
    assert right.status_code == 200 and 'data-outcome="incomplete"' in page
    assert sites.fetched.count(NORTHFIELD_REVOCATION) == revocation_reads + 1  # read again for this open
    assert "Could not be fully checked: Doctor of Medicine" in page and "Test anchor (mockchain)" in page
    assert "Blockcerts record (shared whole)" in page and 'id="physician">Dr. Amara Okafor<' in page
    assert "Northfield School of Medicine" in page and "Graduation date" in page
    assert ', as a Blockcerts issuer <span class="help">(on ' in page  # "Recognised as": no credential types for Blockcerts
    for question, names in {"issuer": ("issuer_trust", "issuer_profile"),
                            "record": ("document_hash", "merkle_proof", "blockchain_anchor", "issuer_key_valid"),
                            "current": ("status", "credential_validity"), "link": ("link",)}.items():
        table = page.split(f'<table class="checks" data-question="{question}"', 1)[1].split("</table>", 1)[0]
        assert all(f'data-check="{name}"' in table for name in names), question
    assert 'data-check="blockchain_anchor" data-status="unchecked"' in page
    assert 'data-check="link" data-status="passed"' in page and 'id="withheld"' not in page
    # the bundle follows on the grant, with the record and its issuer's documents
    bundle = verifier.get(f"/s/{token}/bundle")
    assert bundle.status_code == 200
    doc = json.loads(bundle.data)
    assert doc["format"] == "blockcerts" and doc["blockcerts"]["document"] == blockcerts_fixture(MD)
    assert doc["blockcerts"]["issuer_profile"]["source_url"] == NORTHFIELD
    assert doc["blockcerts"]["revocation_list"]["source_url"] == NORTHFIELD_REVOCATION
    assert doc["share"]["recipient"] == "St. Mary's Medical Staff Office" and doc["share"]["withheld"] == 0
    # the bundle verifies offline (credshare verify's verify_bundle) to the same outcome
    offline = verify_bundle(doc, trusted=TrustList.from_text(BLOCKCERTS_TRUST_LIST),
                            now=app.extensions["credshare"].clock.seconds())
    assert offline.outcome == "incomplete" and offline.status_of("document_hash") == "passed"
    assert offline.status_of("issuer_trust") == "passed"
    assert offline.status_of("status") == "unchecked"  # the wallet server's copy of the list: its word
    receipt = verifier.get(f"/s/{token}/receipt.json")
    assert receipt.status_code == 200
    signed = json.loads(receipt.data)["receipt"]
    assert signed["credential"]["type_name"] == "Doctor of Medicine" and signed["physician"] == "Dr. Amara Okafor"
    # the second and last view, by another verifier: then the link is used up
    other = app.test_client()
    assert open_link(other, token, "tulip-4812").status_code == 200
    assert app.test_client().get(f"/s/{token}").status_code == 410
    log = owner.get(f"/shares/{link_id}").get_data(as_text=True)
    assert 'data-outcome="wrong passcode"' in log and 'data-outcome="bundle downloaded"' in log


def test_the_json_api_gives_the_blockcerts_report(app) -> None:
    owner = owner_client(app, OWNER)
    entry_id = added(owner, RESIDENCY)
    link = api(owner, "POST", f"/api/v1/wallet/credentials/{entry_id}/links",
               json={"fields": "all", "passcode": "tulip-4812", "recipient": "CVO"})
    assert link.status_code == 201, link.get_json()
    token = link.get_json()["url"].rsplit("/", 1)[1]
    assert link.get_json()["fields"] == []
    verifier = app.test_client()
    assert verifier.get(f"/api/v1/shares/{token}").status_code == 401
    answer = verifier.get(f"/api/v1/shares/{token}", headers={"X-Share-Passcode": "tulip-4812"})
    assert answer.status_code == 200
    body = answer.get_json()
    report = body["verification"]
    assert report["outcome"] == "incomplete" and report["format"] == "blockcerts"
    assert report["type_name"] == "Residency completion" and report["vct"] is None
    anchor = check(report["checks"], "blockchain_anchor")
    assert anchor["status"] == "unchecked" and "test anchor" in anchor["detail"].lower()
    assert check(report["checks"], "link")["status"] == "passed"
    assert report["verdict"]["state"] == "incomplete"
    assert body["fields_withheld"] == 0 and body["link"]["recipient"] == "CVO"
    assert {f["label"]: f["value"] for f in body["fields"]}["Recipient"] == "Dr. Amara Okafor"
    grant = answer.headers["X-Share-Grant"]
    bundle = verifier.get(f"/api/v1/shares/{token}/bundle", headers={"X-Share-Grant": grant})
    assert bundle.status_code == 200 and bundle.get_json()["format"] == "blockcerts"


@pytest.mark.parametrize("fields", [[["Recipient"]], ["Recipient"], "some", {"Recipient": True}])
def test_choosing_fields_of_a_record_is_refused_with_its_own_code(app, fields) -> None:
    owner = owner_client(app, OWNER)
    entry_id = added(owner, MD)
    answer = api(owner, "POST", f"/api/v1/wallet/credentials/{entry_id}/links", json={"fields": fields})
    assert answer.status_code == 400 and answer.get_json()["error"] == "share_fields_not_selectable"
    assert "shared whole" in answer.get_json()["detail"]
    form = post(owner, f"/wallet/{entry_id}/shares", {"days": "30", "field": json.dumps(["Recipient"])})
    assert form.status_code == 302
    assert 'data-code="share_fields_not_selectable"' in owner.get(f"/wallet/{entry_id}").get_data(as_text=True)
    assert owner.get("/api/v1/links").get_json()["links"] == []
    for whole in (None, [], "all"):
        assert api(owner, "POST", f"/api/v1/wallet/credentials/{entry_id}/links", json={"fields": whole}).status_code == 201


def test_an_expired_record_is_kept_and_shared_only_as_history(app) -> None:
    owner = owner_client(app, OWNER)
    entry_id = added(owner, EXPIRED)
    assert 'data-state="expired"' in owner.get("/wallet").get_data(as_text=True)
    refused = api(owner, "POST", f"/api/v1/wallet/credentials/{entry_id}/links", json={})
    assert refused.status_code == 400 and refused.get_json()["error"] == "credential_expired"
    link = api(owner, "POST", f"/api/v1/wallet/credentials/{entry_id}/links", json={"history": True})
    assert link.status_code == 201 and link.get_json()["shared_as_history"] is True
    token = link.get_json()["url"].rsplit("/", 1)[1]
    report = app.test_client().get(f"/api/v1/shares/{token}").get_json()["verification"]
    validity = check(report["checks"], "credential_validity")
    assert validity["status"] == "history" and "2026-10-01" in validity["detail"]
    assert report["outcome"] == "incomplete"  # the test anchor still keeps it from verified_as_history
    page = open_link(app.test_client(), token).get_data(as_text=True)
    assert "expired 2026-10-01, shared as history" in page


def test_a_record_revoked_after_sharing_shows_revoked_and_asks_before_the_next_link(app, svc, sites) -> None:
    owner = owner_client(app, OWNER)
    entry_id = added(owner, MD)
    _, token = make_link(owner, entry_id)
    owner_watch = svc.subscriptions
    sites.serve[NORTHFIELD_REVOCATION] = "revocation-list-revoked.json"  # the school revokes the record
    report = app.test_client().get(f"/api/v1/shares/{token}").get_json()["verification"]
    assert report["outcome"] == "not_verified" and report["credential"]["status"] == "revoked"
    assert check(report["checks"], "status")["code"] == "blockcerts_revoked"
    assert 'data-state="revoked"' in owner.get("/wallet").get_data(as_text=True)
    refused = api(owner, "POST", f"/api/v1/wallet/credentials/{entry_id}/links", json={})
    assert refused.status_code == 409 and refused.get_json()["error"] == "credential_revoked"
    assert api(owner, "POST", f"/api/v1/wallet/credentials/{entry_id}/links",
               json={"acknowledge_status": "revoked"}).status_code == 201
    assert owner_watch is svc.subscriptions


def test_the_status_watch_follows_a_shared_record_and_the_physicians_own(app, svc, sites, clock) -> None:
    owner = owner_client(app, OWNER)
    entry_id = added(owner, MD)
    _, token = make_link(owner, entry_id)
    verifier = app.test_client()
    grant = verifier.get(f"/api/v1/shares/{token}").headers["X-Share-Grant"]
    subscribed = verifier.post(f"/api/v1/shares/{token}/subscriptions", json={"webhook": "https://cvo.example/hook"},
                               headers={"X-Share-Grant": grant})
    assert subscribed.status_code == 201, subscribed.get_json()
    assert subscribed.get_json()["subscription"]["status"] == "valid"
    clock.advance(3600)
    assert svc.subscriptions.run_once() == []  # nothing changed: no event (and no crash)
    sites.serve[NORTHFIELD_REVOCATION] = "revocation-list-revoked.json"
    clock.advance(3600)
    events = svc.subscriptions.run_once()
    assert sorted(kind for _, kind in events) == ["revoked", "revoked"]  # the CVO's and the physician's own
    assert subscribed.get_json()["id"] in {sub_id for sub_id, _ in events}


def test_a_record_whose_issuer_left_the_trust_list_is_not_verified_and_nothing_is_fetched(app, svc, sites,
                                                                                         tmp_path) -> None:
    owner = owner_client(app, OWNER)
    _, token = make_link(owner, added(owner, MD))
    trust = tmp_path / "trust.toml"
    trust.write_text(BLOCKCERTS_TRUST_LIST.split("[[issuer]]")[0] + "[[issuer]]" + BLOCKCERTS_TRUST_LIST.split("[[issuer]]")[2])
    svc.clock.advance(5)
    trust.touch()
    assert svc.trusting.trust_list().issuer(NORTHFIELD) is None  # the operator no longer lists the school
    asked = len(sites.fetched)
    report = app.test_client().get(f"/api/v1/shares/{token}").get_json()["verification"]
    assert report["outcome"] == "not_verified" and check(report["checks"], "issuer_trust")["status"] == "failed"
    assert check(report["checks"], "status")["status"] != "passed"  # the old snapshot is not taken for now
    assert len(sites.fetched) == asked


def test_a_deleted_record_revokes_its_links(app) -> None:
    owner = owner_client(app, OWNER)
    entry_id = added(owner, MD)
    _, token = make_link(owner, entry_id)
    deleted = post(owner, f"/wallet/{entry_id}/delete", {"confirm": "yes"})
    assert deleted.status_code == 302
    assert app.test_client().get(f"/api/v1/shares/{token}").get_json()["error"] == "share_revoked"
    assert PASSWORD  # the owner signed in with it


@pytest.mark.slow
def test_the_printable_report_and_its_pdf_of_a_shared_record(app) -> None:
    from pypdf import PdfReader

    owner = owner_client(app, OWNER)
    _, token = make_link(owner, added(owner, MD))
    verifier = app.test_client()
    assert open_link(verifier, token).status_code == 200
    page = verifier.get(f"/s/{token}/receipt").get_data(as_text=True)
    assert "Could not be fully checked: Doctor of Medicine" in page and "Dr. Amara Okafor" in page
    assert "Blockcerts record (shared whole)" in page
    response = verifier.get(f"/s/{token}/receipt.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(response.data)).pages)
    assert "Could not be fully checked: Doctor of Medicine" in text and "Dr. Amara Okafor" in text
    assert "Northfield School of Medicine" in text and "Test anchor (mockchain)" in text


# -- a verifier-only server checking the link ------------------------------------------------------

def test_a_verifier_server_fetches_the_issuers_documents_itself(app, tmp_path, clock) -> None:
    """/check on another server: the bundle's profile and revocation list are the wallet server's
    copies (unsigned), so the verifier reads the issuer's own again; what it cannot read stays
    the wallet's word, never passed."""
    from credshare.federation.blockcerts_sources import BlockcertsSources
    from credshare.webapp import create_app
    from tests.conftest import services_on
    from tests.helpers import BlockcertsSites, ServedApp

    owner = owner_client(app, OWNER)
    _, token = make_link(owner, added(owner, MD))
    wallet = ServedApp(app)
    trust = tmp_path / "verifier-trust.toml"
    trust.write_text(BLOCKCERTS_TRUST_LIST)
    config = {"CREDSHARE_DATA_DIR": str(tmp_path / "verifier"), "CREDSHARE_TRUST_LIST": str(trust),
              "CREDSHARE_ARGON2_PROFILE": "test"}
    services = services_on(config, clock)
    own = BlockcertsSites()  # the verifier's own way to the issuers' servers
    services.__dict__["blockcerts_sources"] = BlockcertsSources(fetch=own)
    verifier = create_app({**config, "TESTING": True}, services=services)
    try:
        link = f"{wallet.base}/s/{token}"
        checked = verifier.extensions["credshare"].link_checker.check(link)
        assert NORTHFIELD in own.fetched and NORTHFIELD_REVOCATION in own.fetched
        assert checked.report.status_of("issuer_profile") == checked.report.status_of("status") == "passed"
        assert checked.report.outcome == "incomplete"  # the test anchor, as everywhere
        own.serve[NORTHFIELD_REVOCATION] = None  # the issuer's list cannot be read now
        again = verifier.extensions["credshare"].link_checker.check(link)
        status = next(c for c in again.report.checks if c.name == "status")
        assert (status.status, status.code) == ("unchecked", "blockcerts_status_from_sharer")
    finally:
        wallet.close()
        services.store.close()
