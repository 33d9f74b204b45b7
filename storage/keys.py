"""The deployment's own keys, kept in the data directory (mode 0600, made on first run):

* ``log_ed25519.seed`` — the transparency log's Ed25519 key (C2SP signed notes);
* ``witnesses.json`` — the local witnesses' BLS keys, used when no outside organization
  runs a witness (the embedded default);
* ``receipt_ed25519.jwk`` — the key verification receipts are signed with.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from pathlib import Path

import nacl.signing

from credshare.anchoring.note import NoteSigner
from credshare.anchoring.witness import WitnessKey, WitnessSigner
from credshare.disclosure.errors import SDJWTError
from credshare.disclosure.jws import Signer
from credshare.foundation.b64 import b64_decode, b64_encode
from credshare.foundation.config import load_or_create_private_file
from credshare.foundation.errors import ConfigError

LOG_KEY_FILE = "log_ed25519.seed"
WITNESS_FILE = "witnesses.json"


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


def _witness_file(count: int) -> bytes:
    signers = [WitnessSigner.generate(f"local-witness-{i + 1}") for i in range(count)]
    return json.dumps([{"secret_key": hex(s.secret_key), **s.key.to_json()} for s in signers], indent=2).encode()


def load_local_witnesses(data_dir: Path, count: int) -> list[WitnessSigner]:
    if count == 0:
        return []
    raw = load_or_create_private_file(data_dir / WITNESS_FILE, lambda: _witness_file(count))
    try:
        entries = json.loads(raw)
        signers = [WitnessSigner(e["name"], int(e["secret_key"], 16), WitnessKey.from_json(e)) for e in entries]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{data_dir / WITNESS_FILE} is not a witness key file") from exc
    if len(signers) != count:
        raise ConfigError(f"{data_dir / WITNESS_FILE} holds {len(signers)} witnesses, configured {count}")
    return signers


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
