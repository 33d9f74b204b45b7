"""The Blockcerts core (blockcerts/): records made by cert-issuer (tests/fixtures/blockcerts, see
its README and manifest.json) verify offline with every check but the test anchor; each
tampered variant fails with its own check and code; a record anchored on a chain is judged by
the transaction an endpoint reported (here given as evidence: the lookups themselves are
tests/test_blockcerts_sources.py)."""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import cbor2
import pytest

from credshare.blockcerts.errors import BlockcertsError
from credshare.blockcerts.evidence import Anchor, BlockcertsEvidence, Snapshot, Transaction, TransactionLookup
from credshare.blockcerts.issuer_profile import status_bit
from credshare.blockcerts.jsonld import document_hash, unsigned
from credshare.blockcerts.proof import base58btc_decode, merkle_root, read_receipt
from credshare.blockcerts.record import looks_like_blockcerts, parse_record
from credshare.blockcerts.verification import verify_blockcerts
from credshare.foundation.b64 import b64url_encode
from credshare.verifier.blockcerts import blockcerts_report
from credshare.verifier.trust_list import TrustList, TrustListError

FIXTURES = Path(__file__).parent / "fixtures" / "blockcerts"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
NOW = 1_796_000_000  # 2026-11-30
V2_PROFILE = "https://lakeside-residency.example/blockcerts/issuer.json"
V2_ADDRESS = MANIFEST["issuers"][V2_PROFILE]["address"]
V3_PROFILE = "https://northfield-med.example/blockcerts/issuer.json"
V3_ADDRESS = MANIFEST["issuers"][V3_PROFILE]["address"]
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def snapshot(name: str | None, at: int = NOW - 3600) -> Snapshot | None:
    if name is None:
        return None
    doc = load(name)
    return Snapshot(doc, doc.get("id", "https://unknown.example/"), at)


def trust(*extra: str) -> TrustList:
    return TrustList.from_text("\n".join([
        'format = "credshare-trust-list/v1"',
        "[[issuer]]", f'id = "{V2_PROFILE}"', 'name = "Lakeside Residency Program"', 'keys = "blockcerts"', *extra,
        "[[issuer]]", f'id = "{V3_PROFILE}"', 'name = "Northfield School of Medicine"', 'keys = "blockcerts"',
    ]))


def not_passed(checks: list[Any]) -> dict[str, tuple[str, str]]:
    return {c.name: (c.status, c.code) for c in checks if c.status != "passed"}


# -- the fixtures, as manifest.json says they must verify -------------------------------------------

@pytest.mark.parametrize("name", sorted(MANIFEST["records"]))
def test_each_fixture_gives_what_the_manifest_says(name: str) -> None:
    spec = MANIFEST["records"][name]
    result = verify_blockcerts(BlockcertsEvidence(load(name), snapshot(spec.get("issuer_profile"))), now=NOW)
    failed = {c.name: c.code for c in result.checks if c.status == "failed"}
    if spec["expect"] == "ok":
        assert failed == {}
        assert result.checks[0].name == "proof_format" and result.checks[0].status == "passed"
    else:
        assert failed == {spec["check"]: spec["code"]}


@pytest.mark.parametrize("case", MANIFEST["cases"], ids=lambda c: f"{c['record']}+{c['issuer_profile']}+{c['revocation_list']}")
def test_records_with_their_profile_and_revocation_list(case: dict[str, Any]) -> None:
    profile = snapshot(case["issuer_profile"])
    assert profile is not None
    revocations = Snapshot(load(case["revocation_list"]), profile.document["revocationList"], NOW - 60)
    result = verify_blockcerts(BlockcertsEvidence(load(case["record"]), profile, revocation_list=revocations), now=NOW)
    left = not_passed(result.checks)
    assert left.pop("blockchain_anchor") == ("unchecked", "blockcerts_test_anchor")
    if case["expect"] == "ok":
        assert left == {"issuer_key_valid": ("unchecked", "blockcerts_key_unproven")}
    else:
        assert left[case["check"]] == ("failed", case["code"])
    if "credential_status" in case:
        assert result.credential_status == case["credential_status"]
        assert result.status_as_of == NOW - 60


def test_genuine_mockchain_records_are_incomplete_and_say_test_anchor_first() -> None:
    for name, profile in (("v3-doctor-of-medicine.json", "issuer-profile.json"), ("v2-residency-completion.json",
                                                                                   "issuer-profile-v2.json")):
        prof = snapshot(profile)
        assert prof is not None
        lists = Snapshot(load("revocation-list.json" if "v3" in name else "revocation-list-v2.json"),
                         prof.document["revocationList"], NOW)
        report = blockcerts_report(BlockcertsEvidence(load(name), prof, revocation_list=lists), trust(), now=NOW)
        body = report.to_json()
        assert body["outcome"] == "incomplete" and body["format"] == "blockcerts"
        assert body["verdict"]["state"] == "incomplete"
        assert "Test anchor (mockchain), not a public chain" in body["verdict"]["reason"]
        assert body["issuer"]["vouched_for"]["keys"] == "blockcerts"
        assert body["verdict"]["answers"][0]["words"].endswith("on your trust list as a Blockcerts issuer.")
        assert body["claims"]["Recipient"] and body["type_name"] and body["type_name"] != "Blockcerts record"


def test_a_record_from_an_issuer_not_on_the_trust_list_is_not_verified() -> None:
    other = TrustList.from_text('format = "credshare-trust-list/v1"\n[[issuer]]\nid = "https://other.example/p.json"\n'
                                'name = "Other"\nkeys = "blockcerts"\n')
    report = blockcerts_report(BlockcertsEvidence(load("v3-doctor-of-medicine.json"), snapshot("issuer-profile.json")),
                               other, now=NOW)
    assert report.outcome == "not_verified"
    assert ("issuer_trust", "failed") in [(c.name, c.status) for c in report.checks]
    assert report.issuer_trust is None


def test_every_field_change_anywhere_in_the_record_fails_the_hash() -> None:
    doc = load("v3-doctor-of-medicine.json")
    expected = read_receipt(doc).target_hash
    assert document_hash(doc) == expected
    for key in [k for k in doc if k not in ("proof", "@context")]:
        changed = copy.deepcopy(doc)
        value = changed[key]
        if isinstance(value, dict):
            inner = next(k for k in value if isinstance(value[k], str))
            value[inner] += " "
        elif isinstance(value, list):
            value.pop()  # (appending an element already there would state nothing new: RDF is a set)
        else:
            changed[key] = str(value) + "x" if not str(value).endswith("Z") else str(value).replace("Z", "+01:00")
        try:
            assert document_hash(changed) != expected, key
        except BlockcertsError as exc:  # a change may also make the record unreadable JSON-LD: still refused
            assert exc.stage == "document_hash"


def test_the_hash_leaves_out_exactly_the_merkle_proof() -> None:
    doc = load("v3-doctor-of-medicine.json")
    chained = copy.deepcopy(doc)
    earlier = {"type": "Ed25519Signature2020", "proofValue": "z1", "created": "2026-01-01T00:00:00Z"}
    chained["proof"] = [earlier, doc["proof"], {"type": "Ed25519Signature2020", "proofValue": "z2"}]
    assert unsigned(chained)["proof"] == earlier  # proofs before the Merkle one were anchored with the record
    assert "proof" not in unsigned(doc)
    v2 = load("v2-residency-completion.json")
    assert "signature" not in unsigned(v2) and unsigned(v2)["badge"] == v2["badge"]


# -- the Merkle proof --------------------------------------------------------------------------------

def _tree(leaves: list[bytes]) -> tuple[bytes, list[list[tuple[str, bytes]]]]:
    """A blockcerts-merkletools tree (odd node carried up), with each leaf's path: an independent
    construction the verifier's path walk must agree with."""
    paths: list[list[tuple[str, bytes]]] = [[] for _ in leaves]
    level = [(leaf, [i]) for i, leaf in enumerate(leaves)]
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level) - 1, 2):
            (left, lidx), (right, ridx) = level[i], level[i + 1]
            for j in lidx:
                paths[j].append(("right", right))
            for j in ridx:
                paths[j].append(("left", left))
            nxt.append((hashlib.sha256(left + right).digest(), lidx + ridx))
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0][0], paths


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13])
def test_merkle_paths_of_every_leaf_lead_to_the_root(size: int) -> None:
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(size)]
    root, paths = _tree(leaves)
    for leaf, path in zip(leaves, paths, strict=True):
        steps = tuple((side, node.hex()) for side, node in path)
        assert merkle_root(leaf.hex(), steps) == root.hex()  # type: ignore[arg-type]
        if steps:
            flipped = (("left" if steps[0][0] == "right" else "right", steps[0][1]),) + steps[1:]
            assert merkle_root(leaf.hex(), flipped) != root.hex()  # type: ignore[arg-type]


def test_base58btc_keeps_leading_zero_bytes() -> None:
    assert base58btc_decode("1112") == b"\x00\x00\x00\x01"
    assert base58btc_decode("") == b""
    with pytest.raises(BlockcertsError) as caught:
        base58btc_decode("0OIl")
    assert caught.value.code == "blockcerts_proof_malformed"


def _b58encode(data: bytes) -> str:
    number, out = int.from_bytes(data, "big"), ""
    while number:
        number, digit = divmod(number, 58)
        out = B58[digit] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def _proof_value(root: str, target: str, path: list[tuple[int, str]], anchor: list[list[Any]], raw: bool) -> str:
    """A MerkleProof2019 proofValue, hashes as CBOR text of hex (cert-issuer) or raw bytes (JavaScript)."""
    def item(hex_hash: str) -> bytes:
        return cbor2.dumps(bytes.fromhex(hex_hash) if raw else hex_hash)
    pairs = [[0, item(root)], [1, item(target)], [2, [anchor]], [3, [[side, item(h)] for side, h in path]]]
    return "z" + _b58encode(cbor2.dumps(pairs))


@pytest.mark.parametrize("raw", [False, True], ids=["cert-issuer", "javascript"])
def test_proof_values_from_both_encoders_read_alike(raw: bool) -> None:
    doc = load("v3-doctor-of-medicine.json")
    receipt = read_receipt(doc)
    path = [(0 if side == "left" else 1, h) for side, h in receipt.path]
    tx = "ab" * 32
    doc["proof"]["proofValue"] = _proof_value(receipt.merkle_root, receipt.target_hash, path,
                                              [[0, 0], [1, 1], [2, cbor2.dumps(bytes.fromhex(tx) if raw else tx)]], raw)
    again = read_receipt(doc)
    assert (again.target_hash, again.merkle_root, again.path) == (receipt.target_hash, receipt.merkle_root, receipt.path)
    assert again.anchors == (Anchor("bitcoinMainnet", tx, False),)


@pytest.mark.parametrize("value, why", [
    ("x123", "not multibase"), ("z" + "1" * 20_000, "oversize"), ("z" + _b58encode(cbor2.dumps({"a": 1})), "a map"),
    ("z" + _b58encode(cbor2.dumps([[0, b"\x01"], [1, b"\x02"], [2, []]])), "no anchor"),
    ("z" + _b58encode(cbor2.dumps([[0, cbor2.dumps("ab")], [1, cbor2.dumps("cd")], [2, [[[0, 9], [1, 1], [2, b""]]]]])),
     "short hashes, unknown chain"),
])
def test_malformed_proof_values_are_refused_with_a_code(value: str, why: str) -> None:
    doc = load("v3-doctor-of-medicine.json")
    doc["proof"]["proofValue"] = value
    with pytest.raises(BlockcertsError) as caught:
        read_receipt(doc)
    assert caught.value.code == "blockcerts_proof_malformed", why
    result = verify_blockcerts(BlockcertsEvidence(doc), now=NOW)
    assert [(c.name, c.status, c.code) for c in result.checks] == [("proof_format", "failed", "blockcerts_proof_malformed")]


def test_what_is_not_a_blockcerts_record() -> None:
    assert looks_like_blockcerts(load("v2-residency-completion.json")) and looks_like_blockcerts(load("v3-acls-expired.json"))
    for doc in ({}, {"proof": {"type": "Ed25519Signature2020"}}, {"signature": {"type": "RsaSignature2018"}}, [], "x"):
        assert not looks_like_blockcerts(doc)
        with pytest.raises(BlockcertsError) as caught:
            parse_record(doc)
        assert caught.value.code == "blockcerts_proof_missing"


# -- anchored on a chain: judged by the transaction an endpoint reported ---------------------------------

def _on_chain(name: str) -> tuple[dict[str, Any], Anchor]:
    """A cert-issuer record moved onto Bitcoin mainnet: its anchor is in its proof, which the hash
    leaves out, so the record itself still verifies."""
    doc = load(name)
    tx = "5d" * 32
    if "signature" in doc:
        doc["signature"]["anchors"] = [{"sourceId": tx, "type": "BTCOpReturn", "chain": "bitcoinMainnet"}]
    else:
        receipt = read_receipt(doc)
        doc["proof"]["proofValue"] = _proof_value(receipt.merkle_root, receipt.target_hash,
                                                  [(0 if s == "left" else 1, h) for s, h in receipt.path],
                                                  [[0, 0], [1, 1], [2, cbor2.dumps(tx)]], raw=False)
    return doc, Anchor("bitcoinMainnet", tx, False)


def _evidence(doc: dict[str, Any], anchor: Anchor, *, data: str | None = None, sender: str, at: int,
              profile: str, revocations: str) -> BlockcertsEvidence:
    prof = snapshot(profile)
    assert prof is not None
    root = read_receipt(doc).merkle_root
    tx = Transaction(anchor.chain, anchor.txid, data or root, sender, at, ("https://esplora.example/api",))
    return BlockcertsEvidence(doc, prof, revocation_list=Snapshot(load(revocations), prof.document["revocationList"], NOW),
                              lookups=(TransactionLookup(anchor, tx),))


JUNE_2025 = 1_750_000_000  # after the key was created (2025-01-06), before the variants revoke it (2026-03-01)


@pytest.mark.parametrize("name, profile, revocations, address", [
    ("v2-residency-completion.json", "issuer-profile-v2.json", "revocation-list-v2.json", V2_ADDRESS),
    ("v3-doctor-of-medicine.json", "issuer-profile.json", "revocation-list.json", V3_ADDRESS),
])
def test_a_record_anchored_on_a_chain_verifies_with_its_transaction(name: str, profile: str, revocations: str,
                                                                    address: str) -> None:
    doc, anchor = _on_chain(name)
    evidence = _evidence(doc, anchor, sender=address.lower() if address.startswith("0x") else address, at=JUNE_2025,
                         profile=profile, revocations=revocations)
    report = blockcerts_report(evidence, trust(), now=NOW)
    assert [c.name for c in report.checks if c.status != "passed"] == []
    assert report.outcome == "verified" and report.anchored_at == JUNE_2025
    assert report.to_json()["verdict"]["state"] == "verified"

    later = _evidence(doc, anchor, sender=address, at=1_780_000_000, profile=profile.replace(".json", "-key-revoked.json")
                      if "v2" not in profile else "issuer-profile-v2-key-revoked.json", revocations=revocations)
    assert not_passed(verify_blockcerts(later, now=NOW).checks) == {"issuer_key_valid": ("failed", "blockcerts_key_revoked")}
    early = _evidence(doc, anchor, sender=address, at=1_700_000_000, profile=profile, revocations=revocations)
    assert not_passed(verify_blockcerts(early, now=NOW).checks) == {
        "issuer_key_valid": ("failed", "blockcerts_key_not_yet_valid")}
    stranger = _evidence(doc, anchor, sender="1BoatSLRHtKNngkdXEeobR76b53LETtpyT", at=JUNE_2025, profile=profile,
                         revocations=revocations)
    assert not_passed(verify_blockcerts(stranger, now=NOW).checks) == {"issuer_key_valid": ("failed", "blockcerts_key_unknown")}
    pinned = blockcerts_report(evidence, trust('addresses = ["1BoatSLRHtKNngkdXEeobR76b53LETtpyT"]'), now=NOW)
    if "v2" in name:
        assert [(c.name, c.code) for c in pinned.checks if c.status == "failed"] == [
            ("issuer_trust", "blockcerts_address_not_pinned")]


def test_a_consistently_re_rooted_record_is_caught_only_by_its_anchor() -> None:
    """A forger who rebuilds the batch (a one-record tree: root = hash) makes the hash and the
    path agree; only the transaction, which holds the issuer's real root, refutes it."""
    doc, anchor = _on_chain("v2-residency-completion.json")
    real_root = read_receipt(doc).merkle_root
    doc["badge"]["name"] = "Residency completion: Neurosurgery"
    forged = document_hash(doc)
    doc["signature"].update({"targetHash": forged, "merkleRoot": forged, "proof": []})
    evidence = _evidence(doc, anchor, data=real_root, sender=V2_ADDRESS, at=JUNE_2025, profile="issuer-profile-v2.json",
                         revocations="revocation-list-v2.json")
    left = not_passed(verify_blockcerts(evidence, now=NOW).checks)
    assert left.pop("blockchain_anchor") == ("failed", "blockcerts_anchor_mismatch")
    assert left == {"issuer_key_valid": ("unchecked", "blockcerts_key_unproven")}  # no confirmed anchor: the sender is moot


@pytest.mark.parametrize("lookup, status, code", [
    (None, "unchecked", "blockcerts_anchor_not_looked_up"),
    ("endpoints disagree", "unchecked", "blockcerts_anchor_unavailable"),
    ("refuted", "failed", "blockcerts_anchor_refuted"),
])
def test_an_anchor_not_confirmed_is_never_passed(lookup: str | None, status: str, code: str) -> None:
    doc, anchor = _on_chain("v3-doctor-of-medicine.json")
    lookups = () if lookup is None else (TransactionLookup(anchor, None, "transaction not found" if lookup == "refuted"
                                                           else lookup, refuted=lookup == "refuted"),)
    evidence = BlockcertsEvidence(doc, snapshot("issuer-profile.json"), lookups=lookups)
    checks = {c.name: (c.status, c.code) for c in verify_blockcerts(evidence, now=NOW).checks}
    assert checks["blockchain_anchor"] == (status, code)


# -- status lists, expiry, profiles ----------------------------------------------------------------------

def _status_list_record(bits: set[int]) -> dict[str, Any]:
    """A StatusList2021 credential of the Northfield issuer, in a one-record batch (root = hash)."""
    raw = bytearray(16 * 1024)
    for i in bits:
        raw[i // 8] |= 0x80 >> (i % 8)
    doc: dict[str, Any] = {
        "@context": ["https://www.w3.org/2018/credentials/v1", "https://w3id.org/vc/status-list/2021/v1",
                     "https://w3id.org/blockcerts/v3"],
        "id": "https://northfield-med.example/blockcerts/status-list.json", "type": ["VerifiableCredential",
                                                                                    "StatusList2021Credential"],
        "issuer": V3_PROFILE, "issuanceDate": "2026-06-01T00:00:00Z",
        "credentialSubject": {"id": "https://northfield-med.example/blockcerts/status-list.json#list",
                              "type": "StatusList2021", "statusPurpose": "revocation",
                              "encodedList": b64url_encode(gzip.compress(bytes(raw)))}}
    target = document_hash(doc)
    doc["proof"] = {"type": "MerkleProof2019", "proofPurpose": "assertionMethod", "created": "2026-06-01T00:00:00Z",
                    "verificationMethod": V3_PROFILE + "#key-1",
                    "proofValue": _proof_value(target, target, [], [[0, -1], [1, cbor2.dumps("mock")]], raw=False)}
    return doc


@pytest.mark.parametrize("bits, status, code", [({1, 7}, "passed", ""), ({3}, "failed", "blockcerts_revoked")])
def test_a_status_list_2021_bit_revokes(bits: set[int], status: str, code: str) -> None:
    listed = _status_list_record(bits)
    assert status_bit(listed, 3) == (3 in bits) and status_bit(listed, 7) == (7 in bits)
    doc = load("v3-doctor-of-medicine.json")
    doc["credentialStatus"] = {"type": "StatusList2021Entry", "statusPurpose": "revocation", "statusListIndex": "3",
                               "statusListCredential": listed["id"]}
    # the entry is part of what the issuer hashed: here the test judges the status part only
    result = verify_blockcerts(BlockcertsEvidence(doc, snapshot("issuer-profile.json"),
                                                  status_list=Snapshot(listed, listed["id"], NOW - 5)), now=NOW)
    checks = {c.name: (c.status, c.code) for c in result.checks}
    assert checks["status"] == (status, code)
    assert result.credential_status == ("valid" if status == "passed" else "revoked")
    altered = copy.deepcopy(listed)
    altered["issuanceDate"] = "2026-06-02T00:00:00Z"
    result = verify_blockcerts(BlockcertsEvidence(doc, snapshot("issuer-profile.json"),
                                                  status_list=Snapshot(altered, listed["id"], NOW - 5)), now=NOW)
    assert {c.name: c.code for c in result.checks}["status"] == "status_list_invalid"


def test_an_expired_record_shared_as_history_is_history_not_passed() -> None:
    evidence = BlockcertsEvidence(load("v3-acls-expired.json"), snapshot("issuer-profile.json"))
    checks = {c.name: c for c in verify_blockcerts(evidence, now=NOW, history=True).checks}
    assert checks["credential_validity"].status == "history"
    assert "Expired on" in checks["credential_validity"].detail


def test_a_profile_of_another_issuer_is_refused() -> None:
    evidence = BlockcertsEvidence(load("v3-doctor-of-medicine.json"), snapshot("issuer-profile-v2.json"))
    checks = {c.name: (c.status, c.code) for c in verify_blockcerts(evidence, now=NOW).checks}
    assert checks["issuer_profile"] == ("failed", "blockcerts_profile_mismatch")


def test_trust_list_blockcerts_entries_are_checked() -> None:
    assert trust().issuers[V2_PROFILE].keys == "blockcerts"
    for extra, fragment in (('types = ["x"]', "has no types"), ('addresses = ["not an address!"]', "addresses"),
                            ('keys = "log"', "keys")):
        with pytest.raises(TrustListError) as caught:
            TrustList.from_text(f'format = "credshare-trust-list/v1"\n[[issuer]]\nid = "{V2_PROFILE}"\nname = "L"\n'
                                f'{extra}\n' + ('keys = "blockcerts"\n' if "keys" not in extra else ""))
        assert fragment in caught.value.detail


def test_lists_count_only_as_the_documents_the_record_and_profile_name() -> None:
    listed = _status_list_record(set())
    doc = load("v3-doctor-of-medicine.json")
    doc["credentialStatus"] = {"type": "StatusList2021Entry", "statusPurpose": "revocation", "statusListIndex": "3",
                               "statusListCredential": listed["id"]}
    for source, expected in ((f"file:{listed['id'].rsplit('/', 1)[1]}", "passed"),
                             ("https://elsewhere.example/list.json", "unchecked")):
        evidence = BlockcertsEvidence(doc, snapshot("issuer-profile.json"), status_list=Snapshot(listed, source, NOW))
        assert {c.name: c.status for c in verify_blockcerts(evidence, now=NOW).checks}["status"] == expected, source
    profile = snapshot("issuer-profile.json")
    assert profile is not None
    for source, status, code in (("https://elsewhere.example/revocations.json", "failed", "blockcerts_revocation_list_mismatch"),
                                 ("file:revocation-list.json", "passed", ""),
                                 (profile.document["revocationList"], "passed", "")):
        evidence = BlockcertsEvidence(load("v3-doctor-of-medicine.json"), profile,
                                      revocation_list=Snapshot(load("revocation-list.json"), source, NOW))
        assert {c.name: (c.status, c.code) for c in verify_blockcerts(evidence, now=NOW).checks}["status"] == (status, code)


def test_on_a_chain_a_changed_root_and_a_changed_path_fail_differently() -> None:
    """Offline, on a test chain, both only break the path (``blockcerts_merkle_path_mismatch``);
    with the transaction, a changed root also contradicts the anchor, a changed path does not."""
    doc, anchor = _on_chain("v2-residency-completion.json")
    root = read_receipt(doc).merkle_root

    def failed(changed: dict[str, Any]) -> dict[str, str]:
        evidence = _evidence(changed, anchor, data=root, sender=V2_ADDRESS, at=JUNE_2025, profile="issuer-profile-v2.json",
                             revocations="revocation-list-v2.json")
        return {c.name: c.code for c in verify_blockcerts(evidence, now=NOW).checks if c.status == "failed"}

    rooted = copy.deepcopy(doc)
    rooted["signature"]["merkleRoot"] = load("tampered-v2-root-changed.json")["signature"]["merkleRoot"]
    pathed = copy.deepcopy(doc)
    pathed["signature"]["proof"] = load("tampered-v2-path-changed.json")["signature"]["proof"]
    assert failed(rooted) == {"merkle_proof": "blockcerts_merkle_path_mismatch",
                              "blockchain_anchor": "blockcerts_anchor_mismatch"}
    assert failed(pathed) == {"merkle_proof": "blockcerts_merkle_path_mismatch"}
