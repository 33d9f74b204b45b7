"""The offline bundle of a Blockcerts record (verifier/bundle.py, docs/bundle.md "Blockcerts
records") and ``credshare verify FILE`` on a bundle or a bare record: cert-issuer's records
(tests/fixtures/blockcerts) go into a bundle and come out with the same report the core gives;
a tampered record, a swapped profile snapshot and oversize or malformed members are caught,
each with its code; the command line runs as a real process (slow tests) and exits 0 only on a
verified record: one anchored on a chain whose transaction a local Esplora stand-in reports."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from credshare.blockcerts.evidence import Anchor, BlockcertsEvidence, Snapshot, Transaction, TransactionLookup
from credshare.blockcerts.proof import read_receipt
from credshare.foundation import strict_json
from credshare.foundation.errors import InputError
from credshare.verifier.bundle import (
    BLOCKCERTS_LIMITS,
    BUNDLE_TYPE,
    BundleError,
    build_blockcerts_bundle,
    verify_blockcerts_evidence,
    verify_bundle,
)
from credshare.verifier.trust_list import TrustList
from tests.helpers import ServedApp

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "blockcerts"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
CLI = ROOT / ".venv" / "bin" / "credshare"
NOW = 1_796_000_000  # 2026-11-30, before the v3 fixtures' expiry, after the ACLS record's
JUNE_2025 = 1_750_000_000  # after the fixtures' key was created, before the variants revoke it
V2_PROFILE = "https://lakeside-residency.example/blockcerts/issuer.json"
V3_PROFILE = "https://northfield-med.example/blockcerts/issuer.json"
TX = "5d" * 32
TRUST_TEXT = "\n".join([
    'format = "credshare-trust-list/v1"',
    "[[issuer]]", f'id = "{V2_PROFILE}"', 'name = "Lakeside Residency Program"', 'keys = "blockcerts"',
    "[[issuer]]", f'id = "{V3_PROFILE}"', 'name = "Northfield School of Medicine"', 'keys = "blockcerts"', ""])
TRUST = TrustList.from_text(TRUST_TEXT)
SHARE = {"id": "lnk_test", "recipient": "Credentialing office", "created_at": NOW - 60, "expires_at": NOW + 86400}
CASES = {  # record, its issuer profile, its (empty) revocation list
    "v2": ("v2-residency-completion.json", "issuer-profile-v2.json", "revocation-list-v2.json"),
    "v3": ("v3-doctor-of-medicine.json", "issuer-profile.json", "revocation-list.json"),
}


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def evidence_of(version: str, *, record: dict[str, Any] | None = None, profile: str | None = None) -> BlockcertsEvidence:
    name, profile_name, revocations = CASES[version]
    prof = load(profile or profile_name)
    return BlockcertsEvidence(record if record is not None else load(name), Snapshot(prof, prof["id"], NOW - 3600),
                              revocation_list=Snapshot(load(revocations), prof["revocationList"], NOW - 3600))


def as_read(doc: dict[str, Any]) -> Any:
    """The bundle as a verifier reads it from the file it was saved to."""
    return strict_json.loads(json.dumps(doc))


def statuses(report: Any) -> dict[str, tuple[str, str]]:
    return {c.name: (c.status, c.code) for c in report.checks}


# -- build -> verify ------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", sorted(CASES))
def test_a_bundle_verifies_as_the_record_does_with_the_test_anchor_left_incomplete(version: str) -> None:
    evidence = evidence_of(version)
    bundle = build_blockcerts_bundle(evidence, share=SHARE, created_at=NOW - 10)
    assert (bundle["type"], bundle["format"], bundle["share"], bundle["created_at"]) == (
        BUNDLE_TYPE, "blockcerts", SHARE, NOW - 10)
    assert "lookups" not in bundle["blockcerts"]
    report = verify_bundle(as_read(bundle), trusted=TRUST, now=NOW)
    checks = statuses(report)
    # the issuer's documents in a bundle were fetched by the wallet server: its word, not the verifier's
    assert {name: code for name, (status, code) in checks.items() if status != "passed"} == {
        "issuer_profile": "blockcerts_profile_from_sharer", "blockchain_anchor": "blockcerts_test_anchor",
        "issuer_key_valid": "blockcerts_key_unproven", "status": "blockcerts_status_from_sharer"}
    assert {"proof_format", "issuer_trust", "document_hash", "merkle_proof", "credential_validity"} <= set(checks)
    assert report.outcome == "incomplete" and report.credential_format == "blockcerts"
    assert report.issuer == (V2_PROFILE if version == "v2" else V3_PROFILE) and report.credential_status == "valid"
    # the record with the verifier's own copies of the same documents: the same report, but what it fetched itself passes
    direct = verify_blockcerts_evidence(evidence, trusted=TRUST, now=NOW)
    assert [c.name for c in direct.checks] == [c.name for c in report.checks]
    assert {name for name, (status, _) in statuses(direct).items() if status != "passed"} == {
        "blockchain_anchor", "issuer_key_valid"}
    # pinned addresses: the trust list says which address may anchor, so the sharer's profile may date the key
    pinned = TrustList.from_text(TRUST_TEXT.replace('keys = "blockcerts"',
                                                    'keys = "blockcerts"\naddresses = ["1BoatSLRHtKNngkdXEeobR76b53LETtpyT"]'))
    assert statuses(verify_bundle(as_read(bundle), trusted=pinned, now=NOW))["issuer_profile"][0] == "passed"


def test_a_bundle_without_format_is_still_the_sd_jwt_bundle() -> None:
    for doc in ({"type": BUNDLE_TYPE}, {"type": BUNDLE_TYPE, "format": "sd-jwt-vc"}):
        with pytest.raises(BundleError) as caught:
            verify_bundle(doc, trusted=TRUST, now=NOW)
        assert caught.value.code == "bundle_malformed" and "presentation" in caught.value.detail


# -- what a bundle cannot hide ---------------------------------------------------------------------------

@pytest.mark.parametrize("version, tampered, check, code", [
    ("v3", "tampered-v3-field-changed.json", "document_hash", "blockcerts_hash_mismatch"),
    ("v3", "tampered-v3-path-changed.json", "merkle_proof", "blockcerts_merkle_path_mismatch"),
    ("v2", "tampered-v2-field-changed.json", "document_hash", "blockcerts_hash_mismatch"),
    ("v2", "tampered-v2-root-changed.json", "merkle_proof", "blockcerts_merkle_path_mismatch"),
])
def test_a_tampered_record_in_a_bundle_fails_with_its_code(version: str, tampered: str, check: str, code: str) -> None:
    bundle = build_blockcerts_bundle(evidence_of(version, record=load(tampered)), share=SHARE)
    report = verify_bundle(as_read(bundle), trusted=TRUST, now=NOW)
    assert statuses(report)[check] == ("failed", code)
    assert report.outcome == "not_verified"


def test_a_record_changed_inside_a_saved_bundle_fails() -> None:
    bundle = as_read(build_blockcerts_bundle(evidence_of("v3"), share=SHARE))
    bundle["blockcerts"]["document"]["credentialSubject"]["name"] = "Dr. Somebody Else"
    assert statuses(verify_bundle(bundle, trusted=TRUST, now=NOW))["document_hash"] == ("failed", "blockcerts_hash_mismatch")


@pytest.mark.parametrize("version, revoked", [("v3", "issuer-profile-key-revoked.json"),
                                              ("v2", "issuer-profile-v2-key-revoked.json")])
def test_a_profile_snapshot_swapped_for_one_with_the_key_revoked_fails_issuer_key_valid(version: str, revoked: str) -> None:
    bundle = as_read(build_blockcerts_bundle(evidence_of(version), share=SHARE))
    assert verify_bundle(bundle, trusted=TRUST, now=NOW).outcome == "incomplete"
    bundle["blockcerts"]["issuer_profile"]["document"] = load(revoked)
    report = verify_bundle(bundle, trusted=TRUST, now=NOW)
    assert statuses(report)["issuer_key_valid"] == ("failed", "blockcerts_key_revoked")
    assert report.outcome == "not_verified"


def test_a_profile_snapshot_of_another_issuer_fails() -> None:
    bundle = as_read(build_blockcerts_bundle(evidence_of("v3"), share=SHARE))
    bundle["blockcerts"]["issuer_profile"]["document"] = load("issuer-profile-v2.json")
    assert statuses(verify_bundle(bundle, trusted=TRUST, now=NOW))["issuer_profile"] == (
        "failed", "blockcerts_profile_mismatch")


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def _padding(size: int) -> str:
    return "x" * size


@pytest.mark.parametrize("change, code", [
    (lambda b: b.update(format="jwt-vc"), "bundle_format_unknown"),
    (lambda b: b.update(blockcerts=None), "bundle_malformed"),
    (lambda b: b.update(blockcerts=[]), "bundle_malformed"),
    (lambda b: b["blockcerts"].update(document="{}"), "bundle_malformed"),
    (lambda b: b["blockcerts"].pop("document"), "bundle_malformed"),
    (lambda b: b["blockcerts"].update(issuer_profile={"document": {}, "source_url": "x"}), "bundle_malformed"),
    (lambda b: b["blockcerts"]["issuer_profile"].update(fetched_at=True), "bundle_malformed"),
    (lambda b: b["blockcerts"]["issuer_profile"].update(document=[]), "bundle_malformed"),
    (lambda b: b["blockcerts"].update(revocation_list="https://x.example/list.json"), "bundle_malformed"),
    (lambda b: b["blockcerts"].update(profile_problem=7), "bundle_malformed"),
    (lambda b: b["blockcerts"].update(status_problem=_padding(501)), "bundle_malformed"),
    (lambda b: b["blockcerts"]["document"].update(padding=_padding(BLOCKCERTS_LIMITS["document"])), "bundle_member_too_large"),
    (lambda b: b["blockcerts"]["issuer_profile"]["document"].update(padding=_padding(BLOCKCERTS_LIMITS["issuer_profile"])),
     "bundle_member_too_large"),
    (lambda b: b["blockcerts"]["revocation_list"]["document"].update(
        revokedAssertions=[{"id": f"urn:uuid:{i:032}"} for i in range(BLOCKCERTS_LIMITS["revocation_list"] // 40)]),
     "bundle_member_too_large"),
    (lambda b: b["blockcerts"].update(status_list={"document": {"padding": _padding(BLOCKCERTS_LIMITS["status_list"])},
                                                   "source_url": "https://x.example/s", "fetched_at": 1}),
     "bundle_member_too_large"),
    (lambda b: b["blockcerts"]["document"].update(deep=_nested(80)), "json_too_deep"),
], ids=["format", "no-evidence", "evidence-list", "record-text", "no-record", "snapshot-no-time", "snapshot-time-bool",
        "snapshot-document-list", "snapshot-url-only", "problem-number", "problem-long", "record-large", "profile-large",
        "revocation-list-large", "status-list-large", "record-deep"])
def test_oversize_or_malformed_members_are_refused_with_a_code(change: Any, code: str) -> None:
    bundle = as_read(build_blockcerts_bundle(evidence_of("v3"), share=SHARE))
    change(bundle)
    with pytest.raises(InputError) as caught:
        verify_bundle(bundle, trusted=TRUST, now=NOW)
    assert caught.value.code == code


def test_members_at_their_size_limit_are_judged() -> None:
    bundle = as_read(build_blockcerts_bundle(evidence_of("v3"), share=SHARE))
    profile = bundle["blockcerts"]["issuer_profile"]
    room = BLOCKCERTS_LIMITS["issuer_profile"] - len(json.dumps(profile, separators=(",", ":")).encode())
    profile["document"]["padding"] = _padding(room - len(',"padding":""'))
    report = verify_bundle(bundle, trusted=TRUST, now=NOW)
    assert statuses(report)["issuer_profile"] == ("unchecked", "blockcerts_profile_from_sharer")  # read, judged
    profile["document"]["padding"] += "x"
    with pytest.raises(BundleError):
        verify_bundle(bundle, trusted=TRUST, now=NOW)


# -- anchors: looked up by whoever verifies -------------------------------------------------------------

def on_chain(name: str) -> dict[str, Any]:
    """A cert-issuer v2 record moved onto Bitcoin mainnet (its anchors are in the signature block,
    which the hash leaves out: the record still verifies)."""
    doc = load(name)
    doc["signature"]["anchors"] = [{"sourceId": TX, "type": "BTCOpReturn", "chain": "bitcoinMainnet"}]
    return doc


def test_the_callers_lookup_is_asked_for_a_chain_anchor_never_for_a_test_anchor() -> None:
    asked: list[Anchor] = []
    address = MANIFEST["issuers"][V2_PROFILE]["address"]
    record = on_chain("v2-residency-completion.json")

    def lookup(anchor: Anchor) -> TransactionLookup:
        asked.append(anchor)
        return TransactionLookup(anchor, Transaction(anchor.chain, anchor.txid, read_receipt(record).merkle_root,
                                                     address, JUNE_2025, ("https://esplora.example/api",)))

    mock = as_read(build_blockcerts_bundle(evidence_of("v2"), share=SHARE))
    assert verify_bundle(mock, trusted=TRUST, now=NOW, lookup=lookup).outcome == "incomplete" and asked == []
    chained = as_read(build_blockcerts_bundle(evidence_of("v2", record=record), share=SHARE))
    assert statuses(verify_bundle(chained, trusted=TRUST, now=NOW))["blockchain_anchor"] == (
        "unchecked", "blockcerts_anchor_not_looked_up")
    report = verify_bundle(chained, trusted=TRUST, now=NOW, lookup=lookup)
    assert asked == [Anchor("bitcoinMainnet", TX, False)]
    assert report.anchored_at == JUNE_2025 and statuses(report)["blockchain_anchor"][0] == "passed"
    # still the wallet server's profile and list: incomplete until the verifier has its own copies
    assert report.outcome == "incomplete" and {n for n, (s, _) in statuses(report).items() if s != "passed"} == {
        "issuer_profile", "issuer_key_valid", "status"}
    own = verify_blockcerts_evidence(evidence_of("v2", record=record), trusted=TRUST, now=NOW, lookup=lookup)
    assert own.outcome == "verified"

    def refuted(anchor: Anchor) -> TransactionLookup:
        return TransactionLookup(anchor, problem="transaction is not on the chain", refuted=True)
    assert statuses(verify_bundle(chained, trusted=TRUST, now=NOW, lookup=refuted))["blockchain_anchor"] == (
        "failed", "blockcerts_anchor_refuted")


# -- credshare verify FILE, a real process ---------------------------------------------------------------

class Esplora(ServedApp):
    """An Esplora REST stand-in: ``GET /tx/<txid>`` answers the one transaction it knows, 404
    for any other."""

    def __init__(self, tx: dict[str, Any]) -> None:
        from werkzeug.wrappers import Request, Response

        self.asked: list[str] = []

        @Request.application
        def app(req: Request) -> Response:
            self.asked.append(req.path)
            if req.path == f"/tx/{tx['txid']}":
                return Response(json.dumps(tx), mimetype="application/json")
            return Response("Transaction not found", status=404)

        super().__init__(app)
        self.url = self.base


@pytest.fixture
def esplora() -> Iterator[Esplora]:
    record = on_chain("v2-residency-completion.json")
    server = Esplora({
        "txid": TX, "status": {"confirmed": True, "block_height": 900_000, "block_time": JUNE_2025},
        "vin": [{"prevout": {"scriptpubkey_address": MANIFEST["issuers"][V2_PROFILE]["address"]}}],
        "vout": [{"scriptpubkey": "6a20" + read_receipt(record).merkle_root, "value": 0}],
    })
    yield server
    server.close()


def verify(*args: str | Path) -> tuple[int, Any, str]:
    done = subprocess.run([str(CLI), "verify", *map(str, args)], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, stdin=subprocess.DEVNULL)
    return done.returncode, json.loads(done.stdout), done.stderr


@pytest.fixture
def trust_file(tmp_path: Path) -> Path:
    path = tmp_path / "trust.toml"
    path.write_text(TRUST_TEXT)
    return path


@pytest.mark.slow
def test_cli_a_bare_record_with_its_issuer_profile(trust_file: Path) -> None:
    record, profile, revocations = (FIXTURES / n for n in CASES["v3"])
    code, out, err = verify(record, "--issuer-profile", profile, "--revocation-list", revocations,
                            "--trust", trust_file, "--at", NOW)
    assert (code, out["outcome"]) == (1, "incomplete")
    checks = {c["check"]: c for c in out["checks"]}
    assert all(set(c) >= {"check", "status", "detail"} for c in out["checks"])
    assert checks["issuer_profile"]["status"] == "passed" and "from the file issuer-profile.json" in \
        checks["issuer_profile"]["detail"]
    assert checks["issuer_trust"]["status"] == checks["status"]["status"] == checks["document_hash"]["status"] == "passed"
    assert (checks["blockchain_anchor"]["status"], checks["blockchain_anchor"]["code"]) == (
        "unchecked", "blockcerts_test_anchor")
    assert "code" not in checks["document_hash"]
    assert err.startswith("INCOMPLETE: Doctor of Medicine from Northfield School of Medicine")

    # nothing given beside it: said, never fetched
    code, out, err = verify(record, "--trust", trust_file, "--at", NOW)
    checks = {c["check"]: c for c in out["checks"]}
    assert (code, checks["issuer_profile"]["status"]) == (1, "unchecked")
    assert "--issuer-profile" in checks["issuer_profile"]["detail"]
    assert "not available: the issuer profile was not given" in err

    code, out, _ = verify(record, "--issuer-profile", FIXTURES / "issuer-profile-key-revoked.json", "--at", NOW)
    assert (code, out["outcome"]) == (1, "not_verified")
    assert {c["check"]: c.get("code") for c in out["checks"] if c["status"] == "failed"} == {
        "issuer_key_valid": "blockcerts_key_revoked"}

    code, out, _ = verify(FIXTURES / "tampered-v3-field-changed.json", "--issuer-profile", profile, "--at", NOW)
    assert (code, out["outcome"]) == (1, "not_verified")
    assert [c.get("code") for c in out["checks"] if c["status"] == "failed"] == ["blockcerts_hash_mismatch"]


@pytest.mark.slow
def test_cli_exits_0_only_for_a_verified_record(trust_file: Path, esplora: Esplora, tmp_path: Path) -> None:
    record = tmp_path / "residency.json"
    record.write_text(json.dumps(on_chain("v2-residency-completion.json")))
    _, profile, revocations = (FIXTURES / n for n in CASES["v2"])
    given = [record, "--issuer-profile", profile, "--revocation-list", revocations, "--trust", trust_file, "--at", NOW]
    code, out, _ = verify(*given)
    assert (code, out["outcome"]) == (1, "incomplete")  # the anchor not looked up: no endpoint
    code, out, err = verify(*given, "--blockcerts-endpoint", f"bitcoinMainnet={esplora.url}")
    assert (code, out["outcome"]) == (0, "verified"), err
    assert esplora.asked == [f"/tx/{TX}"] and out["anchored_at"] == JUNE_2025
    code, out, _ = verify(*given, "--blockcerts-endpoint", f"bitcoinMainnet={esplora.url}",
                          "--revocation-list", FIXTURES / "revocation-list-v2-revoked.json")
    assert (code, out["outcome"]) == (1, "not_verified")
    # a bundle of the same record, the same way
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(build_blockcerts_bundle(
        BlockcertsEvidence(json.loads(record.read_text()), Snapshot(load(CASES["v2"][1]), V2_PROFILE, NOW - 60)),
        share=SHARE)))
    code, out, _ = verify(bundle, "--revocation-list", revocations, "--trust", trust_file, "--at", NOW,
                          "--blockcerts-endpoint", f"bitcoinMainnet={esplora.url}")
    assert (code, out["outcome"]) == (1, "incomplete")  # the profile is the wallet server's copy
    assert {c["check"]: c.get("code") for c in out["checks"] if c["status"] != "passed"} == {
        "issuer_profile": "blockcerts_profile_from_sharer", "issuer_key_valid": "blockcerts_profile_from_sharer"}
    code, out, _ = verify(bundle, "--issuer-profile", profile, "--revocation-list", revocations, "--trust", trust_file,
                          "--at", NOW, "--blockcerts-endpoint", f"bitcoinMainnet={esplora.url}")
    assert (code, out["outcome"]) == (0, "verified")
    code, out, _ = verify(bundle, "--trust", trust_file, "--at", NOW)  # no anchor lookup, no revocation list
    assert (code, out["outcome"]) == (1, "incomplete")


@pytest.mark.slow
def test_cli_refuses_what_is_neither_a_bundle_nor_a_record(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"@context": ["https://www.w3.org/2018/credentials/v1"], "type": ["VerifiableCredential"]}))
    assert verify(other)[:2] == (1, {"error": "bundle_malformed",
                                     "detail": f"neither a {BUNDLE_TYPE} document nor a Blockcerts record"})
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"padding": "x" * (2 * 1024 * 1024)}))
    assert verify(big)[1]["error"] == "file_too_large"
    record = FIXTURES / CASES["v3"][0]
    assert verify(record, "--blockcerts-endpoint", "mockchain=http://127.0.0.1:9")[1]["error"] == "endpoint_invalid"
    assert verify(record, "--blockcerts-endpoint", "bitcoinMainnet")[1]["error"] == "endpoint_invalid"
    listed = tmp_path / "list.json"
    listed.write_text("[]")
    assert verify(record, "--revocation-list", listed)[1]["error"] == "blockcerts_snapshot_invalid"
    sd_jwt = tmp_path / "sd-jwt-bundle.json"
    sd_jwt.write_text(json.dumps({"type": BUNDLE_TYPE}))
    assert verify(sd_jwt, "--issuer-profile", FIXTURES / "issuer-profile.json")[1]["error"] == "option_not_applicable"


def test_the_bundle_builder_does_not_alter_the_evidence() -> None:
    evidence = evidence_of("v3")
    before = copy.deepcopy(evidence.document)
    bundle = build_blockcerts_bundle(evidence, share=SHARE)
    assert bundle["blockcerts"]["document"] == before and "created_at" not in bundle


def test_fetch_takes_only_what_was_not_given_from_the_urls_the_record_names() -> None:
    from credshare.cli_verify import _with_files
    from credshare.federation.blockcerts_sources import BlockcertsSources
    from credshare.foundation.http_client import Answer

    served = {V3_PROFILE: load("issuer-profile.json"), load("issuer-profile.json")["revocationList"]:
              load("revocation-list-revoked.json")}
    asked: list[str] = []

    def fetch(url: str, **_: Any) -> Answer:
        asked.append(url)
        return Answer(200, "application/json", json.dumps(served[url]).encode()) if url in served else \
            Answer(404, "text/plain", b"")

    sources = BlockcertsSources(fetch=fetch)
    record = load(CASES["v3"][0])
    offline = _with_files(BlockcertsEvidence(record), None, None, NOW, None)
    assert offline.issuer_profile is None and "--issuer-profile" in offline.profile_problem and asked == []
    fetched = _with_files(BlockcertsEvidence(record), None, None, NOW, sources)
    assert sorted(asked) == sorted(served)
    assert fetched.issuer_profile is not None and fetched.issuer_profile.source_url == V3_PROFILE
    assert statuses(verify_blockcerts_evidence(fetched, trusted=TRUST, now=NOW))["status"] == ("failed", "blockcerts_revoked")
    # a list given from a file is kept, whatever the issuer serves
    asked.clear()
    given = FIXTURES / CASES["v3"][2]
    kept = _with_files(BlockcertsEvidence(record), None, str(given), NOW, sources)
    assert V3_PROFILE in asked
    assert kept.revocation_list is not None and kept.revocation_list.source_url == "file:revocation-list.json"
    assert statuses(verify_blockcerts_evidence(kept, trusted=TRUST, now=NOW))["status"][0] == "passed"
    # all given: nothing is asked
    asked.clear()
    _with_files(BlockcertsEvidence(record), str(FIXTURES / CASES["v3"][1]), str(given), NOW, sources)
    assert asked == []
