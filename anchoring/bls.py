"""BLS signatures on BLS12-381 for witness co-signing: the IETF BLS signature scheme
(draft-irtf-cfrg-bls-signature) with the proof-of-possession ciphersuite
``BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_`` (public keys in G1, signatures in G2).

Behind a small interface so a native backend (e.g. blst) can replace the pure-Python py-ecc
one, which is slow (sign ~0.2 s, FastAggregateVerify of 5 keys ~0.55 s here): callers
verify a checkpoint once and keep the verdict.
"""

from __future__ import annotations

import secrets
from typing import Protocol, Sequence

PUBLIC_KEY_SIZE = 48
SIGNATURE_SIZE = 96


class BLSBackend(Protocol):
    def keygen(self, ikm: bytes) -> int: ...
    def public_key(self, secret_key: int) -> bytes: ...
    def sign(self, secret_key: int, message: bytes) -> bytes: ...
    def aggregate(self, signatures: Sequence[bytes]) -> bytes: ...
    def fast_aggregate_verify(self, public_keys: Sequence[bytes], message: bytes, signature: bytes) -> bool: ...
    def prove_possession(self, secret_key: int) -> bytes: ...
    def verify_possession(self, public_key: bytes, proof: bytes) -> bool: ...


class PyEccBackend:
    """py-ecc's G2ProofOfPossession: pure Python, slow, dependable."""

    def __init__(self) -> None:
        from py_ecc.bls import G2ProofOfPossession

        self._scheme = G2ProofOfPossession

    def keygen(self, ikm: bytes) -> int:
        return self._scheme.KeyGen(ikm)

    def public_key(self, secret_key: int) -> bytes:
        return self._scheme.SkToPk(secret_key)

    def sign(self, secret_key: int, message: bytes) -> bytes:
        return self._scheme.Sign(secret_key, message)

    def aggregate(self, signatures: Sequence[bytes]) -> bytes:
        return self._scheme.Aggregate(list(signatures))

    def fast_aggregate_verify(self, public_keys: Sequence[bytes], message: bytes, signature: bytes) -> bool:
        try:
            return bool(self._scheme.FastAggregateVerify(list(public_keys), message, signature))
        except Exception:  # py-ecc raises assorted errors on malformed points: a failed check
            return False

    def prove_possession(self, secret_key: int) -> bytes:
        return self._scheme.PopProve(secret_key)

    def verify_possession(self, public_key: bytes, proof: bytes) -> bool:
        try:
            return bool(self._scheme.KeyValidate(public_key) and self._scheme.PopVerify(public_key, proof))
        except Exception:
            return False


_BACKEND: BLSBackend | None = None


def backend() -> BLSBackend:
    global _BACKEND
    if _BACKEND is None:
        _BACKEND = PyEccBackend()
    return _BACKEND


def new_secret_key() -> int:
    return backend().keygen(secrets.token_bytes(32))
