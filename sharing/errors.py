"""Error answers: every error, ours or the web framework's, has one shape.

An error is ``{"error": code, "detail": text}`` (plus fields such as ``attempts_left`` that a
:class:`~credshare.foundation.errors.CredshareError` carries): ``code`` is stable and machine-readable,
``detail`` is for people. It is sent

* as JSON (``application/json``) on the machine routes (``/api/``, ``/healthz``, ``/log``,
  ``/.well-known/``, ``/issuers/``, ``/status/``) and to any client whose ``Accept`` header
  prefers ``application/json`` to ``text/html``;
* otherwise as a page for people (``templates/error.html``, with the site header): what
  happened in plain words, what to do, and a way home, with the same HTTP status; the code
  sits only in the page's ``data-code`` attribute, never in its text.

Codes: a CredshareError keeps its own (``share_unknown``, ``rate_limited``, ...). A werkzeug
``HTTPException`` gets one from :data:`HTTP_CODES` by status: an unknown route 404
``not_found``, a method the route does not take 405 ``method_not_allowed`` (with its
``Allow`` header), a body over ``MAX_CONTENT_LENGTH`` 413 ``request_too_large``, a URL over
:data:`sharing.hardening.MAX_URL_BYTES` 414 ``url_too_long``, an unhandled exception 500
``internal_error`` (its traceback goes to the log, never to the client).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from credshare.foundation.errors import CredshareError
from credshare.sharing.context import current_owner
from credshare.sharing.http_codes import HTTP_CODES

logger = logging.getLogger("credshare.foundation.errors")

MACHINE_PATHS = ("/healthz", "/log")
MACHINE_PREFIXES = ("/api/", "/log/", "/.well-known/", "/issuers/", "/status/")

# (heading, what to do) of the page for people, by status; the detail says what happened
_PAGES: dict[int, tuple[str, str]] = {
    400: ("The request could not be read", "Go back, reload the page and try again."),
    401: ("Please sign in", "Sign in, then open the page again."),
    403: ("This is not open to you", "If you think it should be, sign in with the right account."),
    404: ("Page not found", "Check the address for typing mistakes, or start again from the home page."),
    405: ("That does not work on this page",
          "The page exists, but not for that kind of request. Go back and use the page's own links and buttons."),
    409: ("That clashes with something already here", "Reload the page to see the current state, then try again."),
    410: ("This is gone for good", "Ask whoever gave you the link for a new one."),
    413: ("What you sent is too large", "Send a smaller file or less text."),
    414: ("The web address is too long",
          "Check that the address was copied completely and correctly, or start again from the home page."),
    429: ("Too many attempts", "Wait a minute, then try again."),
    500: ("Something went wrong on our side",
          "Try again in a minute. If it keeps happening, tell the people who run this site."),
    503: ("The service is unavailable for a moment", "Try again in a few minutes."),
}

# words for people on pages, instead of werkzeug's default descriptions and of the technical
# detail of a server-side failure (which JSON clients still get)
_PLAIN_DETAIL: dict[int, str] = {
    400: "Your browser sent a request this server could not understand.",
    404: "There is no page at this address.",
    405: "This address belongs to a button on another page, so it cannot be opened directly.",
    410: "What was at this address has been removed.",
    413: "What you sent is larger than this server accepts.",
    414: "The web address is longer than this server accepts.",
    500: "The server could not finish your request. Nothing you did caused this.",
    503: "The server cannot reach its stored data just now. Nothing was changed.",
}


def wants_json() -> bool:
    """JSON for machine routes and for clients that prefer it; a page for browsers."""
    path = request.path
    if path in MACHINE_PATHS or path.startswith(MACHINE_PREFIXES):
        return True
    accept = request.accept_mimetypes
    return accept["application/json"] > accept["text/html"]


def error_response(status: int, code: str, detail: str, *, extra: dict[str, Any] | None = None,
                   headers: list[tuple[str, str]] | None = None, page_detail: str | None = None) -> Response:
    """The one error answer: ``{"error", "detail"}`` JSON, or the error page, with ``status``."""
    if wants_json():
        response = jsonify({"error": code, "detail": detail, **(extra or {})})
    else:
        _settle_owner()
        heading, advice = _PAGES.get(status, _PAGES[500] if status >= 500 else ("The request was refused", ""))
        response = Response(render_template("error.html", status=status, code=code, heading=heading,
                                            detail=page_detail or detail, advice=advice), mimetype="text/html")
    response.status_code = status
    for name, value in headers or []:
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _settle_owner() -> None:
    """The page's header asks who is signed in; when that is what failed (the store is down),
    it shows the signed-out header instead of failing again."""
    try:
        current_owner()
    except Exception:  # noqa: BLE001 - the page must still render
        g.credshare_owner = None


def _plain_detail(exc: HTTPException, status: int) -> str | None:
    """Words for people instead of werkzeug's default description; a description given to
    ``abort()`` is kept as it is."""
    if exc.description != type(exc).description or status not in _PLAIN_DETAIL:
        return None
    if status == 405 and request.method not in ("GET", "HEAD"):
        return "This address does not accept that kind of request."
    return _PLAIN_DETAIL[status]


def install(app: Flask) -> None:
    @app.errorhandler(CredshareError)
    def _credshare_error(exc: CredshareError) -> Response:
        if exc.http_status >= 500:
            logger.error("%s: %s", exc.code, exc.detail)
        body = exc.to_dict()
        extra = {k: v for k, v in body.items() if k not in ("error", "detail")}
        page_detail = _PLAIN_DETAIL.get(exc.http_status, _PLAIN_DETAIL[500]) if exc.http_status >= 500 else None
        return error_response(exc.http_status, exc.code, exc.detail, extra=extra, page_detail=page_detail)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        code = HTTP_CODES.get(status) or (exc.name or "http_error").lower().replace(" ", "_").replace("-", "_")
        return error_response(status, code, exc.description or exc.name or "", headers=exc.get_headers(),
                              page_detail=_plain_detail(exc, status))
