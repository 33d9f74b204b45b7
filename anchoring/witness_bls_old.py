"""Witness co-signatures on checkpoints, aggregated with BLS (see :mod:`anchoring.bls`).

Each witness signs ``COSIGNATURE_CONTEXT || checkpoint text`` (the note text, signatures
excluded). The cosignatures of those who signed are aggregated into one 96-byte signature
plus a bitmap over the witness set's order. A verifier's policy names the witness set (public
keys with proofs of possession, which stop rogue-key attacks on aggregation) and a quorum.
Verdicts are cached by (checkpoint hash, signers, signature): py-ecc pairings are slow.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from credshare.anchoring import bls
from credshare.anchoring.errors import AnchoringError
from credshare.foundation.b64 import b64_decode, b64_encode
from credshare.foundation.cache import BoundedCache

COSIGNATURE_CONTEXT = b"credshare/witness-cosignature/v1\n"
_VERDICT_CACHE_SIZE = 4096


def cosignature_message(checkpoint_text: str) -> bytes:
    return COSIGNATURE_CONTEXT + checkpoint_text.encode("utf-8")


def canonical_b64decode(text: Any, size: int, what: str, code: str = "witness_malformed") -> bytes:
    """Exactly ``size`` bytes in standard, padded base64 (RFC 4648 §4), accepted in its one
    canonical spelling only: no other alphabet, no whitespace, and zero unused bits in the
    last character (RFC 4648 §3.5), so ``Bx==`` is not another way to write ``Bw==``."""
    try:
        raw = b64_decode(text)
    except ValueError:
        raw = None
    if raw is None or len(raw) != size:
        raise AnchoringError(f"{what} must be {size} bytes of canonical standard base64", code=code)
    return raw


@dataclass(frozen=True)
class WitnessKey:
    name: str
    public_key: bytes
    proof_of_possession: bytes

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "public_key": b64_encode(self.public_key),
                "proof_of_possession": b64_encode(self.proof_of_possession)}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> WitnessKey:
        if not isinstance(obj, Mapping) or not isinstance(obj.get("name"), str) or not obj["name"]:
            raise AnchoringError("a witness key has a name", code="witness_malformed")
        return cls(obj["name"], canonical_b64decode(obj.get("public_key"), bls.PUBLIC_KEY_SIZE, "public_key"),
                   canonical_b64decode(obj.get("proof_of_possession"), bls.SIGNATURE_SIZE, "proof_of_possession"))


@dataclass(frozen=True)
class WitnessSigner:
    name: str
    secret_key: int = field(repr=False)
    known_key: WitnessKey | None = field(default=None, repr=False, compare=False)

    @classmethod
    def generate(cls, name: str) -> WitnessSigner:
        return cls(name, bls.new_secret_key())

    @functools.cached_property
    def key(self) -> WitnessKey:
        """The public key with its proof of possession (computed once: ~0.2 s with py-ecc)."""
        if self.known_key is not None:
            return self.known_key
        backend = bls.backend()
        return WitnessKey(self.name, backend.public_key(self.secret_key), backend.prove_possession(self.secret_key))

    def cosign(self, checkpoint_text: str) -> bytes:
        return bls.backend().sign(self.secret_key, cosignature_message(checkpoint_text))


@dataclass(frozen=True)
class WitnessAggregate:
    signers: tuple[bool, ...]  # one flag per key of the witness set, in its order
    signature: bytes

    @property
    def count(self) -> int:
        return sum(self.signers)

    def to_json(self) -> dict[str, Any]:
        bits = bytearray((len(self.signers) + 7) // 8)
        for i, signed in enumerate(self.signers):
            if signed:
                bits[i // 8] |= 1 << (i % 8)
        return {"witnesses": len(self.signers), "bitmap": b64_encode(bytes(bits)), "signature": b64_encode(self.signature)}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> WitnessAggregate:
        """The inverse of :meth:`to_json`, and only of it: one JSON form per aggregate. The
        bitmap is exactly ``ceil(witnesses / 8)`` bytes with every bit past the last witness
        zero, in canonical base64 (a set unused bit would be a second spelling that verifies)."""
        count = obj.get("witnesses") if isinstance(obj, Mapping) else None
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise AnchoringError("an aggregate names the witness count", code="witness_malformed")
        bits = canonical_b64decode(obj.get("bitmap"), (count + 7) // 8, "bitmap")
        if count % 8 and bits[-1] >> (count % 8):
            raise AnchoringError(f"the bitmap sets bits past its {count} witnesses", code="witness_malformed")
        return cls(tuple(bool(bits[i // 8] >> (i % 8) & 1) for i in range(count)),
                   canonical_b64decode(obj.get("signature"), bls.SIGNATURE_SIZE, "signature"))


def aggregate(witnesses: Sequence[WitnessKey], cosignatures: Mapping[str, bytes]) -> WitnessAggregate:
    """Aggregate the cosignatures (by witness name) of members of ``witnesses``."""
    names = [w.name for w in witnesses]
    unknown = set(cosignatures) - set(names)
    if unknown:
        raise AnchoringError(f"not in the witness set: {sorted(unknown)}", code="witness_unknown")
    if not cosignatures:
        raise AnchoringError("no cosignatures to aggregate", code="witness_quorum_not_met")
    signers = tuple(name in cosignatures for name in names)
    return WitnessAggregate(signers, bls.backend().aggregate([cosignatures[n] for n in names if n in cosignatures]))


# BLS verdicts are deterministic in their inputs, so failures are kept too
_aggregate_verdicts: BoundedCache[bool] = BoundedCache(_VERDICT_CACHE_SIZE)
_possession_verdicts: BoundedCache[bool] = BoundedCache(_VERDICT_CACHE_SIZE)


def check_witness_set(witnesses: Sequence[WitnessKey]) -> None:
    """Every key must prove possession of its secret key; names must be unique."""
    if len({w.name for w in witnesses}) != len(witnesses):
        raise AnchoringError("witness names must be unique", code="witness_malformed")
    for w in witnesses:
        key = hashlib.sha256(w.public_key + w.proof_of_possession).digest()
        verdict = _possession_verdicts.get(key)
        if verdict is None:
            verdict = bls.backend().verify_possession(w.public_key, w.proof_of_possession)
            _possession_verdicts.put(key, verdict)
        if not verdict:
            raise AnchoringError(f"{w.name}: invalid key or proof of possession", code="witness_key_invalid")


def verify_aggregate(checkpoint_text: str, agg: WitnessAggregate, witnesses: Sequence[WitnessKey], quorum: int) -> list[str]:
    """Names of the witnesses whose aggregate cosignature verifies; raises unless at least
    ``quorum`` of ``witnesses`` signed."""
    if quorum < 1 or quorum > len(witnesses):
        raise AnchoringError(f"quorum {quorum} of {len(witnesses)} witnesses", code="witness_policy_invalid")
    if len(agg.signers) != len(witnesses):
        raise AnchoringError("the aggregate was made over a different witness set", code="witness_set_mismatch")
    check_witness_set(witnesses)
    if agg.count < quorum:
        raise AnchoringError(f"{agg.count} of {len(witnesses)} signed; {quorum} required", code="witness_quorum_not_met")
    keys = [w.public_key for w, signed in zip(witnesses, agg.signers, strict=True) if signed]
    message = cosignature_message(checkpoint_text)
    cache_key = hashlib.sha256(hashlib.sha256(message).digest() + b"".join(keys) + agg.signature).digest()
    verdict = _aggregate_verdicts.get(cache_key)
    if verdict is None:
        verdict = bls.backend().fast_aggregate_verify(keys, message, agg.signature)
        _aggregate_verdicts.put(cache_key, verdict)
    if not verdict:
        raise AnchoringError("the aggregate cosignature does not verify", code="witness_signature_invalid")
    return [w.name for w, signed in zip(witnesses, agg.signers, strict=True) if signed]
