"""The deployment's own keys, kept in the data directory (mode 0600, made on first run):

* ``log_ed25519.seed`` — the transparency log's Ed25519 key (C2SP signed notes);
* ``witnesses.json`` — the seeds of the local *development* witnesses: Ed25519 cosignature/v1
  keys (c2sp.org/tlog-cosignature) named ``<origin>/dev-witness/<n>``, so a fresh ``serve``
  has cosigned checkpoints. They are the log's own keys, never independent witnesses;
  production logs are witnessed by other organizations (``CREDSHARE_WITNESS_POLICY``);
* ``receipt_ed25519.jwk`` — the key verification receipts are signed with.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from pathlib import Path

import nacl.signing

from credshare.anchoring.cosignature import Cosigner
from credshare.anchoring.note import NoteSigner
from credshare.disclosure.errors import SDJWTError
from credshare.disclosure.jws import Signer
from credshare.foundation.b64 import b64_decode, b64_encode
from credshare.foundation.config import load_or_create_private_file
from credshare.foundation.errors import ConfigError

LOG_KEY_FILE = "log_ed25519.seed"
WITNESS_FILE = "witnesses.json"
WITNESS_FILE_TYPE = "credshare-dev-witnesses/v2"  # v1 (unnamed) held BLS secret keys
_log = logging.getLogger(__name__)


def default_origin(seed: bytes) -> str:
    public = bytes(nacl.signing.SigningKey(seed).verify_key)
    return f"credshare.local/log/{hashlib.sha256(public).hexdigest()[:16]}"


def load_log_signer(data_dir: Path, origin: str | None = None) -> NoteSigner:
    raw = load_or_create_private_file(data_dir / LOG_KEY_FILE, lambda: b64_encode(secrets.token_bytes(32)).encode("ascii"))
    try:
        seed = b64_decode(raw.strip().decode("ascii"))
    except ValueError as exc:
        raise ConfigError(f"{data_dir / LOG_KEY_FILE} is not a base64 Ed25519 seed") from exc
    if len(seed) != 32:
        raise ConfigError(f"{data_dir / LOG_KEY_FILE} must hold a 32-byte seed")
    return NoteSigner.from_seed(origin or default_origin(seed), seed)


def development_witness_name(origin: str, number: int) -> str:
    """The key name of local development witness ``number`` (from 1) of the log ``origin``."""
    return f"{origin}/dev-witness/{number}"


def _witness_file(count: int) -> bytes:
    seeds = [b64_encode(secrets.token_bytes(32)) for _ in range(count)]
    return json.dumps({"type": WITNESS_FILE_TYPE, "seeds": seeds}, indent=2).encode()


def load_local_witnesses(data_dir: Path, count: int, origin: str) -> list[Cosigner]:
    """The log's ``count`` local development witnesses (cosignature/v1 keys), their seeds kept in
    ``witnesses.json`` (0600, made on first use). A file of the BLS era is replaced, and the log
    says so: its keys cannot make C2SP cosignatures and are never reused."""
    if count == 0:
        return []
    path = data_dir / WITNESS_FILE
    raw = load_or_create_private_file(path, lambda: _witness_file(count))
    try:
        entries = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"{path} is not a witness key file") from exc
    if isinstance(entries, list):  # the BLS witnesses of credshare-anchor-proof/v1
        _log.warning("%s held BLS witness keys, which C2SP cosignatures cannot use; it is replaced with %d new "
                     "development witness keys (checkpoints signed before keep their old BLS cosignatures)",
                     path, count)
        path.unlink()
        raw = load_or_create_private_file(path, lambda: _witness_file(count))
        entries = json.loads(raw)
    try:
        if not isinstance(entries, dict) or entries.get("type") != WITNESS_FILE_TYPE:
            raise ValueError("not a development witness file")
        seeds = [b64_decode(seed) for seed in entries["seeds"]]
        if any(len(seed) != 32 for seed in seeds):
            raise ValueError("a seed is 32 bytes")
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is not a witness key file") from exc
    if len(seeds) != count:
        raise ConfigError(f"{path} holds {len(seeds)} witnesses, configured {count}")
    return [Cosigner.from_seed(development_witness_name(origin, n), seed) for n, seed in enumerate(seeds, start=1)]


RECEIPT_KEY_FILE = "receipt_ed25519.jwk"


def load_receipt_signer(data_dir: Path) -> Signer:
    """The server's key for signing verification receipts (an Ed25519 JWK, kid = its RFC 7638
    thumbprint); its public half is served at ``/.well-known/credshare-receipt-keys``."""
    def make() -> bytes:
        return json.dumps(Signer.generate("EdDSA").private_jwk).encode()

    raw = load_or_create_private_file(data_dir / RECEIPT_KEY_FILE, make)
    try:
        jwk = json.loads(raw)
        signer = Signer.from_jwk(jwk, "EdDSA")
    except (ValueError, SDJWTError) as exc:
        raise ConfigError(f"{data_dir / RECEIPT_KEY_FILE} is not an Ed25519 private JWK") from exc
    return signer
