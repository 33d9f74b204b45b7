"""The verifier core (verifier/) on credentials issued by this server: every check can fail,
and an offline bundle verifies with nothing but itself and a trusted tlog-policy.

This server's log is cosigned by its own development witnesses only, so its own verifications
are at best ``incomplete`` (``witness_quorum`` unchecked, saying why: tests.helpers.only_dev_witnessed).
Bundles get an independent test witness's cosignatures added (tests.helpers.independently_witnessed),
as a log with a real witness would have them, and are trusted under a policy naming that witness."""

from __future__ import annotations

import base64
import copy
import json
import os
import time
from typing import Any

import pytest

from credshare.anchoring.cosignature import Cosigner
from credshare.anchoring.note import NoteSigner
from credshare.disclosure.encoding import b64url_decode, b64url_encode
from credshare.disclosure.jws import Signer, parse_compact
from credshare.disclosure.presentation import KeyBindingRequest, present
from credshare.disclosure.verification import KeyBindingPolicy
from credshare.verifier.bundle import BundleError, TrustedLog, verify_bundle
from credshare.verifier.credential import SHARE_CLAIM
from credshare.verifier.report import CHECK_LABELS
from credshare.verifier.trust_list import TrustList
from credshare.webapp import create_app
from tests.helpers import (
    INDEPENDENT_WITNESS,
    TYPES,
    ListSink,
    degree_row,
    independently_witnessed,
    only_dev_witnessed,
    statuses,
    trusting,
    witness_policy_text,
)

AUD, NONCE = "link-1", "nonce-1"
SHARED = [("legal_name",), ("degree",), ("conferral_date",)]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("verifier")
    app = create_app({"CREDSHARE_DATA_DIR": str(tmp / "data"), "CREDSHARE_LOCAL_WITNESSES": "3",
                      "CREDSHARE_PUBLIC_URL": "https://credshare.test"})
    svc = app.extensions["credshare"]
    svc.issuers.create("example-med", "Example University School of Medicine")
    holder = Signer.generate("EdDSA")
    sink = ListSink()
    rows = [(i + 2, degree_row(i, email="", holder_jwk=json.dumps(holder.public_jwk))) for i in range(3)]
    svc.batches.issue("example-med", TYPES["medical-degree"], rows, sink)
    return svc, holder, sink.items


def shared(world, index: int = 0, paths=SHARED, aud: str = AUD, nonce: str = NONCE) -> tuple[str, dict[str, Any]]:
    _, holder, items = world
    credential = items[index]
    kb = KeyBindingRequest(holder, aud, nonce, int(time.time()), {SHARE_CLAIM: {"history": False, "withheld": 17}})
    return present(credential["sd_jwt"], paths, kb), credential["anchor_proof"]


def policy(aud: str = AUD, nonce: str = NONCE) -> KeyBindingPolicy:
    return KeyBindingPolicy(required=True, audience=aud, nonce=nonce)


def test_a_good_presentation_passes_every_check_and_discloses_exactly_the_choice(world) -> None:
    svc = world[0]
    presentation, proof = shared(world)
    report = svc.evidence.verify(presentation, proof, key_binding=policy())
    assert only_dev_witnessed(report), [c for c in report.checks if c.status != "passed"]
    quorum = next(c.detail for c in report.checks if c.name == "witness_quorum")
    dev_names = [k.name for k in svc.log.witness_keys]
    assert all(name in quorum for name in dev_names) and "development only (the log's own key)" in quorum
    assert [(w["name"], w["development_only"]) for w in report.to_json()["witnesses"]] == [(n, True) for n in dev_names]
    names = {c.name for c in report.checks}
    assert {"key_history", "issuer_signature", "issuer_key_valid", "disclosures", "key_binding", "checkpoint_signature",
            "inclusion", "witness_quorum", "status", "credential_validity"} <= names
    assert names <= set(CHECK_LABELS)
    assert report.issuer_name == "Example University School of Medicine"
    assert report.credential_status == "valid" and report.anchored_at is not None
    assert sorted(map(tuple, report.disclosed_paths)) == sorted(SHARED)
    disclosed = {k for k in report.claims if k not in ("iss", "vct", "iat", "status", "cnf")}
    assert disclosed == {"legal_name", "degree", "conferral_date"}


@pytest.mark.parametrize("aud, nonce, check", [("link-2", NONCE, "key_binding"), (AUD, "other", "key_binding")])
def test_key_binding_for_another_link_fails(world, aud, nonce, check) -> None:
    presentation, proof = shared(world, aud=aud, nonce=nonce)
    report = world[0].evidence.verify(presentation, proof, key_binding=policy())
    assert statuses(report)[check] == "failed" and report.outcome == "not_verified"
    assert statuses(report)["issuer_signature"] == "passed"


def test_missing_key_binding_fails(world) -> None:
    _, _, items = world
    presentation = present(items[0]["sd_jwt"], SHARED)
    report = world[0].evidence.verify(presentation, items[0]["anchor_proof"], key_binding=policy())
    assert statuses(report)["key_binding"] == "failed" and report.outcome == "not_verified"


def _jws(header: bytes, payload: bytes = b"{}") -> str:
    return f"{b64url_encode(header)}.{b64url_encode(payload)}.{b64url_encode(bytes(64))}"


@pytest.mark.parametrize("kb_jwt, code", [
    ("x.y.z", "jws_malformed"),
    (_jws(b'{"alg":"EdDSA","alg":"EdDSA","typ":"kb+jwt"}'), "json_duplicate_member"),
    (_jws(b'{"alg":"ES256","typ":"kb+jwt"}'), "alg_not_allowed"),
])
def test_a_broken_kb_jwt_fails_key_binding_not_the_issuer_signature(world, kb_jwt, code) -> None:
    """The KB-JWT is parsed with the same rules, and codes, as the issuer's JWT: which check it
    fails is the stage the error was raised in, not a guess from its code."""
    presentation, proof = shared(world)
    broken = presentation.rsplit("~", 1)[0] + "~" + kb_jwt
    report = world[0].evidence.verify(broken, proof, key_binding=policy())
    assert statuses(report)["issuer_signature"] == "passed" and statuses(report)["disclosures"] == "passed"
    assert statuses(report)["key_binding"] == "failed" and report.outcome == "not_verified"
    assert next(c.detail for c in report.checks if c.name == "key_binding").endswith(f"[{code}]")


@pytest.mark.parametrize("stage, before", [("issuer_signature", []), ("disclosures", ["issuer_signature"]),
                                           ("key_binding", ["issuer_signature", "disclosures"])])
def test_the_report_puts_a_refusal_under_the_stage_the_error_carries(world, monkeypatch, stage, before) -> None:
    from credshare.disclosure.errors import SDJWTError
    from credshare.verifier import credential

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise SDJWTError("refused", code="signature_invalid", stage=stage)

    monkeypatch.setattr(credential, "verify_presentation", refuse)
    presentation, proof = shared(world)
    report = world[0].evidence.verify(presentation, proof, key_binding=policy())
    got = statuses(report)
    assert got[stage] == "failed"
    assert [name for name in ("issuer_signature", "disclosures", "key_binding") if got[name] == "passed"] == before


def test_a_disclosure_from_another_credential_fails_the_commitments(world) -> None:
    presentation, proof = shared(world, 0)
    other, _ = shared(world, 1)
    jwt, *disclosures, kb = presentation.split("~")
    foreign = other.split("~")[1]
    report = world[0].evidence.verify("~".join([jwt, foreign, *disclosures[1:], kb]), proof, key_binding=policy())
    assert report.outcome == "not_verified"
    assert "failed" in (statuses(report)["disclosures"], statuses(report)["key_binding"])


def test_an_altered_field_value_fails(world) -> None:
    presentation, proof = shared(world)
    jwt, first, *rest = presentation.split("~")
    salt, name, _ = json.loads(b64url_decode(first))
    forged = b64url_encode(json.dumps([salt, name, "Someone Else"]).encode())
    report = world[0].evidence.verify("~".join([jwt, forged, *rest]), proof, key_binding=policy())
    assert statuses(report)["disclosures"] == "failed" and report.outcome == "not_verified"


def test_an_inclusion_proof_for_another_leaf_fails(world) -> None:
    presentation, _ = shared(world, 0)
    _, proof_of_other = shared(world, 1)
    report = world[0].evidence.verify(presentation, proof_of_other, key_binding=policy())
    assert statuses(report)["inclusion"] == "failed" and report.outcome == "not_verified"


def test_a_flipped_hash_in_the_inclusion_proof_fails(world) -> None:
    presentation, proof = shared(world)
    bad = copy.deepcopy(proof)
    raw = bytearray(base64.b64decode(bad["inclusion_proof"][0]))
    raw[0] ^= 1
    bad["inclusion_proof"][0] = base64.b64encode(bytes(raw)).decode()
    assert statuses(world[0].evidence.verify(presentation, bad, key_binding=policy()))["inclusion"] == "failed"


def test_a_forged_checkpoint_signature_and_missing_witnesses_fail(world) -> None:
    presentation, proof = shared(world)
    text, _, lines = proof["checkpoint"].partition("\n\n")
    log_line = lines.splitlines(keepends=True)[0]
    forged = dict(proof, checkpoint=f"{text}\n\n{log_line[:-10]}AAAAAAAAA\n")
    assert statuses(world[0].evidence.verify(presentation, forged, key_binding=policy()))["checkpoint_signature"] == "failed"
    unwitnessed = dict(proof, checkpoint=f"{text}\n\n{log_line}")  # the log's signature alone
    from credshare.verifier.credential import verify_credential

    svc, now = world[0], int(time.time())
    history, status = svc.evidence.gather(presentation, now)
    report = verify_credential(presentation, unwitnessed, trust=svc.evidence.trust(), history=history, status=status,
                               key_binding=policy(), now=now, issuers=TrustList())
    assert statuses(report)["witness_quorum"] == "failed" and report.outcome == "not_verified"
    # this server hands out the cosignatures its log holds for that very checkpoint with the proof
    assert only_dev_witnessed(svc.evidence.verify(presentation, unwitnessed, key_binding=policy()))


def test_an_unknown_issuer_fails_closed(world) -> None:
    presentation, proof = shared(world)
    svc = world[0]
    report = svc.evidence.verify(presentation, proof, key_binding=policy())
    assert only_dev_witnessed(report)
    from credshare.verifier.credential import verify_credential

    report = verify_credential(presentation, proof, trust=svc.evidence.trust(), history=None, status=None,
                               key_binding=policy(), now=int(time.time()), issuers=TrustList())
    assert statuses(report)["key_history"] == "failed" and statuses(report)["issuer_signature"] == "unchecked"
    assert report.outcome == "not_verified"


def test_revoked_then_reinstated_reads_from_the_served_list(world) -> None:
    svc, _, items = world
    record = svc.store.collection("credentials").find_one({"_id": items[2]["credential_id"]})
    presentation, proof = shared(world, 2)
    svc.status.set_status("example-med", record["status_list"], record["status_idx"], "revoked")
    report = svc.evidence.verify(presentation, proof, key_binding=policy())
    assert report.credential_status == "revoked" and statuses(report)["status"] == "failed"
    assert report.outcome == "not_verified"
    svc.status.set_status("example-med", record["status_list"], record["status_idx"], "suspended")
    assert svc.evidence.verify(presentation, proof, key_binding=policy()).credential_status == "suspended"
    svc.status.set_status("example-med", record["status_list"], record["status_idx"], "valid")
    assert only_dev_witnessed(svc.evidence.verify(presentation, proof, key_binding=policy()))


# -- offline bundle ---------------------------------------------------------------------------

def make_bundle(world, index: int = 0) -> dict[str, Any]:
    """A bundle from this server, its checkpoints also cosigned by the independent test witness."""
    presentation, proof = shared(world, index)
    return independently_witnessed(world[0].evidence.bundle(
        presentation, proof, audience=AUD, nonce=NONCE, not_before=int(time.time()) - 5,
        share={"history": False, "withheld": 17}))


def log_key(world) -> str:
    return world[0].log.signer.verifier.encode()


def trusted(world) -> list[TrustedLog]:
    """A verifier's own tlog-policy for this log: its key, and the independent witness."""
    return [TrustedLog.from_text(witness_policy_text(log_key(world)))]


def test_a_bundle_verifies_alone_with_a_trusted_log_key(world) -> None:
    bundle = json.loads(json.dumps(make_bundle(world)))  # as read back from the file
    report = verify_bundle(bundle, trusted=trusting(bundle, *trusted(world)), now=int(time.time()) + 3 * 365 * 86400)
    assert report.outcome == "verified", [c for c in report.checks if c.status != "passed"]
    assert statuses(report)["trust_anchor"] == "passed"
    # the status is as of the issuer's signing of the list (its iat), not the unsigned time the
    # bundle read it, which may be a second or more later
    signed_at = json.loads(b64url_decode(bundle["status"]["token"].split(".")[1]))["iat"]
    assert report.status_as_of == signed_at <= bundle["status"]["as_of"]


def test_a_bundle_without_a_trusted_key_is_incomplete_and_with_another_key_fails(world) -> None:
    bundle = make_bundle(world)
    now = int(time.time())
    assert verify_bundle(bundle, trusted=trusting(bundle), now=now).outcome == "incomplete"
    key_only = verify_bundle(bundle, trusted=trusting(bundle, TrustedLog.from_key(log_key(world))), now=now)
    assert key_only.outcome == "incomplete" and statuses(key_only)["witness_quorum"] == "unchecked"
    stranger = NoteSigner.from_seed("other.example/log", os.urandom(32)).verifier.encode()
    report = verify_bundle(bundle, trusted=trusting(bundle, TrustedLog.from_key(stranger)), now=now)
    assert statuses(report)["trust_anchor"] == "failed" and report.outcome == "not_verified"


@pytest.mark.parametrize("tamper", [
    lambda b: b.update(
        presentation=b["presentation"].replace(b["presentation"].split("~")[1], b["presentation"].split("~")[2], 1)),
    lambda b: b["key_binding"].update(aud="link-other"),
    lambda b: b["key_binding"].update(nonce="nonce-other"),
    lambda b: b["anchor_proof"].update(leaf_index=b["anchor_proof"]["leaf_index"] + 1),
    lambda b: b["anchor_proof"].update(checkpoint=b["anchor_proof"]["checkpoint"].replace(
        next(line for line in b["anchor_proof"]["checkpoint"].splitlines(keepends=True)
             if INDEPENDENT_WITNESS.name in line), "")),
    lambda b: b["issuer"]["key_history"].update(jws=b["issuer"]["key_history"]["jws"][:-4] + "AAAA"),
    lambda b: b["status"].update(token=b["status"]["token"][:-4] + "AAAA"),
    lambda b: b["share"].update(history=True),  # unsigned: must change nothing, so this one is checked apart
], ids=["swapped-disclosure", "kb-aud", "kb-nonce", "leaf-index", "witnesses", "key-history", "status-token", "share"])
def test_a_tampered_bundle_fails(world, tamper, request) -> None:
    bundle = copy.deepcopy(make_bundle(world))
    tamper(bundle)
    report = verify_bundle(bundle, trusted=trusting(bundle, *trusted(world)), now=int(time.time()))
    if request.node.callspec.id == "share":
        assert report.outcome == "verified" and report.holder_statement == {"history": False, "withheld": 17}
        return
    assert report.outcome == "not_verified", report.to_json()["checks"]


def test_the_bundles_own_policy_is_never_used(world) -> None:
    """The witness policy comes from the verifier's trust, never from the bundle."""
    bundle = make_bundle(world)
    assert bundle["log"]["policy"] == world[0].evidence.trust().policy.to_text()  # the server's suggestion
    bundle["log"]["policy"] = "quorum none\n"
    report = verify_bundle(bundle, trusted=trusting(bundle, *trusted(world)), now=int(time.time()))
    assert report.outcome == "verified", report.to_json()["checks"]
    quorum = next(c.detail for c in report.checks if c.name == "witness_quorum")
    assert INDEPENDENT_WITNESS.name in quorum and "development" not in quorum
    absent = Cosigner.from_seed("witness.test/absent", bytes([8]) * 32)
    strict = [TrustedLog.from_text(witness_policy_text(log_key(world), INDEPENDENT_WITNESS, absent, k=2))]
    assert statuses(verify_bundle(bundle, trusted=trusting(bundle, *strict), now=int(time.time())))["witness_quorum"] == "failed"


def test_the_logs_own_development_witnesses_never_make_a_verified_bundle(world) -> None:
    """Trusting the server's own suggestion (its development witnesses): the quorum is met,
    but only by the log's own keys, so it is unchecked and the bundle is incomplete."""
    presentation, proof = shared(world)
    bundle = world[0].evidence.bundle(presentation, proof, audience=AUD, nonce=NONCE, not_before=int(time.time()) - 5,
                                      share={})
    own = [TrustedLog.from_text(bundle["log"]["policy"])]
    report = verify_bundle(bundle, trusted=trusting(bundle, *own), now=int(time.time()))
    assert statuses(report)["trust_anchor"] == "passed" and only_dev_witnessed(report), report.to_json()["checks"]
    assert all(w["development_only"] for w in report.to_json()["witnesses"]) and report.witnesses


def test_a_replayed_older_status_reads_as_of_its_own_signing_time(world) -> None:
    """A bundle's status snapshot is judged, and dated, by the issuer-signed iat of the list,
    not by the bundle's unsigned as_of."""
    svc, _, items = world
    bundle = make_bundle(world, 1)
    token_iat = json.loads(b64url_decode(bundle["status"]["token"].split(".")[1]))["iat"]
    bundle["status"]["as_of"] = int(time.time()) + 10 * 365 * 86400
    report = verify_bundle(bundle, trusted=trusting(bundle, *trusted(world)), now=int(time.time()))
    assert report.status_as_of == token_iat and "snapshot" in next(c.detail for c in report.checks if c.name == "status")


@pytest.mark.parametrize("doc", [None, [], {"type": "something"}, {"type": "credshare-verification-bundle/v1"}])
def test_a_malformed_bundle_is_refused_with_a_code(doc) -> None:
    with pytest.raises(BundleError) as info:
        verify_bundle(doc, trusted=TrustList(), now=0)
    assert info.value.code == "bundle_malformed"


def test_cli_verifies_a_bundle_file_offline_and_fails_a_tampered_one(world, tmp_path) -> None:
    from click.testing import CliRunner

    from credshare.cli import cli

    bundle = make_bundle(world)
    good = tmp_path / "bundle.json"
    good.write_text(json.dumps(bundle))
    key_file = tmp_path / "log.key"
    key_file.write_text(log_key(world) + "\n")
    policy_file = tmp_path / "trust.policy"  # the log's tlog-policy text, as a verifier keeps it
    policy_file.write_text(witness_policy_text(log_key(world)))
    trust_file = tmp_path / "trust.toml"  # the verifier's trust list: that log, and the issuer
    payload = parse_compact(bundle["presentation"].split("~", 1)[0]).payload
    for args in (["init"], ["add-log", str(policy_file)],
                 ["add-issuer", "--id", payload["iss"], "--name", "Example School", "--accreditation",
                  "LCME-accredited school", "--type", payload["vct"], "--log", log_key(world).split("+")[0]]):
        made = CliRunner().invoke(cli, ["trust", args[0], str(trust_file), *args[1:]])
        assert made.exit_code == 0, made.output
    result = CliRunner().invoke(cli, ["verify", str(good), "--trust", str(trust_file)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["outcome"] == "verified"
    assert json.loads(result.stdout)["issuer"]["vouched_for"]["accreditation"] == "LCME-accredited school"
    assert "[PASS] Issuer signature" in result.stderr
    assert "[PASS] Issuer is on the trust list, for this type of credential: Example School (LCME-accredited " \
           "school), on your trust list" in result.stderr
    # the log's policy alone says nothing of the issuer: at best incomplete
    result = CliRunner().invoke(cli, ["verify", str(good), "--trust", str(policy_file)])
    assert result.exit_code == 1 and json.loads(result.stdout)["outcome"] == "incomplete"
    assert "[----] Issuer is on the trust list" in result.stderr
    bundle["presentation"] = bundle["presentation"].replace("~", "~" + bundle["presentation"].split("~")[1] + "~", 1)
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(bundle))
    result = CliRunner().invoke(cli, ["verify", str(bad), "--trust", str(trust_file)])
    assert result.exit_code == 1 and json.loads(result.stdout)["outcome"] == "not_verified"
    result = CliRunner().invoke(cli, ["verify", str(good)])
    assert result.exit_code == 1 and json.loads(result.stdout)["outcome"] == "incomplete"
    result = CliRunner().invoke(cli, ["verify", str(good), "--log-key", str(key_file)])  # no witnesses to check
    assert result.exit_code == 1 and json.loads(result.stdout)["outcome"] == "incomplete"
    (tmp_path / "junk.json").write_text("{not json")
    result = CliRunner().invoke(cli, ["verify", str(tmp_path / "junk.json"), "--trust", str(trust_file)])
    assert result.exit_code == 1 and json.loads(result.stdout)["error"] == "bundle_malformed"
    old = tmp_path / "trust.json"  # the JSON trust file of the BLS witnesses: refused, saying so
    old.write_text(json.dumps({"log_key": log_key(world), "witnesses": [], "quorum": 0}))
    result = CliRunner().invoke(cli, ["verify", str(good), "--trust", str(old)])
    assert result.exit_code == 1 and json.loads(result.stdout)["error"] == "trust_file_json_unsupported"
    (tmp_path / "bad.policy").write_text(f"log {log_key(world)}\nquorum nobody\n")
    result = CliRunner().invoke(cli, ["verify", str(good), "--trust", str(tmp_path / "bad.policy")])
    assert result.exit_code == 1 and json.loads(result.stdout)["error"] == "trust_file_invalid"


def test_a_status_snapshot_must_have_been_current_when_the_share_was_made(world) -> None:
    """A status list signed long before the presentation (say, before a revocation) proves
    nothing about the credential at the time of sharing: the status reads as unchecked."""
    svc, holder, items = world
    claims = parse_compact(items[0]["sd_jwt"].split("~", 1)[0]).payload
    old = svc.evidence.status_evidence(claims, int(time.time()))  # the list as served now, with its own proof
    later = int(time.time()) + 3 * 86400  # a presentation made three days after that list was signed
    kb = KeyBindingRequest(holder, AUD, NONCE, later, {SHARE_CLAIM: {"history": False, "withheld": 17}})
    presentation = present(items[0]["sd_jwt"], SHARED, kb)
    bundle = independently_witnessed(svc.evidence.bundle(presentation, items[0]["anchor_proof"], audience=AUD,
                                                         nonce=NONCE, not_before=later - 5, share={}, now=later))
    bundle["status"]["token"], bundle["status"]["anchor_proof"] = old.token, independently_witnessed(
        {"anchor_proof": old.anchor_proof, "issuer": {"key_history": bundle["issuer"]["key_history"]}})["anchor_proof"]
    report = verify_bundle(bundle, trusted=trusting(bundle, *trusted(world)), now=later + 10)
    assert statuses(report)["status"] == "unchecked" and report.outcome == "incomplete"


def test_chain_anchors_recorded_after_delivery_are_looked_up_online_and_offline(tmp_path, ganache) -> None:
    """A checkpoint anchored on a chain after its credentials went out: the server adds the
    log's anchors to the proof and looks them up on its RPC endpoint (a development chain is
    flagged as a test anchor); a bundle carries them for `credshare verify --rpc`."""
    from click.testing import CliRunner

    from credshare.cli import cli

    env = {"CREDSHARE_DATA_DIR": str(tmp_path / "data"), "CREDSHARE_LOCAL_WITNESSES": "3",
           "CREDSHARE_PUBLIC_URL": "https://credshare.test", "CREDSHARE_ETH_RPC": ganache.url}
    svc = create_app(env).extensions["credshare"]
    svc.issuers.create("example-med", "Example University School of Medicine")
    holder, sink = Signer.generate("EdDSA"), ListSink()
    svc.batches.issue("example-med", TYPES["medical-degree"],
                      [(2, degree_row(0, email="", holder_jwk=json.dumps(holder.public_jwk)))], sink)
    (credential,) = sink.items
    (tmp_path / "eth.key").write_text(ganache.private_key)
    anchored = CliRunner(env=env).invoke(cli, ["log", "anchor", "--rpc", ganache.url, "--key-file", str(tmp_path / "eth.key")])
    assert anchored.exit_code == 0, anchored.output
    assert credential["anchor_proof"]["chain_anchors"] == []  # delivered before the anchor existed
    presentation = present(credential["sd_jwt"], SHARED, KeyBindingRequest(holder, AUD, NONCE, int(time.time())))
    assert credential["anchor_proof"]["tree_size"] == svc.log.head()[0]  # `log anchor` anchored the batch's checkpoint
    report = svc.evidence.verify(presentation, credential["anchor_proof"], key_binding=policy())
    chain = [c for c in report.checks if c.name == "chain_anchor"]
    assert [c.status for c in chain] == ["passed"] and "test anchor" in chain[0].detail
    assert only_dev_witnessed(report)
    bundle = independently_witnessed(svc.evidence.bundle(presentation, credential["anchor_proof"], audience=AUD,
                                                         nonce=NONCE, not_before=int(time.time()) - 5, share={}))
    trust = [TrustedLog.from_text(witness_policy_text(svc.log.signer.verifier.encode()))]
    from credshare.anchoring.ethereum import chain_checker

    online = verify_bundle(bundle,
                           trusted=trusting(bundle, *trust), now=int(time.time()), chain_check=chain_checker([ganache.url]))
    offline = verify_bundle(bundle, trusted=trusting(bundle, *trust), now=int(time.time()))
    assert statuses(online)["chain_anchor"] == "passed" and statuses(offline)["chain_anchor"] == "unchecked"
    assert online.outcome == offline.outcome == "verified"
    forged = copy.deepcopy(bundle)
    forged["anchor_proof"]["chain_anchors"][0]["block_number"] += 1
    report = verify_bundle(forged,
                           trusted=trusting(forged, *trust), now=int(time.time()), chain_check=chain_checker([ganache.url]))
    assert statuses(report)["chain_anchor"] == "failed"
