"""Fixed-window rate limiting kept in the store, so every worker process shares the count.

One document per (limit, key, window) holds an atomic ``$inc`` counter; a TTL index removes
old windows. Used to slow down guessing: failed API-token attempts, later failed sign-ins.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from storage.store import Store

COLLECTION = "rate_limits"


class RateLimiter:
    def __init__(self, store: Store, name: str, limit: int, window_seconds: int) -> None:
        self._counters = store.collection(COLLECTION)
        self._counters.create_index("expires_at", expire_after_seconds=0)
        self.name, self.limit, self.window = name, limit, window_seconds

    def _id(self, key: str) -> str:
        return f"{self.name}|{key}|{int(time.time()) // self.window}"

    def blocked(self, key: str) -> bool:
        doc = self._counters.find_one({"_id": self._id(key)})
        return bool(doc) and doc.get("count", 0) >= self.limit

    def hit(self, key: str) -> int:
        """Count one event for ``key`` in the current window; returns the window's count."""
        expires = datetime.now(timezone.utc) + timedelta(seconds=2 * self.window)
        doc = self._counters.find_one_and_update(
            {"_id": self._id(key)}, {"$inc": {"count": 1}, "$set": {"expires_at": expires}}, upsert=True)
        return int((doc or {}).get("count", 1))

    def retry_after(self) -> int:
        return self.window - int(time.time()) % self.window
