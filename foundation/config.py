"""Configuration from the environment (twelve-factor style), read once at start-up.

| variable               | default        | meaning                                          |
|------------------------|----------------|--------------------------------------------------|
| CREDSHARE_DATA_DIR     | ./instance     | keys, the embedded store and the generated secret |
| MONGODB_URI            | (unset)        | mongodb://… for MongoDB; unset → embedded store  |
| CREDSHARE_SECRET_KEY   | (generated)    | session signing secret; generated into the data   |
|                        |                | dir (mode 0600) on first run when unset           |
| CREDSHARE_HOST         | 127.0.0.1      | address `credshare serve` binds                   |
| CREDSHARE_PORT         | 8080           | port `credshare serve` binds                      |
| CREDSHARE_LOG_ORIGIN   | (from log key) | the transparency log's origin line                |
| CREDSHARE_LOCAL_WITNESSES | 3           | local DEVELOPMENT witnesses (cosignature/v1 keys  |
|                        |                | in the data dir) cosigning each checkpoint; the   |
|                        |                | log's own keys, never independent: 0 in production|
| CREDSHARE_WITNESS_QUORUM | majority     | of the local witnesses, in the /log/trust policy  |
|                        |                | when no witness policy is configured              |
| CREDSHARE_WITNESS_POLICY | (unset)      | path of a C2SP tlog-policy file: the remote       |
|                        |                | witnesses (witness <name> <vkey> <submission URL>)|
|                        |                | asked to cosign each checkpoint, groups and the   |
|                        |                | quorum; the log's own `log` line may be omitted   |
| CREDSHARE_PUBLIC_URL   | http://host:port | base URL of issuer ids, status lists and links  |
| CREDSHARE_ARGON2_PROFILE | interactive  | Argon2id cost of owner passwords: interactive or |
|                        |                | test (cheap; for test suites only)                |
| CREDSHARE_SMTP_URL     | (unset)        | smtp(s)://[user:pass@]host[:port] for e-mail;     |
|                        |                | unset → messages go to <data dir>/outbox/*.eml    |
| CREDSHARE_MAIL_FROM    | credshare@host | sender address of the e-mails credshare sends     |
| CREDSHARE_ETH_RPC      | (unset)        | Ethereum JSON-RPC URLs (comma-separated) to check |
|                        |                | chain anchors on when verifying; unset → listed   |
|                        |                | as not checked                                    |
| CREDSHARE_BLOCKCERTS_ENDPOINTS | (unset) | where Blockcerts anchors are looked up:          |
|                        |                | `chain=URL[,URL...]` entries separated by `;`,    |
|                        |                | chain in the Blockcerts vocabulary (ethereum-     |
|                        |                | Mainnet, ethereumSepolia, bitcoinMainnet, ...);   |
|                        |                | Ethereum: JSON-RPC URLs; Bitcoin: Esplora REST    |
|                        |                | base URLs, or bitcoind+http(s)://user:pass@host   |
|                        |                | for Bitcoin Core JSON-RPC; unset → not checked    |
| CREDSHARE_ANCHOR_RPC   | (unset)        | Ethereum JSON-RPC URL scheduled chain anchors are |
|                        |                | published through                                 |
| CREDSHARE_ANCHOR_KEY_FILE | (unset)     | file (mode 0600) with the anchoring account's     |
|                        |                | secp256k1 private key, hex                        |
| CREDSHARE_ANCHOR_EVERY_CHECKPOINTS | (off) | anchor the latest checkpoint once N new ones |
|                        |                | were published since the last anchor             |
| CREDSHARE_ANCHOR_EVERY_MINUTES | (off)  | ... or once T minutes passed since the last      |
|                        |                | anchor (and a new checkpoint is there); either or |
|                        |                | both; unset → no scheduled anchors (both need the |
|                        |                | RPC URL and the key file)                         |
| CREDSHARE_TRUST_LIST   | (unset)        | the operator's trust list (TOML, verifier/trust_  |
|                        |                | list.py): logs and issuers trusted besides this   |
|                        |                | server's own; read again when the file changes    |
| CREDSHARE_REMOTE_STATUS_MAX_AGE | 300  | seconds a status list fetched from another server |
|                        |                | is used before it is fetched again (at most its   |
|                        |                | own ttl)                                          |
| CREDSHARE_REMOTE_HISTORY_MAX_AGE | 3600 | seconds a key history fetched from another      |
|                        |                | server is used before it is fetched again         |
| CREDSHARE_STATUS_WATCH_SECONDS | 60   | seconds between two status checks of a credential |
|                        |                | a CVO subscribed to (holding/subscriptions.py)    |
| CREDSHARE_TRUSTED_PROXIES | 0           | reverse proxies in front of the server; their     |
|                        |                | X-Forwarded-For/-Proto/-Host are believed (werk-  |
|                        |                | zeug ProxyFix); 0 → those headers are ignored     |
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from credshare.foundation.errors import ConfigError
from credshare.foundation.http_client import LOOPBACK_HOSTS

SECRET_KEY_FILENAME = "secret_key"
ENV_VARS = (
    "CREDSHARE_DATA_DIR", "MONGODB_URI", "CREDSHARE_SECRET_KEY", "CREDSHARE_HOST", "CREDSHARE_PORT",
    "CREDSHARE_LOG_ORIGIN", "CREDSHARE_LOCAL_WITNESSES", "CREDSHARE_WITNESS_QUORUM", "CREDSHARE_PUBLIC_URL",
    "CREDSHARE_ARGON2_PROFILE", "CREDSHARE_SMTP_URL", "CREDSHARE_MAIL_FROM", "CREDSHARE_ETH_RPC",
    "CREDSHARE_TRUSTED_PROXIES", "CREDSHARE_WITNESS_POLICY", "CREDSHARE_TRUST_LIST", "CREDSHARE_ANCHOR_RPC",
    "CREDSHARE_ANCHOR_KEY_FILE",    "CREDSHARE_ANCHOR_EVERY_CHECKPOINTS", "CREDSHARE_ANCHOR_EVERY_MINUTES",
    "CREDSHARE_REMOTE_STATUS_MAX_AGE", "CREDSHARE_REMOTE_HISTORY_MAX_AGE", "CREDSHARE_STATUS_WATCH_SECONDS",
    "CREDSHARE_BLOCKCERTS_ENDPOINTS", "CREDSHARE_FETCH_ALLOW_HOSTS",
)
MAX_TRUSTED_PROXIES = 5
ARGON2_PROFILES = ("interactive", "test")  # their parameters are in holding.vault.PROFILES


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    mongodb_uri: str | None
    secret_key: str = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 8080
    log_origin: str | None = None
    local_witnesses: int = 3
    witness_quorum: int = 2
    public_url: str = "http://127.0.0.1:8080"
    argon2_profile: str = "interactive"
    smtp_url: str | None = field(default=None, repr=False)  # may hold a password
    mail_from: str = "credshare@localhost"
    eth_rpc_urls: tuple[str, ...] = field(default=(), repr=False)  # URLs may hold API keys
    trusted_proxies: int = 0  # reverse proxies in front whose X-Forwarded-* headers are believed
    witness_policy: Path | None = None  # a tlog-policy file of the remote witnesses to ask
    trust_list: Path | None = None  # the operator's trust list (logs and issuers it trusts)
    anchor_rpc: str | None = field(default=None, repr=False)  # may hold an API key
    anchor_key_file: Path | None = None  # mode 0600: the anchoring account's private key
    anchor_every_checkpoints: int = 0  # 0: not by count
    anchor_every_minutes: int = 0  # 0: not by time
    remote_status_max_age: int = 300  # seconds a status list fetched from another server is used (<= its ttl)
    remote_history_max_age: int = 3600  # seconds a key history fetched from another server is used
    status_watch_seconds: int = 60  # between two status checks of a subscribed credential
    # Blockcerts chain name -> endpoint URLs its anchors are looked up on (URLs may hold API keys)
    blockcerts_endpoints: Mapping[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    # hosts a URL that came from outside (a Blockcerts record's issuer URL) may name although they
    # are this machine or a private network (a test rig's 127.0.0.1); none: only public addresses
    fetch_allow_hosts: frozenset[str] = frozenset()

    @property
    def anchor_schedule_on(self) -> bool:
        """Are chain anchors published on a schedule (every N checkpoints and/or T minutes)?"""
        return bool(self.anchor_every_checkpoints or self.anchor_every_minutes)

    @property
    def secure_cookies(self) -> bool:
        """Cookies are marked ``Secure`` when the public URL is https (RFC 6265 section 4.1.2.5)."""
        return self.public_url.startswith("https://")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    data_dir = Path(env.get("CREDSHARE_DATA_DIR") or "instance").resolve()
    port_text = env.get("CREDSHARE_PORT") or "8080"
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"CREDSHARE_PORT must be a port number, got {port_text!r}")
    secret = env.get("CREDSHARE_SECRET_KEY") or load_or_create_secret(data_dir)
    if len(secret) < 32:
        raise ConfigError("CREDSHARE_SECRET_KEY must be at least 32 characters")
    profile = env.get("CREDSHARE_ARGON2_PROFILE") or "interactive"
    if profile not in ARGON2_PROFILES:
        raise ConfigError(f"CREDSHARE_ARGON2_PROFILE must be one of {', '.join(ARGON2_PROFILES)}, got {profile!r}")
    witnesses = _small_int(env, "CREDSHARE_LOCAL_WITNESSES", 3, 0, 16)
    quorum = _small_int(env, "CREDSHARE_WITNESS_QUORUM", witnesses // 2 + 1 if witnesses else 0, 0, witnesses)
    return Settings(
        data_dir=data_dir,
        mongodb_uri=env.get("MONGODB_URI") or None,
        secret_key=secret,
        host=env.get("CREDSHARE_HOST") or "127.0.0.1",
        port=int(port_text),
        log_origin=env.get("CREDSHARE_LOG_ORIGIN") or None,
        local_witnesses=witnesses,
        witness_quorum=quorum,
        public_url=_public_url(env.get("CREDSHARE_PUBLIC_URL"), env.get("CREDSHARE_HOST") or "127.0.0.1", int(port_text)),
        argon2_profile=profile,
        smtp_url=env.get("CREDSHARE_SMTP_URL") or None,
        mail_from=env.get("CREDSHARE_MAIL_FROM") or "credshare@localhost",
        eth_rpc_urls=tuple(u.strip() for u in (env.get("CREDSHARE_ETH_RPC") or "").split(",") if u.strip()),
        trusted_proxies=_small_int(env, "CREDSHARE_TRUSTED_PROXIES", 0, 0, MAX_TRUSTED_PROXIES),
        witness_policy=_existing_file(env, "CREDSHARE_WITNESS_POLICY"),
        trust_list=_existing_file(env, "CREDSHARE_TRUST_LIST"),
        remote_status_max_age=_small_int(env, "CREDSHARE_REMOTE_STATUS_MAX_AGE", 300, 1, 86_400),
        remote_history_max_age=_small_int(env, "CREDSHARE_REMOTE_HISTORY_MAX_AGE", 3600, 1, 7 * 86_400),
        status_watch_seconds=_small_int(env, "CREDSHARE_STATUS_WATCH_SECONDS", 60, 1, 86_400),
        blockcerts_endpoints=parse_blockcerts_endpoints(env.get("CREDSHARE_BLOCKCERTS_ENDPOINTS") or ""),
        fetch_allow_hosts=parse_fetch_allow_hosts(env.get("CREDSHARE_FETCH_ALLOW_HOSTS") or ""),
        **_anchor_schedule(env),
    )


def parse_fetch_allow_hosts(text: str) -> frozenset[str]:
    """``CREDSHARE_FETCH_ALLOW_HOSTS``: comma-separated host names or addresses (at most 16)."""
    hosts = [h.strip().lower() for h in text.split(",") if h.strip()]
    if len(hosts) > 16 or not all(re.fullmatch(r"[a-z0-9.:-]{1,253}", h) for h in hosts):
        raise ConfigError("CREDSHARE_FETCH_ALLOW_HOSTS is a comma-separated list of at most 16 host names or addresses")
    return frozenset(hosts)


#: Blockcerts chains whose anchors can be looked up (the Blockcerts vocabulary, as in
#: blockchain-certificates/explorer-lookup); ``mockchain`` and ``bitcoinRegtest`` are test
#: chains, never looked up.
BLOCKCERTS_ETHEREUM_CHAINS = ("ethereumMainnet", "ethereumSepolia", "ethereumGoerli", "ethereumRopsten",
                              "ethereumRinkeby")
BLOCKCERTS_BITCOIN_CHAINS = ("bitcoinMainnet", "bitcoinTestnet")
BLOCKCERTS_TEST_CHAINS = ("mockchain", "bitcoinRegtest")
BITCOIND_PREFIX = "bitcoind+"  # a Bitcoin Core JSON-RPC endpoint (else: an Esplora REST base URL)
MAX_BLOCKCERTS_ENDPOINTS = 8  # per chain


def parse_blockcerts_endpoints(text: str, what: str = "CREDSHARE_BLOCKCERTS_ENDPOINTS") -> dict[str, tuple[str, ...]]:
    """``chain=URL[,URL...][;chain=URL...]`` as a mapping chain -> URLs. Ethereum chains take
    JSON-RPC URLs; Bitcoin chains Esplora REST base URLs or ``bitcoind+http(s)://`` Bitcoin Core
    JSON-RPC URLs. Messages name the chain, never a URL (it may hold an API key)."""
    endpoints: dict[str, tuple[str, ...]] = {}
    for entry in (e.strip() for e in text.split(";")):
        if not entry:
            continue
        chain, sep, urls_text = (part.strip() for part in entry.partition("="))
        if not sep:
            raise ConfigError(f"{what}: each entry is chain=URL[,URL...], got one without '='")
        if chain in BLOCKCERTS_TEST_CHAINS:
            raise ConfigError(f"{what}: {chain} is a test chain; its anchors are never looked up")
        if chain not in BLOCKCERTS_ETHEREUM_CHAINS + BLOCKCERTS_BITCOIN_CHAINS:
            known = ", ".join(BLOCKCERTS_ETHEREUM_CHAINS + BLOCKCERTS_BITCOIN_CHAINS)
            raise ConfigError(f"{what}: unknown chain {chain[:40]!r} (one of {known})")
        if chain in endpoints:
            raise ConfigError(f"{what}: {chain} is named twice; list its URLs in one entry")
        urls = tuple(u.strip() for u in urls_text.split(",") if u.strip())
        if not urls or len(urls) > MAX_BLOCKCERTS_ENDPOINTS or len(set(urls)) != len(urls):
            raise ConfigError(f"{what}: {chain} needs 1 to {MAX_BLOCKCERTS_ENDPOINTS} different URLs")
        for url in urls:
            plain = url[len(BITCOIND_PREFIX):] if url.startswith(BITCOIND_PREFIX) else url
            if url != plain and chain not in BLOCKCERTS_BITCOIN_CHAINS:
                raise ConfigError(f"{what}: {chain}: a bitcoind+ URL is for Bitcoin chains only")
            if not plain.startswith(("https://", "http://")) or any(c.isspace() for c in plain) or len(plain) > 2048:
                raise ConfigError(f"{what}: {chain}: every endpoint is an http(s) URL")
            try:
                parts = urlsplit(plain)
                parts.port  # noqa: B018 - raises for a port that is no number
            except ValueError:
                raise ConfigError(f"{what}: {chain}: every endpoint is an http(s) URL") from None
            if not parts.hostname:
                raise ConfigError(f"{what}: {chain}: every endpoint is an http(s) URL")
            if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
                raise ConfigError(f"{what}: {chain}: an endpoint is https (plain http only to this machine)")
            if parts.username is not None and url == plain:
                raise ConfigError(f"{what}: {chain}: only bitcoind+ URLs take a user and password")
        endpoints[chain] = urls
    return endpoints


MAX_ANCHOR_EVERY_CHECKPOINTS = 1_000_000
MAX_ANCHOR_EVERY_MINUTES = 525_600  # a year


def _anchor_schedule(env: Mapping[str, str]) -> dict[str, Any]:
    """The scheduled chain anchors' settings: off unless N or T is set; then the RPC URL and a
    private key file are required."""
    every_n = _small_int(env, "CREDSHARE_ANCHOR_EVERY_CHECKPOINTS", 0, 0, MAX_ANCHOR_EVERY_CHECKPOINTS)
    every_t = _small_int(env, "CREDSHARE_ANCHOR_EVERY_MINUTES", 0, 0, MAX_ANCHOR_EVERY_MINUTES)
    rpc = (env.get("CREDSHARE_ANCHOR_RPC") or "").strip() or None
    if rpc is not None and not rpc.startswith(("http://", "https://")):
        raise ConfigError("CREDSHARE_ANCHOR_RPC must be an http(s) JSON-RPC URL")  # never echoed: may hold a key
    key_file = _private_file(env, "CREDSHARE_ANCHOR_KEY_FILE")
    if (every_n or every_t) and (rpc is None or key_file is None):
        raise ConfigError("CREDSHARE_ANCHOR_EVERY_CHECKPOINTS/_MINUTES need CREDSHARE_ANCHOR_RPC and "
                          "CREDSHARE_ANCHOR_KEY_FILE")
    return {"anchor_rpc": rpc, "anchor_key_file": key_file, "anchor_every_checkpoints": every_n,
            "anchor_every_minutes": every_t}


def _private_file(env: Mapping[str, str], name: str) -> Path | None:
    """An existing file that only its owner may read (mode 0600 or stricter)."""
    path = _existing_file(env, name)
    if path is not None and path.stat().st_mode & 0o077:
        raise ConfigError(f"{name} {path} is readable by other users; run: chmod 600 {path}")
    return path


def _public_url(value: str | None, host: str, port: int) -> str:
    """The base URL issuers, status lists and share links are published under."""
    return check_public_url(value) if value else f"http://{host}:{port}"


def check_public_url(value: str, what: str = "CREDSHARE_PUBLIC_URL") -> str:
    """``value`` as a public base URL (http(s), no query or fragment, no trailing slash)."""
    if not value.startswith(("https://", "http://")) or any(c in value for c in " ?#") or len(value) > 200 \
            or not value.split("://", 1)[1].strip("/"):
        raise ConfigError(f"{what} must be an http(s) URL without query, got {value!r}")
    return value.rstrip("/")


def _small_int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = env.get(name)
    if not text:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}, got {text!r}")
    return int(text)


def _existing_file(env: Mapping[str, str], name: str) -> Path | None:
    text = env.get(name)
    if not text:
        return None
    path = Path(text).resolve()
    if not path.is_file():
        raise ConfigError(f"{name} names no readable file: {text!r}")
    return path


_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """A folder of files the product ships (``templates``, ``static``, ``credential_types``):
    inside the package when installed from a wheel, beside it in a checkout."""
    base = _PACKAGE.parent  # credshare/ of the wheel, or the repository's root
    if (base / name).is_dir():
        return base / name
    raise ConfigError(f"the {name} folder is missing from the installation")


def load_or_create_private_file(path: Path, make: Callable[[], bytes]) -> bytes:
    """Read a private file (mode 0600), creating it with ``make()`` if absent.

    Creation is race-free across worker processes: the content is written to a private
    temporary file and published with ``link``, which fails if another process won.
    A file readable by other users is refused.
    """
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists():
            tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(make())
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
        content = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read or create {path}: {exc.strerror}") from exc
    if not content.strip():
        raise ConfigError(f"{path} is empty; delete it to generate a new one")
    return content


def load_or_create_secret(data_dir: Path) -> str:
    """The data dir's session secret, generated on first use."""
    created = load_or_create_private_file(data_dir / SECRET_KEY_FILENAME, lambda: secrets.token_urlsafe(48).encode())
    return created.decode().strip()
