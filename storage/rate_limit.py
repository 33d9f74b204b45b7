"""Fixed-window rate limiting kept in the store, so every worker process shares the count.

One document per (limit, key, window) holds a counter. An attempt is counted and judged in one
atomic step (:meth:`RateLimiter.take`): a single ``$inc`` that returns the new count, decided
from that returned value, so of any number of parallel attempts exactly ``limit`` get through;
a check followed by a separate count (check-then-act) would let every racer pass the check.
The current and the previous window are summed, so a burst that straddles a window boundary is
still caught. A TTL index removes old windows.

Callers that count only failures (wrong passwords, wrong API tokens) take an attempt *before*
the check, so no more checks run than the limit allows, and give it back when the attempt
succeeded. Callers that count every event (registrations, confirmation mails) keep it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from credshare.foundation.clock import SYSTEM_CLOCK, Clock
from credshare.foundation.errors import DuplicateKeyError
from credshare.storage.store import Store

COLLECTION = "rate_limits"
_UPSERT_RETRIES = 3


@dataclass(frozen=True)
class Attempt:
    """One counted attempt: the window document it was counted in (to give it back there)."""

    counter_id: str


class RateLimiter:
    def __init__(self, store: Store, name: str, limit: int, window_seconds: int,
                 *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._counters = store.collection(COLLECTION)
        self._counters.create_index("expires_at", expire_after_seconds=0)
        self.name, self.limit, self.window = name, limit, window_seconds
        self._clock = clock

    def _id(self, key: str, window: int) -> str:
        return f"{self.name}|{key}|{window}"

    def _count(self, counter_id: str, window: int) -> int:
        """Add one to the window's counter (created on first use) and return its new value."""
        expires = datetime.fromtimestamp((window + 2) * self.window, timezone.utc)
        for _ in range(_UPSERT_RETRIES):
            try:
                doc = self._counters.find_one_and_update(
                    {"_id": counter_id}, {"$inc": {"count": 1}, "$set": {"expires_at": expires}},
                    upsert=True, return_document="after")
            except DuplicateKeyError:  # MongoDB: two first upserts raced; the counter exists now
                continue
            return int((doc or {}).get("count", 1))
        raise DuplicateKeyError("the rate-limit counter could not be created")

    def take(self, key: str) -> Attempt | None:
        """Count one attempt for ``key``, atomically; ``None`` when it is over the limit of this
        window and the one before together (the refused attempt is not kept counted)."""
        window = self._clock.seconds() // self.window
        counter_id = self._id(key, window)
        count = self._count(counter_id, window)
        previous = self._counters.find_one({"_id": self._id(key, window - 1)}, fields=["count"])
        if count + int((previous or {}).get("count", 0)) > self.limit:
            self.give_back(Attempt(counter_id))
            return None
        return Attempt(counter_id)

    def give_back(self, attempt: Attempt) -> None:
        """Uncount an attempt that turned out not to count (the password was right)."""
        self._counters.update_one({"_id": attempt.counter_id}, {"$inc": {"count": -1}})

    def retry_after(self) -> int:
        """Seconds until the attempts counted now have left both windows."""
        return 2 * self.window - self._clock.seconds() % self.window
