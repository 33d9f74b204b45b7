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
