"""Group commit for the embedded store's lazily durable transactions.

SQLite in WAL mode with ``synchronous=FULL`` syncs the write-ahead log on every commit
(https://sqlite.org/pragma.html#pragma_synchronous); the process-wide write lock is held
through that sync, so every write waits for every earlier write's sync. Most writes must be
durable before they are answered (an issued credential, a log entry a witness will cosign,
a revocation). A counted view and its access-log line need not: they commit at once with
``synchronous=NORMAL`` (atomic, isolated, and kept when the process dies) and are made
durable against power loss by one sync of the log for all commits of a short window
(:data:`FLUSH_WITHIN_S`), as MongoDB's journal makes an acknowledged ``j: false`` write
durable within its commit interval.

A sync applies to the file, not to the descriptor it is called on (POSIX ``fsync``), so
syncing the ``-wal`` file from here covers frames written by any connection of the process.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

logger = logging.getLogger("credshare.store")

FLUSH_WITHIN_S = 0.1  # a lazily durable commit is on disk within this much, unless the machine stops first


class WalFlusher:
    """One background thread per process that syncs ``wal_path`` at most every
    :data:`FLUSH_WITHIN_S` while lazily durable commits arrive, and sleeps otherwise."""

    def __init__(self, wal_path: Path) -> None:
        self._path = wal_path
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self.syncs = 0  # how many times the log was synced (for tests and benchmarks)

    def soon(self) -> None:
        """A lazily durable transaction just committed: sync the log within the window."""
        with self._lock:
            if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
                # first use, or in a child after a fork (which has no copy of the thread)
                self._wake = threading.Event()
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, args=(self._wake,), daemon=True,
                                                name="credshare-wal-flush")
                self._thread.start()
            self._wake.set()

    def now(self) -> None:
        """Sync at once what was committed so far (on close, so nothing waits on the window)."""
        with self._lock:
            pending = self._pid == os.getpid() and self._wake.is_set()
            self._wake.clear()
        if pending:
            self._sync()

    def _run(self, wake: threading.Event) -> None:
        while True:
            wake.wait()
            time.sleep(FLUSH_WITHIN_S)  # the commits of this window share one sync
            with self._lock:
                if not wake.is_set():
                    continue  # synced meanwhile by now()
                wake.clear()  # a commit after this point sets it again, and gets the next sync
            self._sync()

    def _sync(self) -> None:
        try:
            fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return  # no log: SQLite checkpointed it into the database, syncing both, and removed it
        try:
            os.fsync(fd)
            self.syncs += 1
        except OSError as exc:  # nothing to retry: Linux may have dropped the unsynced pages already
            logger.error("the embedded store's write-ahead log could not be synced: %s", exc)
        finally:
            os.close(fd)
