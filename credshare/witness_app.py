"""The composition root and web app of a C2SP transparency log witness (c2sp.org/tlog-witness),
``credshare witness serve``: a separate server another organisation runs for a credshare log,
with its own data directory, its own store and its own key, and nothing of the credential
server (no accounts, no log, no pages).

* ``<data dir>/witness.key``: the witness's Ed25519 key, a 32-byte seed in standard base64
  (mode 0600, made on first start), for its ``cosignature/v1`` cosignatures (c2sp.org/tlog-cosignature);
* the logs it witnesses: a tlog-policy file (c2sp.org/tlog-policy) of which only the
  ``log <vkey> [<url>]`` lines are used (its quorum line may be ``quorum none``);
* the store: the embedded one in the data directory, or a MongoDB URI of its own.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import Flask

from credshare.anchoring.cosignature import Cosigner
from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.policy import MAX_POLICY_BYTES, Policy, parse_policy
from credshare.anchoring.witness import MAX_REQUEST_BYTES
from credshare.foundation.b64 import b64_decode, b64_encode
from credshare.foundation.clock import SYSTEM_CLOCK, Clock
from credshare.foundation.config import load_or_create_private_file
from credshare.foundation.errors import ConfigError
from credshare.sharing import hardening, request_log, witness_api
from credshare.storage import Store, open_store
from credshare.witnessing.service import WitnessService

WITNESS_KEY_FILE = "witness.key"


@dataclass(frozen=True)
class WitnessSettings:
    """What a witness is started with (``credshare witness serve`` options)."""

    data_dir: Path
    name: str  # its key name, a schema-less URL such as ``witness.example.org/w1``
    logs_file: Path
    store_uri: str | None = None  # None: the embedded store in data_dir


def load_cosigner(data_dir: Path, name: str) -> Cosigner:
    """The witness's cosigning key from ``<data dir>/witness.key``, created on first use."""
    path = data_dir / WITNESS_KEY_FILE
    raw = load_or_create_private_file(path, lambda: (b64_encode(secrets.token_bytes(32)) + "\n").encode("ascii"))
    try:
        seed = b64_decode(raw.strip().decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        raise ConfigError(f"{path} is not a base64 Ed25519 seed") from None
    if len(seed) != 32:
        raise ConfigError(f"{path} must hold a 32-byte seed")
    try:
        return Cosigner.from_seed(name, seed)
    except AnchoringError as exc:
        raise ConfigError(f"the witness name {name!r} is not a key name: {exc.detail}") from None


def load_logs(path: Path) -> Policy:
    """The logs to witness: the ``log`` lines of the tlog-policy file at ``path``."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_POLICY_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read the logs file {path}: {exc.strerror}") from None
    try:
        policy = parse_policy(raw)
    except AnchoringError as exc:
        raise ConfigError(f"{path}: {exc.detail}") from None
    if not policy.logs:
        raise ConfigError(f"{path} lists no log (a line 'log <vkey> [<url>]')")
    return policy


def build_witness(settings: WitnessSettings, clock: Clock = SYSTEM_CLOCK) -> tuple[WitnessService, Store]:
    """The witness service on its own store (the caller closes the store)."""
    cosigner = load_cosigner(settings.data_dir, settings.name)
    logs = load_logs(settings.logs_file)
    store = open_store(settings.store_uri, settings.data_dir)
    return WitnessService(store, cosigner, logs, clock), store


def create_witness_app(settings: WitnessSettings, service: WitnessService | None = None) -> Flask:
    """The witness's Flask app: the tlog-witness blueprint, security headers, the URL bound,
    route-template access logs; every error a one-line plain-text answer."""
    if service is None:
        service, _ = build_witness(settings)
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES)
    app.extensions[witness_api.EXTENSION_KEY] = service
    request_log.install(app)
    hardening.install(app)
    witness_api.install_errors(app)
    app.register_blueprint(witness_api.bp)
    return app
