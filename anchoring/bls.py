"""BLS signatures on BLS12-381 for witness co-signing: the IETF BLS signature scheme
(draft-irtf-cfrg-bls-signature) with the proof-of-possession ciphersuite
``BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_`` (public keys in G1, signatures in G2).

Behind a small interface with two backends giving identical bytes: blspy (native, ~0.5 ms
a signature) when installed, and pure-Python py-ecc (sign ~0.2 s, FastAggregateVerify of 5
keys ~0.55 s here). Callers verify a checkpoint once and keep the verdict either way.
"""

from __future__ import annotations

import os
import secrets
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence, cast

from credshare.foundation.runtime import keep_recursion_limit

if TYPE_CHECKING:
    from eth_typing import BLSPubkey, BLSSignature  # py-ecc's names for the byte encodings

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
        with keep_recursion_limit():  # py_ecc raises it to 100,000 on import
            from py_ecc.bls.ciphersuites import G2ProofOfPossession

        self._scheme = G2ProofOfPossession

    def keygen(self, ikm: bytes) -> int:
        return self._scheme.KeyGen(ikm)

    def public_key(self, secret_key: int) -> bytes:
        return self._scheme.SkToPk(secret_key)

    def sign(self, secret_key: int, message: bytes) -> bytes:
        return self._scheme.Sign(secret_key, message)

    def aggregate(self, signatures: Sequence[bytes]) -> bytes:
        return self._scheme.Aggregate(cast("list[BLSSignature]", list(signatures)))

    def fast_aggregate_verify(self, public_keys: Sequence[bytes], message: bytes, signature: bytes) -> bool:
        try:
            keys = cast("list[BLSPubkey]", list(public_keys))
            return bool(self._scheme.FastAggregateVerify(keys, message, cast("BLSSignature", signature)))
        except Exception:  # py-ecc raises assorted errors on malformed points: a failed check
            return False

    def prove_possession(self, secret_key: int) -> bytes:
        return self._scheme.PopProve(secret_key)

    def verify_possession(self, public_key: bytes, proof: bytes) -> bool:
        try:
            key = cast("BLSPubkey", public_key)
            return bool(self._scheme.KeyValidate(key) and self._scheme.PopVerify(key, cast("BLSSignature", proof)))
        except Exception:
            return False


class BlspyBackend:
    """blspy (Chia's C++ BLS, PopSchemeMPL): the same ciphersuite, ~300x faster. Keys and
    signatures are byte-for-byte those of py-ecc; key generation stays with py-ecc's KeyGen."""

    def __init__(self) -> None:
        import blspy

        self._b = blspy
        self._keygen = PyEccBackend().keygen

    def _sk(self, secret_key: int) -> Any:  # a blspy.PrivateKey (blspy ships no types)
        return self._b.PrivateKey.from_bytes(secret_key.to_bytes(32, "big"))

    def keygen(self, ikm: bytes) -> int:
        return self._keygen(ikm)

    def public_key(self, secret_key: int) -> bytes:
        return bytes(self._sk(secret_key).get_g1())

    def sign(self, secret_key: int, message: bytes) -> bytes:
        return bytes(self._b.PopSchemeMPL.sign(self._sk(secret_key), message))

    def aggregate(self, signatures: Sequence[bytes]) -> bytes:
        return bytes(self._b.PopSchemeMPL.aggregate([self._b.G2Element.from_bytes(s) for s in signatures]))

    def _g1(self, public_key: bytes) -> Any:  # a blspy.G1Element
        point = self._b.G1Element.from_bytes(public_key)  # checks the encoding, curve and subgroup
        if point == self._b.G1Element():
            raise ValueError("the identity is not a public key")  # KeyValidate
        return point

    def fast_aggregate_verify(self, public_keys: Sequence[bytes], message: bytes, signature: bytes) -> bool:
        try:
            keys = [self._g1(k) for k in public_keys]
            return bool(self._b.PopSchemeMPL.fast_aggregate_verify(keys, message, self._b.G2Element.from_bytes(signature)))
        except Exception:  # malformed points: a failed check
            return False

    def prove_possession(self, secret_key: int) -> bytes:
        return bytes(self._b.PopSchemeMPL.pop_prove(self._sk(secret_key)))

    def verify_possession(self, public_key: bytes, proof: bytes) -> bool:
        try:
            return bool(self._b.PopSchemeMPL.pop_verify(self._g1(public_key), self._b.G2Element.from_bytes(proof)))
        except Exception:
            return False


BACKENDS: dict[str, Callable[[], BLSBackend]] = {"py-ecc": PyEccBackend, "blspy": BlspyBackend}
_BACKEND: BLSBackend | None = None


def backend() -> BLSBackend:
    """The BLS backend: ``CREDSHARE_BLS_BACKEND`` (``py-ecc`` or ``blspy``), by default blspy
    when it is installed, else py-ecc."""
    global _BACKEND
    if _BACKEND is None:
        choice = os.environ.get("CREDSHARE_BLS_BACKEND", "")
        if choice:
            if choice not in BACKENDS:
                raise ValueError(f"CREDSHARE_BLS_BACKEND is one of {', '.join(BACKENDS)}")
            _BACKEND = BACKENDS[choice]()
        else:
            try:
                _BACKEND = BlspyBackend()
            except ImportError:
                _BACKEND = PyEccBackend()
    return _BACKEND


def new_secret_key() -> int:
    return backend().keygen(secrets.token_bytes(32))
