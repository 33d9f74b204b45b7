"""The outbox of notifications: e-mails (RFC 5322, through storage/mail.py) and webhook POSTs
(a compact JWS, RFC 7515 §7.1, as ``application/jose``) waiting to be delivered, each tried
until it is delivered or has failed :data:`MAX_ATTEMPTS` times, with exponential back-off
between tries (``foundation.periodic.backoff``: 30 s, 60 s, 120 s ... capped).

This module owns the ``notify_deliveries`` collection. A delivery's ``_id`` is the event it
tells (e.g. ``link-opened:<link id>``), so an event queued twice is delivered once. A try is
taken by compare-and-set on the delivery (``owner``, ``lease_until``), so of several processes
running :meth:`Deliveries.run_once` exactly one sends it. What is sent (address or URL,
subject, body) is sealed at rest under a key of the server's secret (``sealed``), and dropped
once the delivery is final: a database dump shows no recipient label or address. Webhook answers are read to at most
:data:`MAX_ANSWER_BYTES`; webhook URLs and mail bodies are never logged (they may carry a
subscriber's secret)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Callable

from credshare.foundation.clock import SYSTEM_CLOCK, Clock
from credshare.foundation.errors import CredshareError, DuplicateKeyError
from credshare.foundation.http_client import check_remote_url, request
from credshare.foundation.periodic import PeriodicThread, backoff
from credshare.foundation.sealing import Sealer
from credshare.storage import Store
from credshare.storage.mail import Mailer
from credshare.storage.tlog import lease_owner

DELIVERIES = "notify_deliveries"
MAX_ATTEMPTS = 6  # the last retry comes about 15 minutes after the first try
MAX_ANSWER_BYTES = 4096
LEASE_SECONDS = 120.0  # longer than one try can take (SMTP 20 s, a webhook 5 s)
WAKE_SECONDS = 10.0
BATCH = 50  # deliveries tried by one run_once
WEBHOOK_TYPE = "application/jose"
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tried:
    """One delivery tried by :meth:`Deliveries.run_once`: ``delivered``, ``retry`` (at
    ``next_try``) or ``failed`` (for good, after :data:`MAX_ATTEMPTS`)."""

    delivery_id: str
    result: str
    error: str | None = None
    next_try: float | None = None


class Deliveries:
    def __init__(self, store: Store, mailer: Mailer, sealer: Sealer, *, max_attempts: int = MAX_ATTEMPTS,
                 clock: Clock = SYSTEM_CLOCK, allowed_hosts: frozenset[str] = frozenset()) -> None:
        """``allowed_hosts``: local or private hosts a webhook URL may name all the same (a
        subscriber gave the URL: it is otherwise posted to at public addresses only)."""
        self._allowed_hosts = allowed_hosts
        self._deliveries = store.collection(DELIVERIES)
        self._sealer = sealer
        self._mailer = mailer
        self._max_attempts = max_attempts
        self._clock = clock
        self._deliveries.create_index([("state", 1), ("next_try", 1)])

    # -- queueing -------------------------------------------------------------------------

    def _queue(self, delivery_id: str, kind: str, what: dict[str, str]) -> bool:
        now = self._clock.now()
        sealed = self._sealer.seal(json.dumps(what).encode())
        try:
            self._deliveries.insert_one({"_id": delivery_id, "kind": kind, "sealed": sealed, "state": "pending", "attempts": 0,
                                         "next_try": now, "last_error": None, "queued_at": now,
                                         "delivered_at": None, "owner": None, "lease_until": 0.0})
        except DuplicateKeyError:
            return False  # told already (or being told)
        return True

    def mail(self, delivery_id: str, to: str, subject: str, body: str) -> bool:
        """Queue an e-mail; False when ``delivery_id`` was queued before (nothing is added)."""
        return self._queue(delivery_id, "email", {"to": to, "subject": subject, "body": body})

    def webhook(self, delivery_id: str, url: str, jws: str) -> bool:
        """Queue a webhook POST of ``jws``; the URL must pass ``check_remote_url`` (https, or
        http to this machine only). False when ``delivery_id`` was queued before."""
        check_remote_url(url)
        return self._queue(delivery_id, "webhook", {"to": url, "body": jws})

    def get(self, delivery_id: str) -> dict[str, Any] | None:
        """A delivery's state: ``state``, ``attempts``, ``next_try``, ``last_error``, ``delivered_at``."""
        doc = self._deliveries.find_one({"_id": delivery_id})
        if doc is None:
            return None
        return {k: doc.get(k) for k in ("kind", "state", "attempts", "next_try", "last_error", "queued_at",
                                        "delivered_at")}

    def pending(self) -> int:
        return self._deliveries.count({"state": "pending"})

    # -- delivering -----------------------------------------------------------------------

    def run_once(self, now: float | None = None) -> list[Tried]:
        """Try every delivery that is due at ``now`` (default: the clock's time), up to
        :data:`BATCH` of them; never raises for a recipient's failure (it is recorded)."""
        now = self._clock.now() if now is None else now
        due = self._deliveries.find({"state": "pending", "next_try": {"$lte": now}}, sort=[("next_try", 1)],
                                    limit=BATCH, fields=["_id"])
        tried = []
        for row in due:
            doc = self._take(row["_id"], now)
            if doc is not None:
                tried.append(self._try(doc, now))
        return tried

    def _take(self, delivery_id: str, now: float) -> dict[str, Any] | None:
        token = lease_owner()
        taken = self._deliveries.find_one_and_update(
            {"_id": delivery_id, "state": "pending", "next_try": {"$lte": now},
             "$or": [{"owner": None}, {"lease_until": {"$lt": now}}]},
            {"$set": {"owner": token, "lease_until": now + LEASE_SECONDS}}, return_document="after")
        return taken if taken is not None and taken.get("owner") == token else None

    def _send(self, doc: dict[str, Any], what: dict[str, str]) -> None:
        if doc["kind"] == "email":
            self._mailer.send(what["to"], what["subject"], what["body"])
            return
        answer = request("POST", check_remote_url(what["to"]), body=what["body"].encode("ascii"),
                         content_type=WEBHOOK_TYPE, max_bytes=MAX_ANSWER_BYTES, public_only=True,
                         allowed_hosts=self._allowed_hosts)
        if not 200 <= answer.status < 300:
            why = "redirects elsewhere (not followed)" if 300 <= answer.status < 400 else f"answered {answer.status}"
            raise CredshareError(f"the webhook {why}", code="webhook_refused")

    def _try(self, doc: dict[str, Any], now: float) -> Tried:
        delivery_id = doc["_id"]
        what: dict[str, str] = {}
        try:
            what = json.loads(self._sealer.open(doc["sealed"]))
            self._send(doc, what)
        except CredshareError as exc:
            return self._failed(doc, what.get("to", ""), now, exc.code, exc.detail)
        except Exception as exc:  # noqa: BLE001 - one recipient's failure must never stop the others
            return self._failed(doc, what.get("to", ""), now, "delivery_failed", f"unexpected {type(exc).__name__}")
        self._deliveries.update_one({"_id": delivery_id, "owner": doc["owner"]}, {
            "$set": {"state": "delivered", "attempts": int(doc["attempts"]) + 1, "delivered_at": now, "owner": None},
            "$unset": {"sealed": ""}})
        return Tried(delivery_id, "delivered")

    def _failed(self, doc: dict[str, Any], to: str, now: float, code: str, detail: str) -> Tried:
        attempts = int(doc["attempts"]) + 1
        final = attempts >= self._max_attempts
        next_try = None if final else now + backoff(attempts)
        if to:
            detail = detail.replace(to, "the recipient")  # a webhook URL may carry the subscriber's secret
        update: dict[str, Any] = {"$set": {
            "state": "failed" if final else "pending", "attempts": attempts, "next_try": next_try,
            "last_error": {"code": code, "detail": detail[:300], "at": now}, "owner": None}}
        if final:
            update["$unset"] = {"sealed": ""}
        self._deliveries.update_one({"_id": doc["_id"], "owner": doc["owner"]}, update)
        _log.warning("delivery %s (%s) failed, attempt %d of %d: %s", doc["_id"], doc["kind"], attempts,
                     self._max_attempts, code)
        return Tried(doc["_id"], "failed" if final else "retry", error=code, next_try=next_try)


class DeliveryThread(PeriodicThread):
    """Runs ``work()`` (e.g. the status watch, then :meth:`Deliveries.run_once`) every
    ``interval`` seconds in a daemon thread until :meth:`stop`."""

    def __init__(self, work: Callable[[], object], interval: float = WAKE_SECONDS,
                 name: str = "credshare-notifications") -> None:
        super().__init__(work, interval, name)
