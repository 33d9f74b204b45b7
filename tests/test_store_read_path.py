"""The store's read path (issue 11, item 5): Collection.strings_by_id on every backend (one
string field of many documents by id, in one query: the log's hash chunks), and reads of a
collection with a TTL index on the embedded store that no longer purge (write) on every read."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from credshare.storage import Store, documents as D, open_store, store as store_module

ALL = pytest.mark.parametrize("store_location", ["mongomock", "embedded", "mongodb"], indirect=True)


@ALL
def test_strings_by_id_reads_one_string_field_of_the_named_documents(store: Store) -> None:
    col = store.collection("chunks")
    col.insert_many([{"_id": "a|0", "h": "AAAA", "n": 1}, {"_id": "a|1", "h": "BBBB"}, {"_id": "b|0", "h": 7},
                     {"_id": "c|0", "h": {"nested": "x"}}, {"_id": "d|0"}, {"_id": "ABCDEF0123456789ABCDEF01", "h": "up"}])
    found = col.strings_by_id(["a|0", "a|1", "a|0", "b|0", "c|0", "d|0", "missing"], "h")
    assert found == {"a|0": "AAAA", "a|1": "BBBB"}  # numbers, objects and absent fields are left out
    # ids compare exactly, whatever they look like (the embedded find path reads 24 hex digits as an ObjectId)
    assert col.strings_by_id(["ABCDEF0123456789ABCDEF01", "abcdef0123456789abcdef01"], "h") == {
        "ABCDEF0123456789ABCDEF01": "up"}
    assert col.strings_by_id([], "h") == {}
    ids = [f"many|{i}" for i in range(1200)]  # more than one query's worth of ids
    col.insert_many([{"_id": i, "h": i[::-1]} for i in ids])
    assert col.strings_by_id(ids, "h") == {i: i[::-1] for i in ids}
    for bad in ("_id", "h.x", "$where", ""):
        with pytest.raises(D.InvalidQueryError):
            col.strings_by_id(["a|0"], bad)


def test_reads_of_a_ttl_collection_sweep_it_at_most_every_interval(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(None, tmp_path / "data")
    col = store.collection("sessions")
    col.create_index("expires_at", expire_after_seconds=0)
    past = datetime.now(timezone.utc) - timedelta(seconds=5)
    col.insert_one({"_id": "old", "expires_at": past})
    assert col.find_one({"_id": "old"}) is None  # the first read in this process sweeps at once
    col.insert_one({"_id": "older", "expires_at": past})
    for _ in range(5):  # the next reads within the interval are reads only
        assert col.find_one({"_id": "older"}) is not None and col.count() == 1
    monkeypatch.setattr(store_module, "TTL_PURGE_SECONDS", 0.0)
    assert col.find_one({"_id": "older"}) is None  # once the interval has passed, a read sweeps again
    store.close()


def test_embedded_writers_of_other_processes_queue_on_the_lock_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Writes on the embedded store take ``<file>.writelock`` (flock) before SQLite's own lock, so
    processes queue there instead of in SQLite's sleeping busy handler. Another holder of that
    lock (here a second open file description, as another process has) makes a write wait,
    then fail as unavailable with nothing written; released, the write goes through."""
    import fcntl
    import os

    from credshare.foundation.errors import StoreUnavailableError

    store = open_store(None, tmp_path / "data")
    col = store.collection("counters")
    col.insert_one({"_id": "c", "n": 0})
    monkeypatch.setattr(store_module, "_SQLITE_BUSY_TIMEOUT_S", 0.3)
    other = os.open(f"{store.location()}.writelock", os.O_RDWR)
    try:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free between transactions
        with pytest.raises(StoreUnavailableError) as failed:
            col.update_one({"_id": "c"}, {"$inc": {"n": 1}})
        assert failed.value.code == "store_unavailable"
        assert col.find_one({"_id": "c"})["n"] == 0
        fcntl.flock(other, fcntl.LOCK_UN)
        col.update_one({"_id": "c"}, {"$inc": {"n": 1}})
        assert col.find_one({"_id": "c"})["n"] == 1
    finally:
        os.close(other)
        store.close()


def _equality_docs() -> list[dict[str, object]]:
    when = datetime(2026, 3, 1, 12, 30, tzinfo=timezone.utc)
    return [
        {"_id": "a", "key": "k1", "n": 5, "when": when, "flag": True, "nested": {"x": [1, "two", None]}, "tag": "t"},
        {"_id": "b", "key": "k2", "n": "5", "when": when, "flag": False, "tag": "t"},
        {"_id": "c", "key": "k3", "n": None, "tag": "t"},
        {"_id": "abcdef0123456789abcdef01", "key": "k4", "tag": "u"},  # ObjectId hex, lower case (credshare's own)
        {"_id": "ABCDEF0123456789ABCDEF02", "key": "k5", "tag": "u"},  # ObjectId hex, upper case
        {"_id": "12", "key": "k6", "tag": 7},  # an _id that reads as a number
    ]


@ALL
def test_equality_reads_on_id_and_indexed_fields(store: Store) -> None:
    """A plain equality on ``_id`` or on an indexed field (the embedded store's fast path):
    exact string matches only, every stored type read back, projections, several matches."""
    col = store.collection("eq")
    col.create_index("key", unique=True)
    col.create_index("tag")
    col.insert_many(_equality_docs())
    first = col.find_one({"_id": "a"})
    assert first == _equality_docs()[0]  # the datetime, the bool, the nested list come back as stored
    assert col.find_one({"key": "k2"}) == _equality_docs()[1]
    assert col.find_one({"_id": "missing"}) is None and col.find({"key": "missing"}) == []
    assert col.find_one({"_id": "A"}) is None and col.find_one({"key": "K1"}) is None  # strings compare exactly
    assert col.find_one({"_id": "abcdef0123456789abcdef01"})["key"] == "k4"
    assert col.find_one({"_id": "ABCDEF0123456789ABCDEF01"}) is None  # no respelling of an ObjectId-looking id
    assert col.find_one({"_id": "ABCDEF0123456789ABCDEF02"})["key"] == "k5"
    assert col.find_one({"_id": "abcdef0123456789abcdef02"}) is None
    assert col.find_one({"_id": "12"})["key"] == "k6"
    assert sorted(d["_id"] for d in col.find({"tag": "t"})) == ["a", "b", "c"]  # several matches
    assert len(col.find({"tag": "t"}, limit=2)) == 2 and col.find_one({"tag": "t"})["tag"] == "t"
    assert col.find({"tag": "7"}) == [] and [d["_id"] for d in col.find({"tag": 7})] == ["12"]  # a number is not its digits
    assert col.find_one({"_id": "a"}, fields=["n", "flag"]) == {"_id": "a", "n": 5, "flag": True}
    assert col.find_one({"key": "k3"}, fields=["n", "absent"]) == {"_id": "c", "n": None}
    assert col.find({"n": "5"}, fields=["n"]) == [{"_id": "b", "n": "5"}]  # an unindexed field: the general path


def test_embedded_equality_reads_return_what_neosqlite_returns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedded fast path gives, for each filter, the documents neosqlite's own find gives,
    in one SQL statement (neosqlite's query builder also looks at the table's columns and indexes)."""
    store = open_store(None, tmp_path / "data")
    col = store.collection("eq")
    col.create_index("key", unique=True)
    col.create_index("tag")
    col.insert_many(_equality_docs())
    filters: list[dict[str, object]] = [{"_id": d["_id"]} for d in _equality_docs()] + [
        {"_id": "missing"}, {"key": "k1"}, {"key": "nope"}, {"tag": "t"}, {"tag": "u"}, {"_id": "ABCDEF0123456789ABCDEF01"}]
    reads = [(flt, limit, fields) for flt in filters for limit in (0, 1) for fields in (None, ["key", "n"])]
    fast = [col.find(flt, limit=limit, fields=fields) for flt, limit, fields in reads]
    backend = store._backend
    statements: list[str] = []
    backend._connection().db.set_trace_callback(statements.append)
    assert col.find_one({"key": "k1"}) is not None and col.find_one({"_id": "a"}) is not None
    backend._connection().db.set_trace_callback(None)
    assert [s.split(" WHERE ")[0] for s in statements] == ["SELECT id, _id, data as data FROM eq"] * 2
    monkeypatch.setattr(type(backend), "find_equal", lambda *args: None)  # neosqlite's own find, every time
    assert [col.find(flt, limit=limit, fields=fields) for flt, limit, fields in reads] == fast
    store.close()


def test_embedded_equality_reads_leave_python_paths_to_neosqlite(tmp_path: Path) -> None:
    """While neosqlite's Python paths are forced (a typed update runs in the process), and for
    values other than strings or fields without an index, the fast path stands aside."""
    store = open_store(None, tmp_path / "data")
    col = store.collection("eq")
    col.create_index("key")
    col.insert_many(_equality_docs())
    backend = store._backend
    assert backend.find_equal("eq", "key", "k1", 1, None) is not None
    assert backend.find_equal("eq", "n", "5", 1, None) is None  # no index on n
    assert backend.find_equal("eq", "key", 5, 1, None) is None
    assert backend.find_equal("eq", "_id", "ABCDEF0123456789ABCDEF02", 1, None) is None
    with store_module._python_updates():
        assert backend.find_equal("eq", "key", "k1", 1, None) is None
        assert col.find_one({"key": "k1"})["_id"] == "a"
    store.close()
