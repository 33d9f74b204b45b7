"""CVO status subscriptions (issue 14): a credentialing organisation that opened a share link
asks to be told, by e-mail or by a webhook, when the status of the credential behind it
changes while the link lasts: revoked, suspended, reinstated (valid again), expired (the
credential's validity ended), and, finally, the link itself ending. This serves ongoing
monitoring of licenses and sanctions (NCQA credentialing standards).

This module owns the ``status_subscriptions`` collection and the status watch
(:meth:`Subscriptions.run_once`), run by the notification thread before the outbox
(holding/deliveries.py) delivers what it queued. The same watch serves the physician: each
credential added to a wallet is watched for its owner too (kind ``owner``, recorded when it is
added, the one moment the server holds it outside the owner's vault; dropped when it is
deleted), and a revocation, suspension or reinstatement is handed to the owner listener
(holding/notifications.py), which mails it unless the physician turned that off.

* What the watch needs is kept sealed under a key of the server's secret (``sealed``): the
  issuer-signed JWT without any disclosure (so no field value), its anchor proof, the
  credential type and the subscriber's address or webhook URL; dropped when the subscription
  ends. In clear: the link id (or the wallet entry and its account), the state last seen, when
  to look again.
* Status is read again through :meth:`EvidenceService.verify` (key history, signature,
  anchor and status list checked each time, a remote issuer's caches applying), never from the
  raw token alone. "Could not be checked" is not a change: the state last seen stays.
  A Blockcerts record (shared whole, so there is no field to leave out) is watched by the
  evidence it was kept with, sealed the same way, and read again through
  :meth:`EvidenceService.verify_blockcerts` (its revocation or status list fetched anew).
* A webhook body is a compact JWS (RFC 7515 §7.1) of type ``credshare-status-event+jwt``,
  signed with the server's receipt key (published at ``/.well-known/credshare-receipt-keys``),
  its payload ``{jti, sub, link, vct, type, event, previous, status, at, iss}``; an e-mail
  tells the same in words. Neither carries a token, a secret or a field value.
* The unsubscribe secret is 256 bits, kept as its SHA-256 and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from credshare.blockcerts.evidence import evidence_to_json
from credshare.disclosure.jws import Signer, sign_compact
from credshare.foundation.clock import SYSTEM_CLOCK, Clock
from credshare.foundation.errors import ConflictError, CredshareError, InputError, NotFoundError
from credshare.foundation.http_client import check_remote_url
from credshare.foundation.sealing import Sealer
from credshare.holding.accounts import email_valid, normalize_email
from credshare.holding.deliveries import Deliveries
from credshare.holding.evidence import EvidenceService
from credshare.holding.shares import OpenedShare
from credshare.holding.wallet import BLOCKCERTS
from credshare.issuing.types import CredentialType, type_for_vct
from credshare.storage import Store
from credshare.verifier.report import Report

SUBSCRIPTIONS = "status_subscriptions"
EVENT_TYP = "credshare-status-event+jwt"
MAX_PER_LINK = 5  # active subscriptions on one link
CHECK_SECONDS = 60
BATCH = 100  # subscriptions checked by one run_once
WATCHED = ("valid", "revoked", "suspended")
_log = logging.getLogger(__name__)

LinkState = Callable[[str, int], str | None]  # (link id, now) -> holding.shares.state_of, None when it is gone
OwnerListener = Callable[[str, str, str, dict[str, Any]], Any]  # (event, account id, wallet entry id, facts)
OWNER_KIND = "owner"  # a physician's own credential, watched for them
OWNER_EVENTS = ("revoked", "suspended", "reinstated")


def _blockcerts_watch(evidence: dict[str, Any], report: Report) -> dict[str, Any]:
    """What the watch keeps of a Blockcerts record: its evidence (to check it again) and its
    type name (for the notice's words)."""
    return {"format": BLOCKCERTS, "evidence": evidence, "type_name": report.type_name}


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def seen_in(report: Report, now: int) -> tuple[str | None, bool]:
    """What a verification says about status: the status read (``None`` when it could not be
    read and checked) and whether the credential's validity has ended."""
    status = report.credential_status if report.credential_status in WATCHED else None
    expired = report.expires_at is not None and report.expires_at <= now
    return status, expired


def word(status: str | None, expired: bool) -> str:
    """One word for a state: revoked or suspended win over expired, which wins over valid."""
    if status in ("revoked", "suspended"):
        return status
    if expired:
        return "expired"
    return status or "unknown"


def event_kind(now: str) -> str:
    """The event a change to ``now`` is: valid again is "reinstated", else the state itself."""
    return "reinstated" if now == "valid" else now


@dataclass(frozen=True)
class Subscribed:
    """A new subscription: its id and the secret of its unsubscribe link (shown once)."""

    subscription_id: str
    secret: str
    kind: str
    link_id: str


class Subscriptions:
    def __init__(self, store: Store, evidence: EvidenceService, deliveries: Deliveries, sealer: Sealer,
                 types: Mapping[str, CredentialType], *, link_state: LinkState, signer: Callable[[], Signer],
                 public_url: str, check_seconds: int = CHECK_SECONDS, owner_listener: OwnerListener | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        """``owner_listener`` is told each change of a physician's own credential (holding/notifications.py)."""
        self._owner_listener = owner_listener
        self._subs = store.collection(SUBSCRIPTIONS)
        self._evidence = evidence
        self._deliveries = deliveries
        self._sealer = sealer
        self._types = types
        self._link_state = link_state
        self._signer = signer
        self._base = public_url.rstrip("/")
        self._every = check_seconds
        self._clock = clock
        self._subs.create_index([("state", 1), ("next_check", 1)])
        self._subs.create_index("link")

    # -- subscribing ------------------------------------------------------------------------

    def subscribe(self, opened: OpenedShare, *, email: Any = None, webhook: Any = None) -> Subscribed:
        """Subscribe to the credential behind an opened link (its status as seen in this open
        is the starting point): ``email`` or ``webhook`` (https; plain http to this machine only)."""
        now = self._clock.seconds()
        email = normalize_email(email) if isinstance(email, str) and email.strip() else None
        webhook = webhook.strip() if isinstance(webhook, str) and webhook.strip() else None
        if (email is None) == (webhook is None):
            raise InputError("Give an e-mail address or a webhook address (one of them)", code="subscription_target_missing")
        if email is not None and not email_valid(email):
            raise InputError("That e-mail address does not look right: check it and try again", code="email_invalid")
        if webhook is not None:
            try:
                check_remote_url(webhook)
            except CredshareError:
                raise InputError("A webhook address starts with https:// (plain http only to this machine)",
                                 code="webhook_url_refused") from None
        if self._subs.count({"link": opened.link_id, "state": "active"}) >= MAX_PER_LINK:
            raise ConflictError(f"This link already has {MAX_PER_LINK} subscriptions: unsubscribe one first",
                                code="subscriptions_full")
        status, expired = seen_in(opened.report, now)
        watch: dict[str, Any] = {"jwt": opened.presentation.split("~", 1)[0], "anchor_proof": opened.anchor_proof,
                                 "to": email or webhook, "vct": opened.report.vct}
        if opened.is_blockcerts and opened.evidence is not None:
            watch.update(_blockcerts_watch(evidence_to_json(opened.evidence), opened.report))
        sub_id, secret = secrets.token_urlsafe(12), secrets.token_urlsafe(32)
        self._subs.insert_one({
            "_id": sub_id, "link": opened.link_id, "kind": "email" if email else "webhook",
            "secret_hash": _hash(secret), "sealed": self._sealer.seal(json.dumps(watch).encode()),
            "status": status or "unknown", "expired": expired,
            "state": "active", "seq": 0, "next_check": now + self._every, "created_at": now, "ended_at": None,
            "last_delivery": None})
        return Subscribed(sub_id, secret, "email" if email else "webhook", opened.link_id)

    def _own(self, sub_id: str, secret: str) -> dict[str, Any]:
        doc = self._subs.find_one({"_id": str(sub_id)}) if isinstance(sub_id, str) and len(sub_id) <= 64 else None
        sent = secret if isinstance(secret, str) and len(secret) <= 128 else ""
        if doc is None or not hmac.compare_digest(str(doc.get("secret_hash") or "").encode(), _hash(sent).encode()):
            raise NotFoundError("No such subscription (check that the whole address was copied)",
                                code="subscription_unknown")
        return doc

    def describe(self, sub_id: str, secret: str) -> dict[str, Any]:
        """What a subscriber may see of their subscription: whether it is active, the state last
        seen, and ``failing`` with the last error when the latest notice could not be delivered."""
        doc = self._own(sub_id, secret)
        delivery = self._deliveries.get(doc["last_delivery"]) if doc.get("last_delivery") else None
        failing = delivery is not None and delivery["state"] == "failed"
        vct = json.loads(self._sealer.open(doc["sealed"])).get("vct") if doc.get("sealed") else None
        ctype = type_for_vct(self._types, vct)
        return {"id": doc["_id"], "kind": doc["kind"], "state": doc["state"], "link": doc["link"],
                "vct": vct, "type": ctype.name if ctype else None,
                "status": word(doc.get("status"), bool(doc.get("expired"))), "created_at": doc["created_at"],
                "ended_at": doc.get("ended_at"), "failing": failing,
                "last_error": delivery["last_error"] if failing and delivery else None,
                "last_delivery": None if delivery is None else {"state": delivery["state"],
                                                                "attempts": delivery["attempts"]}}

    def unsubscribe(self, sub_id: str, secret: str) -> None:
        """End a subscription at once (idempotent): nothing more is sent."""
        doc = self._own(sub_id, secret)
        if doc["state"] == "active":
            self._end(doc, "unsubscribed", self._clock.seconds())

    def _end(self, doc: dict[str, Any], state: str, now: int) -> bool:
        ended = self._subs.find_one_and_update({"_id": doc["_id"], "state": "active", "seq": doc["seq"]},
                                               {"$set": {"state": state, "ended_at": now},
                                                "$unset": {"sealed": ""}, "$inc": {"seq": 1}})
        return ended is not None

    # -- the physician's own credentials -------------------------------------------------------

    def watch_credential(self, account_id: str, entry_id: str, sd_jwt: str, anchor_proof: dict[str, Any] | None,
                         report: Report, blockcerts: dict[str, Any] | None = None) -> None:
        """Watch a credential just added to ``account_id``'s wallet (the only moment the server
        holds it outside the owner's vault): its issuer-signed JWT without disclosures and its
        anchor proof, sealed under the server's key, so the physician can be told when the
        issuer revokes, suspends or reinstates it (if they keep that e-mail on). ``blockcerts``:
        a Blockcerts record's kept evidence, watched in place of an SD-JWT."""
        now = self._clock.seconds()
        status, expired = seen_in(report, now)
        watch: dict[str, Any] = {"jwt": sd_jwt.split("~", 1)[0], "anchor_proof": anchor_proof or {}, "vct": report.vct}
        if blockcerts is not None:
            watch.update(_blockcerts_watch(blockcerts, report))
        self._subs.insert_one({
            "_id": secrets.token_urlsafe(12), "kind": OWNER_KIND, "account": str(account_id), "entry": str(entry_id),
            "sealed": self._sealer.seal(json.dumps(watch).encode()),
            "status": status or "unknown", "expired": expired, "state": "active", "seq": 0,
            "next_check": now + self._every, "created_at": now, "ended_at": None, "last_delivery": None})

    def unwatch_credential(self, entry_id: str) -> int:
        """The credential left the wallet: nothing of it is kept for the watch."""
        return self._subs.delete_many({"kind": OWNER_KIND, "entry": str(entry_id)})

    # -- the watch --------------------------------------------------------------------------

    def run_once(self, now: int | None = None) -> list[tuple[str, str]]:
        """Check each active subscription that is due: the link's state, then the credential's
        status. Returns the (subscription id, event) queued."""
        now = self._clock.seconds() if now is None else now
        due = self._subs.find({"state": "active", "next_check": {"$lte": now}}, sort=[("next_check", 1)], limit=BATCH)
        told: list[tuple[str, str]] = []
        reports: dict[str, tuple[str | None, bool] | None] = {}
        for doc in due:
            try:
                event = self._check(doc, now, reports)
            except Exception:  # noqa: BLE001 - one subscription's trouble must never stop the others
                _log.exception("status watch: subscription %s could not be checked", doc["_id"])
                self._subs.update_one({"_id": doc["_id"], "seq": doc["seq"]},
                                      {"$set": {"next_check": now + self._every}})
                continue
            if event is not None:
                told.append((doc["_id"], event))
        return told

    def _check(self, doc: dict[str, Any], now: int, reports: dict[str, tuple[str | None, bool] | None]) -> str | None:
        watch = json.loads(self._sealer.open(doc["sealed"]))
        before = word(doc.get("status"), bool(doc.get("expired")))
        owner = doc["kind"] == OWNER_KIND
        link_state = "active" if owner else self._link_state(doc["link"], now) or "deleted"
        if link_state != "active":
            if not self._end(doc, "ended", now):
                return None  # another process did
            self._tell(doc, watch, "link_ended", before, before, now, link_state=link_state)
            return "link_ended"
        what = f"entry:{doc['entry']}" if owner else f"link:{doc['link']}"  # one verification per credential a run
        if what not in reports:
            try:
                if watch.get("format") == BLOCKCERTS:
                    report = self._evidence.verify_blockcerts(watch["evidence"], now=now, allow_expired=True)[0]
                else:
                    report = self._evidence.verify(watch["jwt"] + "~", watch["anchor_proof"], allow_expired=True,
                                                   now=now)
                reports[what] = seen_in(report, now)
            except CredshareError:
                reports[what] = None  # could not be checked: no change
        seen = reports[what]
        status = doc.get("status")
        expired = bool(doc.get("expired"))
        if seen is not None:
            status = seen[0] or status  # a status that could not be read leaves the last one seen
            expired = seen[1]
        after = word(status, expired)
        update = {"$set": {"next_check": now + self._every, "status": status, "expired": expired}, "$inc": {"seq": 1}}
        moved = self._subs.find_one_and_update({"_id": doc["_id"], "state": "active", "seq": doc["seq"]}, update)
        if moved is None or after == before:
            return None
        kind = event_kind(after)
        if owner:
            if kind not in OWNER_EVENTS or self._owner_listener is None:
                return None  # the physician is told of the issuer's decisions, not of an expiry they can read
            self._owner_listener(kind, doc["account"], doc["entry"], {"vct": watch.get("vct"), "previous": before,
                                                                      "type_name": watch.get("type_name"),
                                                                      "event_id": f"{doc['_id']}.{doc['seq']}"})
            return kind
        self._tell(doc, watch, kind, before, after, now)
        return kind

    def _tell(self, doc: dict[str, Any], watch: dict[str, Any], kind: str, previous: str, status: str, now: int,
              link_state: str | None = None) -> None:
        jti = f"{doc['_id']}.{doc['seq']}"
        ctype = type_for_vct(self._types, watch.get("vct"))
        payload: dict[str, Any] = {"jti": jti, "sub": doc["_id"], "link": doc["link"], "vct": watch.get("vct"),
                                   "type": ctype.name if ctype else watch.get("type_name"), "event": kind,
                                   "previous": previous,
                                   "status": status, "at": now, "iss": self._base}
        if link_state is not None:
            payload["link_state"] = link_state
        delivery_id = f"status-event:{jti}"
        if doc["kind"] == "webhook":
            self._deliveries.webhook(delivery_id, watch["to"], sign_compact({"typ": EVENT_TYP}, payload, self._signer()))
        else:
            subject, body = self._words(payload, ctype)
            self._deliveries.mail(delivery_id, watch["to"], subject, body)
        self._subs.update_one({"_id": doc["_id"]}, {"$set": {"last_delivery": delivery_id}})

    def _words(self, event: dict[str, Any], ctype: CredentialType | None) -> tuple[str, str]:
        what = f"The {event['type']} credential" if event.get("type") else "The credential"
        at = _when(event["at"])
        link = f"shared with you through credshare link {event['link']}"
        if event["event"] == "link_ended":
            ended = {"revoked": "the physician revoked it", "expired": "it expired",
                     "used up": "it has been opened as many times as the physician allowed",
                     "locked": "it was locked by wrong passcodes"}.get(event.get("link_state") or "", "it was removed")
            subject = "Status subscription ended: the share link ended"
            said = (f"{what} {link} is no longer watched: {ended} (noticed at {at}). Its status last seen was "
                    f"{event['status']}.\n\nThis is the last e-mail of this subscription. If you still need to "
                    "follow this credential, ask the physician for a new link and subscribe again.")
        else:
            now = {"revoked": "revoked by its issuer", "suspended": "suspended by its issuer",
                   "reinstated": "valid again: the issuer lifted its revocation or suspension",
                   "expired": "expired: its validity has ended"}[event["event"]]
            subject = f"Credential status changed: {event['status']}"
            said = (f"{what} {link} is now {now} (checked at {at}; it was {event['previous']} before).\n\n"
                    "Open the link you were given to see the full verification again, and record this change "
                    "in the credentialing file.")
        body = (f"{said}\n\nTo stop these e-mails, use the unsubscribe address you were shown when you subscribed.\n"
                f"Sent by {self._base}\n")
        return subject, body
