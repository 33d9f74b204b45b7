"""Run the WSGI app under gunicorn (threads per worker, N worker processes).

Used by ``credshare serve``. The app is built inside each worker, never in the master
before the fork: pymongo clients and SQLite connections must not cross a fork.

Requests gunicorn refuses itself, before the app sees them (a request line over its limit,
header fields too large or too many, malformed HTTP), get the same ``{"error", "detail"}``
answer as every other error, with the code of :data:`credshare.sharing.http_codes.HTTP_CODES`
for the status, instead of gunicorn's HTML; the detail never repeats the request.
"""

from __future__ import annotations

import json
import socket
import sys
from typing import Any, Callable

from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

from credshare.sharing.http_codes import HTTP_CODES


def _write_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's error writer (its parameter names), in credshare's error shape (JSON: no page
    can be chosen yet); ``mesg``, gunicorn's HTML detail, is not sent."""
    body = json.dumps({"error": HTTP_CODES.get(status_int, "bad_request"), "detail": reason}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Cache-Control: no-store\r\nContent-Length: {len(body)}\r\n\r\n")
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)


class Worker(ThreadWorker):
    """gunicorn's thread worker, answering the requests it refuses in credshare's error shape."""

    def init_process(self) -> None:
        gunicorn_util.write_error = _write_error  # gunicorn's one writer of such answers, in this worker only
        super().init_process()


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
        "worker_class": "credshare.server.Worker",  # gthread, with credshare's error answers
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
