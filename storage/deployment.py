"""The deployment's own record, the ``meta`` collection: a random instance id written on first
start (seeing the same id after a restart shows the store kept its data), and the public URL
the server last started under (so the command line can warn before recording issuer
identifiers under another one). This module is the collection's only reader and writer."""

from __future__ import annotations

import secrets

from credshare.foundation.clock import SYSTEM_CLOCK, Clock
from credshare.foundation.errors import DuplicateKeyError
from credshare.storage.store import Store

META = "meta"
_INSTANCE = "instance"
_SERVED = "served"


class DeploymentRecord:
    def __init__(self, store: Store, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._meta = store.collection(META)
        self._clock = clock

    def record_instance(self) -> None:
        """Create the instance record once; concurrent first starts keep a single winner."""
        try:
            self._meta.update_one(
                {"_id": _INSTANCE},
                {"$setOnInsert": {"instance_id": secrets.token_hex(16), "created_at": self._clock.utcnow()}},
                upsert=True,
            )
        except DuplicateKeyError:
            pass  # another worker inserted it between our match and our insert

    def instance_id(self) -> str | None:
        doc = self._meta.find_one({"_id": _INSTANCE})
        return doc.get("instance_id") if doc else None

    def record_public_url(self, public_url: str) -> None:
        """What ``credshare serve`` records at start: the public URL it serves under."""
        self._meta.update_one({"_id": _SERVED},
                              {"$set": {"public_url": public_url, "started_at": self._clock.utcnow()}}, upsert=True)

    def served_public_url(self) -> str | None:
        """The public URL of the server last started on this store, if one was."""
        doc = self._meta.find_one({"_id": _SERVED})
        return doc.get("public_url") if doc else None
