"""The composition root (credshare/compose.py) under concurrent first use: a serve worker's
request threads and its notification thread build services at the same moment, and must never
wait on each other for ever (a deadlock found by tests/test_server.py: with functools'
cached_property each service had its own lock, taken in a different order than the root's)."""

from __future__ import annotations

import threading
from pathlib import Path

from tests.conftest import ManualClock, services_on

# services that build others while being built, in several orders (notifications_run is called)
ORDERS = (("notifications_run", "shares", "wallet", "subscriptions"),
          ("subscriptions", "wallet", "shares", "notifications_run"),
          ("shares", "evidence", "log", "deliveries"),
          ("deliveries", "log", "evidence", "shares"))


def _build_at_once(svc: object) -> list[threading.Thread]:
    """Start one thread per order of ORDERS, all let go together; returns those still running
    after 20 s (none, unless they wait on each other)."""
    start = threading.Barrier(len(ORDERS))

    def build(names: tuple[str, ...]) -> None:
        start.wait(timeout=10)
        for name in names:
            found = getattr(svc, name)
            if name == "notifications_run":
                found()  # what the serve worker's notification thread does at boot

    threads = [threading.Thread(target=build, args=(names,), daemon=True) for names in ORDERS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    return [t for t in threads if t.is_alive()]


def test_services_built_from_several_threads_at_once_never_deadlock(tmp_path: Path) -> None:
    for round_ in range(5):
        svc = services_on({"CREDSHARE_DATA_DIR": str(tmp_path / f"d{round_}"), "CREDSHARE_LOCAL_WITNESSES": "1"},
                          ManualClock(1_790_000_000))
        stuck = _build_at_once(svc)
        assert not stuck, f"round {round_}: {len(stuck)} threads waiting on each other for ever"
        assert all(name in vars(svc) for names in ORDERS for name in names if name != "notifications_run")
        assert svc.shares is svc.shares  # built once, kept
        svc.store.close()
