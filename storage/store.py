"""The storage adapter: one pymongo-style Collection API over three backends.

Backends, chosen by URI (see :func:`open_store`):

* ``mongodb://`` / ``mongodb+srv://`` — pymongo to a real MongoDB, the production path.
  Replication and sharding are MongoDB's job, configured in the URI.
* no URI — the embedded store: a neosqlite (SQLite, WAL journal) file in the data
  directory. One connection per thread and per process, so it is safe under several
  gunicorn workers; SQLite's locking serializes writers.
* ``mongomock://`` — in-memory mongomock, for fast unit tests only.

Every backend goes through :mod:`storage.documents`, so the same calls give the same
results everywhere, and every backend error becomes a :class:`credshare.foundation.errors.StoreError`
(a unique-index violation is always :class:`credshare.foundation.errors.DuplicateKeyError`).
"""

from __future__ import annotations

import fcntl
import functools
import os
import re
import secrets
import sqlite3
import threading
import time
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping, Protocol, Sequence

import pymongo
import pymongo.errors
from pymongo import ReturnDocument

from credshare.foundation.clock import SYSTEM_CLOCK
from credshare.foundation.errors import ConfigError, DuplicateKeyError, StoreError, StoreUnavailableError
from credshare.storage import documents as D
from credshare.storage.flush import WalFlusher

EMBEDDED_FILENAME = "credshare.sqlite3"
_COLLECTION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
_IDS_PER_QUERY = 500  # well under SQLite's limit on bound parameters
TTL_PURGE_SECONDS = 30.0  # the embedded store sweeps a TTL collection at most this often (MongoDB: every 60 s)
_SQLITE_BUSY_TIMEOUT_S = 30.0
_MONGO_DUPLICATE_KEY = 11000


def new_id() -> str:
    """A 24-hex-digit id: 4 bytes of Unix seconds (so ids sort by creation) + 8 random bytes. The
    seconds are the machine's (an id only orders, it dates nothing), not a deployment's clock."""
    return SYSTEM_CLOCK.seconds().to_bytes(4, "big").hex() + secrets.token_hex(8)


@dataclass(frozen=True)
class UpdateResult:
    matched: int
    modified: int
    upserted_id: str | None = None


class _Backend(Protocol):
    name: str

    def collection(self, name: str) -> Any: ...
    def insert_many(self, name: str, docs: list[dict[str, Any]]) -> None: ...
    def strings_by_id(self, name: str, ids: list[str], field: str) -> dict[str, str] | None: ...
    def find_equal(self, name: str, field: str, value: Any, limit: int,
                   projection: dict[str, Any] | None) -> list[dict[str, Any]] | None: ...
    def typed_update(self, spec: dict[str, Any]) -> AbstractContextManager[None]: ...
    def bulk(self, durable: bool = True) -> AbstractContextManager[None]: ...
    def ping(self) -> None: ...
    def close(self) -> None: ...
    def location(self) -> str: ...


@contextmanager
def _translated_errors() -> Iterator[None]:
    """Turn each backend's exceptions into the project's StoreError family."""
    try:
        yield
    except StoreError:
        raise
    except pymongo.errors.DuplicateKeyError as exc:
        raise DuplicateKeyError("a unique index already holds this value") from exc
    except pymongo.errors.BulkWriteError as exc:
        codes = {err.get("code") for err in exc.details.get("writeErrors", [])}
        if _MONGO_DUPLICATE_KEY in codes:
            raise DuplicateKeyError("a unique index already holds this value") from exc
        raise StoreError("bulk write failed") from exc
    except sqlite3.IntegrityError as exc:
        if "UNIQUE" in str(exc):
            raise DuplicateKeyError("a unique index already holds this value") from exc
        raise StoreError(f"integrity error: {exc}") from exc
    except (pymongo.errors.ConnectionFailure, pymongo.errors.ServerSelectionTimeoutError) as exc:
        raise StoreUnavailableError("the MongoDB server cannot be reached") from exc
    except sqlite3.OperationalError as exc:
        raise StoreUnavailableError(f"the embedded store is unavailable: {exc}") from exc
    except pymongo.errors.PyMongoError as exc:
        raise StoreError(f"store operation failed: {type(exc).__name__}") from exc


class _MongoBackend:
    """pymongo to a MongoDB deployment. One client per process (pymongo is not fork-safe)."""

    name = "mongodb"

    def __init__(self, uri: str) -> None:
        try:
            parsed = pymongo.uri_parser.parse_uri(uri)
        except (pymongo.errors.InvalidURI, pymongo.errors.ConfigurationError, ValueError) as exc:
            raise ConfigError(f"MONGODB_URI is not a valid MongoDB URI: {exc}") from exc
        self._uri = uri
        self._database = parsed.get("database") or "credshare"
        self._hosts = ",".join(f"{h}:{p}" for h, p in parsed["nodelist"]) or "srv"
        self._client: pymongo.MongoClient | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def _db(self) -> Any:
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                self._client = pymongo.MongoClient(
                    self._uri, tz_aware=True, connect=False, serverSelectionTimeoutMS=10_000
                )
                self._pid = os.getpid()
            return self._client[self._database]

    def collection(self, name: str) -> Any:
        return self._db()[name]

    def insert_many(self, name: str, docs: list[dict[str, Any]]) -> None:
        self.collection(name).insert_many(docs, ordered=True)

    def strings_by_id(self, name: str, ids: list[str], field: str) -> dict[str, str] | None:
        return None  # Collection.find does it

    def find_equal(self, name: str, field: str, value: Any, limit: int,
                   projection: dict[str, Any] | None) -> list[dict[str, Any]] | None:
        return None  # the driver's own find is the fast path

    def typed_update(self, spec: dict[str, Any]) -> AbstractContextManager[None]:
        return nullcontext()

    def ping(self) -> None:
        self._db().command("ping")

    def close(self) -> None:
        with self._lock:
            if self._client is not None and self._pid == os.getpid():
                self._client.close()
            self._client = None

    def location(self) -> str:
        return f"{self._hosts}/{self._database}"  # never the credentials in the URI

    def bulk(self, durable: bool = True) -> AbstractContextManager[None]:
        return nullcontext()


class _MockBackend:
    """mongomock, in memory: for unit tests only; nothing survives the process."""

    name = "mongomock"

    def __init__(self, uri: str) -> None:
        try:
            import mongomock
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ConfigError("mongomock:// needs the test extra (pip install -e '.[test]')") from exc
        self._database = uri.split("://", 1)[1].split("/", 1)[-1].split("?")[0] or "credshare"
        self._client: Any = mongomock.MongoClient(tz_aware=True)

    def collection(self, name: str) -> Any:
        return self._client[self._database][name]

    def insert_many(self, name: str, docs: list[dict[str, Any]]) -> None:
        self.collection(name).insert_many(docs, ordered=True)

    def strings_by_id(self, name: str, ids: list[str], field: str) -> dict[str, str] | None:
        return None  # Collection.find does it

    def find_equal(self, name: str, field: str, value: Any, limit: int,
                   projection: dict[str, Any] | None) -> list[dict[str, Any]] | None:
        return None  # the driver's own find is the fast path

    def typed_update(self, spec: dict[str, Any]) -> AbstractContextManager[None]:
        return nullcontext()

    def ping(self) -> None:
        self._client[self._database].command("ping")

    def close(self) -> None:
        self._client.close()

    def location(self) -> str:
        return f"memory/{self._database}"

    def bulk(self, durable: bool = True) -> AbstractContextManager[None]:
        return nullcontext()


_HEX24 = re.compile(r"[0-9a-fA-F]{24}")


def _respelled_as_object_id(value: Any) -> bool:
    """True for a string that a neosqlite-based engine's find path reads as ObjectId hex and
    compares in another spelling: 24 hex digits, not all lower case (ObjectId's hex is)."""
    return isinstance(value, str) and _HEX24.fullmatch(value) is not None and value != value.lower()


def _ne_as_nin(value: Any) -> Any:
    if isinstance(value, dict):
        return {("$nin" if k == "$ne" else k): ([_ne_as_nin(v)] if k == "$ne" else _ne_as_nin(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_ne_as_nin(v) for v in value]
    return value


def _null_as_eq(flt: dict[str, Any]) -> dict[str, Any]:
    """``{field: None}`` sent as ``{field: {"$eq": None}}``, which means the same in MongoDB
    (null or missing). neosqlite's count and Python paths (the latter taken by the whole process
    while any datetime or bool update runs) read the bare form as "missing" only."""
    return {key: [_null_as_eq(sub) for sub in cond] if key in D.LOGICAL_OPERATORS
            else {"$eq": None} if cond is None else cond for key, cond in flt.items()}


def _has_typed_value(value: Any) -> bool:
    if isinstance(value, (bool, datetime)):
        return True
    if isinstance(value, dict):
        return any(_has_typed_value(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_typed_value(v) for v in value)
    return False


_python_update_lock = threading.Lock()
_python_update_users = 0


@contextmanager
def _python_updates() -> Iterator[None]:
    """Force neosqlite's Python update path while this runs. The switch is process-wide, so
    it is counted: other threads' operations meanwhile only take the slower, equally correct path."""
    global _python_update_users
    from neosqlite.collection.query_helper.utils import set_force_fallback

    with _python_update_lock:
        _python_update_users += 1
        set_force_fallback(True)
    try:
        yield
    finally:
        with _python_update_lock:
            _python_update_users -= 1
            if _python_update_users == 0:
                set_force_fallback(False)


class _EmbeddedBackend:
    """neosqlite on one SQLite file, a connection per thread and per process.

    ``synchronous=FULL`` makes every commit durable against power loss, not only
    against a killed process; the busy timeout lets concurrent writers queue.
    """

    name = "embedded"

    def __init__(self, path: Path) -> None:
        import neosqlite

        self._neosqlite = neosqlite
        self._path = path
        self._local = threading.local()
        self._open: list[tuple[int, Any]] = []
        self._lock = threading.Lock()
        self._swept_at: dict[str, float] = {}  # collection -> when this process last swept it (monotonic)
        self._write_lock, self._writer_pid = threading.Lock(), os.getpid()
        self._lock_fd: int | None = None  # <file>.writelock, opened on the first write
        self._flusher = WalFlusher(path.with_name(path.name + "-wal"))
        # what find_equal needs to know of a table, kept once true (indexes and the _id column
        # are never dropped): (table, field) pairs with an index, tables with an _id column
        self._indexed: set[tuple[str, str]] = set()
        self._id_columns: set[str] = set()
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the data directory {path.parent}: {exc}") from exc
        self._connection()  # fail now, not on the first request, if the file is unusable

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            with _translated_errors():
                conn = self._neosqlite.Connection(
                    str(self._path), timeout=_SQLITE_BUSY_TIMEOUT_S, check_same_thread=False
                )
                conn.db.execute("PRAGMA synchronous=FULL")
            self._local.conn, self._local.pid = conn, os.getpid()
            with self._lock:
                self._open.append((os.getpid(), conn))
        return conn

    def collection(self, name: str) -> Any:
        raw = self._connection()[name]  # neosqlite keeps one per connection and name
        if raw.__dict__.get("_auto_purge_ttl") is None:
            raw._auto_purge_ttl = functools.partial(self._sweep, raw)
        return raw

    def _sweep(self, raw: Any) -> None:
        """What neosqlite runs before every read of a collection with a TTL index: a purge of
        expired documents, that is a write (and an fsync) on each read. Here it runs at most
        every :data:`TTL_PURGE_SECONDS` per collection and process, the first time at once, as
        MongoDB's own TTL monitor sweeps on a timer; expiry stays eventual, as documented at
        :meth:`Collection.create_index`."""
        now = time.monotonic()
        with self._lock:
            last = self._swept_at.get(raw.name)
            if last is not None and now - last < TTL_PURGE_SECONDS:
                return
            self._swept_at[raw.name] = now
        try:
            if raw._ttl_specs_cached():
                raw.purge_expired()
        except Exception:  # as neosqlite's own sweep does: a failed purge is tried again on a later read
            with self._lock:
                self._swept_at.pop(raw.name, None)

    def typed_update(self, spec: dict[str, Any]) -> AbstractContextManager[None]:
        """neosqlite's SQL update path binds ``$set`` values as SQL parameters: a datetime is
        stored as ``str(datetime)`` and a bool as ``1``, while inserts store ``{"$date": ...}``
        and ``true``. Its Python path (load, apply, re-encode) keeps both types, so updates
        holding such a value take that path (inside the write transaction, so still atomic)."""
        if not _has_typed_value(spec):
            return nullcontext()
        return _python_updates()

    def insert_many(self, name: str, docs: list[dict[str, Any]]) -> None:
        """neosqlite inserts one document at a time, deep-copying and re-validating each
        (≈ 80 µs a document). Ours are fresh copies in stored form already, so they go in
        with one ``executemany``: neosqlite's own table layout (JSON ``data``, text ``_id``)
        and JSON encoder, and its indexes, unique ones included, are SQLite indexes that
        apply to any insert. The contract tests hold this to neosqlite's own reads."""
        from neosqlite.collection.json_helpers import neosqlite_json_dumps
        from neosqlite.sql_utils import quote_table_name

        raw = self.collection(name)  # creates the table on first use
        raw.db.executemany(f"INSERT INTO {quote_table_name(raw.name)}(data, _id) VALUES (?, ?)",
                           [(neosqlite_json_dumps(doc), str(doc["_id"])) for doc in docs])

    def strings_by_id(self, name: str, ids: list[str], field: str) -> dict[str, str] | None:
        """SQLite reads the one field itself from neosqlite's table (JSON ``data``, text ``_id``
        under a unique index, as :meth:`insert_many` writes it): no document is decoded. Only
        JSON strings are taken (``json_type`` ``text``), and ``_id`` is compared exactly."""
        from neosqlite.sql_utils import quote_table_name

        raw = self.collection(name)
        path = f"$.{field}"
        found: dict[str, str] = {}
        for at in range(0, len(ids), _IDS_PER_QUERY):
            part = ids[at:at + _IDS_PER_QUERY]
            rows = raw.db.execute(
                f"SELECT _id, json_extract(data, ?) FROM {quote_table_name(raw.name)} "
                f"WHERE _id IN ({','.join('?' * len(part))}) AND json_type(data, ?) = 'text'", (path, *part, path))
            found.update((doc_id, value) for doc_id, value in rows)
        return found

    def find_equal(self, name: str, field: str, value: Any, limit: int,
                   projection: dict[str, Any] | None) -> list[dict[str, Any]] | None:
        """``find({field: value})`` for a string ``value`` on ``_id`` or on an indexed top-level
        field, as one SQL statement: the very statement neosqlite's find builds for that filter
        (``<table>._id = ?``, or ``json_extract(data, '$.<field>') = ?``, which it uses for a
        field it sees an index for), without its query builder's per-call work (a look at the
        table's columns and at its indexes each time). Rows are decoded and projected by
        neosqlite's own functions, so the documents are the ones its find returns. ``None``
        (Collection.find then asks neosqlite) for anything else: another field, a value of
        another type, an ``_id`` neosqlite would respell as an ObjectId, or while the process
        runs neosqlite's Python paths (:func:`_python_updates`), whose matching may differ."""
        from neosqlite.collection.query_helper.utils import get_force_fallback
        from neosqlite.sql_utils import quote_table_name

        if not isinstance(value, str) or get_force_fallback() or name.endswith(("_files", "_chunks")):
            return None  # (names neosqlite may take for GridFS collections)
        raw = self.collection(name)
        table = quote_table_name(raw.name)
        if field == "_id":
            if _respelled_as_object_id(value) or not self._has_id_column(raw):
                return None
            where = f"{table}._id = ?"
        elif _FIELD_NAME.fullmatch(field) and self._has_index(raw, field):
            where = f"json_extract(data, '$.{field}') = ?"
        else:
            return None
        raw._auto_purge_ttl()  # as neosqlite's find does first (here: the timed sweep)
        rows = raw.db.execute(f"SELECT id, _id, data as data FROM {table} WHERE {where}"
                              f"{f' LIMIT {int(limit)}' if limit else ''}", (value,)).fetchall()
        docs = [raw._load_with_stored_id(row[0], row[2], row[1]) for row in rows]
        if projection:
            project = raw.query_engine.helpers._apply_projection
            docs = [project(projection, doc) for doc in docs]
        return docs

    def _has_id_column(self, raw: Any) -> bool:
        if raw.name not in self._id_columns:
            if raw._id_column != "_id":  # a legacy table: neosqlite's own path
                return False
            with self._lock:
                self._id_columns.add(raw.name)
        return True

    def _has_index(self, raw: Any, field: str) -> bool:
        """Whether neosqlite sees an index for ``field`` (its own test: an index name ending in
        ``_<field>``), so that its find compares the field by plain equality."""
        if (raw.name, field) not in self._indexed:
            if not raw.query_engine.helpers._field_has_index(field):
                return False
            with self._lock:
                self._indexed.add((raw.name, field))
        return True

    def ping(self) -> None:
        self._connection().db.execute("SELECT 1").fetchone()

    def close(self) -> None:
        self._flusher.now()
        with self._lock:
            opened, self._open = self._open, []
        for pid, conn in opened:
            if pid != os.getpid():
                continue  # inherited across fork: closing it here would drop the parent's locks
            try:
                conn.close()
            except sqlite3.Error:
                pass
        with self._lock:
            if self._lock_fd is not None and self._writer_pid == os.getpid():
                os.close(self._lock_fd)
            self._lock_fd = None
        self._local = threading.local()

    def location(self) -> str:
        return str(self._path)

    @contextmanager
    def bulk(self, durable: bool = True) -> Iterator[None]:
        """One SQLite transaction (one fsync) for a bulk write, unless one is already open
        (then the outermost one decides). BEGIN IMMEDIATE takes the write lock up front
        (waiting up to the busy timeout): a deferred transaction that reads first could not
        upgrade under WAL once another process has committed, and would fail at once with
        "database is locked". ``durable=False`` commits without the sync, which the process's
        :class:`~credshare.storage.flush.WalFlusher` makes within its window, for many commits."""
        db = self._connection().db
        if db.in_transaction:
            yield
            return
        # writers queue here, rather than in SQLite's busy handler, which sleeps ever longer
        # (up to 100 ms a try) while others take the lock in between: first this process's
        # threads on a thread lock, then the processes on an advisory lock file
        deadline = time.monotonic() + _SQLITE_BUSY_TIMEOUT_S
        writer, lock_fd = self._writer()
        if not writer.acquire(timeout=_SQLITE_BUSY_TIMEOUT_S):
            raise StoreUnavailableError("the embedded store is unavailable: a write waited too long for the others")
        try:
            self._lock_file(lock_fd, deadline)
            try:
                if not durable:
                    db.execute("PRAGMA synchronous=NORMAL")  # (may not change inside a transaction)
                try:
                    db.execute("BEGIN IMMEDIATE")
                    try:
                        yield
                    except BaseException:
                        db.rollback()
                        raise
                    db.commit()
                finally:
                    if not durable:
                        db.execute("PRAGMA synchronous=FULL")
            finally:
                fcntl.flock(lock_fd, fcntl.LOCK_UN)
        finally:
            writer.release()
        if not durable:
            self._flusher.soon()

    @staticmethod
    def _lock_file(fd: int, deadline: float) -> None:
        """Take the processes' write lock (flock), polling every 0.2-2 ms until ``deadline``:
        another process holds it for one transaction, a millisecond or two."""
        pause = 0.0002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreUnavailableError(
                        "the embedded store is unavailable: a write waited too long for another process") from None
                time.sleep(pause)
                pause = min(pause * 2, 0.002)

    def _writer(self) -> tuple[threading.Lock, int]:
        """This process's lock for its write transactions and its own descriptor of the lock
        file, both made again after a fork (a thread lock held at the fork would never be
        released in the child, and a descriptor inherited over a fork shares its flock)."""
        with self._lock:
            if self._writer_pid != os.getpid() or self._lock_fd is None:
                self._write_lock, self._writer_pid = threading.Lock(), os.getpid()
                self._lock_fd = os.open(f"{self._path}.writelock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            return self._write_lock, self._lock_fd


class Collection:
    """The pymongo Collection subset the product uses, with uniform results and errors.

    Every write that matches by filter is atomic per document on every backend, so a filter
    can serve as a compare-and-set: neosqlite runs such a write as a find then an update,
    so on the embedded store each one runs inside a ``BEGIN IMMEDIATE`` transaction."""

    def __init__(self, backend: _Backend, name: str) -> None:
        self._backend = backend
        self.name = name

    def _raw(self) -> Any:
        return self._backend.collection(self.name)

    # -- writes ---------------------------------------------------------------------------

    def insert_one(self, doc: Mapping[str, Any]) -> str:
        """Insert one document; a missing ``_id`` is generated. Returns the ``_id``."""
        stored = D.document(doc)
        stored.setdefault("_id", new_id())
        with _translated_errors(), self._backend.bulk():
            self._raw().insert_one(stored)
        return stored["_id"]

    def insert_many(self, docs: Sequence[Mapping[str, Any]]) -> list[str]:
        """Insert in order. On a duplicate key it raises DuplicateKeyError; the embedded store
        then keeps none of the batch (one transaction), MongoDB keeps those before the failure."""
        stored = [D.document(doc) for doc in docs]
        if not stored:
            return []
        for doc in stored:
            doc.setdefault("_id", new_id())
        with _translated_errors(), self._backend.bulk():
            self._backend.insert_many(self.name, stored)
        return [doc["_id"] for doc in stored]

    def update_one(
        self, flt: Mapping[str, Any], update: Mapping[str, Any], *, upsert: bool = False
    ) -> UpdateResult:
        spec = self._update(flt, update, upsert)
        with _translated_errors(), self._backend.bulk(), self._backend.typed_update(spec):
            res = self._raw().update_one(self._filter(flt), spec, upsert=upsert)
        return self._result(res)

    def update_many(self, flt: Mapping[str, Any], update: Mapping[str, Any]) -> UpdateResult:
        spec = self._update(flt, update, upsert=False)
        with _translated_errors(), self._backend.bulk(), self._backend.typed_update(spec):
            res = self._raw().update_many(self._filter(flt), spec)
        return self._result(res)

    def find_one_and_update(
        self,
        flt: Mapping[str, Any],
        update: Mapping[str, Any],
        *,
        sort: list[tuple[str, int]] | None = None,
        upsert: bool = False,
        return_document: Literal["before", "after"] = "after",
    ) -> dict[str, Any] | None:
        """Atomically update the first match and return it as it was before or after."""
        spec = self._update(flt, update, upsert)
        which = ReturnDocument.AFTER if return_document == "after" else ReturnDocument.BEFORE  # a bool (pymongo)
        with _translated_errors(), self._backend.bulk():
            query = self._find_filter(flt)  # inside the transaction: the count it may make is part of it
            raw = self._raw()
            if self._backend.name == "embedded":
                doc = self._find_then_update(raw, query, flt, spec, sort, upsert, which)
            elif query is None:  # no document can match
                doc = self._upsert_and_read(raw, flt, spec, which) if upsert else None
            else:
                doc = raw.find_one_and_update(query, spec, sort=D.sort_spec(sort), upsert=upsert, return_document=which)
        return None if doc is None else D.from_store(doc)

    def _find_then_update(self, raw: Any, query: dict[str, Any] | None, flt: Mapping[str, Any], spec: dict[str, Any],
                          sort: list[tuple[str, int]] | None, upsert: bool, which: bool) -> Any:
        """find_one_and_update on the embedded store, inside the caller's BEGIN IMMEDIATE
        transaction (so atomic): the first match, then ``update_one`` by its exact ``_id``.
        neosqlite's own find_one_and_update is not used: its upsert drops ``$setOnInsert`` (and
        with it our string ``_id``), and it finds by the ObjectId-normalized ``_id``."""
        found = None
        if query is not None:  # the find on neosqlite's own path: only the write may need the typed one
            cursor = raw.find(query)
            order = D.sort_spec(sort)
            if order:
                cursor = cursor.sort(order)
            found = next(iter(cursor.limit(1)), None)
        with self._backend.typed_update(spec):
            if found is None:
                return self._upsert_and_read(raw, flt, spec, which) if upsert else None
            raw.update_one({"_id": found["_id"]}, spec)
        return found if which == ReturnDocument.BEFORE else self._read_by_id(raw, found["_id"])

    def _upsert_and_read(self, raw: Any, flt: Mapping[str, Any], spec: dict[str, Any], which: bool) -> Any:
        """Insert by upsert when no document matches ``flt``; the new document if asked for."""
        raw.update_one(self._filter(flt), spec, upsert=True)
        if which == ReturnDocument.BEFORE:
            return None
        return self._read_by_id(raw, spec.get("$setOnInsert", {}).get("_id", (flt or {}).get("_id")))

    def _read_by_id(self, raw: Any, doc_id: Any) -> Any:
        query = self._find_filter({"_id": doc_id})
        if query is None:
            return None
        fast = self._backend.find_equal(self.name, "_id", query["_id"], 1, None) if "_id" in query else None
        return (fast[0] if fast else None) if fast is not None else raw.find_one(query)

    def delete_one(self, flt: Mapping[str, Any]) -> int:
        with _translated_errors(), self._backend.bulk():
            return self._raw().delete_one(self._filter(flt)).deleted_count

    def delete_many(self, flt: Mapping[str, Any]) -> int:
        with _translated_errors(), self._backend.bulk():
            return self._raw().delete_many(self._filter(flt)).deleted_count

    # -- reads ----------------------------------------------------------------------------

    def find_one(
        self,
        flt: Mapping[str, Any] | None = None,
        *,
        sort: list[tuple[str, int]] | None = None,
        fields: list[str] | None = None,
    ) -> dict[str, Any] | None:
        found = self.find(flt, sort=sort, limit=1, fields=fields)
        return found[0] if found else None

    def find(
        self,
        flt: Mapping[str, Any] | None = None,
        *,
        sort: list[tuple[str, int]] | None = None,
        limit: int = 0,
        skip: int = 0,
        fields: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Matching documents; ``fields`` restricts them to those fields plus ``_id``."""
        if limit < 0 or skip < 0:
            raise D.InvalidQueryError("limit and skip must not be negative")
        query = self._find_filter(flt)
        if query is None:
            return []
        with _translated_errors():
            if not sort and not skip and len(query) == 1:  # one plain equality: the backend's fast path, if any
                ((field, value),) = query.items()
                fast = self._backend.find_equal(self.name, field, value, limit, D.projection_spec(fields))
                if fast is not None:
                    return [D.from_store(doc) for doc in fast]
            cursor = self._raw().find(query, D.projection_spec(fields))
            order = D.sort_spec(sort)
            if order:
                cursor = cursor.sort(order)
            if skip:
                cursor = cursor.skip(skip)
            if limit:
                cursor = cursor.limit(limit)
            return [D.from_store(doc) for doc in cursor]

    def count(self, flt: Mapping[str, Any] | None = None) -> int:
        with _translated_errors():
            return self._raw().count_documents(self._filter(flt))

    def strings_by_id(self, ids: Sequence[str], field: str) -> dict[str, str]:
        """The string field ``field`` of each document whose ``_id`` is in ``ids``, by id, in
        one query: for reading one string out of many large documents (the log's hash chunks).
        Missing documents, and documents where the field is absent or not a string, are left
        out. The embedded store reads the field in SQLite, without decoding the documents."""
        if not _FIELD_NAME.match(field) or field == "_id":
            raise D.InvalidQueryError(f"invalid field name {field!r}")
        wanted = list(dict.fromkeys(i for i in ids if isinstance(i, str)))
        if not wanted:
            return {}
        with _translated_errors():
            found = self._backend.strings_by_id(self.name, wanted, field)
        if found is not None:
            return found
        docs = self.find({"_id": {"$in": wanted}}, fields=[field])
        return {doc["_id"]: doc[field] for doc in docs if isinstance(doc.get(field), str)}

    # -- indexes --------------------------------------------------------------------------

    def create_index(
        self,
        keys: str | list[tuple[str, int]],
        *,
        unique: bool = False,
        expire_after_seconds: int | None = None,
    ) -> None:
        """Create an index if it is missing. A TTL index (``expire_after_seconds``) deletes a
        document once its datetime field is that many seconds in the past; deletion is
        eventual (MongoDB sweeps every 60 s), so code must still check expiry itself."""
        spec = [(keys, 1)] if isinstance(keys, str) else D.sort_spec(keys)
        if not spec:
            raise D.InvalidQueryError("an index needs at least one field")
        options: dict[str, Any] = {"unique": unique}
        if expire_after_seconds is not None:
            if len(spec) != 1 or expire_after_seconds < 0:
                raise D.InvalidQueryError("a TTL index has one field and a non-negative expiry")
            options["expireAfterSeconds"] = int(expire_after_seconds)
        with _translated_errors():
            self._raw().create_index(spec if len(spec) > 1 else spec[0][0], **options)

    # -- helpers --------------------------------------------------------------------------

    def _find_filter(self, flt: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The backend form of a filter for reads (``find``, ``find_one_and_update``), or ``None``
        when it provably matches nothing.

        An ``_id`` is a string compared exactly, as MongoDB and mongomock do. neosqlite's find
        path (the embedded store, and nx-27017 over the wire) reads a 24-hex-digit string ``_id``
        as an ObjectId and compares ``str(ObjectId(value))``, its lower-case hex: an upper-cased
        id found the real document, and an id stored in upper case could not be read at all.
        Its count, update and delete paths compare exactly. So a top-level ``_id`` condition with
        such a value is settled here: one exact, indexed count tells whether any of those values
        is stored. If none is (credshare's own ids are lower case), the values are dropped: an
        equality then matches nothing, ``$in`` loses them, ``$nin`` (and ``$ne``) excludes
        nothing by them. If one is, the filter goes to the engine's Python matcher (``$and``
        of it), which compares exactly; that scans the collection, so it happens only for
        ids stored in upper case. On MongoDB both forms mean what the filter meant."""
        query = self._filter(flt)
        cond = query.get("_id")
        ops: dict[str, Any] = cond if isinstance(cond, dict) else {"$eq": cond}
        respelled = [v for op in ("$eq", "$in", "$nin") if op in ops
                     for v in (ops[op] if op != "$eq" else [ops[op]]) if _respelled_as_object_id(v)]
        if not respelled:
            return query
        with _translated_errors():
            if self._raw().count_documents({"_id": {"$in": respelled}}):
                return {"$and": [query]}
        if "$eq" in ops:
            return None
        kept = dict(ops)
        for op in ("$in", "$nin"):
            if op in kept:
                kept[op] = [v for v in kept[op] if not _respelled_as_object_id(v)]
        if "$in" in kept and not kept["$in"]:
            return None
        if "$nin" in kept and not kept["$nin"]:
            del kept["$nin"]
        rest = {k: v for k, v in query.items() if k != "_id"}
        return {**rest, "_id": kept} if kept else rest

    def _filter(self, flt: Mapping[str, Any] | None) -> dict[str, Any]:
        """The backend form of a filter. ``$ne: x`` is sent as its equal ``$nin: [x]``:
        neosqlite's SQL translation of ``$ne`` (writes and counts; ``find`` is right) misses
        documents where the field is absent or null, and so does nx-27017's; ``$nin`` is
        translated right everywhere, and means the same in MongoDB. A field equal to null goes
        as ``$eq`` (:func:`_null_as_eq`)."""
        return _null_as_eq(_ne_as_nin(D.query_filter(flt)))

    def _update(self, flt: Mapping[str, Any], update: Mapping[str, Any], upsert: bool) -> dict[str, Any]:
        spec = D.update_spec(update)
        if upsert and "_id" not in (flt or {}):
            on_insert = spec.setdefault("$setOnInsert", {})
            on_insert.setdefault("_id", new_id())
        return spec

    @staticmethod
    def _result(res: Any) -> UpdateResult:
        upserted = res.upserted_id
        return UpdateResult(res.matched_count, res.modified_count, None if upserted is None else str(upserted))


class Store:
    """A handle on one database; cheap to share across threads."""

    def __init__(self, backend: _Backend) -> None:
        self._backend = backend
        self._collections: dict[str, Collection] = {}

    @property
    def backend(self) -> str:
        return self._backend.name

    def location(self) -> str:
        return self._backend.location()

    def collection(self, name: str) -> Collection:
        if not _COLLECTION_NAME.match(name):
            raise D.InvalidQueryError(f"invalid collection name {name!r}")
        found = self._collections.get(name)
        if found is None:
            found = self._collections.setdefault(name, Collection(self._backend, name))
        return found

    def ping(self) -> None:
        with _translated_errors():
            self._backend.ping()

    @contextmanager
    def bulk(self, durable: bool = True) -> Iterator[None]:
        """Group many writes of this thread: one transaction on the embedded store (much
        faster, all or nothing); no grouping on MongoDB, where each write stands alone.

        ``durable=False`` is for writes that may be answered before they are on disk (a
        counted view, an access-log line): on the embedded store the transaction commits
        at once and is synced with others within :data:`~credshare.storage.flush.FLUSH_WITHIN_S`;
        a power cut inside that window can lose it, a crash of the process cannot."""
        with _translated_errors(), self._backend.bulk(durable):
            yield

    def close(self) -> None:
        self._backend.close()


def open_store(uri: str | None, data_dir: Path) -> Store:
    """Open the store a URI names; no URI means the embedded store in ``data_dir``."""
    if not uri:
        return Store(_EmbeddedBackend(Path(data_dir) / EMBEDDED_FILENAME))
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme in ("mongodb", "mongodb+srv"):
        return Store(_MongoBackend(uri))
    if scheme == "mongomock":
        return Store(_MockBackend(uri))
    raise ConfigError("MONGODB_URI must start with mongodb://, mongodb+srv:// or mongomock://")
