"""Witness cosignatures on checkpoints: C2SP tlog-cosignature, the Ed25519 ``cosignature/v1``
type (c2sp.org/tlog-cosignature).

A cosignature is a signed-note signature line ``— <witness name> base64(key ID || timestamp ||
signature)`` added to the checkpoint's note. The key ID is SHA-256(name || 0x0A || 0x04 ||
public key)[:4]; the timestamp is 8 bytes, big-endian POSIX seconds; the Ed25519 signature is
over ``"cosignature/v1\\n" || "time <timestamp>\\n" || <the checkpoint's note text>``. By it the
witness states that, at that time, the largest consistent tree it had seen for the origin has
that root. Witness keys are vkeys of signature type 0x04 (:class:`~anchoring.note.NoteVerifier`
with ``alg=COSIGNATURE_V1_ALG``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence

import nacl.exceptions
import nacl.signing

from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.note import COSIGNATURE_V1_ALG, SIGNATURE_PREFIX, NoteVerifier, check_key_name, check_text, split_note
from credshare.foundation.b64 import b64_encode

HEADER = "cosignature/v1\n"
MAX_TIMESTAMP = 2**63 - 1
VERIFIED_COSIGNATURES = 8192  # (note text, key, signature) verdicts kept; failures too, they never change
DEVELOPMENT_MARK = "/dev-witness/"  # in the name of a log's own local witness: <origin>/dev-witness/<n>


def is_development_witness(name: str) -> bool:
    """Whether ``name`` (a witness key name or a policy's name for it) is one of a log's own
    local development witnesses (``<origin>/dev-witness/<n>``): keys kept in the log's data
    directory, so the operator cosigns itself. They never count as independent witnesses."""
    return DEVELOPMENT_MARK in name


def signed_message(checkpoint_text: str, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: the header line, the time line, the checkpoint's note text."""
    if not 0 < timestamp <= MAX_TIMESTAMP:
        raise AnchoringError("a cosignature's timestamp is a positive 63-bit number", code="witness_malformed")
    return (HEADER + f"time {timestamp}\n" + check_text(checkpoint_text)).encode("utf-8")


@dataclass(frozen=True)
class Cosigner:
    """A witness's signing key, named as its key name (a schema-less URL, e.g. ``witness.example.org/w1``)."""

    name: str
    signing_key: nacl.signing.SigningKey

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Cosigner:
        return cls(check_key_name(name), nacl.signing.SigningKey(seed))

    @functools.cached_property
    def key(self) -> NoteVerifier:
        return NoteVerifier(self.name, bytes(self.signing_key.verify_key), COSIGNATURE_V1_ALG)

    def cosign(self, checkpoint_text: str, timestamp: int) -> str:
        """The signature line (with its newline) of this witness's cosignature at ``timestamp``."""
        signature = self.signing_key.sign(signed_message(checkpoint_text, timestamp)).signature
        blob = self.key.key_id + timestamp.to_bytes(8, "big") + signature
        return f"{SIGNATURE_PREFIX}{self.name} {b64_encode(blob)}\n"


@dataclass(frozen=True)
class Cosignature:
    """A cosignature that verified: by whom, and when the witness says it made it."""

    witness: NoteVerifier
    timestamp: int


@functools.lru_cache(maxsize=VERIFIED_COSIGNATURES)
def _verifies(text: str, key: NoteVerifier, timestamp: int, signature: bytes) -> bool:
    try:
        nacl.signing.VerifyKey(key.public_key).verify(signed_message(text, timestamp), signature)
        return True
    except (nacl.exceptions.BadSignatureError, AnchoringError):
        return False


def cosignatures(note: str, witnesses: Sequence[NoteVerifier]) -> list[Cosignature]:
    """The valid cosignatures in ``note`` by ``witnesses`` (type 0x04 keys), one per witness.
    Lines by other keys are ignored, as signed-note says; a line that names a given witness
    and its key ID but does not verify makes the note malformed, and is refused with
    ``witness_signature_invalid`` (it is never just left out of the count)."""
    text, lines = split_note(note)
    by_id = {(w.name, w.key_id): w for w in witnesses if w.alg == COSIGNATURE_V1_ALG}
    found: dict[NoteVerifier, Cosignature] = {}
    for name, kid, blob in lines:
        key = by_id.get((name, kid))
        if key is None:
            continue
        timestamp = int.from_bytes(blob[:8], "big")
        if len(blob) != 8 + 64 or not 0 < timestamp <= MAX_TIMESTAMP or not _verifies(text, key, timestamp, blob[8:]):
            raise AnchoringError(f"the cosignature by {name} does not verify", code="witness_signature_invalid")
        if key not in found or timestamp > found[key].timestamp:
            found[key] = Cosignature(key, timestamp)
    return list(found.values())


def with_signature_lines(note: str, lines: Sequence[str]) -> str:
    """``note`` with signature ``lines`` added (each ``— <name> <base64>\\n``), skipping any
    it already holds: how a log attaches the cosignatures its witnesses answered."""
    text, _ = split_note(note)
    held = note.partition("\n\n")[2].splitlines(keepends=True)
    added = []
    for line in lines:
        split_note(f"{text}\n{line}")  # one well-formed signature line, or note_malformed
        if line not in held and line not in added:
            added.append(line)
    return note + "".join(added)
