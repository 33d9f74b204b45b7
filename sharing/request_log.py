"""Access logging that cannot leak a share token, a passcode or any query parameter.

Each request is logged as its *route template* (``GET /s/<token> 200 3.1ms``), never its
concrete path or query string: a token in a path segment is replaced by the parameter's
name, and requests that match no route are logged as ``-``. This fails closed: a new
route that carries a secret in its URL is safe without anyone remembering to redact it.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request

logger = logging.getLogger("credshare.access")


def loggable_route() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else "-"


def install(app: Flask) -> None:
    @app.before_request
    def _start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _log_request(response: Response) -> Response:
        started = g.get("request_started")
        elapsed = (time.perf_counter() - started) * 1000 if started else 0.0
        logger.info("%s %s %d %.1fms", request.method, loggable_route(), response.status_code, elapsed)
        return response
