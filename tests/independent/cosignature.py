"""Reference Ed25519 cosignatures (cosignature/v1), from c2sp.org/tlog-cosignature."""

from __future__ import annotations

import nacl.exceptions
import nacl.signing

from tests.independent.note import COSIGNATURE_V1, EM_DASH, ReferenceError, Vkey, b64encode, key_id, parse_note


def message(checkpoint_text: str, timestamp: int) -> bytes:
    """cosignature/v1\\n, time <timestamp>\\n, then the whole checkpoint note body."""
    return f"cosignature/v1\ntime {timestamp}\n".encode("ascii") + checkpoint_text.encode("utf-8")


def cosign(checkpoint_text: str, name: str, seed: bytes, timestamp: int) -> str:
    """The signature line of a cosignature/v1 by the key of ``seed`` named ``name``."""
    key = nacl.signing.SigningKey(seed)
    kid = key_id(name, COSIGNATURE_V1, bytes(key.verify_key))
    signature = key.sign(message(checkpoint_text, timestamp)).signature
    blob = kid.to_bytes(4, "big") + timestamp.to_bytes(8, "big") + signature
    return f"{EM_DASH} {name} {b64encode(blob)}\n"


def split_timestamped(signature: bytes) -> tuple[int, bytes]:
    """timestamped_signature: u64 big-endian timestamp, then the 64-byte Ed25519 signature."""
    if len(signature) != 8 + 64:
        raise ReferenceError("a timestamped Ed25519 signature is 72 bytes")
    timestamp = int.from_bytes(signature[:8], "big")
    if timestamp > 2**63 - 1:
        raise ReferenceError("the timestamp exceeds 2^63 - 1")
    return timestamp, signature[8:]


def verify_cosignatures(note: str, witnesses: list[Vkey]) -> dict[Vkey, int]:
    """{witness vkey: timestamp} of the cosignatures by ``witnesses`` (type 0x04 vkeys) that
    verify; lines by other keys are ignored; a known key's line that fails is refused."""
    text, lines = parse_note(note)
    found: dict[Vkey, int] = {}
    for line in lines:
        for vkey in witnesses:
            if vkey.sig_type != COSIGNATURE_V1 or (vkey.name, vkey.key_id) != (line.name, line.key_id):
                continue
            timestamp, signature = split_timestamped(line.signature)
            try:
                nacl.signing.VerifyKey(vkey.public_key).verify(message(text, timestamp), signature)
            except (nacl.exceptions.BadSignatureError, ValueError):
                raise ReferenceError(f"the cosignature by {vkey.name} does not verify") from None
            found[vkey] = max(timestamp, found.get(vkey, 0))
    return found
