"""The vault's cryptography: data keys, sealing, and keys derived from passwords and tokens.

* Sealing is foundation.sealing's (XSalsa20-Poly1305, NaCl SecretBox, random nonce, base64 text).
  A wrong key or any altered byte fails the Poly1305 check: :class:`VaultError`, code
  ``vault_unreadable``.
* Passwords go through Argon2id (RFC 9106) with a random 16-byte salt, into 64 bytes split in
  two halves: the *auth* half proves the password (the server keeps only its SHA-256), the *wrap*
  half seals the account's random data key. Knowing the stored hash does not give the wrap half.
  Passwords are NFKC-normalised first (NIST SP 800-63B §5.1.1.2), so the same typed password
  derives the same keys on every keyboard.
* Keys from high-entropy tokens (a session token) use HKDF-SHA256 (RFC 5869): no stretching is
  needed when the input already has 256 bits of entropy.

Pure functions: no Flask, no store.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import unicodedata
from dataclasses import dataclass

import nacl.exceptions
import nacl.secret
import nacl.utils
from nacl.pwhash import argon2id

from credshare.foundation.errors import ConfigError, InputError, VaultError
from credshare.foundation.kdf import derive_key
from credshare.foundation.sealing import Sealer, SealError

KEY_BYTES = nacl.secret.SecretBox.KEY_SIZE  # 32
SALT_BYTES = argon2id.SALTBYTES  # 16
_DERIVED_BYTES = 2 * KEY_BYTES


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost: passes over memory (``ops``) and memory in bytes (``mem``)."""

    ops: int
    mem: int


PROFILES: dict[str, KdfParams] = {
    # libsodium's interactive limits: 2 passes over 64 MiB, well under a second on a server core
    "interactive": KdfParams(argon2id.OPSLIMIT_INTERACTIVE, argon2id.MEMLIMIT_INTERACTIVE),
    # cheap enough for test suites, still a real Argon2id derivation
    "test": KdfParams(max(1, argon2id.OPSLIMIT_MIN), 8 * 1024 * 1024),
}
# Bounds on parameters read back from documents (an uploaded backup is untrusted input: huge
# values would make one request use gigabytes of memory or minutes of CPU).
MIN_OPS, MAX_OPS = argon2id.OPSLIMIT_MIN, argon2id.OPSLIMIT_SENSITIVE
MIN_MEM, MAX_MEM = 8 * 1024 * 1024, argon2id.MEMLIMIT_MODERATE

# Each derivation holds ``mem`` bytes while it runs (libsodium releases the GIL): bound how many
# run at once so a burst of sign-ins cannot exhaust the machine's memory.
_DERIVATIONS = threading.BoundedSemaphore(4)


def profile_params(name: str) -> KdfParams:
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(f"unknown Argon2 profile {name!r}; known: {', '.join(PROFILES)}") from None


def params_allowed(ops: object, mem: object) -> bool:
    """Whether stored Argon2id parameters are within the bounds this server will run."""
    return (isinstance(ops, int) and not isinstance(ops, bool) and MIN_OPS <= ops <= MAX_OPS
            and isinstance(mem, int) and not isinstance(mem, bool) and MIN_MEM <= mem <= MAX_MEM)


def new_data_key() -> bytes:
    """A fresh random 32-byte vault data key."""
    return nacl.utils.random(KEY_BYTES)


def new_salt() -> bytes:
    return nacl.utils.random(SALT_BYTES)


def _sealer(key: bytes) -> Sealer:
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise VaultError("a vault key is 32 bytes")
    return Sealer(key)


def seal(key: bytes, plaintext: bytes) -> str:
    """Encrypt and authenticate ``plaintext`` under ``key`` (random nonce); base64 text."""
    return _sealer(key).seal(plaintext)


def open_sealed(key: bytes, sealed: str) -> bytes:
    """The plaintext of :func:`seal`; :class:`VaultError` for a wrong key or altered data."""
    sealer = _sealer(key)
    try:
        return sealer.open(sealed)
    except SealError as exc:
        raise VaultError("the sealed data cannot be opened with this key, or it was altered") from exc


def derive_wrap_key(password: str, salt: bytes, ops: int, mem: int) -> tuple[bytes, bytes]:
    """Argon2id(password, salt) → ``(auth_key, wrap_key)``, 32 bytes each."""
    if not params_allowed(ops, mem):
        raise InputError("Argon2id parameters out of the supported range", code="kdf_params_invalid")
    if not isinstance(salt, bytes) or len(salt) != SALT_BYTES:
        raise InputError(f"an Argon2id salt is {SALT_BYTES} bytes", code="kdf_params_invalid")
    secret = unicodedata.normalize("NFKC", password).encode("utf-8")
    with _DERIVATIONS:
        derived = argon2id.kdf(_DERIVED_BYTES, secret, salt, opslimit=ops, memlimit=mem)
    return derived[:KEY_BYTES], derived[KEY_BYTES:]


def auth_hash(auth_key: bytes) -> str:
    """What the server stores of the auth half: its SHA-256, hex."""
    return hashlib.sha256(auth_key).hexdigest()


def auth_matches(auth_key: bytes, stored_hash: str) -> bool:
    """Constant-time comparison of a derived auth half with a stored :func:`auth_hash`."""
    return hmac.compare_digest(auth_hash(auth_key).encode("ascii"), str(stored_hash).encode("ascii", "replace"))


def key_from_token(token: str, purpose: str) -> bytes:
    """A 32-byte key for ``purpose`` from a high-entropy token (HKDF-SHA256, RFC 5869).

    Only for random tokens (``secrets.token_urlsafe(32)``): a guessable input would need a
    password hash instead."""
    return derive_key(token, f"token/{purpose}", KEY_BYTES)


def subkey(key: bytes, purpose: str) -> bytes:
    """A 32-byte key for ``purpose`` from another key (HKDF-SHA256), so one key never serves
    two uses (for example sealing and a MAC)."""
    return derive_key(key, f"subkey/{purpose}", KEY_BYTES)


def hash_passcode(passcode: str, params: KdfParams) -> str:
    """An Argon2id hash string (with its own salt and parameters) of a share-link passcode."""
    with _DERIVATIONS:
        return argon2id.str(passcode.encode("utf-8"), opslimit=params.ops, memlimit=params.mem).decode("ascii")


def passcode_matches(stored: str, passcode: str) -> bool:
    """Check a passcode against :func:`hash_passcode`'s output; at most a few checks run at once
    (each holds its memory cost), so a burst of guesses cannot exhaust the machine."""
    with _DERIVATIONS:
        try:
            return bool(argon2id.verify(stored.encode("ascii"), passcode.encode("utf-8")))
        except (nacl.exceptions.InvalidkeyError, nacl.exceptions.CryptoError, ValueError):
            return False
