"""C2SP signed notes and checkpoints (signed-note, tlog-checkpoint); cosignature/v1 witness
cosignatures (tlog-cosignature); tlog-policy parsing and quorums; the tlog-witness
add-checkpoint decision table (anchoring/witness.check_add_checkpoint); the witness_quorum
check of an anchor proof under a policy (anchoring/proof.witness_check)."""

from __future__ import annotations

import base64
import hashlib
import os

import nacl.signing
import pytest

from credshare.anchoring import merkle
from credshare.anchoring.cosignature import Cosigner, cosignatures, is_development_witness, with_signature_lines
from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.note import (
    COSIGNATURE_V1_ALG,
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    open_checkpoint,
    split_note,
    verify_note,
)
from credshare.anchoring.policy import Policy, parse_policy, threshold_policy
from credshare.anchoring.proof import build_anchor_proof, verify_anchor_proof, witness_check
from credshare.anchoring.witness import (
    AddCheckpoint,
    WitnessRefused,
    check_add_checkpoint,
    parse_add_checkpoint,
    parse_cosignature_lines,
    parse_size,
)
from credshare.verifier.bundle import TrustedLog
from credshare.verifier.credential import trust_from_policy
from credshare.verifier.trust_list import TrustListError

SIGNER = NoteSigner.from_seed("example.com/log", bytes(range(32)))
ROOT = bytes(range(32))


def test_checkpoint_text_and_signature_line_format() -> None:
    text = Checkpoint("example.com/log", 42, ROOT).text()
    assert text == f"example.com/log\n42\n{base64.b64encode(ROOT).decode()}\n"
    note = SIGNER.sign(text)
    body, sigs = split_note(note)
    assert body == text and note.startswith(text + "\n\u2014 example.com/log ")
    assert [(name, len(sig)) for name, _, sig in sigs] == [("example.com/log", 64)]
    assert open_checkpoint(note, SIGNER.verifier, "example.com/log") == Checkpoint("example.com/log", 42, ROOT)


def test_verifier_key_round_trip_and_key_id() -> None:
    encoded = SIGNER.verifier.encode()
    name, kid, key = encoded.split("+", 2)
    assert name == "example.com/log" and len(kid) == 8
    assert base64.b64decode(key)[0] == 0x01
    assert NoteVerifier.decode(encoded) == SIGNER.verifier
    with pytest.raises(AnchoringError):
        NoteVerifier.decode(encoded.replace(kid, "00000000"))


def test_note_signed_by_other_keys_is_ignored_unless_ours_verifies() -> None:
    other = NoteSigner.from_seed("example.com/log", os.urandom(32))
    text = Checkpoint("example.com/log", 1, ROOT).text()
    with pytest.raises(AnchoringError) as err:
        verify_note(other.sign(text), SIGNER.verifier)
    assert err.value.code == "note_signature_invalid"
    both = SIGNER.sign(text) + other.sign(text).split("\n\n", 1)[1]
    assert verify_note(both, SIGNER.verifier) == text


@pytest.mark.parametrize("mutate", [
    lambda n: n.replace("\n42\n", "\n43\n"),
    lambda n: n.replace("example.com/log\n", "example.org/log\n", 1),
    lambda n: n.replace("\n\n", "\n"),
    lambda n: n[:-2] + ("A" if n[-2] != "A" else "B") + "\n",
])
def test_tampered_notes_are_rejected(mutate) -> None:
    note = SIGNER.sign(Checkpoint("example.com/log", 42, ROOT).text())
    with pytest.raises(AnchoringError):
        open_checkpoint(mutate(note), SIGNER.verifier, "example.com/log")


@pytest.mark.parametrize("text", ["o\n-1\nAAAA\n", "o\n01\n" + base64.b64encode(ROOT).decode() + "\n", "o\n1\nAAAA\n", "o\n1\n"])
def test_malformed_checkpoints(text: str) -> None:
    with pytest.raises(AnchoringError) as err:
        Checkpoint.parse(text)
    assert err.value.code in ("checkpoint_malformed", "note_malformed")



# -- cosignature/v1 ------------------------------------------------------------------------

W = [Cosigner.from_seed(f"witness.example/w{i}", bytes([i + 1]) * 32) for i in range(3)]
DEV = [Cosigner.from_seed(f"example.com/log/dev-witness/{i + 1}", bytes([i + 9]) * 32) for i in range(2)]
T = 1_700_000_000


def cosigned(text: str, *cosigners: Cosigner, at: int = T) -> str:
    return with_signature_lines(SIGNER.sign(text), [c.cosign(text, at) for c in cosigners])


def test_cosignature_bytes_are_what_tlog_cosignature_specifies() -> None:
    """Checked from the spec's text, not our helpers: key ID = SHA-256(name || 0x0A || 0x04 ||
    key)[:4], the blob is key ID || u64 big-endian timestamp || Ed25519 signature over
    "cosignature/v1\ntime <t>\n" || the note body."""
    text = Checkpoint("example.com/log", 5, ROOT).text()
    line = W[0].cosign(text, T)
    name, blob_b64 = line.removeprefix("\u2014 ").removesuffix("\n").split(" ")
    blob = base64.b64decode(blob_b64, validate=True)
    public = bytes(W[0].signing_key.verify_key)
    assert name == "witness.example/w0" and len(blob) == 4 + 8 + 64
    assert blob[:4] == hashlib.sha256(name.encode() + b"\n\x04" + public).digest()[:4]
    assert int.from_bytes(blob[4:12], "big") == T
    nacl.signing.VerifyKey(public).verify(f"cosignature/v1\ntime {T}\n{text}".encode(), blob[12:])
    assert W[0].key.alg == COSIGNATURE_V1_ALG and W[0].key.encode().startswith(f"{name}+{blob[:4].hex()}+")
    assert NoteVerifier.decode(W[0].key.encode(), COSIGNATURE_V1_ALG) == W[0].key


def test_cosignatures_round_trip_one_per_witness_latest_timestamp() -> None:
    text = Checkpoint("example.com/log", 5, ROOT).text()
    note = cosigned(text, W[0], W1 := W[1])
    note = with_signature_lines(note, [W1.cosign(text, T + 5)])  # a second, later line by the same witness
    found = cosignatures(note, [w.key for w in W])
    assert {(c.witness.name, c.timestamp) for c in found} == {(W[0].name, T), (W1.name, T + 5)}
    assert open_checkpoint(note, SIGNER.verifier).size == 5  # the log's signature still verifies
    assert cosignatures(note, [W[2].key]) == []  # lines by other keys are ignored
    assert with_signature_lines(note, [W[0].cosign(text, T)]) == note  # a held line is not added twice


@pytest.mark.parametrize("mutate", [
    lambda note, text: note.replace("\n5\n", "\n6\n"),  # another checkpoint: the signature is over the old one
    lambda note, text: note[:-3] + ("A" if note[-3] != "A" else "B") + "=\n",  # a flipped signature byte
])
def test_a_bad_line_by_a_known_witness_is_refused_never_dropped(mutate) -> None:
    text = Checkpoint("example.com/log", 5, ROOT).text()
    note = mutate(with_signature_lines(SIGNER.sign(text), [W[0].cosign(text, T)]), text)
    with pytest.raises(AnchoringError) as err:
        cosignatures(note, [W[0].key])
    assert err.value.code == "witness_signature_invalid"


def test_cosignature_timestamps_and_key_types_are_checked() -> None:
    text = Checkpoint("example.com/log", 5, ROOT).text()
    for bad in (0, 2**63):
        with pytest.raises(AnchoringError):
            W[0].cosign(text, bad)
    with pytest.raises(AnchoringError) as err:  # a witness key is never a log key, nor the reverse
        NoteVerifier.decode(W[0].key.encode())
    assert err.value.code == "note_key_invalid"
    with pytest.raises(AnchoringError):
        NoteVerifier.decode(SIGNER.verifier.encode(), COSIGNATURE_V1_ALG)
    assert cosignatures(cosigned(text, W[0]), [NoteVerifier(W[0].name, W[0].key.public_key)]) == []  # type 0x01


def test_development_witnesses_are_named_so() -> None:
    assert is_development_witness("credshare.local/log/3a95/dev-witness/1")
    assert is_development_witness(DEV[0].name)
    assert not is_development_witness("witness.example/w0")
    assert not is_development_witness("dev-witness.example/1")


# -- tlog-policy ---------------------------------------------------------------------------

def _policy_text(*lines: str) -> str:
    return "".join(line + "\n" for line in lines)


WLINES = [f"witness w{i} {W[i].key.encode()} https://w{i}.example/add" for i in range(3)]


def test_policy_parsing_groups_any_all_k() -> None:
    policy = parse_policy(_policy_text(
        "# a comment", "", f"log {SIGNER.verifier.encode()} https://log.example", *WLINES,
        "group two 2 w0 w1 w2", "group any-of any w1 w2", "group both all two any-of", "quorum both"))
    assert policy.logs == (SIGNER.verifier,) and policy.log_key("example.com/log") == SIGNER.verifier
    assert policy.log_urls == {"example.com/log": "https://log.example"}
    assert policy.witness_urls["w1"] == "https://w1.example/add" and policy.witnesses["w2"] == W[2].key
    assert policy.satisfied({"w0", "w1"}) and policy.satisfied({"w1", "w2"})
    assert policy.satisfied({"w0", "w2"})  # two of the three, and w2 for any-of
    assert not policy.satisfied({"w1"}) and not policy.satisfied({"w2"})
    assert not policy.satisfied({"w0"}) and not policy.satisfied(set())
    assert policy.names_of([W[0].key, W[2].key]) == {"w0", "w2"}
    assert policy.describe_quorum() == "2 of (2 of (w0, w1, w2), 1 of (w1, w2))"
    assert parse_policy(policy.to_text()) == policy
    single = parse_policy(_policy_text(WLINES[0], "quorum w0"))
    assert single.satisfied({"w0"}) and not single.satisfied({"w1"}) and single.logs == ()
    none = parse_policy(_policy_text(*WLINES, "quorum none"))
    assert none.satisfied(set()) and none.describe_quorum() == "none"


def test_threshold_policy_is_what_it_serves() -> None:
    policy = threshold_policy(SIGNER.verifier, [(w.name, w.key, None) for w in W], 2)
    assert policy.satisfied({W[0].name, W[2].name}) and not policy.satisfied({W[1].name})
    assert parse_policy(policy.to_text()) == policy
    assert threshold_policy(SIGNER.verifier, [], 0).quorum == "none"


@pytest.mark.parametrize("lines", [
    ["quorum none", "quorum none"],  # a second quorum line
    [WLINES[0]],  # no quorum line
    ["quorum w0"],  # a forward reference
    ["group g 1 w0", WLINES[0], "quorum g"],
    [WLINES[0], "quorum w0 w1"],
    ["frobnicate x", "quorum none"],  # unknown keyword
    [f"log {W[0].key.encode()}", "quorum none"],  # a witness key as a log key
    [f"witness w0 {SIGNER.verifier.encode()}", "quorum none"],  # a log key as a witness key
    [WLINES[0], WLINES[0].replace("w0 ", "again ", 1), "quorum w0"],  # one key twice
    [WLINES[0], WLINES[1].replace("w1 ", "w0 ", 1), "quorum w0"],  # one name twice
    ["witness none " + W[0].key.encode(), "quorum none"],  # the reserved name
    [*WLINES[:2], "group g 3 w0 w1", "quorum g"],  # threshold above n
    [*WLINES[:2], "group g 0 w0 w1", "quorum g"],
    [*WLINES[:2], "group g 01 w0 w1", "quorum g"],
    [*WLINES[:2], "group g 1 w0 w0", "quorum g"],  # a member twice
    [*WLINES[:2], "group g 1", "quorum g"],
    [WLINES[0].replace("+", "-", 1), "quorum none"],  # not a vkey
    [f"log {SIGNER.verifier.encode()} a b", "quorum none"],
])
def test_policy_refusals(lines: list[str]) -> None:
    with pytest.raises(AnchoringError) as err:
        parse_policy(_policy_text(*lines))
    assert err.value.code == "witness_policy_invalid"


@pytest.mark.parametrize("raw", [b"quorum none\x00\n", b"quorum none\r\n", b"#" * (64 * 1024) + b"\nquorum none\n"])
def test_policy_refuses_control_characters_and_oversize(raw: bytes) -> None:
    with pytest.raises(AnchoringError) as err:
        parse_policy(raw)
    assert err.value.code == "witness_policy_invalid"


# -- the witness_quorum check of a proof under a policy ------------------------------------

CP = Checkpoint("example.com/log", 9, ROOT, ("credshare-time 1700000000",)).text()


def _policy(*cosigners: Cosigner, k: int) -> Policy:
    return threshold_policy(SIGNER.verifier, [(c.name, c.key, None) for c in cosigners], k)


def test_witness_quorum_passes_with_independent_witnesses_naming_them() -> None:
    check, seen = witness_check(cosigned(CP, W[0], W[2]), _policy(*W, k=2))
    assert check.status == "passed"
    assert "2 of 3 witnesses" in check.detail and W[0].name in check.detail and W[2].name in check.detail
    assert "development" not in check.detail  # when each cosigned is in the report's witness list, not here
    assert [(w.name, w.timestamp, w.development_only) for w in seen] == [(W[0].name, T, False), (W[2].name, T, False)]


def test_witness_quorum_not_met_fails() -> None:
    check, seen = witness_check(cosigned(CP, W[0]), _policy(*W, k=2))
    assert check.status == "failed" and "not met" in check.detail and W[0].name in check.detail
    check, seen = witness_check(SIGNER.sign(CP), _policy(*W, k=1))
    assert check.status == "failed" and seen == []


def test_witness_quorum_met_only_with_development_witnesses_is_never_passed() -> None:
    check, seen = witness_check(cosigned(CP, *DEV), _policy(*DEV, k=2))
    assert check.status == "unchecked"
    assert "development" in check.detail and "not independent" in check.detail
    assert "development only (the log's own key)" in check.detail
    assert all(w.development_only for w in seen)
    # one independent witness and one dev witness do not make an independent 2-of-3
    mixed = _policy(W[0], W[1], DEV[0], k=2)
    assert witness_check(cosigned(CP, W[0], DEV[0]), mixed)[0].status == "unchecked"
    assert witness_check(cosigned(CP, W[0], W[1], DEV[0]), mixed)[0].status == "passed"


def test_witness_quorum_bad_line_by_a_policy_witness_fails() -> None:
    other = Checkpoint("example.com/log", 9, ROOT, ("credshare-time 1700000001",)).text()
    # W[1]'s line was made over another checkpoint: present, by a policy witness, and wrong
    broken = with_signature_lines(cosigned(CP, W[0], W[2]), [W[1].cosign(other, T)])
    check, _ = witness_check(broken, _policy(*W, k=2))
    assert check.status == "failed" and "witness_signature_invalid" in check.detail


def test_witness_quorum_none_is_unchecked() -> None:
    check, seen = witness_check(cosigned(CP, W[0]), _policy(*W, k=0))
    assert check.status == "unchecked" and "quorum none" in check.detail and seen == []


# -- tlog-witness add-checkpoint: the witness's decision table -----------------------------

OTHER = bytes(32)


def _tree(n: int) -> list[bytes]:
    return [merkle.leaf_hash(b"leaf %d" % i) for i in range(n)]


def _checkpoint(size: int, root: bytes | None = None, signer: NoteSigner = SIGNER) -> str:
    leaves = _tree(size)
    return signer.sign(Checkpoint("example.com/log", size, root or merkle.root_of(leaves)).text())


def _decide(old: int, proof: list[bytes], note: str, latest: tuple[int, bytes] | None,
            keys: list[NoteVerifier] | None = None) -> Checkpoint:
    body = AddCheckpoint(old, tuple(proof), note).body()
    return check_add_checkpoint(parse_add_checkpoint(body), [SIGNER.verifier] if keys is None else keys, latest)


def _refused(*args, **kw) -> tuple[int, str, int | None]:
    with pytest.raises(WitnessRefused) as err:
        _decide(*args, **kw)
    return err.value.http_status, err.value.code, err.value.latest_size


def test_add_checkpoint_200_first_and_consistent() -> None:
    leaves = _tree(7)
    assert _decide(0, [], _checkpoint(4), None).size == 4
    proof = merkle.consistency_proof(4, 7, merkle.memory_subtree(leaves))
    latest = (4, merkle.root_of(leaves[:4]))
    assert _decide(4, list(proof), _checkpoint(7), latest).size == 7
    assert _decide(7, [], _checkpoint(7), (7, merkle.root_of(leaves))).size == 7  # the same tree again


def test_add_checkpoint_400_malformed() -> None:
    for body in (b"old 01\n\n" + _checkpoint(1).encode(), b"old 1\nnot base64\n\n" + _checkpoint(1).encode(),
                 b"old 1\n" + _checkpoint(1).encode(), b"\xff", b"old 0\n\nnot a note\n",
                 b"old 0\n" + b"".join(base64.b64encode(OTHER) + b"\n" for _ in range(64)) + b"\n" +
                 _checkpoint(1).encode()):
        with pytest.raises(WitnessRefused) as err:
            parse_add_checkpoint(body)
        assert (err.value.http_status, err.value.code) == (400, "witness_request_malformed")
    assert _refused(5, [], _checkpoint(4), (5, OTHER))[:2] == (400, "witness_request_malformed")  # old above size


def test_add_checkpoint_404_unknown_log_403_bad_signature() -> None:
    assert _refused(0, [], _checkpoint(3), None, keys=[])[:2] == (404, "witness_log_unknown")
    impostor = NoteSigner.from_seed("example.com/log", bytes(32))
    assert _refused(0, [], _checkpoint(3, signer=impostor), None)[:2] == (403, "witness_log_signature_invalid")


def test_add_checkpoint_409_stale_or_conflicting_old_size() -> None:
    leaves = _tree(7)
    assert _refused(0, [], _checkpoint(7), (4, merkle.root_of(leaves[:4]))) == (409, "witness_conflict", 4)
    assert _refused(3, [], _checkpoint(7), (4, merkle.root_of(leaves[:4]))) == (409, "witness_conflict", 4)
    assert _refused(2, [], _checkpoint(7), None) == (409, "witness_conflict", 0)


def test_add_checkpoint_422_inconsistent() -> None:
    leaves = _tree(7)
    latest = (4, merkle.root_of(leaves[:4]))
    bad_proof = [OTHER] * len(merkle.consistency_proof(4, 7, merkle.memory_subtree(leaves)))
    assert _refused(4, bad_proof, _checkpoint(7), latest)[:2] == (422, "witness_proof_invalid")
    assert _refused(0, [OTHER], _checkpoint(4), None)[:2] == (422, "witness_proof_invalid")  # a proof from 0
    assert _refused(4, [], _checkpoint(4, OTHER), latest)[:2] == (422, "witness_proof_invalid")  # a fork at one size
    assert _refused(0, [], _checkpoint(0, OTHER), None)[:2] == (422, "witness_proof_invalid")  # size 0, not empty
    forked = merkle.consistency_proof(4, 7, merkle.memory_subtree(leaves))
    assert _refused(4, list(forked), _checkpoint(7), (4, OTHER))[:2] == (422, "witness_proof_invalid")


def test_witness_answers_parse() -> None:
    line = W[0].cosign(CP, T)
    assert parse_cosignature_lines(line.encode()) == [line]
    for bad in (b"", b"no dash\n", line.encode().rstrip(b"\n"), b"\xff\n"):
        with pytest.raises(AnchoringError):
            parse_cosignature_lines(bad)
    assert parse_size(b"42\n") == 42
    for bad in (b"042\n", b"42", b"x\n"):
        with pytest.raises(AnchoringError):
            parse_size(bad)


# -- anchor proofs v2 under a policy, built directly (a tree in memory, cosigned notes) -----

LEAVES = [b"jwt %d" % i for i in range(11)]


def _proof(index: int, *cosigners: Cosigner) -> dict:
    hashes = [merkle.document_leaf(leaf) for leaf in LEAVES]
    subtree = merkle.memory_subtree(hashes)
    text = Checkpoint("example.com/log", len(LEAVES), merkle.root_of(hashes), ("credshare-time 1700000000",)).text()
    return build_anchor_proof(origin="example.com/log", leaf_index=index, tree_size=len(LEAVES),
                              inclusion=merkle.inclusion_proof(index, len(LEAVES), subtree),
                              checkpoint_note=cosigned(text, *cosigners))


def _statuses(verdict) -> dict[str, str]:
    return {c.name: c.status for c in verdict.checks}


def test_a_v2_proof_verifies_under_a_policy_and_names_its_witnesses() -> None:
    proof = _proof(3, W[0], W[1], DEV[0])
    assert proof["type"] == "credshare-anchor-proof/v2" and "witness_aggregate" not in proof
    verdict = verify_anchor_proof(proof, LEAVES[3], log_key=SIGNER.verifier, policy=_policy(*W, DEV[0], k=2))
    assert verdict.verified and _statuses(verdict) == {
        "proof_format": "passed", "checkpoint_signature": "passed", "inclusion": "passed", "witness_quorum": "passed"}
    assert verdict.anchored_at == 1_700_000_000
    body = verdict.to_json()
    assert [(w["name"], w["development_only"]) for w in body["witnesses"]] == [
        (W[0].name, False), (W[1].name, False), (DEV[0].name, True)]
    assert "witness_quorum" not in _statuses(verify_anchor_proof(proof, LEAVES[3], log_key=SIGNER.verifier, policy=None))


def test_a_v2_proof_under_dev_witnesses_only_is_verified_in_the_log_but_not_witnessed() -> None:
    verdict = verify_anchor_proof(_proof(0, *DEV), LEAVES[0], log_key=SIGNER.verifier, policy=_policy(*DEV, k=2))
    assert verdict.verified and _statuses(verdict)["witness_quorum"] == "unchecked"  # logged; not independently witnessed


@pytest.mark.parametrize("change, failed", [
    (lambda p: dict(p, checkpoint=SIGNER.sign(p["checkpoint"].partition("\n\n")[0] + "\n")), "witness_quorum"),
    (lambda p: dict(p, leaf_index=4), "inclusion"),
    (lambda p: dict(p, checkpoint=p["checkpoint"].replace("\n11\n", "\n12\n")), "checkpoint_signature"),
    (lambda p: dict(p, type="credshare-anchor-proof/v1", witness_aggregate=None), "proof_format"),
    (lambda p: dict(p, inclusion_proof=["AAAA"]), "proof_format"),
])
def test_a_v2_proof_fails_where_it_is_wrong(change, failed) -> None:
    verdict = verify_anchor_proof(change(_proof(3, W[0], W[1])), LEAVES[3], log_key=SIGNER.verifier,
                                  policy=_policy(*W, k=2))
    assert not verdict.verified and _statuses(verdict)[failed] == "failed", verdict.to_json()


def test_a_v1_proof_names_its_refusal() -> None:
    verdict = verify_anchor_proof(dict(_proof(3), type="credshare-anchor-proof/v1"), LEAVES[3], log_key=SIGNER.verifier,
                                  policy=None)
    assert "proof_version_unsupported" in verdict.checks[0].detail


def test_the_proven_cache_is_keyed_on_the_policy_text() -> None:
    proof = _proof(5, W[0], W[1])
    loose, strict = _policy(*W, k=2), _policy(*W, k=3)
    assert verify_anchor_proof(proof, LEAVES[5], log_key=SIGNER.verifier, policy=loose).verified  # kept
    assert not verify_anchor_proof(proof, LEAVES[5], log_key=SIGNER.verifier, policy=strict).verified  # not the kept one
    assert verify_anchor_proof(proof, LEAVES[5], log_key=SIGNER.verifier, policy=loose).verified


def test_trust_policies_for_the_verifier() -> None:
    text = _policy(*W, k=2).to_text()
    trust = trust_from_policy(text)
    assert trust.log_key == SIGNER.verifier and trust.policy is not None and trust.policy.to_text() == text
    with pytest.raises(AnchoringError):
        trust_from_policy(text, NoteSigner.from_seed("other.example/log", bytes(32)).verifier.encode())
    with pytest.raises(AnchoringError):
        trust_from_policy(_policy_text(*WLINES, "quorum w0"))  # no log
    trusted = TrustedLog.from_text(text)
    assert trusted.trusts(SIGNER.verifier.encode()) and not trusted.trusts("x")
    assert trusted.trust(SIGNER.verifier.encode()).policy == trusted.policy
    assert TrustedLog.from_key(" " + SIGNER.verifier.encode() + "\n").policy is None
    for bad, code in ((b'{"log_key": "x", "witnesses": [], "quorum": 0}', "trust_file_json_unsupported"),
                      (b"  [1]", "trust_file_json_unsupported"), (b"quorum none\n", "trust_file_invalid"),
                      (b"log nonsense\nquorum none\n", "trust_file_invalid")):
        with pytest.raises(TrustListError) as err:
            TrustedLog.from_text(bad)
        assert err.value.code == code, bad
