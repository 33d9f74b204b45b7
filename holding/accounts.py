"""Owner (physician) accounts, server-side sessions and encrypted vault backups.

Key hierarchy (no operator back door: nothing the server keeps at rest opens a vault):

* Each account has a random 32-byte **data key**. Vault contents are sealed under it
  (XSalsa20-Poly1305, :mod:`holding.vault`).
* The data key is stored only *wrapped*: sealed under the wrap half of Argon2id (RFC 9106)
  of the password. The auth half is kept only as a SHA-256 hash, to check passwords.
* A **session** (OWASP Session Management Cheat Sheet) is a random 256-bit token in a cookie.
  The store keeps its SHA-256 as ``_id``, the account id, and the data key sealed under a key
  derived from the token (HKDF), so a copy of the database opens no signed-in owner's vault
  either; the e-mail address is read from the account, never copied into the session. Sessions end
  after 30 idle minutes or 12 hours, whichever comes first.
* Each account gets an Ed25519 **holder key** for key binding (SD-JWT ``cnf``, RFC 7800). Its
  public JWK is ``holder_jwk`` (issuance binds credentials to it); the private JWK is sealed under
  the data key.
* A **backup** is a JSON document the owner downloads: the data key wrapped under Argon2id of a
  backup passphrase, the sealed holder key, the caller's (already sealed) entries, and an
  HMAC-SHA256 over all of it under a key derived from the data key.

Losing both the password and the backup passphrase loses the vault: by design.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from credshare.disclosure.errors import SDJWTError
from credshare.disclosure.jws import Signer
from credshare.foundation import strict_json
from credshare.foundation.b64 import b64_decode, b64_encode
from credshare.foundation.clock import SYSTEM_CLOCK, Clock
from credshare.foundation.errors import (
    AuthenticationError,
    ConflictError,
    DuplicateKeyError,
    InputError,
    NotFoundError,
    RateLimitedError,
    VaultError,
)
from credshare.foundation.kdf import derive_key
from credshare.holding import vault
from credshare.issuing.issuers import token_hash
from credshare.storage import Store, new_id
from credshare.storage.rate_limit import RateLimiter

ACCOUNTS, SESSIONS = "accounts", "sessions"
MIN_PASSWORD, MAX_PASSWORD = 12, 1024
MAX_EMAIL = 254
IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
EMAIL_TOKEN_LIFETIME = timedelta(hours=48)
TOUCH_INTERVAL = timedelta(minutes=1)
MAX_TOKEN_LENGTH = 128
BACKUP_TYPE = "credshare-vault-backup/v1"
HOLDER_ALG = "EdDSA"
_SESSION_PURPOSE = "session"
_BACKUP_MAC_PURPOSE = "backup-mac/v1"


@dataclass(frozen=True)
class SessionInfo:
    """A signed-in owner, as one request sees them. ``data_key`` opens their vault."""

    account_id: str
    email: str
    data_key: bytes = field(repr=False)
    holder_jwk: dict[str, Any]
    session_id: str
    email_verified: bool = False


@dataclass(frozen=True)
class Session:
    """A new session: the cookie ``token`` (shown once, never stored) and who it signs in."""

    token: str = field(repr=False)
    info: SessionInfo
    expires_at: datetime


class OpenedBackup(NamedTuple):
    data_key: bytes
    holder_private_jwk: dict[str, Any]
    entries: list[dict[str, Any]]


def normalize_email(email: str) -> str:
    return email.strip().lower() if isinstance(email, str) else ""


def _email_valid(email: str) -> bool:
    """One plain address (``local@domain``): no display name, list, quoting or comment, so
    it can never make a message go to more than one mailbox."""
    local, at, domain = email.rpartition("@")
    return (bool(at and local and domain) and len(email) <= MAX_EMAIL and "." in domain and "@" not in local
            and not any(c.isspace() or ord(c) < 32 or c in ',;:<>()[]"\\' for c in email))


email_valid = _email_valid  # the one check of an address, for other services (e.g. a CVO's subscription)


def check_password(password: str, *, what: str = "password") -> None:
    """Length rules (NIST SP 800-63B §5.1.1.2: long passphrases, no composition rules)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InputError(f"The {what} needs at least {MIN_PASSWORD} characters", code=f"{what}_too_short")
    if len(password) > MAX_PASSWORD:
        raise InputError(f"The {what} may have at most {MAX_PASSWORD} characters", code=f"{what}_too_long")


def token_id(token: str) -> str:
    """A session's stored id: the SHA-256 of its token, hex (as every bearer token is kept)."""
    return token_hash(token)


def _canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _credentials_invalid() -> AuthenticationError:
    return AuthenticationError("The e-mail address or the password is wrong", code="credentials_invalid")


class OwnerDirectory:
    """What others may ask of the owner accounts (issuance, the demo): whether an address has an
    account, which addresses belong to owners who confirmed them, and those owners' wallet (holder)
    keys. It needs the store alone, so each batch worker process makes its own
    (:class:`credshare.issuing.batch.BatchIssuer` is given this class); :class:`AccountService` is one."""

    def __init__(self, store: Store) -> None:
        self._accounts = store.collection(ACCOUNTS)

    def has_account(self, email: str) -> bool:
        return self._accounts.find_one({"email": normalize_email(email)}, fields=["_id"]) is not None

    def confirmed_email(self, account_id: str) -> str | None:
        """The account's e-mail address once its owner confirmed it (None before, or no such account)."""
        doc = self._accounts.find_one({"_id": str(account_id)}, fields=["email", "email_verified"])
        return doc["email"] if doc is not None and doc.get("email_verified") is True else None

    def confirmed_account(self, email: str) -> str | None:
        """The id of the account that confirmed ``email`` (None: none did)."""
        doc = self._accounts.find_one({"email": normalize_email(email), "email_verified": True}, fields=["_id"])
        return str(doc["_id"]) if doc is not None else None

    def confirmed_owners(self, emails: list[str]) -> set[str]:
        """The addresses among ``emails`` (normalized) whose owners confirmed them here."""
        if not emails:
            return set()
        return {a["email"] for a in self._accounts.find({"email": {"$in": emails}, "email_verified": True},
                                                        fields=["email"])}

    def wallet_keys(self, emails: list[str]) -> dict[str, dict[str, Any]]:
        """The wallet (holder) public key of each confirmed owner among ``emails``, by address:
        issuance binds a credential to it when the row names no key of its own."""
        if not emails:
            return {}
        return {a["email"]: a["holder_jwk"] for a in self._accounts.find(
            {"email": {"$in": emails}, "email_verified": True, "holder_jwk": {"$exists": True}},
            fields=["email", "holder_jwk"])}


class AccountService(OwnerDirectory):
    """Accounts and sessions in the store; see the module docstring for the keys involved."""

    def __init__(self, store: Store, *, profile: str, secret_key: str, limiter: RateLimiter,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__(store)
        self._clock = clock
        self._sessions = store.collection(SESSIONS)
        self._accounts.create_index("email", unique=True)
        self._sessions.create_index("expires_at", expire_after_seconds=0)
        self._sessions.create_index("account")
        self.params = vault.profile_params(profile)
        self._pepper = derive_key(secret_key, "accounts/pepper")
        self.limiter = limiter

    # -- accounts -------------------------------------------------------------------------

    def register(self, email: str, password: str) -> Session:
        """Create an account with a fresh data key and holder key, and sign it in. An address
        registered but not confirmed within :data:`EMAIL_TOKEN_LIFETIME` of its registration is
        free again (its unconfirmed account goes)."""
        email = normalize_email(email)
        if not _email_valid(email):
            raise InputError("Enter a valid e-mail address", code="email_invalid")
        check_password(password)
        existing = self._accounts.find_one({"email": email}, fields=["_id", "email_verified", "created_at"])
        if existing is not None:
            lapsed_at = existing["created_at"] + EMAIL_TOKEN_LIFETIME  # fixed at registration: resends move nothing
            if existing.get("email_verified") is not False or lapsed_at > self._clock.utcnow():
                raise ConflictError("An account with this e-mail address exists; sign in instead", code="account_exists")
            # never confirmed within 48 hours of its registration: whoever made it did not show
            # they own the address, which is free again, however often they had the link resent.
            # An unconfirmed account holds nothing (it can neither add credentials nor make
            # links), so only it and its sessions go.
            if self._accounts.delete_one({"_id": existing["_id"], "email_verified": False}):
                self._sessions.delete_many({"account": existing["_id"]})
        data_key, salt = vault.new_data_key(), vault.new_salt()
        auth_key, wrap_key = vault.derive_wrap_key(password, salt, self.params.ops, self.params.mem)
        holder = Signer.generate(HOLDER_ALG)
        doc = {
            "_id": new_id(),
            "email": email,
            "created_at": self._clock.utcnow(),
            "kdf": self._kdf_doc(salt),
            "auth_hash": vault.auth_hash(auth_key),
            "wrapped_key": vault.seal(wrap_key, data_key),
            "holder_jwk": holder.public_jwk,
            "sealed_holder_key": vault.seal(data_key, json.dumps(holder.private_jwk).encode("utf-8")),
            "email_verified": False,
        }
        try:
            self._accounts.insert_one(doc)
        except DuplicateKeyError:  # registered concurrently between our check and our insert
            raise ConflictError("An account with this e-mail address exists; sign in instead",
                                code="account_exists") from None
        return self._start_session(doc, data_key)

    def sign_in(self, email: str, password: str, client: str) -> Session:
        """One Argon2id derivation per attempt, known e-mail or not, so neither the answer nor its
        timing tells whether an account exists. Failures count per (e-mail, client address): an
        attempt is taken from the limit before the password is checked and given back when it was
        right, so parallel guesses cannot exceed the limit (storage/rate_limit.py)."""
        email = normalize_email(email)
        attempt = self.limiter.take(self._limit_key("sign-in", email, client))
        if attempt is None:
            raise RateLimitedError(f"Too many failed sign-in attempts; try again in {self.limiter.retry_after()} s",
                                   code="rate_limited")
        account = self._accounts.find_one({"email": email}) if _email_valid(email) else None
        usable = isinstance(password, str) and 0 < len(password) <= MAX_PASSWORD
        if account is None or not usable:
            self._dummy_derivation(email, password if usable else "")
            raise _credentials_invalid()
        auth_key, wrap_key = self._derive(password, account["kdf"])
        if not vault.auth_matches(auth_key, account["auth_hash"]):
            raise _credentials_invalid()
        self.limiter.give_back(attempt)  # only failures count
        return self._start_session(account, vault.open_sealed(wrap_key, account["wrapped_key"]))

    def change_password(self, account_id: str, data_key: bytes, old_password: str, new_password: str,
                        *, keep_session: str | None = None) -> None:
        """Rewrap the same data key under a new password (fresh salt, current profile); vault
        contents are untouched. Every session except ``keep_session`` (a session id) ends."""
        check_password(new_password)
        account = self._accounts.find_one({"_id": account_id})
        if account is None:
            raise NotFoundError("No such account", code="account_unknown")
        attempt = self.limiter.take(self._limit_key("change-password", account_id, ""))
        if attempt is None:
            raise RateLimitedError(f"Too many wrong passwords; try again in {self.limiter.retry_after()} s",
                                   code="rate_limited")
        if not isinstance(old_password, str) or len(old_password) > MAX_PASSWORD:
            old_password = ""
        auth_key, wrap_key = self._derive(old_password, account["kdf"])
        if not vault.auth_matches(auth_key, account["auth_hash"]):
            raise AuthenticationError("The current password is wrong", code="password_wrong")
        self.limiter.give_back(attempt)  # only wrong passwords count
        stored_key = vault.open_sealed(wrap_key, account["wrapped_key"])
        if not hmac.compare_digest(stored_key, data_key):
            raise VaultError("the session's data key is not this account's")
        salt = vault.new_salt()
        new_auth, new_wrap = vault.derive_wrap_key(new_password, salt, self.params.ops, self.params.mem)
        # compare-and-set on the old hash: of two concurrent changes, exactly one wins
        result = self._accounts.update_one(
            {"_id": account_id, "auth_hash": account["auth_hash"]},
            {"$set": {"kdf": self._kdf_doc(salt), "auth_hash": vault.auth_hash(new_auth),
                      "wrapped_key": vault.seal(new_wrap, data_key), "password_changed_at": self._clock.utcnow()}})
        if result.matched != 1:
            raise ConflictError("The password was changed at the same time; sign in again", code="password_changed")
        self.sign_out_everywhere(account_id, except_session=keep_session)

    def holder_signer(self, info: SessionInfo) -> Signer:
        """The owner's holder key (for Key Binding JWTs), opened with the session's data key."""
        account = self._accounts.find_one({"_id": info.account_id}, fields=["sealed_holder_key"])
        if account is None:
            raise NotFoundError("No such account", code="account_unknown")
        private = json.loads(vault.open_sealed(info.data_key, account["sealed_holder_key"]))
        return Signer.from_jwk(private, HOLDER_ALG)

    def adopt_holder_key(self, info: SessionInfo, private_jwk: dict[str, Any]) -> SessionInfo:
        """Make a restored backup's holder key this account's own: the backed-up credentials
        are bound to it (``cnf.jwk``), so only with it can they be presented again."""
        signer = Signer.from_jwk(private_jwk, HOLDER_ALG)
        self._accounts.update_one({"_id": info.account_id}, {"$set": {
            "holder_jwk": signer.public_jwk,
            "sealed_holder_key": vault.seal(info.data_key, json.dumps(dict(private_jwk)).encode())}})
        return replace(info, holder_jwk=signer.public_jwk)

    # -- e-mail ownership -------------------------------------------------------------------
    # Issuers deliver to an e-mail address (and bind to the wallet key of its account), so an
    # account receives nothing until its owner proves they read that address.

    def email_confirmation(self, account_id: str) -> tuple[str, str]:
        """A fresh single-use confirmation token (stored hashed) and the address to send it to."""
        token = secrets.token_urlsafe(32)
        account = self._accounts.find_one_and_update(
            {"_id": account_id, "email_verified": {"$ne": True}},
            {"$set": {"email_token": token_id(token), "email_token_expires": self._clock.utcnow() + EMAIL_TOKEN_LIFETIME}})
        if account is None:
            raise InputError("This e-mail address is already confirmed", code="email_already_confirmed")
        return token, account["email"]

    def confirm_email(self, token: str, account_id: str) -> str:
        """Mark the address of ``account_id`` (the signed-in owner: a link opened by a mail
        scanner or by someone else confirms nothing) confirmed; returns it. A wrong, used or
        lapsed token, or one of another account, fails."""
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH:
            raise InputError("This confirmation link is not valid", code="email_token_invalid")
        account = self._accounts.find_one_and_update(
            {"_id": account_id, "email_token": token_id(token), "email_token_expires": {"$gt": self._clock.utcnow()}},
            {"$set": {"email_verified": True, "email_verified_at": self._clock.utcnow()},
             "$unset": {"email_token": "", "email_token_expires": ""}})
        if account is None:
            raise InputError("This confirmation link is not valid, already used or too old", code="email_token_invalid")
        return account["email"]

    def mark_email_confirmed(self, account_id: str) -> None:
        """For accounts whose address an operator vouches for (the demo)."""
        self._accounts.update_one({"_id": account_id},
                                  {"$set": {"email_verified": True, "email_verified_at": self._clock.utcnow()}})

    # -- sessions -------------------------------------------------------------------------

    def session(self, token: str | None) -> SessionInfo | None:
        """The signed-in owner for a cookie token; ``None`` when unknown, expired or unusable.
        Use refreshes the idle deadline, at most once a minute (one write, not one per request)."""
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH:
            return None
        sid = token_id(token)
        doc = self._sessions.find_one({"_id": sid})
        if doc is None:
            return None
        now = self._clock.utcnow()
        if doc["expires_at"] <= now:
            self._sessions.delete_one({"_id": sid})  # TTL deletion is eventual; expiry is checked here
            return None
        try:
            data_key = vault.open_sealed(vault.key_from_token(token, _SESSION_PURPOSE), doc["data_key_sealed"])
        except VaultError:
            return None
        account = self._accounts.find_one({"_id": doc["account"]},
                                          fields=["email", "sealed_holder_key", "email_verified"])
        holder_jwk = self._holder_public(account, data_key) if account is not None else None
        if account is None or holder_jwk is None:
            self._sessions.delete_one({"_id": sid})
            return None
        if now - doc["last_seen"] >= TOUCH_INTERVAL:
            self._sessions.update_one({"_id": sid}, {"$set": {
                "last_seen": now, "expires_at": min(now + IDLE_TIMEOUT, doc["created_at"] + ABSOLUTE_TIMEOUT)},
                **({"$unset": {"email": ""}} if "email" in doc else {})})  # sessions made before kept a copy
        return SessionInfo(account_id=account["_id"], email=account["email"], data_key=data_key,
                           holder_jwk=holder_jwk, session_id=sid, email_verified=account.get("email_verified") is True)

    @staticmethod
    def _holder_public(account: dict[str, Any], data_key: bytes) -> dict[str, Any] | None:
        """The holder's public key, taken from the sealed private key (only the vault's owner can
        have sealed it), never from the account's plain ``holder_jwk`` copy that issuers read."""
        try:
            return Signer.from_jwk(json.loads(vault.open_sealed(data_key, account["sealed_holder_key"])), HOLDER_ALG).public_jwk
        except (VaultError, ValueError, KeyError, SDJWTError):
            return None

    def sign_out(self, token: str | None) -> None:
        if isinstance(token, str) and 0 < len(token) <= MAX_TOKEN_LENGTH:
            self._sessions.delete_one({"_id": token_id(token)})

    def sign_out_everywhere(self, account_id: str, *, except_session: str | None = None) -> int:
        """End every session of the account (but ``except_session``, a session id); returns how many."""
        flt: dict[str, Any] = {"account": account_id}
        if except_session is not None:
            flt["_id"] = {"$ne": except_session}
        return self._sessions.delete_many(flt)

    # -- backups --------------------------------------------------------------------------

    def export_backup(self, info: SessionInfo, passphrase: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
        """A JSON-able backup of the vault. ``entries`` are the caller's documents, sealed by the
        caller under the data key; they are copied as they are and covered by the backup's MAC."""
        check_password(passphrase, what="passphrase")
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise InputError("Backup entries are a list of JSON objects", code="backup_invalid")
        account = self._accounts.find_one({"_id": info.account_id}, fields=["sealed_holder_key"])
        if account is None:
            raise NotFoundError("No such account", code="account_unknown")
        salt = vault.new_salt()
        _, wrap_key = vault.derive_wrap_key(passphrase, salt, self.params.ops, self.params.mem)
        doc: dict[str, Any] = {
            "type": BACKUP_TYPE,
            "email": info.email,
            "created_at": self._clock.utcnow().isoformat(timespec="seconds"),
            "kdf": self._kdf_doc(salt),
            "wrapped_key": vault.seal(wrap_key, info.data_key),
            "holder": account["sealed_holder_key"],
            "entries": entries,
        }
        try:
            doc["mac"] = self._backup_mac(info.data_key, doc)
        except (TypeError, ValueError) as exc:
            raise InputError("Backup entries must be plain JSON", code="backup_invalid") from exc
        return doc

    def open_backup(self, doc: Any, passphrase: str) -> OpenedBackup:
        """Check and open a backup: ``(data_key, holder_private_jwk, entries)``. A malformed or
        altered document is ``backup_invalid``; a wrong passphrase ``backup_passphrase_wrong``."""
        invalid = InputError("This is not a credshare vault backup, or it was altered", code="backup_invalid")
        if not isinstance(doc, dict) or doc.get("type") != BACKUP_TYPE:
            raise invalid
        kdf, entries = doc.get("kdf"), doc.get("entries")
        if (not isinstance(kdf, dict) or not vault.params_allowed(kdf.get("ops"), kdf.get("mem"))
                or not all(isinstance(doc.get(k), str) for k in ("wrapped_key", "holder", "mac"))
                or not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries)):
            raise invalid
        try:
            salt = b64_decode(kdf.get("salt"))
        except ValueError:
            raise invalid from None
        if len(salt) != vault.SALT_BYTES:
            raise invalid
        if not isinstance(passphrase, str) or len(passphrase) > MAX_PASSWORD:
            passphrase = ""
        _, wrap_key = vault.derive_wrap_key(passphrase, salt, kdf["ops"], kdf["mem"])
        try:
            data_key = vault.open_sealed(wrap_key, doc["wrapped_key"])
        except VaultError:
            raise InputError("The backup passphrase is wrong", code="backup_passphrase_wrong") from None
        unsigned = {k: v for k, v in doc.items() if k != "mac"}
        if not hmac.compare_digest(self._backup_mac(data_key, unsigned).encode(), doc["mac"].encode("utf-8")):
            raise invalid
        try:
            holder = strict_json.loads(vault.open_sealed(data_key, doc["holder"]))  # the uploader's own sealing
            Signer.from_jwk(holder, HOLDER_ALG)
        except (VaultError, ValueError, SDJWTError, strict_json.JsonInputError):
            raise invalid from None
        return OpenedBackup(data_key, holder, entries)

    # -- helpers --------------------------------------------------------------------------

    def _start_session(self, account: dict[str, Any], data_key: bytes) -> Session:
        token = secrets.token_urlsafe(32)
        now = self._clock.utcnow()
        expires = now + IDLE_TIMEOUT
        sid = token_id(token)
        self._sessions.insert_one({
            "_id": sid, "account": account["_id"],  # no copy of the e-mail: session() reads it from the account
            "data_key_sealed": vault.seal(vault.key_from_token(token, _SESSION_PURPOSE), data_key),
            "created_at": now, "last_seen": now, "expires_at": expires,
        })
        info = SessionInfo(account_id=account["_id"], email=account["email"], data_key=data_key,
                           holder_jwk=self._holder_public(account, data_key) or {}, session_id=sid,
                           email_verified=account.get("email_verified") is True)
        return Session(token=token, info=info, expires_at=expires)

    def _kdf_doc(self, salt: bytes) -> dict[str, Any]:
        return {"salt": b64_encode(salt), "ops": self.params.ops, "mem": self.params.mem}

    @staticmethod
    def _derive(password: str, kdf: dict[str, Any]) -> tuple[bytes, bytes]:
        return vault.derive_wrap_key(password, b64_decode(kdf["salt"]), kdf["ops"], kdf["mem"])

    def _dummy_derivation(self, email: str, password: str) -> None:
        """The same work as a real check, for an address without an account: a per-address salt
        (stable, keyed by the server secret) and the current profile's cost."""
        salt = hmac.new(self._pepper, b"dummy-salt|" + email.encode("utf-8"), hashlib.sha256).digest()
        vault.derive_wrap_key(password, salt[:vault.SALT_BYTES], self.params.ops, self.params.mem)

    def _limit_key(self, action: str, subject: str, client: str) -> str:
        """Rate-limit counter keys name no e-mail address in clear."""
        digest = hmac.new(self._pepper, f"{action}|{subject}|{client}".encode("utf-8"), hashlib.sha256)
        return digest.hexdigest()[:32]

    @staticmethod
    def _backup_mac(data_key: bytes, unsigned: dict[str, Any]) -> str:
        return hmac.new(vault.subkey(data_key, _BACKUP_MAC_PURPOSE), _canonical(unsigned), hashlib.sha256).hexdigest()
