"""Scoped, expiring share links: an owner reveals chosen fields of one credential to whoever
holds the link, until it expires, is revoked, is locked by wrong passcodes or is used up.

* The token is 256 bits from :mod:`secrets`; the store keeps only its SHA-256.
* The presentation (issuer JWT, the chosen disclosures, and a Key Binding JWT whose ``aud`` is
  the link's id and whose ``nonce`` is fresh, RFC 9901 §4.3) is sealed under a key derived
  from the token (HKDF), so a database dump reveals neither live links nor shared fields.
  The owner's copy of the token and recipient label is sealed under their vault key.
* A passcode (optional) is stored as an Argon2id hash with an attempt budget that only goes
  down, as SMART Health Links do: a wrong passcode says how many attempts remain, and the
  link locks at zero. Attempts and views are counted with atomic conditional updates.
* Every open is logged for the owner: time, truncated client address, user agent, outcome.
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
from typing import Any, ClassVar

from credshare.errors import CredshareError, InputError, NotFoundError
from credshare.disclosure.jws import Signer
from credshare.disclosure.paths import ClaimPath
from credshare.disclosure.presentation import KeyBindingRequest, present, select_disclosures
from credshare.disclosure.verification import KeyBindingPolicy
from credshare.holding import vault
from credshare.holding.accounts import SessionInfo
from credshare.holding.evidence import EvidenceService
from credshare.holding.wallet import WalletEntry, require_confirmed
from credshare.issuing.issuers import token_hash
from credshare.storage import Store
from credshare.verifier.credential import SHARE_CLAIM
from credshare.verifier.report import Report

SHARES, ACCESS = "shares", "share_access"
DEFAULT_DAYS, MAX_DAYS = 30, 366
MAX_VIEWS, MAX_PASSCODE_ATTEMPTS = 10_000, 10
GRANT_SECONDS = 30 * 60  # after a counted view (and the passcode), the bundle and receipt follow for this long
KB_CLOCK_SLACK = 60


class ShareGone(CredshareError):
    """The link exists but can no longer be opened (revoked, expired, locked, used up)."""

    http_status = 410


class PasscodeNeeded(CredshareError):
    http_status = 401

    def __init__(self, detail: str, attempts_left: int, *, code: str) -> None:
        super().__init__(detail, code=code)
        self.attempts_left = attempts_left

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "attempts_left": self.attempts_left}


@dataclass(frozen=True)
class Gate:
    """A link before it is opened."""

    link_id: str
    passcode: bool
    attempts_left: int | None
    granted: bool  # this client opened it within its grant: show it again without asking


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


_GONE = {
    "revoked": ("share_revoked", "The owner revoked this link."),
    "expired": ("share_expired", "This link has expired."),
    "locked": ("share_locked", "This link is locked: too many wrong passcodes."),
    "used up": ("share_used_up", "This link has been opened as many times as the owner allowed."),
}


class ShareService:
    def __init__(self, store: Store, evidence: EvidenceService, *, secret_key: str, kdf: vault.KdfParams) -> None:
        self._shares = store.collection(SHARES)
        self._access = store.collection(ACCESS)
        self._evidence = evidence
        self._grant_key = hashlib.sha256(b"credshare/share-grant|" + secret_key.encode()).digest()
        self._kdf = kdf
        self._shares.create_index("token_hash", unique=True)
        self._shares.create_index("owner")
        self._access.create_index("share")

    # -- owner side ---------------------------------------------------------------------

    def create(
        self, info: SessionInfo, entry: WalletEntry, paths: list[ClaimPath], *, holder: Signer,
        days: int = DEFAULT_DAYS, recipient: str = "", passcode: str = "", attempts: int = 5,
        max_views: int | None = None, history: bool = False, now: int | None = None,
    ) -> ShareSummary:
        now = int(time.time()) if now is None else now
        require_confirmed(info)
        if not paths:
            raise InputError("choose at least one field to share", code="share_fields_missing")
        if not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
            raise InputError(f"a link lasts 1 to {MAX_DAYS} days", code="share_expiry_invalid")
        recipient = (recipient or "").strip()
        if len(recipient) > 200:
            raise InputError("the recipient label is at most 200 characters", code="share_recipient_invalid")
        if passcode and not 4 <= len(passcode) <= 128:
            raise InputError("a passcode has 4 to 128 characters", code="share_passcode_invalid")
        if not 1 <= attempts <= MAX_PASSCODE_ATTEMPTS:
            raise InputError(f"allow 1 to {MAX_PASSCODE_ATTEMPTS} passcode attempts", code="share_passcode_invalid")
        if max_views is not None and not 1 <= max_views <= MAX_VIEWS:
            raise InputError(f"a view limit is 1 to {MAX_VIEWS}", code="share_views_invalid")
        exp = entry.claims.get("exp")
        if isinstance(exp, (int, float)) and exp <= now and not history:
            raise InputError("this credential has expired: share it as history, or not at all", code="credential_expired")

        link_id, token, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(32), secrets.token_urlsafe(16)
        view = entry.view
        chosen = select_disclosures(view, paths)  # raises selection_unknown_path for a bad path
        withheld = len(view.disclosures) - len(chosen)
        statement = {"history": bool(history), "withheld": withheld}
        presentation = present(entry.sd_jwt, paths, KeyBindingRequest(holder, link_id, nonce, now, {SHARE_CLAIM: statement}))
        shared = {"presentation": presentation, "anchor_proof": entry.anchor_proof, "nonce": nonce,
                  "recipient": recipient, "withheld": withheld}
        doc: dict[str, Any] = {
            "_id": link_id, "token_hash": token_hash(token), "owner": info.account_id, "credential": entry.id,
            "created_at": now, "expires_at": now + days * 86400, "revoked_at": None, "views": 0,
            "max_views": max_views, "history": bool(history),
            "passcode_hash": vault.hash_passcode(passcode, self._kdf) if passcode else None,
            "attempts_left": attempts if passcode else None,
            "sealed_link": vault.seal(vault.key_from_token(token, "share"), json.dumps(shared).encode()),
            "sealed_owner": vault.seal(info.data_key, json.dumps(
                {"token": token, "recipient": recipient, "paths": [list(p) for p in paths]}).encode()),
        }
        self._shares.insert_one(doc)
        return self._summary(info, doc, now, with_access=False)

    def _summary(self, info: SessionInfo, doc: dict[str, Any], now: int, with_access: bool = True) -> ShareSummary:
        mine = json.loads(vault.open_sealed(info.data_key, doc["sealed_owner"]))
        passcode = bool(doc.get("passcode_hash"))
        access = self._access.find({"share": doc["_id"]}, sort=[("at", -1)], limit=100) if with_access else []
        return ShareSummary(doc["_id"], mine["token"], doc["credential"], mine["recipient"], mine["paths"],
                            state_of(doc, now), doc["created_at"], doc["expires_at"], doc.get("views", 0),
                            doc.get("max_views"), passcode, doc["attempts_left"] if passcode else None,
                            bool(doc.get("history")),
                            [{k: a.get(k) for k in ("at", "address", "user_agent", "outcome")} for a in access])

    def list(self, info: SessionInfo, credential: str | None = None) -> list[ShareSummary]:
        flt: dict[str, Any] = {"owner": info.account_id}
        if credential is not None:
            flt["credential"] = credential
        now = int(time.time())
        return [self._summary(info, doc, now) for doc in self._shares.find(flt, sort=[("created_at", -1)])]

    def get(self, info: SessionInfo, link_id: str) -> ShareSummary:
        doc = self._shares.find_one({"_id": str(link_id), "owner": info.account_id})
        if doc is None:
            raise NotFoundError("no such link", code="share_unknown")
        return self._summary(info, doc, int(time.time()))

    def revoke(self, info: SessionInfo, link_id: str) -> None:
        """Revoke one of the owner's links, at once (idempotent)."""
        if self._shares.find_one({"_id": str(link_id), "owner": info.account_id}, fields=["_id"]) is None:
            raise NotFoundError("no such link", code="share_unknown")
        self._shares.update_one({"_id": str(link_id), "owner": info.account_id, "revoked_at": None},
                                {"$set": {"revoked_at": int(time.time())}})

    def revoke_for_credential(self, info: SessionInfo, credential: str) -> int:
        return self._shares.update_many({"owner": info.account_id, "credential": credential, "revoked_at": None},
                                        {"$set": {"revoked_at": int(time.time())}}).modified

    # -- verifier side ------------------------------------------------------------------

    def _log(self, link_id: str, client: tuple[str | None, str | None], outcome: str) -> None:
        address, agent = client
        self._access.insert_one({"share": link_id, "at": int(time.time()), "address": truncate_address(address),
                                 "user_agent": (agent or "")[:200], "outcome": outcome})

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
            raise NotFoundError("this link does not exist", code="share_unknown")
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
        now = int(time.time())
        doc = self._find(token)
        state = state_of(doc, now)
        if not (state == "used up" and download and self._granted(doc["_id"], grant, now)):
            self._refuse_if_gone(doc, state, client)
        return Gate(doc["_id"], bool(doc.get("passcode_hash")), doc.get("attempts_left"),
                    self._granted(doc["_id"], grant, now))

    def open(self, token: str, client: tuple[str | None, str | None], *, passcode: str | None = None,
             grant: str | None = None, download: bool = False, outcome: str = "viewed") -> tuple[OpenedShare, str]:
        """Open a link and verify everything again, now. Returns the opened share and a grant
        for the client to keep (30 minutes from the counted view it came with). A client that
        holds a grant sees the link again, and takes its bundle and receipt, without another
        view or the passcode; once the last allowed view is used, only the bundle and receipt."""
        now = int(time.time())
        doc = self._find(token)
        link_id = doc["_id"]
        granted = self._granted(link_id, grant, now)
        state = state_of(doc, now)
        if not (state == "used up" and granted and download):  # after the last view: only its bundle and receipt
            self._refuse_if_gone(doc, state, client)
        if doc.get("passcode_hash") and not granted:
            self._check_passcode(doc, passcode, client)
        if granted:
            new_grant = str(grant)
        else:
            doc = self._count_view(doc, client)
            new_grant = self.grant(link_id, now)
        self._log(link_id, client, outcome if not (granted and not download) else f"{outcome} again")
        shared = json.loads(vault.open_sealed(vault.key_from_token(token, "share"), doc["sealed_link"]))
        policy = KeyBindingPolicy(required=True, audience=link_id, nonce=shared["nonce"],
                                  max_age_seconds=max(0, now - doc["created_at"]) + KB_CLOCK_SLACK)
        report = self._evidence.verify(shared["presentation"], shared["anchor_proof"], key_binding=policy, now=now)
        views = f"view {doc['views']} of {doc['max_views']}" if doc.get("max_views") else f"{doc['views']} view(s)"
        report.add("link", "passed", f"active until {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(doc['expires_at']))}; {views}")
        opened = OpenedShare(link_id, report, shared["recipient"], shared["withheld"], bool(doc.get("history")),
                             doc["created_at"], doc["expires_at"], doc["views"], doc.get("max_views"),
                             shared["presentation"], shared["anchor_proof"], shared["nonce"])
        return opened, new_grant

    def _check_passcode(self, doc: dict[str, Any], passcode: str | None, client: tuple[str | None, str | None]) -> None:
        """An attempt is taken from the budget before the passcode is checked (so parallel
        guesses cannot exceed it, and no more Argon2id checks run than the budget allows) and
        given back when it was right."""
        link_id = doc["_id"]
        if not passcode:
            self._log(link_id, client, "passcode asked")
            raise PasscodeNeeded("this link needs the passcode the owner gave you", doc["attempts_left"],
                                 code="passcode_required")
        reserved = self._shares.find_one_and_update({"_id": link_id, "attempts_left": {"$gt": 0}},
                                                    {"$inc": {"attempts_left": -1}}, return_document="after")
        if reserved is None:
            self._log(link_id, client, "locked")
            raise ShareGone(_GONE["locked"][1], code="share_locked")
        if len(passcode) <= 128 and vault.passcode_matches(doc["passcode_hash"], passcode):
            self._shares.update_one({"_id": link_id}, {"$inc": {"attempts_left": 1}})  # the attempt taken, back
            return
        left = reserved["attempts_left"]
        self._log(link_id, client, "wrong passcode" if left else "locked")
        if left <= 0:
            raise ShareGone("Wrong passcode. This link is now locked.", code="share_locked")
        raise PasscodeNeeded(f"wrong passcode: {left} attempt(s) left before the link locks", left, code="passcode_wrong")

    def _count_view(self, doc: dict[str, Any], client: tuple[str | None, str | None]) -> dict[str, Any]:
        flt: dict[str, Any] = {"_id": doc["_id"], "revoked_at": None}
        if doc.get("max_views") is not None:
            flt["views"] = {"$lt": doc["max_views"]}
        after = self._shares.find_one_and_update(flt, {"$inc": {"views": 1}}, return_document="after")
        if after is None:  # used up (or revoked) since it was read
            latest = self._shares.find_one({"_id": doc["_id"]}) or doc
            state = state_of(latest, int(time.time()))
            code, message = _GONE.get(state, _GONE["used up"])
            self._log(doc["_id"], client, state)
            raise ShareGone(message, code=code)
        return after
