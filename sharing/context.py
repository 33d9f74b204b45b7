"""The services ``app.py`` wires into the Flask app, and typed access to them from views."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from flask import current_app

from credshare.config import Settings
from storage import Store
from storage.tlog import TransparencyLog

EXTENSION_KEY = "credshare"


@dataclass
class AppServices:
    settings: Settings
    store: Store
    _log: TransparencyLog | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def log(self) -> TransparencyLog:
        """The transparency log, opened on first use (its witness keys take ~1 s to make)."""
        with self._lock:
            if self._log is None:
                from credshare.keys import load_local_witnesses, load_log_signer

                data_dir = self.settings.data_dir
                self._log = TransparencyLog(
                    self.store,
                    load_log_signer(data_dir, self.settings.log_origin),
                    load_local_witnesses(data_dir, self.settings.local_witnesses),
                )
            return self._log


def services() -> AppServices:
    return current_app.extensions[EXTENSION_KEY]
