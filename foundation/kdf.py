"""Key derivation: HKDF-SHA256 (RFC 5869), the one way credshare turns a secret into a key.

Every use names its purpose (``"seal/wallet-offers/v1"``, ``"csrf"``, ``"token/share"``...),
which goes into HKDF's ``info``, so no two uses ever share a key. The input is high-entropy
key material: the data directory's secret, a random token, or another key. Passwords and
passcodes are stretched with Argon2id instead (:mod:`credshare.holding.vault`).
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
_SALT = b"credshare/hkdf/v1"  # RFC 5869 §3.1: a fixed, non-secret salt is fine for high-entropy input


def derive_key(material: bytes | str, purpose: str, length: int = KEY_BYTES) -> bytes:
    """A ``length``-byte key for ``purpose`` from ``material`` (text is taken as UTF-8)."""
    if not purpose:
        raise ValueError("a derived key needs a purpose")
    raw = material.encode("utf-8") if isinstance(material, str) else bytes(material)
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=_SALT, info=purpose.encode("utf-8")).derive(raw)
