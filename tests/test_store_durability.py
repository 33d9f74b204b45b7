"""Durability of the embedded store's commits (storage/flush.py): a write is synced before it
is answered unless it asks otherwise; a lazily durable one (a counted view, an access-log
line) commits at once and is synced, with the others of its window, within FLUSH_WITHIN_S."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from credshare.storage import Store, flush, open_store
from credshare.webapp import create_app

FULL, NORMAL = 2, 1  # PRAGMA synchronous


def _synchronous(store: Store) -> int:
    return int(store._backend._connection().db.execute("PRAGMA synchronous").fetchone()[0])  # type: ignore[attr-defined]


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files the flusher synced, by path (the real sync still runs)."""
    seen: list[str] = []
    real = os.fsync

    def recording(fd: int) -> None:
        seen.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(flush.os, "fsync", recording)
    return seen


def _wait_for(check: Any, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return bool(check())


def test_a_write_is_synced_at_commit_unless_it_asks_for_lazy_durability(tmp_path: Path, synced: list[str]) -> None:
    store = open_store(None, tmp_path / "data")
    col = store.collection("things")
    with store.bulk():
        assert _synchronous(store) == FULL
        col.insert_one({"_id": "durable"})
    col.insert_one({"_id": "alone"})  # a write outside bulk is its own durable transaction
    time.sleep(flush.FLUSH_WITHIN_S * 3)
    assert synced == []  # SQLite synced those commits itself; the flusher was never woken
    with store.bulk(durable=False):
        assert _synchronous(store) == NORMAL
        col.insert_one({"_id": "lazy"})
        with store.bulk():  # an inner bulk joins the outer transaction, and its durability
            assert _synchronous(store) == NORMAL
            col.insert_one({"_id": "inner"})
    assert _synchronous(store) == FULL  # the connection's next transactions are durable again
    wal = str(tmp_path / "data" / "credshare.sqlite3-wal")
    assert _wait_for(lambda: wal in synced), synced
    assert {d["_id"] for d in col.find({})} == {"durable", "alone", "lazy", "inner"}
    store.close()


def test_the_commits_of_one_window_share_one_sync(tmp_path: Path, synced: list[str]) -> None:
    store = open_store(None, tmp_path / "data")
    col = store.collection("views")
    started = time.monotonic()
    for i in range(20):
        with store.bulk(durable=False):
            col.insert_one({"_id": f"v{i}"})
    within_one_window = time.monotonic() - started < flush.FLUSH_WITHIN_S
    assert _wait_for(lambda: len(synced) >= 1)
    time.sleep(flush.FLUSH_WITHIN_S * 3)
    if within_one_window:  # (a slow machine may take two windows for the twenty)
        assert len(synced) == 1, synced
    assert len(synced) <= 2
    store.close()


def test_a_failed_lazy_transaction_writes_nothing_and_leaves_the_connection_durable(tmp_path: Path,
                                                                                   synced: list[str]) -> None:
    store = open_store(None, tmp_path / "data")
    col = store.collection("things")
    col.insert_one({"_id": "kept"})
    with pytest.raises(RuntimeError), store.bulk(durable=False):
        col.insert_one({"_id": "rolled back"})
        raise RuntimeError("the caller failed")
    assert _synchronous(store) == FULL
    assert [d["_id"] for d in col.find({})] == ["kept"]
    time.sleep(flush.FLUSH_WITHIN_S * 3)
    assert synced == []  # nothing committed, nothing to sync
    store.close()


def test_closing_the_store_syncs_what_waits_for_the_window(tmp_path: Path, synced: list[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flush, "FLUSH_WITHIN_S", 60.0)  # the window would outlast the test
    store = open_store(None, tmp_path / "data")
    with store.bulk(durable=False):
        store.collection("things").insert_one({"_id": "lazy"})
    assert synced == []
    store.close()
    assert synced == [str(tmp_path / "data" / "credshare.sqlite3-wal")]


def test_opening_a_link_counts_and_logs_its_view_lazily(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The view count and its access-log line are the one lazily durable write of an open."""
    from credshare.storage import store as store_module

    asked: list[bool] = []
    real_bulk = store_module.Store.bulk

    def recording(self: Store, durable: bool = True) -> Any:
        asked.append(durable)
        return real_bulk(self, durable)

    app = create_app({"CREDSHARE_DATA_DIR": str(tmp_path / "data"), "CREDSHARE_ARGON2_PROFILE": "test"})
    svc = app.extensions["credshare"]
    from credshare.demo import prepare_demo

    demo = prepare_demo(svc)
    info = svc.accounts.sign_in(demo.email, demo.password, "test").info
    entry = next(e for e in svc.wallet.entries(info)
                 if getattr(svc.wallet.credential_type(e), "slug", None) == "medical-license")
    link = svc.shares.create(info, entry, [["licensee_name"]], holder=svc.accounts.holder_signer(info), days=7)
    monkeypatch.setattr(store_module.Store, "bulk", recording)
    opened, _ = svc.shares.open(link.token, ("127.0.0.1", "test"))
    assert opened.views == 1 and asked and not any(asked), asked
    assert [line["outcome"] for line in svc.shares.get(info, opened.link_id).access] == ["viewed"]
