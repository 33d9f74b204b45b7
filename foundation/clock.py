"""The one clock (issue 11, item 3): wall-clock time as POSIX seconds since the epoch
(IEEE Std 1003.1, "Seconds Since the Epoch"; the ``iat``/``exp`` NumericDate of RFC 7519 §2)
and as a timezone-aware UTC :class:`~datetime.datetime`.

Every service and storage piece that reads the time is handed a :class:`Clock` by the
composition root (``credshare.compose.build_services``); nothing else calls ``time.time()`` or
``datetime.now()`` (tests/test_clock.py checks). :class:`SystemClock` is the real one;
:class:`ManualClock` stands still until a test moves it with :meth:`ManualClock.advance`, so
tests move time instead of sleeping. Monotonic timing of waits and timeouts
(``time.monotonic``) is not wall-clock time and stays where it is.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from datetime import datetime, timezone


class Clock(ABC):
    """What reads the time: :meth:`now`; :meth:`seconds` and :meth:`utcnow` derive from it."""

    @abstractmethod
    def now(self) -> float:
        """Seconds since the epoch."""

    def seconds(self) -> int:
        """The time in whole seconds (the stored ``*_at`` integers and JWT NumericDates)."""
        return int(self.now())

    def utcnow(self) -> datetime:
        """The time as an aware UTC datetime (the stored datetime fields)."""
        return datetime.fromtimestamp(self.now(), timezone.utc)


class SystemClock(Clock):
    """The machine's clock."""

    def now(self) -> float:
        return time.time()

    def now_ns(self) -> int:
        """Nanoseconds since the epoch (unique, ordered file names; not a deployment's time)."""
        return time.time_ns()


SYSTEM_CLOCK = SystemClock()


class ManualClock(Clock):
    """A clock for tests: it starts at ``start`` (default: the real time, in whole seconds, so
    what it stamps still verifies against the real time) and moves only when told."""

    def __init__(self, start: float | None = None) -> None:
        self._now = float(int(time.time())) if start is None else float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (never back)."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        with self._lock:
            self._now += seconds
