"""Sealing data at rest under the data directory's secret.

Each purpose gets its own key, derived from ``CREDSHARE_SECRET_KEY`` (:func:`credshare.foundation.kdf.derive_key`,
purpose ``seal/<purpose>``), so one purpose's ciphertext can never be opened as another's.
Sealed values are XSalsa20-Poly1305 (NaCl SecretBox) with a random nonce, as base64 text.
"""

from __future__ import annotations

import nacl.exceptions
import nacl.secret

from credshare.foundation.b64 import b64_decode, b64_encode
from credshare.foundation.errors import CredshareError
from credshare.foundation.kdf import derive_key


class SealError(CredshareError):
    code = "sealed_data_unreadable"
    http_status = 500
    stage = "store"


def sealing_key(secret_key: str, purpose: str) -> bytes:
    """The key :meth:`Sealer.for_purpose` seals ``purpose`` under (for processes that get keys, not secrets)."""
    return derive_key(secret_key, f"seal/{purpose}")


class Sealer:
    def __init__(self, key: bytes) -> None:
        self._box = nacl.secret.SecretBox(key)

    @classmethod
    def for_purpose(cls, secret_key: str, purpose: str) -> Sealer:
        return cls(sealing_key(secret_key, purpose))

    def seal(self, data: bytes) -> str:
        return b64_encode(bytes(self._box.encrypt(data)))

    def open(self, sealed: str) -> bytes:
        try:
            return self._box.decrypt(b64_decode(sealed))
        except (nacl.exceptions.CryptoError, ValueError, TypeError) as exc:
            raise SealError("sealed data cannot be opened: wrong CREDSHARE_SECRET_KEY, or tampered") from exc
