"""Work done again and again without a person: a daemon thread that runs a callable every N
seconds until stopped, and the back-off between failed attempts. Shared by the chain-anchor
schedule (issuing/anchor_schedule.py) and the notification outbox (holding/deliveries.py); each
of those leases its own work (a compare-and-set in the store), so one thread of one process acts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

BACKOFF_FIRST = 30.0  # seconds after the first failure; doubled after each further one
BACKOFF_MAX = 30 * 60.0

_log = logging.getLogger("credshare.periodic")


def backoff(attempts: int) -> float:
    """Seconds to wait after ``attempts`` failures in a row: 30 s, 60 s, 120 s ... up to 30 min."""
    if attempts <= 0:
        return 0.0
    return min(BACKOFF_MAX, BACKOFF_FIRST * 2.0 ** min(attempts - 1, 32))


class PeriodicThread:
    """Runs ``work()`` every ``interval`` seconds in a daemon thread named ``name`` until
    :meth:`stop`. A run that raises is logged and the next one comes at its time (the store may
    be briefly away)."""

    def __init__(self, work: Callable[[], object], interval: float, name: str) -> None:
        self._work = work
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def name(self) -> str:
        return self._thread.name

    def start(self) -> PeriodicThread:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop and wait for it (up to ``timeout`` s: work in progress is left
        to finish or die with the process; its lease is then taken over)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._work()
            except Exception:  # noqa: BLE001 - the store may be briefly away; look again later
                _log.exception("%s: a run failed", self._thread.name)
            self._stop.wait(self._interval)
