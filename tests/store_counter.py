"""Counting store operations (issue 11, item 5): wraps every public read and write of
:class:`credshare.storage.store.Collection` for a while, and counts the outermost calls per
collection and operation, so a test or a benchmark can say how often a request touches the
store. Nothing else changes: the wrapped methods run as before."""

from __future__ import annotations

import functools
import threading
from collections import Counter
from typing import Any, Callable, Iterator

from credshare.storage.store import Collection

READS = ("find", "find_one", "count")
WRITES = ("insert_one", "insert_many", "update_one", "update_many", "find_one_and_update", "delete_one", "delete_many")


class StoreCounter:
    """``with StoreCounter() as ops: ...`` then ``ops.reads``, ``ops.writes``, ``ops.calls``
    (a Counter of ``(collection, operation)``). Calls a wrapped method makes to another one
    (``find_one`` calls ``find``) count once, as the outer call."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self._depth = threading.local()
        self._saved: dict[str, Callable[..., Any]] = {}

    def _wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def counted(collection: Collection, *args: Any, **kwargs: Any) -> Any:
            depth = getattr(self._depth, "n", 0)
            if depth == 0:
                self.calls[(collection.name, name)] += 1
            self._depth.n = depth + 1
            try:
                return method(collection, *args, **kwargs)
            finally:
                self._depth.n = depth

        return counted

    def __enter__(self) -> StoreCounter:
        for name in (*READS, *WRITES):
            self._saved[name] = getattr(Collection, name)
            setattr(Collection, name, self._wrap(name, self._saved[name]))
        return self

    def __exit__(self, *exc: object) -> None:
        for name, method in self._saved.items():
            setattr(Collection, name, method)
        self._saved.clear()

    def reset(self) -> None:
        self.calls.clear()

    @property
    def reads(self) -> int:
        return sum(n for (_, op), n in self.calls.items() if op in READS)

    @property
    def writes(self) -> int:
        return sum(n for (_, op), n in self.calls.items() if op in WRITES)

    def by_collection(self) -> Iterator[tuple[str, str, int]]:
        for (collection, op), n in sorted(self.calls.items()):
            yield collection, op, n
