"""Scoped, expiring share links: an owner reveals chosen fields of one credential to whoever
holds the link, until it expires, is revoked, is locked by wrong passcodes or is used up.

* The token is 256 bits from :mod:`secrets`; the store keeps only its SHA-256.
* The presentation (issuer JWT, the chosen disclosures, and a Key Binding JWT whose ``aud`` is
  the link's id and whose ``nonce`` is fresh, RFC 9901 §4.3) is sealed under a key derived
  from the token (HKDF), so a database dump reveals neither live links nor shared fields.
  The owner's copy of the token and recipient label is sealed under their vault key.
* A passcode (optional) is stored as an Argon2id hash with an attempt budget that only goes
  down, as SMART Health Links do: a wrong passcode says how many attempts remain, and the
  link locks at zero. Only wrong passcodes spend attempts; a check in progress holds one of
  the budget's slots, so parallel guesses never run more checks than the budget, and a right
  passcode is never answered "locked". Slots and views are taken with atomic conditional updates.
* Every open is logged for the owner: time, truncated client address, user agent, outcome.

A Blockcerts record (issue 15) has no selective disclosure and no holder key: it is shared
whole, as the evidence the wallet kept (``{"format": "blockcerts", "evidence", "recipient",
"withheld": 0}``, sealed the same way), every link option applying; opening the link checks it
again now (:meth:`EvidenceService.verify_blockcerts`: the revocation or status list read again,
the anchors looked up), and the link check is added as for any credential.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

from credshare.blockcerts.evidence import BlockcertsEvidence
from credshare.disclosure.jws import Signer, parse_compact
from credshare.disclosure.paths import ClaimPath
from credshare.disclosure.presentation import HolderView, KeyBindingRequest, present, select_disclosures
from credshare.disclosure.verification import KeyBindingPolicy
from credshare.foundation.clock import SYSTEM_CLOCK, Clock
from credshare.foundation.errors import ConflictError, CredshareError, InputError, NotFoundError, RateLimitedError
from credshare.foundation.kdf import derive_key
from credshare.holding import vault
from credshare.holding.accounts import SessionInfo
from credshare.holding.evidence import EvidenceService
from credshare.holding.wallet import (
    BLOCKCERTS,
    NOT_STANDING,
    SD_JWT_VC,
    WalletEntry,
    WalletService,
    credential_state,
    require_confirmed,
)
from credshare.issuing.issuers import token_hash
from credshare.storage import Store
from credshare.verifier.credential import SHARE_CLAIM
from credshare.verifier.report import Report

SHARES, ACCESS = "shares", "share_access"
DEFAULT_DAYS, MAX_DAYS, DEFAULT_ATTEMPTS = 30, 366, 5
MAX_VIEWS, MAX_PASSCODE_ATTEMPTS = 10_000, 10
MAX_FIELDS, MAX_PATH_LENGTH = 200, 16  # fields chosen for one link; names and indices in one claim path
MAX_RECIPIENT, MAX_PASSCODE = 200, 128
GATE_PURPOSE = "share-gate"  # the key sealing what the gate shows (recipient label, type, issuer), apart from the fields
EXPIRING_SECONDS = 24 * 3600  # the owner is told when an open link expires within this (holding/notifications.py)
GRANT_SECONDS = 30 * 60  # after a counted view (and the passcode), the bundle and receipt follow for this long
KB_CLOCK_SLACK = 60
PASSCODE_WAIT_SECONDS = 10.0  # a visitor waits this long for a passcode-check slot before being told to retry
PASSCODE_POLL_SECONDS = 0.02
PASSCODE_HOLD_SECONDS = 120  # a slot held longer than this was left by a process that died mid-check

# (kind, owner account id, link id, facts): told when a link is opened the first time
# ("link_opened"), used up ("link_used_up"), locked ("link_locked") or expires within a day
# ("link_expiring", from :meth:`ShareService.tell_expiring`); see holding/notifications.py
LinkListener = Callable[[str, str, str, dict[str, Any]], None]


class ShareGone(CredshareError):
    """The link exists but can no longer be opened (revoked, expired, locked, used up)."""

    http_status = 410
    stage = "link"


class ShareBusy(RateLimitedError):
    """Every passcode-check slot of the link is held by other visitors' checks right now: retry."""

    code = "share_busy"


class PasscodeNeeded(CredshareError):
    http_status = 401
    stage = "link"

    def __init__(self, detail: str, attempts_left: int, *, code: str) -> None:
        super().__init__(detail, code=code)
        self.attempts_left = attempts_left

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "attempts_left": self.attempts_left}


@dataclass(frozen=True)
class Gate:
    """A link before it is opened: what it shares, in words a visitor can judge before a view
    is counted. ``vct`` and ``iss`` are the credential's always-visible claims (SD-JWT VC §3.2.2.2),
    read but not yet verified: the checks run when the link is opened. No field value is here."""

    link_id: str
    passcode: bool
    attempts_left: int | None
    granted: bool  # this client opened it within its grant: show it again without asking
    recipient: str = ""
    vct: str | None = None
    iss: str | None = None
    expires_at: int = 0
    views_left: int | None = None  # None: no view limit
    history: bool = False
    format: str = SD_JWT_VC
    type_name: str | None = None  # a Blockcerts record's own type name (read, not yet verified)


@dataclass(frozen=True)
class OpenedShare:
    """A link opened by a verifier: what the owner shared and the report on it, now."""

    link_id: str
    report: Report
    recipient: str
    withheld: int
    history: bool
    created_at: int
    expires_at: int
    views: int
    max_views: int | None
    presentation: str = field(repr=False)
    anchor_proof: dict[str, Any] = field(repr=False)
    nonce: str = field(repr=False)
    format: str = SD_JWT_VC
    # a Blockcerts record: the evidence it was judged by in this open (what its bundle carries)
    evidence: BlockcertsEvidence | None = field(default=None, repr=False)

    @property
    def is_blockcerts(self) -> bool:
        return self.format == BLOCKCERTS


@dataclass(frozen=True)
class ShareSummary:
    """A link as its owner manages it."""

    STATES: ClassVar[tuple[str, ...]] = ("active", "expired", "revoked", "locked", "used up")

    link_id: str
    token: str = field(repr=False)
    credential: str
    recipient: str
    paths: list[list[Any]]
    state: str
    created_at: int
    expires_at: int
    views: int
    max_views: int | None
    passcode: bool
    attempts_left: int | None
    history: bool
    access: list[dict[str, Any]]
    credential_state: str  # the shared credential's state now (holding.wallet.credential_state), or "deleted"

    @property
    def opens_to_a_warning(self) -> bool:
        """The link opens, and shows its credential revoked, suspended or not verified."""
        return self.state == "active" and self.credential_state in NOT_STANDING

    @property
    def shown_state(self) -> str:
        """The link's state as its owner reads it: an open link to a credential that is not
        valid now is not a plain "active" one, it says what it shows."""
        if self.state == "active" and self.credential_state != "valid":
            return f"open, shows {self.credential_state}"
        return self.state


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _text(value: Any, code: str, detail: str) -> str:
    """An optional text input: absent (``None``) is empty; anything but a string is refused."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(detail, code=code)
    return value


def chosen_paths(view: HolderView, fields: Any) -> list[ClaimPath]:
    """The fields an owner chose to share, checked: a list of at most :data:`MAX_FIELDS`
    distinct claim paths (lists of claim names and array indices, RFC 9901 §7.1 paths), each one
    the issuer made selectively disclosable in this credential. Claims that are always visible
    (``iss``, ``vct``, ``cnf``, ``status``, ... SD-JWT VC §3.2.2.2) and ``_sd`` digests are not
    fields one can choose."""
    if not isinstance(fields, (list, tuple)):
        raise InputError("Fields is a list of claim paths (lists of names)", code="share_fields_invalid")
    if not fields:
        raise InputError("Choose at least one field to share", code="share_fields_missing")
    if len(fields) > MAX_FIELDS:
        raise InputError(f"Choose at most {MAX_FIELDS} fields", code="share_fields_invalid")
    disclosable = {tuple(where) for where in view.processed.paths.values()}
    chosen: list[ClaimPath] = []
    for raw in fields:
        if (not isinstance(raw, (list, tuple)) or not 0 < len(raw) <= MAX_PATH_LENGTH
                or not all(isinstance(p, str) or (isinstance(p, int) and not isinstance(p, bool)) for p in raw)):
            raise InputError("Each field is a claim path: a list of claim names and array indices",
                             code="share_fields_invalid")
        path = tuple(raw)
        if path not in disclosable:
            raise InputError("A chosen field is not one this credential lets you disclose (what is always "
                             "visible, such as the issuer and the type, cannot be chosen)", code="share_field_not_disclosable")
        if path in chosen:
            raise InputError(f"The field {'.'.join(map(str, path))} is chosen twice", code="share_fields_duplicate")
        chosen.append(path)
    return chosen


def whole_record(fields: Any) -> None:
    """A Blockcerts record is shared whole: no field list (``None`` or empty) or ``"all"``;
    any choice of fields is refused, never silently widened."""
    if fields is None or fields == "all" or (isinstance(fields, (list, tuple)) and not fields):
        return
    raise InputError("A Blockcerts record is shared whole: its fields cannot be chosen one by one "
                     "(leave the fields out, or send \"all\")", code="share_fields_not_selectable")


def truncate_address(address: str | None) -> str:
    """An IPv4 address to its /24, IPv6 to its /48: enough to tell networks apart."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return "unknown"
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address) + f"/{prefix}"


def state_of(doc: dict[str, Any], now: int) -> str:
    if doc.get("revoked_at"):
        return "revoked"
    if now >= doc["expires_at"]:
        return "expired"
    if doc.get("passcode_hash") and doc["attempts_left"] <= 0:
        return "locked"
    if doc.get("max_views") is not None and doc.get("views", 0) >= doc["max_views"]:
        return "used up"
    return "active"


_NOT_STANDING_WARNING = {
    "revoked": "The issuer has revoked this credential: whoever opens a link to it is told so. "
               "Confirm that you want to share it anyway.",
    "suspended": "The issuer has suspended this credential: whoever opens a link to it is told so. "
                 "Confirm that you want to share it anyway.",
    "not verified": "This credential no longer passes every check: whoever opens a link to it is told "
                    "it is not verified. Confirm that you want to share it anyway.",
}

UNKNOWN_LINK = ("This link does not exist. Check that the address was copied completely, "
                "or ask the physician for a new link.")

_GONE = {
    "revoked": ("share_revoked", "The physician revoked this link. Ask them for a new link if you still need it."),
    "expired": ("share_expired", "This link has expired. Ask the physician for a new link if you still need it."),
    "locked": ("share_locked", "This link is locked: too many wrong passcodes were tried. "
                               "Ask the physician for a new link."),
    "used up": ("share_used_up", "This link has been opened as many times as the physician allowed. "
                                 "Ask them for a new link if you still need it."),
}


def _gate_words(doc: dict[str, Any], token: str) -> dict[str, Any]:
    """The recipient label, type and issuer a link's gate shows, opened with the token. A link
    made before ``sealed_gate`` was kept is read from its sealed presentation: the label, and the
    always-visible ``vct`` and ``iss`` of the issuer-signed JWT (no disclosure is decoded)."""
    if doc.get("sealed_gate"):
        told = json.loads(vault.open_sealed(vault.key_from_token(token, GATE_PURPOSE), doc["sealed_gate"]))
        return told if isinstance(told, dict) else {}
    shared = json.loads(vault.open_sealed(vault.key_from_token(token, "share"), doc["sealed_link"]))
    try:
        payload = parse_compact(str(shared["presentation"]).split("~", 1)[0]).payload
    except CredshareError:
        payload = {}
    return {"recipient": shared.get("recipient"), "vct": payload.get("vct"), "iss": payload.get("iss")}


class ShareService:
    def __init__(self, store: Store, evidence: EvidenceService, wallet: WalletService, *, secret_key: str,
                 kdf: vault.KdfParams, clock: Clock = SYSTEM_CLOCK, listener: LinkListener | None = None) -> None:
        self._clock = clock
        self._listener = listener
        self._store = store
        self._shares = store.collection(SHARES)
        self._access = store.collection(ACCESS)
        self._evidence = evidence
        self._wallet = wallet
        self._grant_key = derive_key(secret_key, "shares/grant")
        self._kdf = kdf
        self._shares.create_index("token_hash", unique=True)
        self._shares.create_index("owner")
        self._access.create_index("share")

    # -- owner side ---------------------------------------------------------------------

    def create(
        self, info: SessionInfo, entry: WalletEntry, paths: Any, *, holder: Signer,
        days: Any = DEFAULT_DAYS, recipient: Any = "", passcode: Any = "", attempts: Any = DEFAULT_ATTEMPTS,
        max_views: Any = None, history: Any = False, acknowledge_status: Any = None, now: int | None = None,
    ) -> ShareSummary:
        """Make a link to ``entry`` revealing ``paths``. Every input is checked here, for the
        form and the JSON API alike, as it arrives (typed JSON values or form strings decoded
        to them): a wrong type or size is an :class:`InputError` with a stable code, and
        nothing is stored.

        A credential the issuer revoked or suspended (or that no longer verifies) is shared only
        when ``acknowledge_status`` names that state: whoever opens the link is told it, and the
        owner should know before sending it (:class:`ConflictError` ``credential_revoked``, ...)."""
        now = self._clock.seconds() if now is None else now
        require_confirmed(info)
        if entry.is_blockcerts:
            whole_record(paths)
            view, paths = None, []
        else:
            view = entry.view
            paths = chosen_paths(view, paths)
        if not _whole(days, 1, MAX_DAYS):
            raise InputError(f"A link lasts 1 to {MAX_DAYS} days", code="share_expiry_invalid")
        recipient = _text(recipient, "share_recipient_invalid", "the recipient label is text").strip()
        if len(recipient) > MAX_RECIPIENT:
            raise InputError(f"The recipient label is at most {MAX_RECIPIENT} characters", code="share_recipient_invalid")
        passcode = _text(passcode, "share_passcode_invalid", "the passcode is text")
        if passcode and not 4 <= len(passcode) <= MAX_PASSCODE:
            raise InputError(f"A passcode has 4 to {MAX_PASSCODE} characters", code="share_passcode_invalid")
        if not _whole(attempts, 1, MAX_PASSCODE_ATTEMPTS):
            raise InputError(f"Allow 1 to {MAX_PASSCODE_ATTEMPTS} passcode attempts", code="share_passcode_invalid")
        if max_views is not None and not _whole(max_views, 1, MAX_VIEWS):
            raise InputError(f"A view limit is 1 to {MAX_VIEWS}", code="share_views_invalid")
        if not isinstance(history, bool):
            raise InputError("History is true or false", code="share_history_invalid")
        acknowledge_status = _text(acknowledge_status, "share_acknowledge_invalid", "acknowledge_status is text")
        exp = entry.record.expires_at if entry.is_blockcerts else entry.claims.get("exp")
        if isinstance(exp, (int, float)) and exp <= now and not history:
            raise InputError("This credential has expired: share it as history, or not at all", code="credential_expired")
        standing = credential_state(self._wallet.status(entry))
        if standing in NOT_STANDING and acknowledge_status != standing:
            raise ConflictError(_NOT_STANDING_WARNING[standing], code="credential_" + standing.replace(" ", "_"))

        link_id, token, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(32), secrets.token_urlsafe(16)
        shared: dict[str, Any]
        if view is None:  # a Blockcerts record, shared whole
            record = entry.record
            shared = {"format": BLOCKCERTS, "evidence": entry.evidence, "recipient": recipient, "withheld": 0}
            told = {"recipient": recipient, "vct": None, "iss": record.issuer_id, "format": BLOCKCERTS,
                    "type_name": record.type_name}
        else:
            chosen = select_disclosures(view, paths)
            withheld = len(view.disclosures) - len(chosen)
            statement = {"history": bool(history), "withheld": withheld}
            presentation = present(entry.sd_jwt, paths,
                                   KeyBindingRequest(holder, link_id, nonce, now, {SHARE_CLAIM: statement}))
            shared = {"presentation": presentation, "anchor_proof": entry.anchor_proof, "nonce": nonce,
                      "recipient": recipient, "withheld": withheld}
            told = {"recipient": recipient, "vct": entry.claims.get("vct"), "iss": entry.claims.get("iss")}
        doc: dict[str, Any] = {
            "_id": link_id, "token_hash": token_hash(token), "owner": info.account_id, "credential": entry.id,
            "created_at": now, "expires_at": now + days * 86400, "revoked_at": None, "views": 0,
            "max_views": max_views, "history": bool(history),
            "passcode_hash": vault.hash_passcode(passcode, self._kdf) if passcode else None,
            "attempts_left": attempts if passcode else None,
            "passcode_slots": attempts if passcode else None, "passcode_held_at": 0,
            "sealed_link": vault.seal(vault.key_from_token(token, "share"), json.dumps(shared).encode()),
            "sealed_gate": vault.seal(vault.key_from_token(token, GATE_PURPOSE), json.dumps(told).encode()),
            "sealed_owner": vault.seal(info.data_key, json.dumps(
                {"token": token, "recipient": recipient, "paths": [list(p) for p in paths]}).encode()),
        }
        self._shares.insert_one(doc)
        if not self._wallet.holds(info, entry.id):
            # deleted (or being deleted) while this link was made: the deletion may have revoked the
            # credential's links before this one existed, so it revokes itself (see delete_credential)
            self._shares.update_one({"_id": link_id}, {"$set": {"revoked_at": now}})
            raise NotFoundError("The credential was deleted while the link was being made: no link was made",
                                code="credential_unknown")
        return self._summary(info, doc, now, standing, with_access=False)

    def _summary(self, info: SessionInfo, doc: dict[str, Any], now: int, standing: str,
                 with_access: bool = True) -> ShareSummary:
        mine = json.loads(vault.open_sealed(info.data_key, doc["sealed_owner"]))
        passcode = bool(doc.get("passcode_hash"))
        access = self._access.find({"share": doc["_id"]}, sort=[("at", -1)], limit=100) if with_access else []
        return ShareSummary(doc["_id"], mine["token"], doc["credential"], mine["recipient"], mine["paths"],
                            state_of(doc, now), doc["created_at"], doc["expires_at"], doc.get("views", 0),
                            doc.get("max_views"), passcode, doc["attempts_left"] if passcode else None,
                            bool(doc.get("history")),
                            [{k: a.get(k) for k in ("at", "address", "user_agent", "outcome")} for a in access],
                            standing)

    def _standing(self, info: SessionInfo, credentials: set[str]) -> dict[str, str]:
        """Each credential's state now, checked once per credential however many links it has."""
        out: dict[str, str] = {}
        for credential in credentials:
            try:
                out[credential] = credential_state(self._wallet.status(self._wallet.get(info, credential)))
            except NotFoundError:
                out[credential] = "deleted"
        return out

    def list(self, info: SessionInfo, credential: str | None = None) -> list[ShareSummary]:
        flt: dict[str, Any] = {"owner": info.account_id}
        if credential is not None:
            flt["credential"] = credential
        now = self._clock.seconds()
        docs = self._shares.find(flt, sort=[("created_at", -1)])
        standing = self._standing(info, {doc["credential"] for doc in docs})
        return [self._summary(info, doc, now, standing[doc["credential"]]) for doc in docs]

    def get(self, info: SessionInfo, link_id: str) -> ShareSummary:
        doc = self._shares.find_one({"_id": str(link_id), "owner": info.account_id})
        if doc is None:
            raise NotFoundError("No such link", code="share_unknown")
        return self._summary(info, doc, self._clock.seconds(), self._standing(info, {doc["credential"]})[doc["credential"]])

    def revoke(self, info: SessionInfo, link_id: str) -> None:
        """Revoke one of the owner's links, at once (idempotent)."""
        if self._shares.find_one({"_id": str(link_id), "owner": info.account_id}, fields=["_id"]) is None:
            raise NotFoundError("No such link", code="share_unknown")
        self._shares.update_one({"_id": str(link_id), "owner": info.account_id, "revoked_at": None},
                                {"$set": {"revoked_at": self._clock.seconds()}})

    def revoke_for_credential(self, info: SessionInfo, credential: str) -> int:
        return self._shares.update_many({"owner": info.account_id, "credential": credential, "revoked_at": None},
                                        {"$set": {"revoked_at": self._clock.seconds()}}).modified

    def delete_credential(self, info: SessionInfo, entry_id: str) -> int:
        """Delete one of the owner's credentials with its links; returns how many were revoked.

        The order closes the race with :meth:`create`: the entry is marked first, then its links
        are revoked, then it is deleted. A link inserted before the revocation is revoked by it;
        one inserted after it finds the mark when :meth:`create` checks the entry again, and
        revokes itself. A crash after the mark leaves the credential shown, to be deleted again."""
        self._wallet.mark_deleting(info, entry_id)
        revoked = self.revoke_for_credential(info, entry_id)
        self._wallet.delete(info, entry_id)
        return revoked

    def tell_expiring(self, now: int, within: int = EXPIRING_SECONDS, limit: int = 200) -> int:
        """Tell the owner of each open link that expires within ``within`` seconds (once per
        link: ``expiring_told`` is set by compare-and-set, so one process tells it). Returns how many."""
        told = 0
        soon = self._shares.find({"revoked_at": None, "expiring_told": None,
                                  "expires_at": {"$gt": now, "$lte": now + within}}, limit=limit)
        for doc in soon:
            if self._shares.find_one_and_update({"_id": doc["_id"], "expiring_told": None},
                                                {"$set": {"expiring_told": now}}) is None:
                continue
            # a link made to last a day or less is not "about to expire": its owner chose that
            if state_of(doc, now) == "active" and doc["created_at"] < doc["expires_at"] - within:
                self._tell("link_expiring", doc, {"expires_at": int(doc["expires_at"]), "created_at": doc["created_at"]})
                told += 1
        return told

    def link_state(self, link_id: str, now: int) -> str | None:
        """A link's state (:func:`state_of`) for a watcher that holds no token; ``None`` when
        the link is gone."""
        doc = self._shares.find_one({"_id": str(link_id)})
        return None if doc is None else state_of(doc, now)

    # -- verifier side ------------------------------------------------------------------

    def _log(self, link_id: str, client: tuple[str | None, str | None], outcome: str) -> None:
        """One line of the link's access log; answered before it is on disk (see :meth:`_count_view`)."""
        address, agent = client
        with self._store.bulk(durable=False):
            self._access.insert_one({"share": link_id, "at": self._clock.seconds(),
                                     "address": truncate_address(address), "user_agent": (agent or "")[:200],
                                     "outcome": outcome})

    def grant(self, link_id: str, now: int) -> str:
        """Proof, for a while, that this browser or client opened the link (a counted view, and
        the passcode when one is set): it lets the bundle and receipt follow without another view."""
        until = now + GRANT_SECONDS
        mac = hmac.new(self._grant_key, f"{link_id}|{until}".encode(), hashlib.sha256).hexdigest()
        return f"{until}.{mac}"

    def _granted(self, link_id: str, grant: str | None, now: int) -> bool:
        until, _, mac = (grant or "").partition(".")
        if not re.fullmatch(r"[0-9]{1,12}", until) or int(until) < now:
            return False
        expected = hmac.new(self._grant_key, f"{link_id}|{until}".encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(mac.encode(), expected.encode())

    def _find(self, token: str) -> dict[str, Any]:
        doc = self._shares.find_one({"token_hash": token_hash(token or "")})
        if doc is None:
            raise NotFoundError(UNKNOWN_LINK, code="share_unknown")
        return doc

    def _refuse_if_gone(self, doc: dict[str, Any], state: str, client: tuple[str | None, str | None]) -> None:
        if state != "active":
            self._log(doc["_id"], client, state)
            code, message = _GONE[state]
            raise ShareGone(message, code=code)

    def gate(self, token: str, client: tuple[str | None, str | None], grant: str | None = None,
             download: bool = False) -> Gate:
        """What a visitor may see before opening: whether the link is open and needs a passcode.
        Counts no view and shows nothing shared, so link previewers cannot use a link up."""
        now = self._clock.seconds()
        doc = self._find(token)
        state = state_of(doc, now)
        if not (state == "used up" and download and self._granted(doc["_id"], grant, now)):
            self._refuse_if_gone(doc, state, client)
        told = _gate_words(doc, token)
        max_views = doc.get("max_views")
        return Gate(doc["_id"], bool(doc.get("passcode_hash")), doc.get("attempts_left"),
                    self._granted(doc["_id"], grant, now), recipient=str(told.get("recipient") or ""),
                    vct=told.get("vct") if isinstance(told.get("vct"), str) else None,
                    iss=told.get("iss") if isinstance(told.get("iss"), str) else None,
                    expires_at=int(doc["expires_at"]),
                    views_left=max(0, max_views - doc.get("views", 0)) if max_views is not None else None,
                    history=bool(doc.get("history")),
                    format=BLOCKCERTS if told.get("format") == BLOCKCERTS else SD_JWT_VC,
                    type_name=told.get("type_name") if isinstance(told.get("type_name"), str) else None)

    def open(self, token: str, client: tuple[str | None, str | None], *, passcode: str | None = None,
             grant: str | None = None, download: bool = False, outcome: str = "viewed") -> tuple[OpenedShare, str]:
        """Open a link and verify everything again, now. Returns the opened share and a grant
        for the client to keep (30 minutes from the counted view it came with). A client that
        holds a grant sees the link again, and takes its bundle and receipt, without another
        view or the passcode; once the last allowed view is used, only the bundle and receipt."""
        now = self._clock.seconds()
        doc = self._find(token)
        link_id = doc["_id"]
        granted = self._granted(link_id, grant, now)
        state = state_of(doc, now)
        if not (state == "used up" and granted and download):  # after the last view: only its bundle and receipt
            self._refuse_if_gone(doc, state, client)
        if doc.get("passcode_hash") and not granted:
            self._check_passcode(doc, passcode, client)
        logged = outcome if not (granted and not download) else f"{outcome} again"
        if granted:
            new_grant = str(grant)
            self._log(link_id, client, logged)
        else:
            doc = self._count_view(doc, client, logged)
            new_grant = self.grant(link_id, now)
        shared = json.loads(vault.open_sealed(vault.key_from_token(token, "share"), doc["sealed_link"]))
        if not granted:
            self._tell_view(doc, token, shared)
        evidence: BlockcertsEvidence | None = None
        if shared.get("format") == BLOCKCERTS:
            report, evidence = self._evidence.verify_blockcerts(shared["evidence"], now=now,
                                                                allow_expired=bool(doc.get("history")))
        else:
            policy = KeyBindingPolicy(required=True, audience=link_id, nonce=shared["nonce"],
                                      max_age_seconds=max(0, now - doc["created_at"]) + KB_CLOCK_SLACK)
            report = self._evidence.verify(shared["presentation"], shared["anchor_proof"], key_binding=policy, now=now)
        views = f"view {doc['views']} of {doc['max_views']}" if doc.get("max_views") else f"{doc['views']} view(s)"
        until = time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(doc['expires_at']))
        report.add("link", "passed", f"active until {until}; {views}")
        opened = OpenedShare(link_id, report, shared["recipient"], shared["withheld"], bool(doc.get("history")),
                             doc["created_at"], doc["expires_at"], doc["views"], doc.get("max_views"),
                             shared.get("presentation", ""), shared.get("anchor_proof") or {}, shared.get("nonce", ""),
                             format=BLOCKCERTS if evidence is not None else SD_JWT_VC, evidence=evidence)
        return opened, new_grant

    def _tell(self, kind: str, doc: dict[str, Any], facts: dict[str, Any]) -> None:
        if self._listener is not None:
            self._listener(kind, doc["owner"], doc["_id"], facts)

    def _tell_view(self, doc: dict[str, Any], token: str, shared: dict[str, Any]) -> None:
        """After a counted view: the first one, and the last one allowed, are told to the owner."""
        views, limit = doc.get("views", 0), doc.get("max_views")
        if views != 1 and views != limit:
            return
        told = _gate_words(doc, token)
        facts = {"recipient": shared.get("recipient") or "", "vct": told.get("vct"), "type_name": told.get("type_name")}
        if views == 1:
            self._tell("link_opened", doc, facts)
        if limit is not None and views == limit:
            self._tell("link_used_up", doc, facts)

    def _check_passcode(self, doc: dict[str, Any], passcode: str | None, client: tuple[str | None, str | None]) -> None:
        """The budget (``attempts_left``) goes down only for a wrong passcode. A check in progress
        holds one of the budget's slots (``passcode_slots``: the budget less the checks running),
        taken before the Argon2id check and given back when the passcode was right, so parallel
        guesses cannot run more checks than the budget allows. A visitor who finds every slot
        held waits a little for one and is then told to retry, never that the link is locked:
        held slots are not spent attempts."""
        link_id = doc["_id"]
        if not passcode:
            self._log(link_id, client, "passcode asked")
            raise PasscodeNeeded("This link needs a passcode: enter the one the physician gave you", doc["attempts_left"],
                                 code="passcode_required")
        self._hold_slot(doc, client)
        try:
            right = len(passcode) <= MAX_PASSCODE and vault.passcode_matches(doc["passcode_hash"], passcode)
        except BaseException:
            self._shares.update_one({"_id": link_id}, {"$inc": {"passcode_slots": 1}})
            raise
        if right:
            self._shares.update_one({"_id": link_id}, {"$inc": {"passcode_slots": 1}})  # the slot held, back
            return
        spent = self._shares.find_one_and_update({"_id": link_id}, {"$inc": {"attempts_left": -1}}, return_document="after")
        left = int((spent or {}).get("attempts_left", 0))
        self._log(link_id, client, "wrong passcode" if left > 0 else "locked")
        if left <= 0:
            if left == 0:  # the wrong passcode that locked it (one only: the budget goes down one at a time)
                self._tell("link_locked", doc, {})
            raise ShareGone("Wrong passcode. This link is now locked: ask the physician for a new link.",
                            code="share_locked")
        raise PasscodeNeeded(f"Wrong passcode: {left} attempt(s) left before the link locks. Check the passcode with "
                             "the physician and try again", left, code="passcode_wrong")

    def _hold_slot(self, doc: dict[str, Any], client: tuple[str | None, str | None]) -> None:
        """Take one passcode-check slot (an atomic conditional decrement), waiting up to
        :data:`PASSCODE_WAIT_SECONDS` while others hold them all; :class:`ShareBusy` after that,
        :class:`ShareGone` when the link stopped being open meanwhile (locked by a wrong passcode)."""
        link_id = doc["_id"]
        if "passcode_slots" not in doc:  # a link made before slots were kept
            self._shares.update_one({"_id": link_id, "passcode_slots": {"$exists": False}},
                                    {"$set": {"passcode_slots": doc["attempts_left"], "passcode_held_at": 0}})
        deadline = time.monotonic() + PASSCODE_WAIT_SECONDS
        latest = doc
        while True:
            now = self._clock.seconds()
            if (latest.get("passcode_slots", 0) < latest["attempts_left"]
                    and latest.get("passcode_held_at", 0) < now - PASSCODE_HOLD_SECONDS):
                # no check takes that long: these holds were left by a process that died mid-check
                self._shares.update_one({"_id": link_id, "attempts_left": latest["attempts_left"],
                                         "passcode_held_at": latest.get("passcode_held_at", 0)},
                                        {"$set": {"passcode_slots": latest["attempts_left"]}})
            held = self._shares.find_one_and_update({"_id": link_id, "passcode_slots": {"$gt": 0}},
                                                    {"$inc": {"passcode_slots": -1}, "$set": {"passcode_held_at": now}})
            if held is not None:
                return
            latest = self._shares.find_one({"_id": link_id}) or doc
            self._refuse_if_gone(latest, state_of(latest, now), client)
            if time.monotonic() >= deadline:
                self._log(link_id, client, "asked to retry")
                raise ShareBusy("Someone else is opening this link right now. Try again in a moment.",
                                code="share_busy")
            time.sleep(PASSCODE_POLL_SECONDS)

    def _count_view(self, doc: dict[str, Any], client: tuple[str | None, str | None], outcome: str) -> dict[str, Any]:
        """Count one view and log it as ``outcome``: one transaction (one commit) on the
        embedded store. A view that cannot be counted is logged with the link's state instead.

        The commit is not waited on to reach the disk (``durable=False``): it is synced with
        the other views of the next tenth of a second, as MongoDB journals a default write.
        Every view waited behind the previous one's sync otherwise; a power cut in that window
        can forget a view (and let a limited link open once more), a crash of the server cannot."""
        flt: dict[str, Any] = {"_id": doc["_id"], "revoked_at": None}
        if doc.get("max_views") is not None:
            flt["views"] = {"$lt": doc["max_views"]}
        with self._store.bulk(durable=False):
            after = self._shares.find_one_and_update(flt, {"$inc": {"views": 1}}, return_document="after")
            if after is not None:
                self._log(doc["_id"], client, outcome)
        if after is None:  # used up (or revoked) since it was read
            latest = self._shares.find_one({"_id": doc["_id"]}) or doc
            state = state_of(latest, self._clock.seconds())
            code, message = _GONE.get(state, _GONE["used up"])
            self._log(doc["_id"], client, state)
            raise ShareGone(message, code=code)
        return after
