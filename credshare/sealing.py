"""Sealing data at rest under the data directory's secret.

Each purpose gets its own key, derived from ``CREDSHARE_SECRET_KEY`` with keyed BLAKE2b
personalised by purpose, so one purpose's ciphertext can never be opened as another's.
Sealed values are XSalsa20-Poly1305 (NaCl SecretBox) with a random nonce, as base64 text.
"""

from __future__ import annotations

import hashlib

import nacl.encoding
import nacl.exceptions
import nacl.hash
import nacl.secret

from credshare.errors import CredshareError


class SealError(CredshareError):
    code = "sealed_data_unreadable"
    http_status = 500


def derive_key(secret_key: str, purpose: str) -> bytes:
    return nacl.hash.blake2b(purpose.encode("utf-8"), key=hashlib.sha256(secret_key.encode()).digest(),
                             person=b"credshare-kek", digest_size=32, encoder=nacl.encoding.RawEncoder)


class Sealer:
    def __init__(self, key: bytes) -> None:
        self._box = nacl.secret.SecretBox(key)

    @classmethod
    def for_purpose(cls, secret_key: str, purpose: str) -> Sealer:
        return cls(derive_key(secret_key, purpose))

    def seal(self, data: bytes) -> str:
        return nacl.encoding.Base64Encoder.encode(bytes(self._box.encrypt(data))).decode("ascii")

    def open(self, sealed: str) -> bytes:
        try:
            return self._box.decrypt(nacl.encoding.Base64Encoder.decode(sealed.encode("ascii")))
        except (nacl.exceptions.CryptoError, ValueError) as exc:
            raise SealError("sealed data cannot be opened: wrong CREDSHARE_SECRET_KEY, or tampered") from exc
