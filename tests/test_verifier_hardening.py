"""Issue 10 regressions in the verifier (verifier/, the status evidence, signatures and the
witness encoding): each test reproduces a defect found under attack, crash or interop
testing, on credentials and bundles made by the real server code. Bundles carry an independent
test witness's cosignatures (tests.helpers.independently_witnessed) and are trusted under a
policy naming it: the server's own development witnesses never make a verified bundle.

Times are driven by the services' clock (``clock``, a ``ManualClock`` the test moves), so
the order of issuance, revocation, presentation, key compromise and verification is exact
and no test sleeps."""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from credshare.anchoring.proof import verify_anchor_proof
from credshare.disclosure.encoding import b64url_decode, b64url_encode
from credshare.disclosure.errors import SDJWTError
from credshare.disclosure.jws import PublicKey, Signer, parse_compact, sign_compact
from credshare.disclosure.presentation import KeyBindingRequest, present
from credshare.disclosure.status_list import VALID, StatusList, sign_status_list
from credshare.disclosure.verification import KeyBindingPolicy, jwks_resolver, verify_presentation
from credshare.foundation.clock import SYSTEM_CLOCK, ManualClock
from credshare.issuing.status import BITS, LIST_SIZE
from credshare.verifier.bundle import TrustedLog, verify_bundle
from credshare.verifier.credential import SHARE_CLAIM, StatusEvidence, verify_credential
from credshare.verifier.trust_list import TrustList
from credshare.webapp import create_app
from tests.conftest import services_on
from tests.helpers import (
    INDEPENDENT_WITNESS,
    TYPES,
    ListSink,
    cosign_proof,
    degree_row,
    independently_witnessed,
    statuses,
    trust_list_file,
    trusting,
    witness_policy_text,
)

ROOT = Path(__file__).resolve().parent.parent
AUD, NONCE = "link-h", "nonce-h"
SHARED = [("legal_name",), ("degree",), ("conferral_date",)]


class World:
    def __init__(self, tmp: Path, clock: ManualClock) -> None:
        config = {"CREDSHARE_DATA_DIR": str(tmp / "data"), "CREDSHARE_LOCAL_WITNESSES": "3",
                  "CREDSHARE_PUBLIC_URL": "https://credshare.test"}
        app = create_app(config, services=services_on(config, clock))
        self.svc = app.extensions["credshare"]
        self.svc.issuers.create("example-med", "Example University School of Medicine")
        self.holder = Signer.generate("EdDSA")
        sink = ListSink()
        rows = [(2, degree_row(0, email="", holder_jwk=json.dumps(self.holder.public_jwk)))]
        self.svc.batches.issue("example-med", TYPES["medical-degree"], rows, sink)
        (self.credential,) = sink.items
        self.record = self.svc.store.collection("credentials").find_one({"_id": self.credential["credential_id"]})

    def presentation(self, at: int, history: bool = False) -> str:
        kb = KeyBindingRequest(self.holder, AUD, NONCE, at, {SHARE_CLAIM: {"history": history, "withheld": 1}})
        return present(self.credential["sd_jwt"], SHARED, kb)

    def bundle(self, at: int, *, not_before: int | None = None) -> dict[str, Any]:
        """What the server hands out at ``at`` for a share made then (the KB-JWT's iat), its
        checkpoints also cosigned by the independent test witness."""
        return independently_witnessed(self.svc.evidence.bundle(
            self.presentation(at), self.credential["anchor_proof"], audience=AUD, nonce=NONCE,
            not_before=at if not_before is None else not_before, share={}, now=at))

    def set_status(self, name: str) -> None:
        self.svc.status.set_status("example-med", self.record["status_list"], self.record["status_idx"], name)

    def policy_text(self) -> str:
        """The verifier's own tlog-policy: this log's key and the independent test witness."""
        return witness_policy_text(self.svc.log.signer.verifier.encode())

    def trusted(self) -> list[TrustedLog]:
        return [TrustedLog.from_text(self.policy_text())]

    def verify(self, bundle: dict[str, Any], now: int):
        return verify_bundle(json.loads(json.dumps(bundle)), trusted=trusting(bundle, *self.trusted()), now=now)

    def status_uri(self) -> str:
        return self.svc.store.collection("status_lists").find_one(
            {"issuer": "example-med", "number": self.record["status_list"]})["uri"]

    def forged_status(self, signer: Signer, iat: int, value: int) -> str:
        entries = StatusList.empty(LIST_SIZE, BITS)
        entries.set(self.record["status_idx"], value)
        return sign_status_list(entries, uri=self.status_uri(), signer=signer, iat=iat, exp=iat + 86400, ttl=300,
                                iss=self.svc.issuers.issuer_url("example-med"))


@pytest.fixture
def world(clock, tmp_path) -> World:
    return World(tmp_path, clock)


def detail(report, name: str) -> str:
    return " | ".join(c.detail for c in report.checks if c.name == name)


# -- item 5: a status snapshot must be at least as new as the presentation ------------------

def test_an_older_status_snapshot_cannot_vouch_for_a_later_share(world, clock) -> None:
    """Revoked, then shared: swapping the bundle's status for a snapshot taken before the
    revocation must not make it verify (the snapshot is older than the KB-JWT's iat)."""
    before = world.bundle(clock.seconds())  # the list as it was: valid
    assert world.verify(before, clock.seconds() + 5).outcome == "verified"
    clock.advance(60)
    world.set_status("revoked")
    clock.advance(60)
    shared_at = clock.seconds()
    after = world.bundle(shared_at)
    honest = world.verify(after, shared_at + 10)
    assert honest.outcome == "not_verified" and honest.credential_status == "revoked"
    swapped = copy.deepcopy(after)
    swapped["status"] = before["status"]  # the older token, with whatever proof came with it
    report = world.verify(swapped, shared_at + 10)
    assert report.outcome != "verified", report.to_json()["checks"]
    assert statuses(report)["status"] == "unchecked" and report.credential_status == "unknown"
    assert "older than the presentation" in detail(report, "status")


def test_the_server_signs_a_list_at_least_as_new_as_the_share_for_its_bundle(world, clock) -> None:
    """The cached token is older than a later share: the bundle gets a newly signed one."""
    served = world.svc.status.token("example-med", world.record["status_list"])
    clock.advance(120)
    shared_at = clock.seconds()
    bundle = world.bundle(shared_at)
    assert bundle["status"]["token"] != served
    assert parse_compact(bundle["status"]["token"]).payload["iat"] >= shared_at
    assert world.verify(bundle, shared_at + 5).outcome == "verified"


# -- item 6: the status signer's key is judged at the token's logged time ---------------------

def _compromise_after_a_revocation(world: World, clock: ManualClock) -> tuple[Signer, int, int]:
    """Key K1 signs the credential and the revocation; it is stolen at t0+50 (found out later,
    at t0+100, and recorded as compromised from t0+50). Returns (K1, t0, share time)."""
    t0 = clock.seconds()
    stolen = world.svc.issuers.active_signer("example-med")
    clock.advance(10)
    world.set_status("revoked")
    clock.advance(10)
    shared_at = clock.seconds()  # the holder shares the (revoked) credential at t0+20
    clock.advance(80)
    world.svc.issuers.revoke("example-med", stolen.kid, "key stolen", compromised_at=t0 + 50)
    clock.advance(100)
    return stolen, t0, shared_at


def test_a_backdated_status_token_from_a_compromised_key_does_not_pass_in_a_bundle(world, clock) -> None:
    stolen, t0, shared_at = _compromise_after_a_revocation(world, clock)
    bundle = world.bundle(shared_at)
    assert world.verify(bundle, clock.seconds()).credential_status == "revoked"
    forged = world.forged_status(stolen, t0 + 30, VALID)  # "valid", dated before the compromise
    for proof in ("keep", "drop"):
        tampered = copy.deepcopy(bundle)
        tampered["status"]["token"] = forged
        if proof == "drop":
            tampered["status"].pop("anchor_proof", None)
        report = world.verify(tampered, clock.seconds())
        assert statuses(report)["status"] != "passed" and report.outcome != "verified", (proof, report.to_json()["checks"])
        assert report.credential_status == "unknown"
    # logged now (after the compromise), with a real inclusion proof: judged at that time, it fails
    appended = world.svc.log.append([forged.encode("ascii")])
    logged = copy.deepcopy(bundle)
    logged["status"].update(token=forged, anchor_proof=cosign_proof(world.svc.log.anchor_proof(appended.first_index)))
    report = world.verify(logged, clock.seconds())
    assert statuses(report)["status"] == "failed" and report.outcome == "not_verified"
    assert "compromised" in detail(report, "status")


def test_the_online_verifier_needs_the_served_tokens_inclusion_proof(world, clock) -> None:
    """A token in the store that is not the one logged at its index (here: written there by
    someone holding the stolen key) does not pass online."""
    stolen, t0, shared_at = _compromise_after_a_revocation(world, clock)
    policy = KeyBindingPolicy(required=True, audience=AUD, nonce=NONCE, max_age_seconds=clock.seconds() - shared_at + 60)
    presentation = world.presentation(shared_at)
    report = world.svc.evidence.verify(presentation, world.credential["anchor_proof"], key_binding=policy)
    assert report.credential_status == "revoked"
    forged = world.forged_status(stolen, t0 + 30, VALID)
    world.svc.store.collection("status_lists").update_one(
        {"issuer": "example-med", "number": world.record["status_list"]},
        {"$set": {"token": forged, "token_iat": clock.seconds()}})
    report = world.svc.evidence.verify(presentation, world.credential["anchor_proof"], key_binding=policy)
    assert statuses(report)["status"] == "failed" and report.outcome == "not_verified", report.to_json()["checks"]
    # the same token handed over as evidence with no inclusion proof at all is not a pass either
    bare = verify_credential(presentation, world.credential["anchor_proof"], trust=world.svc.evidence.trust(),
                             history=world.svc.evidence.key_history(world.svc.issuers.issuer_url("example-med")),
                             status=StatusEvidence(forged, clock.seconds()), key_binding=policy, now=clock.seconds(),
                             issuers=TrustList())
    assert statuses(bare)["status"] != "passed" and bare.outcome != "verified"


def test_a_status_token_is_checked_under_its_own_inclusion_proof(world, clock) -> None:
    """The honest path, online and offline: the served token comes with its proof, which
    verifies under the log; a proof for another leaf fails the status check."""
    claims = parse_compact(world.credential["sd_jwt"].split("~", 1)[0]).payload
    evidence = world.svc.evidence.status_evidence(claims, clock.seconds())
    assert evidence.anchor_proof is not None
    verdict = verify_anchor_proof(evidence.anchor_proof, evidence.token.encode("ascii"),
                                  log_key=world.svc.log.signer.verifier, policy=world.svc.evidence.trust().policy)
    assert verdict.verified  # logged and signed; its witnesses are the log's own: unchecked, not failed
    assert {c.name: c.status for c in verdict.checks}["witness_quorum"] == "unchecked"
    bundle = world.bundle(clock.seconds())
    assert world.verify(bundle, clock.seconds() + 1).outcome == "verified"
    wrong_leaf = copy.deepcopy(bundle)
    wrong_leaf["status"]["anchor_proof"] = world.credential["anchor_proof"]
    report = world.verify(wrong_leaf, clock.seconds() + 1)
    assert statuses(report)["status"] == "failed" and "not proven to be in the log" in detail(report, "status")


# -- item 7: signatures of the wrong length, empty key_binding members -------------------------

def _short_signature(jwt: str, size: int = 63) -> str:
    head, body, signature = jwt.split(".")
    return f"{head}.{body}.{b64url_encode(b64url_decode(signature)[:size])}"


@pytest.mark.parametrize("size", [0, 1, 63, 65, 200])
def test_a_signature_of_the_wrong_length_is_a_typed_error_not_a_crash(size) -> None:
    signer = Signer.generate("EdDSA")
    token = sign_compact({"typ": "x"}, {"a": 1}, signer)
    head, body, signature = token.split(".")
    raw = (b64url_decode(signature) * 4)[:size]
    parsed = parse_compact(f"{head}.{body}.{b64url_encode(raw)}")
    assert parsed.verify_with([PublicKey.from_jwk(signer.public_jwk)]) is False
    with pytest.raises(SDJWTError) as info:
        verify_presentation(f"{head}.{body}.{b64url_encode(raw)}~",
                            issuer_keys=jwks_resolver([PublicKey.from_jwk(signer.public_jwk)]),
                            now=SYSTEM_CLOCK.seconds())
    assert info.value.code == "signature_invalid"


def test_an_upload_whose_issuer_signature_is_short_is_refused_with_a_code(tmp_path) -> None:
    from tests.helpers import OWNER, issue_to, owner_client, post

    app = create_app({"CREDSHARE_DATA_DIR": str(tmp_path / "data"), "CREDSHARE_ARGON2_PROFILE": "test",
                      "CREDSHARE_PUBLIC_URL": "http://localhost", "CREDSHARE_LOCAL_WITNESSES": "3", "TESTING": True})
    svc = app.extensions["credshare"]
    svc.issuers.create("example-med", "Example University School of Medicine")
    owner = owner_client(app, OWNER)
    holder = svc.store.collection("accounts").find_one({"email": OWNER})["holder_jwk"]
    good = issue_to(svc, "", holder_jwk=json.dumps(holder))
    jwt, rest = good["sd_jwt"].split("~", 1)
    bad = dict(good, sd_jwt=_short_signature(jwt) + "~" + rest)
    page = post(owner, "/wallet/upload", {"credential": json.dumps(bad)})
    assert page.status_code == 422 and 'data-code="credential_refused"' in page.get_data(as_text=True)
    assert 'data-check="issuer_signature"' in page.get_data(as_text=True)
    csrf = owner.get("/api/v1/session").get_json()["csrf_token"]
    answer = owner.post("/api/v1/wallet/credentials", data=json.dumps(bad), headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 422 and answer.get_json()["error"] == "credential_refused"
    failed = {c["check"]: c["detail"] for c in answer.get_json()["checks"] if c["status"] == "failed"}
    assert "signature_invalid" in failed["issuer_signature"]
    assert svc.store.collection("wallet_credentials").count() == 0


def run_verify(tmp_path: Path, bundle: Any, world: World, *extra: str) -> subprocess.CompletedProcess:
    """``credshare verify`` as a user runs it: a separate process."""
    path = tmp_path / f"bundle-{os.urandom(4).hex()}.json"
    path.write_text(json.dumps(bundle))
    trust = tmp_path / "trust.policy"
    trust.write_text(world.policy_text())
    return subprocess.run([sys.executable, "-m", "credshare", "verify", str(path), "--trust", str(trust), *extra],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def _kb_short(bundle: dict[str, Any]) -> None:
    *head, kb = bundle["presentation"].split("~")
    bundle["presentation"] = "~".join([*head, _short_signature(kb)])


def _status_short(bundle: dict[str, Any]) -> None:
    bundle["status"]["token"] = _short_signature(bundle["status"]["token"])


def _issuer_short(bundle: dict[str, Any]) -> None:
    jwt, rest = bundle["presentation"].split("~", 1)
    bundle["presentation"] = _short_signature(jwt) + "~" + rest


@pytest.mark.slow
@pytest.mark.parametrize("tamper, code", [
    (_kb_short, None), (_status_short, None), (_issuer_short, None),
    (lambda b: b["key_binding"].update(aud=""), "bundle_malformed"),
    (lambda b: b["key_binding"].update(nonce=""), "bundle_malformed"),
    (lambda b: b["status"].update(anchor_proof="not a proof"), "bundle_malformed"),
], ids=["kb-signature", "status-signature", "issuer-signature", "empty-aud", "empty-nonce", "status-proof"])
def test_credshare_verify_answers_a_bad_bundle_cleanly(world, clock, tmp_path, tamper, code) -> None:
    bundle = world.bundle(clock.seconds())
    tamper(bundle)
    done = run_verify(tmp_path, bundle, world, "--at", str(clock.seconds() + 5))
    assert done.returncode == 1 and "Traceback" not in done.stderr + done.stdout, done.stderr[-2000:]
    body = json.loads(done.stdout)
    if code is not None:
        assert body["error"] == code and body["detail"]
    else:
        assert body["outcome"] == "not_verified" and "FAIL" in done.stderr


# -- item 22: key_binding.not_before is enforced ----------------------------------------------

def test_a_link_made_after_the_verification_time_fails_key_binding(world, clock) -> None:
    at = clock.seconds()
    bundle = world.bundle(at)
    assert world.verify(bundle, at + 5).outcome == "verified"
    later = copy.deepcopy(bundle)
    later["key_binding"]["not_before"] = at + 3600  # unsigned: claims the link was made an hour later
    report = world.verify(later, at + 5)
    assert statuses(report)["key_binding"] == "failed" and report.outcome == "not_verified"
    assert "kb_iat_invalid" in detail(report, "key_binding")
    # the documented window: iat no earlier than not_before - 90 s, no later than now + 30 s
    edge = copy.deepcopy(bundle)
    edge["key_binding"]["not_before"] = at + 90
    assert world.verify(edge, at + 5).outcome == "verified"
    edge["key_binding"]["not_before"] = at + 91
    assert statuses(world.verify(edge, at + 5))["key_binding"] == "failed"


# -- item 21, for cosignature/v1: one spelling of a cosignature; a v1 proof is named ---------

def test_a_non_canonical_cosignature_line_is_refused(world, clock) -> None:
    """A policy witness's cosignature in another base64 spelling (unused bits set in its last
    character), or unpadded, is never counted: the whole note is malformed (signed-note), so
    nothing in it is trusted, the log's signature included."""
    leaf = world.credential["sd_jwt"].split("~", 1)[0].encode("ascii")
    proof = cosign_proof(world.credential["anchor_proof"])
    policy = world.trusted()[0].policy
    log_key = world.svc.log.signer.verifier

    def quorum(note: str) -> str:
        verdict = verify_anchor_proof(dict(proof, checkpoint=note), leaf, log_key=log_key, policy=policy)
        checks = {c.name: c for c in verdict.checks}
        if "witness_quorum" in checks:
            return checks["witness_quorum"].status
        assert not verdict.verified  # the note did not even open: its log signature is not trusted
        return checks["checkpoint_signature"].status

    note = proof["checkpoint"]
    assert quorum(note) == "passed"
    line = next(x for x in note.splitlines(keepends=True) if INDEPENDENT_WITNESS.name in x)
    tag = line.rstrip("\n").rsplit(" ", 1)[1]  # 76 bytes: "==" after a character with 4 unused bits
    assert tag.endswith("==") and not tag.endswith("===")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    other = alphabet[alphabet.index(tag[-3]) ^ 1]  # the same decoded bytes, another spelling
    assert base64.b64decode(tag[:-3] + other + "==") == base64.b64decode(tag)
    assert quorum(note.replace(tag, tag[:-3] + other + "==")) == "failed"
    assert quorum(note.replace(tag, tag[:-2])) == "failed"  # unpadded


def test_a_v1_anchor_proof_is_refused_with_its_own_code(world) -> None:
    leaf = world.credential["sd_jwt"].split("~", 1)[0].encode("ascii")
    v1 = dict(world.credential["anchor_proof"], type="credshare-anchor-proof/v1", witness_aggregate=None)
    verdict = verify_anchor_proof(v1, leaf, log_key=world.svc.log.signer.verifier, policy=None)
    (check,) = verdict.checks
    assert (check.name, check.status) == ("proof_format", "failed") and "proof_version_unsupported" in check.detail
    assert not verdict.verified


# -- items 14 and 15: a history share's own verdict; the printable receipt ----------------------

@pytest.fixture
def web(tmp_path):
    app = create_app({"CREDSHARE_DATA_DIR": str(tmp_path / "data"), "CREDSHARE_ARGON2_PROFILE": "test",
                      "CREDSHARE_PUBLIC_URL": "http://localhost", "CREDSHARE_LOCAL_WITNESSES": "3", "TESTING": True})
    svc = app.extensions["credshare"]
    svc.issuers.create("example-med", "Example University School of Medicine")
    return app, svc


def _check_row(page: str, name: str) -> str:
    row = page.split(f'data-check="{name}"', 1)[1].split("</tr>", 1)[0]
    return row


@pytest.mark.slow
def test_an_expired_credential_shared_as_history_is_never_a_green_verified(web, tmp_path) -> None:
    from tests.helpers import OWNER, accept_delivery, create_link, issue_license, open_link, owner_client

    app, svc = web
    owner = owner_client(app, OWNER)
    issue_license(svc, OWNER, "2020-12-31")
    entry_id = accept_delivery(owner)
    link_id, token = create_link(owner, entry_id, paths=[["license_number"]], history="yes")
    verifier = app.test_client()
    page = open_link(verifier, token).get_data(as_text=True)
    # this server's own development witnesses make it at best incomplete: never green
    assert 'data-outcome="incomplete"' in page and "verdict-verified" not in page
    text = re.sub(r"<[^>]+>", "", page)  # what a reader sees (and hears)
    assert "Every check passed" not in text and "development only (the log&#39;s own key)" in text
    row = _check_row(page, "credential_validity")
    assert 'data-status="history"' in row and "passed" not in row and "expired on 2020-12-31" in row
    body = app.test_client().get(f"/api/v1/shares/{token}").get_json()["verification"]
    assert body["outcome"] == "incomplete" and body["witnesses"] and all(w["development_only"] for w in body["witnesses"])
    validity = next(c for c in body["checks"] if c["check"] == "credential_validity")
    assert validity["status"] == "history" and "as history" in validity["detail"]
    receipt = verifier.get(f"/s/{token}/receipt").get_data(as_text=True)
    assert 'data-outcome="incomplete"' in receipt and "<h1>Could not be fully checked: Medical license</h1>" in receipt
    assert "it expired on 2020-12-31" in receipt and "<h1>Verified" not in receipt
    assert "development only (the log&#39;s own key)" in receipt
    bundle = verifier.get(f"/s/{token}/bundle").get_json()
    own = tmp_path / "own.policy"  # the server's own suggestion: its development witnesses
    own.write_text(app.test_client().get("/log/trust").get_data(as_text=True))
    path = tmp_path / "history-bundle.json"
    path.write_text(json.dumps(bundle))
    done = subprocess.run([sys.executable, "-m", "credshare", "verify", str(path), "--trust", str(own)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert json.loads(done.stdout)["outcome"] == "incomplete" and done.returncode == 1, done.stderr
    assert "development only (the log's own key)" in done.stderr
    path.write_text(json.dumps(independently_witnessed(bundle)))  # as a log with a real witness hands it out
    trust = trust_list_file(tmp_path / "trust.toml", bundle, witness_policy_text(svc.log.signer.verifier.encode()))
    done = subprocess.run([sys.executable, "-m", "credshare", "verify", str(path), "--trust", str(trust)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert json.loads(done.stdout)["outcome"] == "verified_as_history", done.stderr
    assert done.returncode == 3 and "VERIFIED AS HISTORY: expired on 2020-12-31" in done.stderr
    assert "[HIST] Credential validity period" in done.stderr and "[PASS] Credential validity period" not in done.stderr


def test_the_printable_receipt_names_the_type_and_its_key_set(web) -> None:
    from tests.helpers import OWNER, accept_delivery, create_link, issue_to, open_link, owner_client

    app, svc = web
    owner = owner_client(app, OWNER)
    issue_to(svc, OWNER)
    _, token = create_link(owner, accept_delivery(owner))
    verifier = app.test_client()
    assert open_link(verifier, token).status_code == 200
    page = verifier.get(f"/s/{token}/receipt").get_data(as_text=True)
    assert "built-in method" not in page
    assert "http://localhost/.well-known/credshare-receipt-keys" in page
    kind = page.split("<dt>Credential type</dt><dd>", 1)[1].split("</dd>", 1)[0]
    assert kind.startswith("Medical degree") and "urn:credshare:vct:medical-degree:1" not in kind.split("(")[0]
