"""HTTP response headers every page gets (OWASP Secure Headers guidance), and request bounds.

``Referrer-Policy: no-referrer`` matters most here: a share link's token is in its URL,
and no page may hand that URL to another site in a Referer header. An unhandled exception is
logged with the route's template, never the concrete path (which may hold a token).

A URL (path and query) over :data:`MAX_URL_BYTES` is refused with 414 before any view runs
(credshare's own URLs are far shorter); bodies are bounded by ``MAX_CONTENT_LENGTH`` (413).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import RequestURITooLarge

MAX_URL_BYTES = 2048

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    # pages and API answers show credential fields, link tokens and receipts: never kept in a cache
    # (static files set their own caching and keep it)
    "Cache-Control": "no-store",
}


def install(app: Flask) -> None:
    quiet_exception_log(app)

    @app.before_request
    def _bound_url() -> None:
        if len(request.path.encode("utf-8", "replace")) + len(request.query_string) > MAX_URL_BYTES:
            raise RequestURITooLarge()

    @app.after_request
    def _headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def quiet_exception_log(app: Flask) -> None:
    """Flask logs ``Exception on <path>``; the path of a share link is its token, so log the
    route template (``/s/<token>``) instead."""

    def log_exception(exc_info: Any) -> None:
        rule = request.url_rule.rule if request.url_rule is not None else "-"
        app.logger.error("Exception on %s [%s]", rule, request.method, exc_info=exc_info)

    app.log_exception = log_exception  # type: ignore[method-assign]
