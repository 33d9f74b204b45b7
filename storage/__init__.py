"""Storage adapters: the only place that talks to a database.

Everything above this layer calls :func:`open_store` once and then uses
:class:`Store` / :class:`Collection`. See :mod:`storage.store` for the backends and
:mod:`storage.documents` for the query subset they all honour.
"""

from credshare.storage.store import Collection, Store, UpdateResult, new_id, open_store

__all__ = ["Collection", "Store", "UpdateResult", "new_id", "open_store"]
