"""The services ``app.py`` wires into the Flask app, and typed access to them from views: the
services container, the signed-in owner of the current request (from the
``credshare_session`` cookie, loaded once per request), and the client's address."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable, TypeVar, cast
from urllib.parse import urlsplit

from flask import current_app, g, jsonify, redirect, request, url_for

from credshare.holding.accounts import SessionInfo

if TYPE_CHECKING:  # the container is made by the composition root, above this layer
    from credshare.compose import AppServices

EXTENSION_KEY = "credshare"
SESSION_COOKIE = "credshare_session"
_View = TypeVar("_View", bound=Callable[..., Any])


def services() -> AppServices:
    return current_app.extensions[EXTENSION_KEY]


def client_address() -> str:
    """The client's IP address, or ``"-"`` when unknown: the one place a client address is read
    (rate limits, the owner's access log).

    It is the TCP peer unless ``CREDSHARE_TRUSTED_PROXIES`` is n > 0; then werkzeug's ``ProxyFix``
    (installed by ``create_app``) has replaced it with the address the outermost trusted proxy saw,
    the n-th ``X-Forwarded-For`` entry from the right. Forwarding headers are never read
    directly: any client can send them."""
    return request.remote_addr or "-"


def session_token() -> str | None:
    """The raw session token from the cookie (not yet checked)."""
    return request.cookies.get(SESSION_COOKIE) or None


def current_owner() -> SessionInfo | None:
    """The signed-in owner, or ``None``; looked up once per request and kept in ``flask.g``."""
    if "credshare_owner" not in g:
        token = session_token()
        g.credshare_owner = services().accounts.session(token) if token else None
    return g.credshare_owner


def signed_in_owner() -> SessionInfo:
    """The owner of a request that ``login_required`` let through."""
    owner = current_owner()
    assert owner is not None, "login_required must run first"
    return owner


def safe_next(target: str | None, default: str = "/account") -> str:
    """``target`` if it is a path on this site (``/...``), else ``default``: never an absolute or
    scheme-relative URL (``https://evil.example``, ``//evil.example``, ``/\\evil.example``)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(c == "\\" or ord(c) < 32 or ord(c) == 127 for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def login_required(view: _View) -> _View:
    """Only for a signed-in owner: browsers are sent to the sign-in page (and back afterwards),
    ``/api/`` callers get 401 ``{"error": "sign_in_required"}``."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_owner() is None:
            if request.path.startswith("/api/"):
                response = jsonify({"error": "sign_in_required", "detail": "sign in first"})
                response.status_code = 401
                return response
            if request.method not in ("GET", "HEAD"):
                return redirect(url_for("auth.sign_in"))  # a form's target cannot be re-opened with GET
            target = request.full_path if request.query_string else request.path
            return redirect(url_for("auth.sign_in", next=target))
        return view(*args, **kwargs)

    return cast(_View, wrapper)
