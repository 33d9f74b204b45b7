"""Configuration from the environment (twelve-factor style), read once at start-up.

| variable               | default        | meaning                                          |
|------------------------|----------------|--------------------------------------------------|
| CREDSHARE_DATA_DIR     | ./instance     | keys, the embedded store and the generated secret |
| MONGODB_URI            | (unset)        | mongodb://… for MongoDB; unset → embedded store  |
| CREDSHARE_SECRET_KEY   | (generated)    | session signing secret; generated into the data   |
|                        |                | dir (mode 0600) on first run when unset           |
| CREDSHARE_HOST         | 127.0.0.1      | address `credshare serve` binds                   |
| CREDSHARE_PORT         | 8080           | port `credshare serve` binds                      |
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from credshare.errors import ConfigError

SECRET_KEY_FILENAME = "secret_key"
ENV_VARS = ("CREDSHARE_DATA_DIR", "MONGODB_URI", "CREDSHARE_SECRET_KEY", "CREDSHARE_HOST", "CREDSHARE_PORT")


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    mongodb_uri: str | None
    secret_key: str = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 8080


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    data_dir = Path(env.get("CREDSHARE_DATA_DIR") or "instance").resolve()
    port_text = env.get("CREDSHARE_PORT") or "8080"
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"CREDSHARE_PORT must be a port number, got {port_text!r}")
    secret = env.get("CREDSHARE_SECRET_KEY") or load_or_create_secret(data_dir)
    if len(secret) < 32:
        raise ConfigError("CREDSHARE_SECRET_KEY must be at least 32 characters")
    return Settings(
        data_dir=data_dir,
        mongodb_uri=env.get("MONGODB_URI") or None,
        secret_key=secret,
        host=env.get("CREDSHARE_HOST") or "127.0.0.1",
        port=int(port_text),
    )


def load_or_create_secret(data_dir: Path) -> str:
    """Read the data dir's secret, creating it (mode 0600) if absent.

    Creation is race-free across worker processes: the secret is written to a private
    temporary file and published with ``link``, which fails if another process won.
    """
    path = data_dir / SECRET_KEY_FILENAME
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists():
            tmp = data_dir / f".{SECRET_KEY_FILENAME}.{os.getpid()}.{secrets.token_hex(4)}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_urlsafe(48))
                    fh.flush()
                    os.fsync(fh.fileno())
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    pass
            finally:
                tmp.unlink(missing_ok=True)
        if path.stat().st_mode & 0o077:
            raise ConfigError(f"{path} is readable by other users; run: chmod 600 {path}")
        secret = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read or create {path}: {exc.strerror}") from exc
    if not secret:
        raise ConfigError(f"{path} is empty; delete it to generate a new secret")
    return secret
