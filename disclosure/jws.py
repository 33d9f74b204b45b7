"""Compact JWS (RFC 7515) signing and verification with an algorithm allowlist bound to each key.

jwcrypto handles JWK parsing and generation (RFC 7517) and thumbprints (RFC 7638); the signature
hot path calls OpenSSL (via ``cryptography``) for ECDSA and libsodium (PyNaCl) for Ed25519
directly, several times faster than a full JOSE round trip.

Allowed: ES256 (P-256), ES384 (P-384), ES512 (P-521), EdDSA / Ed25519 (RFC 8037, RFC 9864).
Refused: ``none``, every HMAC algorithm, RSA, and any algorithm that does not fit the key.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

import nacl.exceptions
import nacl.signing
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto.common import JWException

from credshare.disclosure.encoding import b64url_decode, json_dumps, json_loads
from credshare.disclosure.errors import SDJWTError
from credshare.foundation.b64 import b64url_encode
from credshare.foundation.cache import BoundedCache

# alg -> (kty, crv, hash, signature bytes per coordinate)
_EC_ALGS = {
    "ES256": ("P-256", hashes.SHA256, 32),
    "ES384": ("P-384", hashes.SHA384, 48),
    "ES512": ("P-521", hashes.SHA512, 66),
}
_EDDSA_ALGS = ("EdDSA", "Ed25519")
_CURVES = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
_ECDSA = {alg: ec.ECDSA(spec[1]()) for alg, spec in _EC_ALGS.items()}
ALLOWED_ALGS = frozenset(_EC_ALGS) | frozenset(_EDDSA_ALGS)
# the one length a signature of each algorithm has (RFC 8032 §5.1.6, RFC 7518 §3.4)
_SIGNATURE_BYTES = {**{alg: 2 * spec[2] for alg, spec in _EC_ALGS.items()}, **{alg: 64 for alg in _EDDSA_ALGS}}
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
VERIFIED_SIGNATURES = 8192  # signatures found valid, kept (32-byte keys) so the same bytes are not verified again
_verified: BoundedCache[bool] = BoundedCache(VERIFIED_SIGNATURES)


@functools.lru_cache(maxsize=4096)
def _parse_public_jwk(canonical: str) -> PublicKey:
    return PublicKey._parse(json.loads(canonical))


def _algs_for(jwk: Mapping[str, Any]) -> frozenset[str]:
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "EC":
        return frozenset(alg for alg, spec in _EC_ALGS.items() if spec[0] == crv)
    if kty == "OKP" and crv == "Ed25519":
        return frozenset(_EDDSA_ALGS)
    return frozenset()


@dataclass(frozen=True)
class PublicKey:
    """A verification key and the algorithms it may verify (fixed by its type and curve, and
    narrowed by the JWK's own ``alg`` member when present)."""

    jwk: dict[str, Any]
    algs: frozenset[str]
    _impl: Any = field(repr=False, compare=False)
    _ident: bytes = field(default=b"", repr=False, compare=False)  # SHA-256 of the canonical JWK

    @property
    def kid(self) -> str | None:
        return self.jwk.get("kid")

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> PublicKey:
        """Parse a public JWK. Parsed keys are cached by content (bounded LRU): a holder's key
        comes back with every presentation, and parsing plus first use costs ~25 µs."""
        if not isinstance(jwk, Mapping):
            raise SDJWTError("a JWK must be a JSON object", code="key_invalid")
        try:
            canonical = json.dumps(jwk, sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise SDJWTError("a JWK must be JSON", code="key_invalid") from exc
        return _parse_public_jwk(canonical)

    @classmethod
    def _parse(cls, jwk: dict[str, Any]) -> PublicKey:
        if _PRIVATE_MEMBERS & set(jwk):
            raise SDJWTError("private key material where a public key was expected", code="key_invalid")
        algs = _algs_for(jwk)
        if "alg" in jwk:
            algs = algs & {jwk["alg"]}
        if not algs:
            raise SDJWTError("key type/curve not supported (EC P-256/384/521 or OKP Ed25519)", code="key_invalid")
        try:
            if jwk["kty"] == "OKP":
                impl: Any = nacl.signing.VerifyKey(b64url_decode(jwk["x"], "key_invalid"))
            else:
                curve = _CURVES[jwk["crv"]]
                size = (curve.key_size + 7) // 8
                x, y = (b64url_decode(jwk[c], "key_invalid") for c in ("x", "y"))
                if len(x) != size or len(y) != size:
                    raise ValueError("coordinate length does not fit the curve")
                # from_encoded_point checks that the point lies on the curve
                impl = ec.EllipticCurvePublicKey.from_encoded_point(curve, b"\x04" + x + y)
        except (SDJWTError, ValueError, TypeError, KeyError, nacl.exceptions.CryptoError) as exc:
            raise SDJWTError(f"unusable JWK: {type(exc).__name__}", code="key_invalid") from exc
        ident = hashlib.sha256(json.dumps(jwk, sort_keys=True, separators=(",", ":")).encode()).digest()
        return cls(dict(jwk), frozenset(algs), impl, ident)

    def verify(self, alg: str, signing_input: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is a valid ``alg`` signature of ``signing_input`` by this key.
        Never raises on what a sender controls: a signature of the wrong length for ``alg``
        (Ed25519: 64 bytes, RFC 8032 §5.1.6; ECDSA: R || S, RFC 7518 §3.4) simply does not
        verify, so each caller reports it with its own code (``signature_invalid``, ...)."""
        if alg not in self.algs or len(signature) != _SIGNATURE_BYTES[alg]:
            return False
        if not self._ident:  # a key not made by _parse: nothing to name it by
            return self._verify(alg, signing_input, signature)
        # a signature is valid or not for good: one found valid is kept, by the SHA-256 of the
        # key, the algorithm, the signed bytes and the signature (a failure is checked each time)
        kept = hashlib.sha256(b"%s|%s|%s|%s" % (self._ident, alg.encode(), hashlib.sha256(signing_input).digest(),
                                                signature)).digest()
        if _verified.get(kept):
            return True
        if self._verify(alg, signing_input, signature):
            _verified.put(kept, True)
            return True
        return False

    def _verify(self, alg: str, signing_input: bytes, signature: bytes) -> bool:
        if alg in _EDDSA_ALGS:
            try:
                self._impl.verify(signing_input, signature)
                return True
            except nacl.exceptions.CryptoError:  # a bad signature, or one libsodium refuses to parse
                return False
        size = _EC_ALGS[alg][2]
        der = encode_dss_signature(int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big"))
        try:
            self._impl.verify(der, signing_input, _ECDSA[alg])
            return True
        except InvalidSignature:
            return False

    def thumbprint(self) -> str:
        """RFC 7638 JWK thumbprint (SHA-256)."""
        return jwcrypto_jwk.JWK(**self.jwk).thumbprint()


@dataclass(frozen=True)
class Signer:
    """A private signing key with its algorithm and ``kid``."""

    alg: str
    kid: str | None
    private_jwk: dict[str, Any] = field(repr=False)
    _impl: Any = field(repr=False, compare=False)

    @classmethod
    def generate(cls, alg: str = "EdDSA", kid: str | None = None) -> Signer:
        if alg in _EDDSA_ALGS:
            key = jwcrypto_jwk.JWK.generate(kty="OKP", crv="Ed25519")
        elif alg in _EC_ALGS:
            key = jwcrypto_jwk.JWK.generate(kty="EC", crv=_EC_ALGS[alg][0])
        else:
            raise SDJWTError(f"cannot sign with {alg!r}", code="alg_not_allowed")
        private = json.loads(key.export_private())
        if kid is None:
            kid = key.thumbprint()
        return cls.from_jwk({**private, "kid": kid}, alg)

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any], alg: str | None = None) -> Signer:
        if not isinstance(jwk, Mapping) or "d" not in jwk:
            raise SDJWTError("a signing key must be a private JWK", code="key_invalid")
        algs = _algs_for(jwk)
        alg = alg or jwk.get("alg") or ("EdDSA" if "EdDSA" in algs else next(iter(algs), None))
        if alg not in algs or ("alg" in jwk and jwk["alg"] != alg):
            raise SDJWTError(f"algorithm {alg!r} does not fit this key", code="alg_not_allowed")
        try:
            if jwk["kty"] == "OKP":
                impl: Any = nacl.signing.SigningKey(b64url_decode(jwk["d"], "key_invalid"))
            else:
                impl = jwcrypto_jwk.JWK(**dict(jwk)).get_op_key("sign")
        except (JWException, ValueError, TypeError, KeyError, nacl.exceptions.CryptoError) as exc:
            raise SDJWTError(f"unusable private JWK: {type(exc).__name__}", code="key_invalid") from exc
        return cls(alg, jwk.get("kid"), dict(jwk), impl)

    @property
    def public_jwk(self) -> dict[str, Any]:
        return {k: v for k, v in self.private_jwk.items() if k not in _PRIVATE_MEMBERS}

    def sign(self, signing_input: bytes) -> bytes:
        if self.alg in _EDDSA_ALGS:
            signed: nacl.signing.SignedMessage = self._impl.sign(signing_input)
            return signed.signature
        size = _EC_ALGS[self.alg][2]
        r, s = decode_dss_signature(self._impl.sign(signing_input, _ECDSA[self.alg]))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")


@dataclass(frozen=True)
class CompactJWS:
    """A parsed, not yet verified, compact JWS."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes
    text: str

    @property
    def alg(self) -> str:
        alg = self.header.get("alg", "")  # parse_parts admits only the allowed (string) algorithms
        return alg if isinstance(alg, str) else ""

    def verify_with(self, keys: list[PublicKey]) -> bool:
        return any(key.verify(self.alg, self.signing_input, self.signature) for key in keys)


def sign_compact(header: Mapping[str, Any], payload: Mapping[str, Any], signer: Signer) -> str:
    full_header = {**header, "alg": signer.alg}
    if signer.kid is not None and "kid" not in full_header:
        full_header["kid"] = signer.kid
    signing_input = (b64url_encode(json_dumps(full_header)) + "." + b64url_encode(json_dumps(payload))).encode("ascii")
    return signing_input.decode("ascii") + "." + b64url_encode(signer.sign(signing_input))


def parse_compact(token: str) -> CompactJWS:
    """Split and decode a compact JWS; check the algorithm is allowed. Does not verify."""
    if not isinstance(token, str):
        raise SDJWTError("a JWS must be a string", code="jws_malformed")
    parts = token.split(".")
    if len(parts) != 3:
        raise SDJWTError("a compact JWS has three parts", code="jws_malformed")
    return parse_parts(parts[0], parts[1], parts[2])


def parse_parts(protected: str, payload: str, signature: str) -> CompactJWS:
    header = json_loads(b64url_decode(protected))
    body = json_loads(b64url_decode(payload))
    if not isinstance(header, dict) or not isinstance(body, dict):
        raise SDJWTError("JWS header and payload must be JSON objects", code="jws_malformed")
    alg = header.get("alg")
    if alg not in ALLOWED_ALGS:
        raise SDJWTError(f"algorithm {alg!r} is not allowed", code="alg_not_allowed")
    if "crit" in header:
        raise SDJWTError("no critical header extensions are understood", code="jws_malformed")
    signing_input = f"{protected}.{payload}".encode("ascii")
    return CompactJWS(header, body, signing_input, b64url_decode(signature), f"{protected}.{payload}.{signature}")


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
