"""Fixed-window rate limiting kept in the store, so every worker process shares the count.

One document per (limit, key, window) holds an atomic ``$inc`` counter; a key is blocked when
the current and the previous window together reach the limit. A TTL index removes old windows. Used to slow down guessing: failed API-token attempts, later failed sign-ins.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from credshare.storage.store import Store

COLLECTION = "rate_limits"


class RateLimiter:
    def __init__(self, store: Store, name: str, limit: int, window_seconds: int) -> None:
        self._counters = store.collection(COLLECTION)
        self._counters.create_index("expires_at", expire_after_seconds=0)
        self.name, self.limit, self.window = name, limit, window_seconds

    def _id(self, key: str, windows_ago: int = 0) -> str:
        return f"{self.name}|{key}|{int(time.time()) // self.window - windows_ago}"

    def blocked(self, key: str) -> bool:
        """At the limit in this window and the one before together, so a burst that straddles
        a window boundary is still caught."""
        docs = self._counters.find({"_id": {"$in": [self._id(key), self._id(key, 1)]}})
        return sum(doc.get("count", 0) for doc in docs) >= self.limit

    def hit(self, key: str) -> int:
        """Count one event for ``key`` in the current window; returns the window's count."""
        expires = datetime.now(timezone.utc) + timedelta(seconds=2 * self.window)
        doc = self._counters.find_one_and_update(
            {"_id": self._id(key)}, {"$inc": {"count": 1}, "$set": {"expires_at": expires}}, upsert=True)
        return int((doc or {}).get("count", 1))

    def retry_after(self) -> int:
        """Seconds until the attempts counted now have left both windows."""
        return 2 * self.window - int(time.time()) % self.window
