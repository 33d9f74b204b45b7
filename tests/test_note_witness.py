"""C2SP signed notes and checkpoints; BLS witness aggregates with quorum."""

from __future__ import annotations

import base64
import os

import pytest

from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.note import Checkpoint, NoteSigner, NoteVerifier, open_checkpoint, split_note, verify_note
from credshare.anchoring.witness import WitnessAggregate, WitnessKey, WitnessSigner, aggregate, verify_aggregate

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


@pytest.fixture(scope="module")
def witnesses() -> list[WitnessSigner]:
    return [WitnessSigner.generate(f"witness-{i}") for i in range(3)]


def test_quorum_of_aggregated_cosignatures(witnesses) -> None:
    keys = [w.key for w in witnesses]
    text = Checkpoint("example.com/log", 7, ROOT).text()
    agg = aggregate(keys, {w.name: w.cosign(text) for w in witnesses[:2]})
    assert agg.signers == (True, True, False)
    assert WitnessAggregate.from_json(agg.to_json()) == agg
    assert verify_aggregate(text, agg, keys, quorum=2) == ["witness-0", "witness-1"]
    with pytest.raises(AnchoringError) as err:
        verify_aggregate(text, agg, keys, quorum=3)
    assert err.value.code == "witness_quorum_not_met"
    other_text = Checkpoint("example.com/log", 8, ROOT).text()
    with pytest.raises(AnchoringError) as err:
        verify_aggregate(other_text, agg, keys, quorum=2)
    assert err.value.code == "witness_signature_invalid"
    lying = WitnessAggregate((True, False, True), agg.signature)  # claims the wrong signers
    with pytest.raises(AnchoringError) as err:
        verify_aggregate(text, lying, keys, quorum=2)
    assert err.value.code == "witness_signature_invalid"


def test_key_without_valid_proof_of_possession_is_refused(witnesses) -> None:
    keys = [w.key for w in witnesses]
    rogue = WitnessKey("witness-1", keys[1].public_key, keys[0].proof_of_possession)
    text = Checkpoint("example.com/log", 9, ROOT).text()
    agg = aggregate(keys, {w.name: w.cosign(text) for w in witnesses})
    with pytest.raises(AnchoringError) as err:
        verify_aggregate(text, agg, [keys[0], rogue, keys[2]], quorum=2)
    assert err.value.code == "witness_key_invalid"


def test_witness_key_json_round_trip(witnesses) -> None:
    key = witnesses[0].key
    assert WitnessKey.from_json(key.to_json()) == key
    with pytest.raises(AnchoringError):
        WitnessKey.from_json({"name": "x", "public_key": "AAAA", "proof_of_possession": "AAAA"})


@pytest.mark.slow
def test_bls_backends_agree_byte_for_byte() -> None:
    from credshare.anchoring.bls import BlspyBackend, PyEccBackend

    slow, fast = PyEccBackend(), BlspyBackend()
    sk = slow.keygen(bytes(range(32)))
    message = b"credshare/witness-cosignature/v1\norigin\n1\nAAAA\n"
    assert slow.public_key(sk) == fast.public_key(sk)
    assert slow.sign(sk, message) == fast.sign(sk, message)
    assert slow.prove_possession(sk) == fast.prove_possession(sk)
    other = slow.keygen(bytes(range(1, 33)))
    agg = fast.aggregate([fast.sign(sk, message), fast.sign(other, message)])
    assert agg == slow.aggregate([slow.sign(sk, message), slow.sign(other, message)])
    keys = [fast.public_key(sk), fast.public_key(other)]
    for backend in (slow, fast):
        assert backend.fast_aggregate_verify(keys, message, agg)
        assert not backend.fast_aggregate_verify(keys, message + b"x", agg)
        assert not backend.fast_aggregate_verify(keys[:1], message, agg)
        assert backend.verify_possession(keys[0], fast.prove_possession(sk))
        assert not backend.verify_possession(keys[1], fast.prove_possession(sk))
        identity = bytes([0xC0]) + bytes(47)
        assert not backend.verify_possession(identity, fast.prove_possession(sk))
        assert not backend.fast_aggregate_verify([b"\x00" * 48], message, agg)
