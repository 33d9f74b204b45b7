"""Run the WSGI app under gunicorn (threads per worker, N worker processes).

Used by ``credshare serve``. The app is built inside each worker, never in the master
before the fork: pymongo clients and SQLite connections must not cross a fork.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):
    def __init__(self, app_factory: Callable[[], Any], options: dict[str, Any]) -> None:
        self._factory = app_factory
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            if key in self.cfg.settings:  # options newer than the installed gunicorn are skipped
                self.cfg.set(key, value)

    def load(self) -> Any:
        return self._factory()


def run(app_factory: Callable[[], Any], *, host: str, port: int, workers: int, threads: int, banner: str) -> None:
    """Serve until stopped; print ``banner`` once the socket is listening."""

    def when_ready(_server: Any) -> None:
        print(banner, flush=True)

    options = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "accesslog": None,  # credshare.access logs route templates instead of raw paths
        "errorlog": "-",
        "loglevel": "info",
        "timeout": 60,
        "graceful_timeout": 20,
        "preload_app": False,
        "when_ready": when_ready,
        "proc_name": "credshare",
        "control_socket_disable": True,  # no shared runtime-control socket in $HOME
    }
    sys.argv = sys.argv[:1]  # gunicorn must not parse credshare's own options
    _Gunicorn(app_factory, options).run()
