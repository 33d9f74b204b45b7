"""Issuing end to end: issuers and sealed keys, roster validation, batch issuance that anchors
and verifies, status lists served and changed, key rotation and compromise, the issuer API.

The app's services and the commands run here share one ``ManualClock`` (tests/conftest.py):
a test that needs a later second moves the clock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from credshare.anchoring.cosignature import cosignatures
from credshare.anchoring.note import Checkpoint, NoteVerifier, open_checkpoint
from credshare.anchoring.policy import parse_policy
from credshare.anchoring.proof import verify_anchor_proof
from credshare.disclosure.jws import PublicKey, parse_compact
from credshare.disclosure.presentation import present
from credshare.disclosure.status_list import INVALID, SUSPENDED, VALID, read_status_list, status_reference
from credshare.disclosure.verification import jwks_resolver, verify_presentation
from credshare.verifier.key_history import KeyRecord, key_valid_at
from credshare.webapp import create_app
from tests.helpers import TYPES, degree_row, run, write_csv


def test_bad_rows_refuse_the_whole_roster_and_store_nothing(tmp_path: Path, env, svc, issuer) -> None:
    size_before = svc.log.head()[0]
    rows = [degree_row(0), degree_row(1, npi="1234567890"), degree_row(2),
            degree_row(3, conferral_date="2018-02-30", degree="PhD"), degree_row(4, legal_name="")]
    roster = write_csv(tmp_path / "roster.csv", rows)
    result = run(env, "issue", "--issuer", issuer, "--type", "medical-degree", str(roster), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["error"] == "roster_rejected"
    assert [r["line"] for r in body["rows"]] == [3, 5, 6]
    problems = body["rows"][1]["problems"]
    assert any("degree" in p for p in problems) and any("conferral_date" in p for p in problems)
    assert "line 5:" in result.stderr
    assert svc.log.head()[0] == size_before
    assert svc.store.collection("credentials").count() == 0
    assert not list((tmp_path / "out").glob("*.json"))


def test_json_roster_with_unknown_column_and_bad_holder_key(tmp_path: Path, env, issuer) -> None:
    roster = tmp_path / "roster.json"
    roster.write_text(json.dumps([degree_row(0), {**degree_row(1), "shoe_size": "9"},
                                  {**degree_row(2), "holder_jwk": "{\"kty\": \"RSA\"}"}], indent=1))
    result = run(env, "issue", "--issuer", issuer, "--type", "medical-degree", str(roster), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    rows = json.loads(result.stdout)["rows"]
    assert [r["line"] for r in rows] == [24, 47]  # where each object starts in the file
    assert "shoe_size" in rows[0]["problems"][0] and "holder_jwk" in rows[1]["problems"][0]


def test_issued_credentials_anchor_and_verify_end_to_end(tmp_path: Path, env, app, svc, issuer, clock) -> None:
    holder = json.loads(run(env, "sdjwt", "keygen").stdout)
    holder_pub = {k: v for k, v in holder.items() if k != "d"}
    rows = [degree_row(i) for i in range(30)] + [degree_row(30, holder_jwk=json.dumps(holder_pub), email="")]
    roster = write_csv(tmp_path / "roster.csv", rows)
    out = tmp_path / "out"
    owners = svc.store.collection("accounts")  # owner accounts (the wallet issue makes them)
    owners.insert_many([{"email": f"avery{i}@example.org", "email_verified": True} for i in range(0, 30, 3)]
                       + [{"email": "avery1@example.org", "email_verified": False}])  # unconfirmed: no offer
    wallet = json.loads(run(env, "sdjwt", "keygen").stdout)
    wallet_pub = {k: v for k, v in wallet.items() if k != "d"}
    owners.update_one({"email": "avery3@example.org"}, {"$set": {"holder_jwk": wallet_pub}})
    result = run(env, "issue", "--issuer", issuer, "--type", "medical-degree", str(roster), "--out", str(out))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["count"] == 31 and summary["offered"] == 10
    offers = svc.store.collection("wallet_deliveries").find()
    assert sorted(o["email"] for o in offers) == sorted(f"avery{i}@example.org" for i in range(0, 30, 3))
    assert "Example University" not in json.dumps(offers), "offers are sealed at rest"
    from credshare.foundation.sealing import Sealer
    from credshare.issuing.batch import OFFER_PURPOSE

    opened = json.loads(Sealer.for_purpose(svc.settings.secret_key, OFFER_PURPOSE).open(offers[0]["sealed_credential"]))
    assert opened["credential_id"] == offers[0]["credential_id"] and opened["sd_jwt"].count("~") > 10
    files = sorted(out.glob("*.json"))
    assert len(files) == 31

    client = app.test_client()
    metadata = client.get("/.well-known/jwt-vc-issuer/issuers/example-med").get_json()
    assert metadata["issuer"] == "https://credshare.test/issuers/example-med"
    trust = jwks_resolver([PublicKey.from_jwk(k) for k in metadata["jwks"]["keys"]])
    log_key = NoteVerifier.decode(client.get("/log/key").get_data(as_text=True))
    policy = parse_policy(client.get("/log/trust").get_data())  # the two development witnesses, both
    now = clock.seconds()
    for path in files:
        credential = json.loads(path.read_text())
        jwt = credential["sd_jwt"].split("~")[0]
        verdict = verify_anchor_proof(credential["anchor_proof"], jwt.encode(), log_key=log_key)
        assert verdict.verified, verdict.to_json()
        cosigned = cosignatures(credential["anchor_proof"]["checkpoint"], list(policy.witnesses.values()))
        assert policy.satisfied(policy.names_of([c.witness for c in cosigned])) and len(cosigned) == 2
        full = verify_presentation(credential["sd_jwt"], issuer_keys=trust, now=now, expected_typ="dc+sd-jwt")
        assert full.claims["vct"] == "urn:credshare:vct:medical-degree:1"
        assert len(full.disclosed_paths) == 18  # 20 disclosable claims, of which ecfmg number and honors are empty
    payload = parse_compact(jwt).payload
    assert len(payload["_sd"]) == 24, "_sd arrays are padded to the type's size"
    shared = verify_presentation(present(credential["sd_jwt"], [("degree",), ("medical_school", "name")]),
                                 issuer_keys=trust, now=now)
    bound_here = {"cnf"} if "cnf" in parse_compact(jwt).payload else set()  # the last file may be a bound one
    assert set(shared.claims) == {"iss", "vct", "iat", "status", "degree", "medical_school"} | bound_here
    bound = [parse_compact(json.loads(p.read_text())["sd_jwt"].split("~")[0]).payload.get("cnf") for p in files]
    assert sorted((c["jwk"]["x"] for c in bound if c), key=str) == sorted([holder_pub["x"], wallet_pub["x"]], key=str)

    # the served status list says valid; revoke and suspend through the CLI and read it again
    credential = json.loads(files[0].read_text())
    idx, uri = status_reference(parse_compact(credential["sd_jwt"].split("~")[0]).payload)
    path = uri.removeprefix("https://credshare.test")

    def served_status() -> int:
        token = client.get(path).get_data(as_text=True)
        assert client.get(path).headers["Content-Type"] == "application/statuslist+jwt"
        return read_status_list(token, keys=[PublicKey.from_jwk(k) for k in metadata["jwks"]["keys"]],
                                uri=uri, now=clock.seconds()).status_list.get(idx)

    assert served_status() == VALID
    assert run(env, "revoke", "--issuer", issuer, credential["credential_id"]).exit_code == 0
    assert served_status() == INVALID
    assert run(env, "reinstate", "--issuer", issuer, credential["credential_id"]).exit_code == 0
    assert served_status() == VALID
    assert run(env, "suspend", "--issuer", issuer, credential["credential_id"]).exit_code == 0
    assert served_status() == SUSPENDED
    other = json.loads(files[1].read_text())
    other_idx, _ = status_reference(parse_compact(other["sd_jwt"].split("~")[0]).payload)
    assert other_idx != idx
    unknown = run(env, "revoke", "--issuer", issuer, "nope")
    assert unknown.exit_code == 1 and json.loads(unknown.stdout)["error"] == "credential_unknown"
    size = svc.log.head()[0]
    several = [json.loads(f.read_text())["credential_id"] for f in files[2:7]]
    assert run(env, "revoke", "--issuer", issuer, *several).exit_code == 0
    assert svc.log.head()[0] == size + 1, "one status-list version for the whole revocation"
    for cid in several:
        record = svc.store.collection("credentials").find_one({"_id": cid})
        assert svc.status.status_of(issuer, record["status_list"], record["status_idx"]) == INVALID


def test_status_indices_are_random_and_never_reused(svc, issuer) -> None:
    first = svc.status.allocate(issuer, 2000)
    second = svc.status.allocate(issuer, 2000)
    indices = [i for _, i in [*first, *second]]
    assert len(set(indices)) == 4000
    assert indices != sorted(indices)


@pytest.mark.slow
def test_key_retired_after_issuance_leaves_earlier_credentials_valid(tmp_path: Path, env, svc, issuer, clock) -> None:
    out = tmp_path / "out"
    roster = write_csv(tmp_path / "a.csv", [degree_row(1)])
    assert run(env, "issue", "--issuer", issuer, "--type", "medical-degree", str(roster), "--out", str(out)).exit_code == 0
    early = json.loads(next(out.glob("*.json")).read_text())
    early_kid = parse_compact(early["sd_jwt"].split("~")[0]).header["kid"]
    clock.advance(1)  # rotated a second after the early credential was anchored
    assert run(env, "issuer", "rotate-key", issuer).exit_code == 0
    records = svc.issuers.records(issuer)
    anchored_at = _anchor_time(early)
    assert key_valid_at(records, early_kid, anchored_at)[0]
    assert [r.state for r in records].count("active") == 1
    late_out = tmp_path / "late"
    clock.advance(1)  # and the late one anchored a second after the rotation
    assert run(env, "issue", "--issuer", issuer, "--type", "medical-degree", str(roster), "--out", str(late_out)).exit_code == 0
    late = json.loads(next(late_out.glob("*.json")).read_text())
    late_kid = parse_compact(late["sd_jwt"].split("~")[0]).header["kid"]
    assert late_kid != early_kid
    # the retired key does not vouch for anything anchored after its retirement
    assert not key_valid_at(svc.issuers.records(issuer), early_kid, _anchor_time(late))[0]
    # compromise of the new key, dated after the early credential and before the late one
    compromised = _anchor_time(late)
    result = run(env, "issuer", "revoke-key", issuer, late_kid, "--reason", "HSM exported", "--compromised-at", str(compromised))
    assert result.exit_code == 0, result.output
    records = svc.issuers.records(issuer)
    assert not key_valid_at(records, late_kid, _anchor_time(late))[0]
    assert key_valid_at(records, late_kid, compromised - 1)[0]
    assert key_valid_at(records, early_kid, anchored_at)[0]
    assert late_kid not in {k["kid"] for k in svc.issuers.jwks(issuer)["keys"]}


def _anchor_time(credential: dict[str, Any]) -> int:
    signed_at = Checkpoint.parse(credential["anchor_proof"]["checkpoint"].split("\n\n")[0] + "\n").signed_at
    assert signed_at is not None
    return signed_at


def test_key_history_is_signed_and_logged(app, svc, issuer) -> None:
    svc.issuers.rotate(issuer)
    client = app.test_client()
    body = client.get(f"/issuers/{issuer}/key-history").get_json()
    jws = parse_compact(body["jws"])
    assert jws.header["typ"] == "key-history+jwt" and jws.payload["version"] == 2
    records = [KeyRecord.from_json(k) for k in jws.payload["keys"]]
    active = [r for r in records if r.state == "active"]
    assert jws.verify_with([PublicKey.from_jwk({**active[0].jwk})])
    verdict = verify_anchor_proof(body["anchor_proof"], body["jws"].encode(), log_key=svc.log.signer.verifier)
    assert verdict.verified
    assert open_checkpoint(body["anchor_proof"]["checkpoint"], svc.log.signer.verifier).size >= 2


def test_private_keys_are_sealed_at_rest(env, svc, issuer) -> None:
    docs = svc.store.collection("issuer_keys").find()
    assert docs and all('"d"' not in json.dumps(d) and "d" not in d["public_jwk"] for d in docs)
    tokens = svc.store.collection("issuers").find_one({"_id": issuer})["token_hashes"]
    assert all(len(t) == 64 for t in tokens)
    wrong = create_app({**env, "CREDSHARE_SECRET_KEY": "another-secret-that-is-long-enough-0123456789"})
    with pytest.raises(Exception) as err:
        wrong.extensions["credshare"].issuers.active_signer(issuer)
    assert getattr(err.value, "code", "") == "issuer_key_sealed"


def test_issuer_api_with_token(app, svc) -> None:
    _, token = svc.issuers.create("state-board", "State Board of Medicine")
    client = app.test_client()
    url = "/api/v1/issuers/state-board/batches"
    license_row = {"licensee_name": "Avery Quinn", "jurisdiction": "MA", "license_number": "MD12345", "license_type": "full",
                   "license_status": "active", "issue_date": "2019-07-01", "expiration_date": "2027-06-30",
                   "disciplinary_actions": "no"}
    assert client.post(url, json={"type": "medical-license", "rows": [license_row]}).status_code == 401
    wrong = client.post(url, json={"type": "medical-license", "rows": [license_row]},
                        headers={"Authorization": "Bearer csi_wrong"})
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "issuer_token_invalid"
    auth = {"Authorization": f"Bearer {token}"}
    bad = client.post(url, json={"type": "medical-license", "rows": [license_row, {**license_row, "license_type": "forever"}]},
                      headers=auth)
    assert bad.status_code == 422 and bad.get_json()["rows"][0]["line"] == 2
    unknown = client.post(url, json={"type": "nope", "rows": [license_row]}, headers=auth)
    assert unknown.get_json()["error"] == "credential_type_unknown"
    made = client.post(url, json={"type": "medical-license", "rows": [license_row]}, headers=auth)
    assert made.status_code == 201, made.get_json()
    credential = made.get_json()["credentials"][0]
    assert verify_anchor_proof(credential["anchor_proof"], credential["sd_jwt"].split("~")[0].encode(),
                               log_key=svc.log.signer.verifier).verified
    status_url = f"/api/v1/issuers/state-board/credentials/{credential['credential_id']}/status"
    assert client.post(status_url, json={"status": "revoked"}, headers=auth).status_code == 200
    assert client.post(status_url, json={"status": "gone"}, headers=auth).get_json()["error"] == "status_name_invalid"
    assert client.post("/api/v1/issuers/state-board/credentials/none/status", json={"status": "revoked"},
                       headers=auth).status_code == 404


@pytest.mark.parametrize("slug, column, good, bad", [
    ("medical-degree", "npi", "1234567893", "1234567890"),
    ("dea-registration", "dea_number", "AB1234563", "AB1234567"),
    ("medical-degree", "medical_school.country", "US", "USA"),
    ("board-certification", "expiration_date", "lifetime", "forever"),
    ("graduate-medical-education", "completed_successfully", "yes", "maybe"),
])
def test_field_validators(slug: str, column: str, good: str, bad: str) -> None:
    ctype = TYPES[slug]
    assert not [p for p in ctype.claims_from_row({column: good})[1] if p.startswith(column)]
    assert [p for p in ctype.claims_from_row({column: bad})[1] if p.startswith(column)]


def test_all_five_types_load_with_vct_and_labels() -> None:
    assert set(TYPES) == {"medical-degree", "graduate-medical-education", "medical-license", "board-certification",
                          "dea-registration"}
    for ctype in TYPES.values():
        assert ctype.vct.startswith("urn:credshare:vct:") and ctype.sd_array_size >= sum(c.sd == "always" for c in ctype.claims)
        assert all(c.label for c in ctype.claims)
    assert sum(c.sd == "always" for c in TYPES["medical-degree"].claims) == 20


def test_a_credential_id_already_issued_fails_before_anything_is_logged(tmp_path: Path, env, svc, issuer) -> None:
    roster = write_csv(tmp_path / "a.csv", [degree_row(0, credential_id="MD-2018-0001")])
    first = run(env, "issue", "--issuer", issuer, "--type", "medical-degree", str(roster), "--out", str(tmp_path / "a"))
    assert first.exit_code == 0
    size = svc.log.head()[0]
    again = write_csv(tmp_path / "b.csv",
                      [degree_row(1, credential_id="MD-2018-0002"), degree_row(2, credential_id="MD-2018-0001")])
    result = run(env, "issue", "--issuer", issuer, "--type", "medical-degree", str(again), "--out", str(tmp_path / "b"))
    assert result.exit_code == 1 and json.loads(result.stdout)["error"] == "credential_id_taken"
    assert svc.log.head()[0] == size
    assert svc.store.collection("credentials").find_one({"_id": "MD-2018-0002"}) is None
    assert svc.store.collection("issuance_batches").count({"state": "failed"}) == 1


@pytest.mark.slow
def test_a_roster_of_10000_issues_anchors_and_verifies(tmp_path: Path, svc, issuer, clock) -> None:
    """The parallel signing path: every credential's anchor proof and issuer signature verify."""
    from credshare.issuing.batch import DirectorySink
    from credshare.issuing.roster import read_roster

    roster = write_csv(tmp_path / "big.csv", [degree_row(i, email="") for i in range(10_000)])
    out = tmp_path / "out"
    out.mkdir()
    result = svc.batches.issue(issuer, TYPES["medical-degree"], read_roster(roster), DirectorySink(out),
                               expected_rows=10_000)
    assert result.count == 10_000 and len(list(out.glob("*.json"))) == 10_000
    trust = jwks_resolver([PublicKey.from_jwk(k) for k in svc.issuers.jwks(issuer)["keys"]])
    keys, log_key, now = svc.log.witness_keys, svc.log.signer.verifier, clock.seconds()
    indices = set()
    for path in out.glob("*.json"):
        credential = json.loads(path.read_text())
        jwt = credential["sd_jwt"].split("~")[0]
        assert verify_anchor_proof(credential["anchor_proof"], jwt.encode(), log_key=log_key).verified
        assert len(cosignatures(credential["anchor_proof"]["checkpoint"], keys)) == 2
        claims = verify_presentation(credential["sd_jwt"], issuer_keys=trust, now=now).claims
        indices.add(claims["status"]["status_list"]["idx"])
    assert len(indices) == 10_000


@pytest.mark.slow
def test_large_roster_validated_on_workers_names_every_bad_row(tmp_path: Path, svc, issuer) -> None:
    from credshare.issuing.batch import DirectorySink
    from credshare.issuing.roster import read_roster

    rows = [degree_row(i, email="") for i in range(2500)]
    rows[1] = degree_row(1, npi="1111111111", email="")
    rows[1498] = degree_row(1498, degree="PhD", email="")
    rows[8]["credential_id"] = "dup-1"
    rows[2398]["credential_id"] = "dup-1"
    roster = write_csv(tmp_path / "big.csv", rows)
    size = svc.log.head()[0]
    with pytest.raises(Exception) as err:
        svc.batches.issue(issuer, TYPES["medical-degree"], read_roster(roster), DirectorySink(tmp_path),
                          expected_rows=2500)
    assert getattr(err.value, "code", "") == "roster_rejected"
    assert [line for line, _ in err.value.problems] == [3, 1500, 2400]
    assert "repeats an earlier row" in err.value.problems[2][1][0]
    assert svc.log.head()[0] == size and svc.store.collection("credentials").count() == 0


def test_guessing_issuer_tokens_is_rate_limited(app, svc) -> None:
    _, token = svc.issuers.create("guarded-board", "Guarded Board")
    client = app.test_client()
    url = "/api/v1/issuers/guarded-board/batches"
    body = {"type": "medical-license", "rows": []}
    for _ in range(10):
        assert client.post(url, json=body, headers={"Authorization": "Bearer csi_guess"}).status_code == 401
    blocked = client.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
    assert blocked.status_code == 429 and blocked.get_json()["error"] == "rate_limited"
    other = client.post(url, json=body, headers={"Authorization": f"Bearer {token}"},
                        environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other.status_code != 429, "another address is not blocked"


def test_a_retired_key_compromised_later_vouches_for_nothing_after_its_retirement() -> None:
    key = KeyRecord("k1", "EdDSA", {}, created_at=100, retired_at=200, revoked_at=400, compromised_at=300)
    assert key_valid_at([key], "k1", 150)[0]
    assert not key_valid_at([key], "k1", 250)[0]  # retired, not yet compromised: still no longer in use
    assert not key_valid_at([key], "k1", 350)[0]
    assert not key_valid_at([key], "k1", 50)[0]


def test_a_key_id_that_starts_with_a_hyphen_is_an_argument_not_an_option(env, svc, issuer) -> None:
    """RFC 7638 thumbprints are base64url, so one key in 64 has a kid starting with "-"; the
    command line must take it as the KID argument, in any position, without a "--"."""
    kid = svc.issuers.records(issuer)[0].kid
    svc.store.collection("issuer_keys").delete_one({"_id": kid})
    doc = {"_id": "-" + kid[1:], "issuer": issuer, "alg": "EdDSA", "public_jwk": {}, "sealed": "x", "created_at": 1}
    svc.store.collection("issuer_keys").insert_one(doc)
    for args in (("revoke-key", issuer, doc["_id"], "--reason", "lost"),
                 ("revoke-key", "--reason", "lost", issuer, doc["_id"])):
        result = run(env, "issuer", *args)
        assert "No such option" not in result.output, result.output
    revoked = svc.store.collection("issuer_keys").find_one({"_id": doc["_id"]})
    assert revoked.get("revoked_at") is not None and revoked["reason"] == "lost"


def test_a_status_change_is_one_rule_for_the_api_and_the_cli(svc, issuer) -> None:
    """BatchIssuer.change_status, which both the issuer API and ``credshare revoke|suspend|reinstate``
    call: every credential named is the issuer's logged one, or nothing changes; one status-list
    version per change; an unknown status name changes nothing either."""
    from credshare.foundation.errors import CredshareError
    from credshare.issuing.offers import WalletOffers

    class Kept:
        def __init__(self) -> None:
            self.items: list[dict[str, Any]] = []

        def write(self, credential: dict[str, Any]) -> None:
            self.items.append(credential)

    sink = Kept()
    svc.batches.issue(issuer, TYPES["medical-degree"], enumerate([degree_row(i) for i in range(3)], 1), sink)
    ids = [c["credential_id"] for c in sink.items]
    records = svc.batches.records(issuer, ids)

    def statuses() -> list[int]:
        return [svc.status.status_of(issuer, records[c]["status_list"], records[c]["status_idx"]) for c in ids]

    svc.issuers.create("other-board", "Another Board")
    size = svc.log.head()[0]
    with pytest.raises(CredshareError) as err:
        svc.batches.change_status(issuer, [ids[0], "nope"], "revoked")
    assert (err.value.code, err.value.http_status) == ("credential_unknown", 404) and "'nope'" in err.value.detail
    with pytest.raises(CredshareError) as err:
        svc.batches.change_status(issuer, ids[:1], "gone")
    assert err.value.code == "status_name_invalid"
    with pytest.raises(CredshareError) as err:
        svc.batches.change_status("other-board", ids[:1], "revoked")  # another issuer's credential is unknown
    assert err.value.code == "credential_unknown"
    assert statuses() == [VALID] * 3 and svc.log.head()[0] == size
    svc.batches.change_status(issuer, ids[:2], "revoked")
    assert statuses() == [INVALID, INVALID, VALID] and svc.log.head()[0] == size + 1
    svc.batches.change_status(issuer, ids[1:2], "suspended")
    svc.batches.change_status(issuer, ids[:1], "valid")
    assert statuses() == [VALID, SUSPENDED, VALID]
    assert WalletOffers(svc.store).pending("avery0@example.org") == []  # no owner account: nothing offered


def test_an_offer_is_made_once_and_only_its_address_takes_it(tmp_path: Path) -> None:
    from credshare.issuing.offers import WalletOffers
    from credshare.storage import open_store

    offers = WalletOffers(open_store("mongomock://localhost/offers", tmp_path))
    offers.create_indexes()
    made = [{"_id": f"o{i}", "email": "a@example.org", "state": "offered", "sealed_credential": "x", "offered_at": i}
            for i in range(2)]
    offers.offer(made[:1])
    offers.offer(made)  # delivered again: the first is not offered twice
    assert [o["_id"] for o in offers.pending("a@example.org")] == ["o1", "o0"]
    assert offers.pending_one("o0", "b@example.org") is None and not offers.decline("o0", "b@example.org")
    assert offers.decline("o0", "a@example.org") and not offers.decline("o0", "a@example.org")
    offers.accepted("o1", 5)
    assert offers.pending("a@example.org") == [] and offers.pending_one("o1", "a@example.org") is None
