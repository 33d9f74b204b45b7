"""Chain anchors without a person: the log's latest checkpoint is anchored on Ethereum every N
checkpoints and/or every T minutes (issue 12, item 6).

The anchor itself is :mod:`anchoring.chain`'s (calldata = the C2SP tlog-checkpoint body,
c2sp.org/tlog-checkpoint, of an RFC 9162 tree head), published by an injected ``publish``
callable (:meth:`anchoring.ethereum.EthereumAnchorer.publish` in production) and recorded with
:meth:`storage.tlog.TransparencyLog.add_chain_anchor`, so it joins every anchor proof of that
checkpoint.

State lives in this service's own collection ``anchor_schedule``, one document per log origin:
``anchored_size`` and ``anchored_at`` (the last anchor, or when the schedule first saw the log),
``last_tx``, ``attempts`` (failures in a row), ``next_try`` and ``last_error`` ``{code, detail,
at}``. :meth:`AnchorSchedule.due` says whether an anchor is wanted now: a checkpoint newer than
the last anchored one exists, no back-off is pending, and ``every_checkpoints`` new checkpoints
were published or ``every_minutes`` passed since the last anchor. :meth:`AnchorSchedule.run_once`
makes one attempt: under a lease on the state document (a compare-and-set: exactly one thread of
one process acts; a lease held by a dead process of this host is taken over at once) it reads
the head again, publishes, and records. A failure (node down, rejected, reverted, timed out)
never raises: it is recorded, and the next attempt waits ``30 s * 2^(attempts-1)``, at most
30 min. Issuance never waits for any of this.

:class:`AnchorThread` runs :meth:`~AnchorSchedule.run_once` every ``interval`` seconds in a
daemon thread (one per ``credshare serve`` worker; the lease makes one act) until stopped.
Every time is read from the injected clock (foundation/clock.py): tests move it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from credshare.anchoring.chain import ChainAnchor
from credshare.anchoring.note import Checkpoint, split_note
from credshare.foundation.clock import SYSTEM_CLOCK, Clock
from credshare.foundation.errors import CredshareError, DuplicateKeyError
from credshare.foundation.periodic import PeriodicThread, backoff
from credshare.storage import Store
from credshare.storage.tlog import TransparencyLog, lease_owner, lease_owner_gone

STATE = "anchor_schedule"  # one document per log origin
LEASE_SECONDS = 900.0  # longer than a publish can take (receipt wait + requests)
WAKE_SECONDS = 15.0  # how often the thread looks

Publish = Callable[[str, int, bytes], ChainAnchor]  # (origin, tree size, root hash) -> the anchor
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnchorOutcome:
    """What one :meth:`AnchorSchedule.run_once` did: ``anchored`` (with ``anchor``), ``not_due``
    (``reason`` says why), ``busy`` (another holds the lease) or ``failed`` (``error`` code and
    ``detail``; the retry is at ``next_try``)."""

    result: str
    reason: str = ""
    tree_size: int | None = None
    anchor: dict[str, Any] | None = None
    error: str | None = None
    detail: str = ""
    next_try: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"result": self.result}
        for name in ("reason", "tree_size", "anchor", "error", "detail", "next_try"):
            value = getattr(self, name)
            if value not in (None, ""):
                out[name] = value
        return out


class AnchorSchedule:
    """Anchors ``log``'s latest checkpoint with ``publish`` every ``every_checkpoints`` new
    checkpoints and/or every ``every_minutes`` minutes (0: that trigger is off)."""

    def __init__(self, store: Store, log: TransparencyLog, publish: Publish, *, every_checkpoints: int = 0,
                 every_minutes: int = 0, lease_seconds: float = LEASE_SECONDS, clock: Clock = SYSTEM_CLOCK) -> None:
        if every_checkpoints < 0 or every_minutes < 0 or not (every_checkpoints or every_minutes):
            raise ValueError("an anchor schedule needs every_checkpoints and/or every_minutes above 0")
        self._log = log
        self._publish = publish
        self._state = store.collection(STATE)
        self.every_checkpoints = every_checkpoints
        self.every_minutes = every_minutes
        self._lease = lease_seconds
        self._clock = clock

    # -- state ----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The schedule's state document (made on first look: the schedule starts counting then)."""
        origin = self._log.origin
        doc = self._state.find_one({"_id": origin})
        if doc is not None:
            return doc
        try:
            self._state.insert_one({"_id": origin, "anchored_size": 0, "anchored_at": self._clock.now(),
                                    "last_tx": None, "attempts": 0, "next_try": None, "last_error": None,
                                    "owner": None, "lease_until": 0.0})
        except DuplicateKeyError:
            pass  # another made it first
        found = self._state.find_one({"_id": origin})
        if found is None:  # pragma: no cover - the insert above or another's is there
            raise CredshareError("the anchor schedule's state is missing", code="anchor_schedule_state")
        return found

    def status(self) -> dict[str, Any]:
        """The state as JSON (no lease internals)."""
        doc = self.state()
        return {"every_checkpoints": self.every_checkpoints, "every_minutes": self.every_minutes,
                **{k: doc.get(k) for k in ("anchored_size", "anchored_at", "last_tx", "attempts", "next_try",
                                           "last_error")}}

    # -- when -----------------------------------------------------------------------------

    def due(self, now: float | None = None) -> bool:
        """Is an anchor wanted at ``now`` (default: the clock's time)?"""
        return self._why_not(self.state(), self._clock.now() if now is None else now) == ""

    def _why_not(self, state: dict[str, Any], now: float) -> str:
        """"" when due, else why not."""
        size = self._log.read_head().size
        anchored = int(state.get("anchored_size") or 0)
        if size <= anchored:
            return "no checkpoint since the last anchor"
        next_try = state.get("next_try")
        if next_try is not None and now < float(next_try):
            return f"retrying after {float(next_try) - now:.0f} s (back-off after {state.get('attempts')} failure(s))"
        if self.every_checkpoints and len(self._log.checkpoint_sizes(anchored, size)) >= self.every_checkpoints:
            return ""
        if self.every_minutes and now - float(state.get("anchored_at") or 0.0) >= self.every_minutes * 60:
            return ""
        return "fewer new checkpoints and less time than the schedule asks"

    # -- one attempt ----------------------------------------------------------------------

    def run_once(self, now: float | None = None) -> AnchorOutcome:
        """One scheduled attempt at ``now`` (default: the clock's time); never raises for a node's
        failure (it is recorded and retried after the back-off)."""
        now = self._clock.now() if now is None else now
        why = self._why_not(self.state(), now)
        if why:
            return AnchorOutcome("not_due", reason=why)
        token = self._acquire(now)
        if token is None:
            return AnchorOutcome("busy", reason="another process holds the anchor lease")
        try:
            state = self.state()
            why = self._why_not(state, now)  # another may have anchored since we looked
            if why:
                return AnchorOutcome("not_due", reason=why)
            return self._anchor_latest(state, now)
        finally:
            self._state.update_one({"_id": self._log.origin, "owner": token}, {"$set": {"owner": None}})

    def _anchor_latest(self, state: dict[str, Any], now: float) -> AnchorOutcome:
        head = self._log.read_head()
        doc = self._log.checkpoint(head.size, head)
        recorded = list((doc.get("anchors") or {}).values())
        if recorded:  # anchored already (by hand, `credshare log anchor`): count it, publish nothing
            return self._succeeded(head.size, recorded[-1], now)
        try:
            checkpoint = Checkpoint.parse(split_note(doc["note"])[0])
            anchor = self._publish(checkpoint.origin, checkpoint.size, checkpoint.root).to_json()
            self._log.add_chain_anchor(checkpoint.size, anchor)
        except CredshareError as exc:
            return self._failed(state, now, exc.code, exc.detail)
        except Exception as exc:  # noqa: BLE001 - a node's or library's failure must never stop the schedule
            _log.exception("scheduled chain anchor failed")
            return self._failed(state, now, "anchor_publish_failed", f"unexpected {type(exc).__name__}")
        return self._succeeded(head.size, anchor, now)

    def _succeeded(self, size: int, anchor: dict[str, Any], now: float) -> AnchorOutcome:
        self._state.update_one({"_id": self._log.origin}, {"$set": {
            "anchored_size": size, "anchored_at": now, "last_tx": anchor.get("tx_hash"), "attempts": 0,
            "next_try": None, "last_error": None}})
        _log.info("checkpoint %s of %s anchored in %s", size, self._log.origin, anchor.get("tx_hash"))
        return AnchorOutcome("anchored", tree_size=size, anchor=anchor)

    def _failed(self, state: dict[str, Any], now: float, code: str, detail: str) -> AnchorOutcome:
        attempts = int(state.get("attempts") or 0) + 1
        next_try = now + backoff(attempts)
        self._state.update_one({"_id": self._log.origin}, {"$set": {
            "attempts": attempts, "next_try": next_try, "last_error": {"code": code, "detail": detail, "at": now}}})
        _log.warning("scheduled chain anchor failed (%s, attempt %d): %s; next try in %.0f s",
                     code, attempts, detail, next_try - now)
        return AnchorOutcome("failed", error=code, detail=detail, next_try=next_try)

    # -- the lease ------------------------------------------------------------------------

    def _acquire(self, now: float) -> str | None:
        """Take the lease on the state document, or None if someone alive holds it."""
        token = lease_owner()
        origin = self._log.origin
        for _ in range(2):
            taken = self._state.find_one_and_update(
                {"_id": origin, "$or": [{"owner": None}, {"lease_until": {"$lt": now}}]},
                {"$set": {"owner": token, "lease_until": now + self._lease}})
            if taken is not None and taken.get("owner") == token:
                return token
            holder = (self._state.find_one({"_id": origin}) or {}).get("owner")
            if not holder or not lease_owner_gone(holder):
                return None
            self._state.update_one({"_id": origin, "owner": holder}, {"$set": {"owner": None}})
        return None


class AnchorThread(PeriodicThread):
    """Runs ``schedule.run_once`` every ``interval`` seconds in a daemon thread until :meth:`stop`
    (a publish in progress at stop is left to finish or die with the process; its lease is then
    taken over)."""

    def __init__(self, schedule: AnchorSchedule, interval: float = WAKE_SECONDS) -> None:
        super().__init__(schedule.run_once, interval, "credshare-anchor-schedule")
