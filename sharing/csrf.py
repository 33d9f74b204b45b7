"""Cross-site request forgery protection (OWASP CSRF Prevention Cheat Sheet: synchronizer token
bound to the session, HMAC-based; signed double-submit cookie before sign-in).

Every POST, PUT, PATCH and DELETE must carry ``csrf_token`` (form field) or ``X-CSRF-Token``
(header) equal to HMAC-SHA256(app secret, ``"csrf|" + binding``), compared in constant time.
The binding is the session token when an owner is signed in, and otherwise a random anonymous
cookie ``credshare_csrf`` (HttpOnly, SameSite=Lax), set on the first page that renders a form.
Another site can neither read the token nor compute it without the secret.

Exempt, by explicit list: the issuer API under ``/api/v1/issuers/``, which authenticates with a
bearer token and uses no cookies, so a forged cross-site request has nothing to ride on; and the
OpenID4VCI endpoints wallets call (``/issuers/<id>/oid4vci/token|nonce|credential``), which
authenticate with a pre-authorized code, a nonce or a bearer token and read no cookie either;
and a CVO's subscription API (``/api/v1/shares/<token>/subscriptions``,
``/api/v1/subscriptions/<id>``), which reads headers only (the share grant or passcode, the
subscription secret).

A refused request gets 400 ``csrf_invalid`` (JSON under ``/api/``, a page otherwise) and
changes nothing: the check runs before any view.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets

from flask import (
    Flask,
    Response,
    g,
    jsonify,
    render_template_string,
    request,
)

from credshare.foundation.errors import CsrfError
from credshare.foundation.kdf import derive_key
from credshare.sharing.context import current_owner, services, session_token

FORM_FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
ANON_COOKIE = "credshare_csrf"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
EXEMPT_PREFIXES: tuple[str, ...] = (
    "/api/v1/issuers/",  # issuer systems: Authorization: Bearer, no cookies
)
_ANON_BYTES = 32
_MAX_TOKEN = 256

_FAILURE_PAGE = """{% extends "base.html" %}
{% block title %}Request refused · credshare{% endblock %}
{% block content %}
<section class="auth-panel">
  <h1>This form has expired</h1>
  <p role="alert">The request did not carry a valid security token (error <code>csrf_invalid</code>),
  so nothing was changed. Go back, reload the page and submit the form again.</p>
</section>
{% endblock %}"""


def _secure_cookies() -> bool:
    return services().settings.secure_cookies


@functools.lru_cache(maxsize=4)
def _csrf_key(secret_key: str) -> bytes:
    """The CSRF key of a deployment's secret: derived once, not on every page with a form."""
    return derive_key(secret_key, "csrf")


def _token_for(binding: str) -> str:
    return hmac.new(_csrf_key(services().settings.secret_key), binding.encode("utf-8"), hashlib.sha256).hexdigest()


def _anon_binding(create: bool) -> str | None:
    value = g.get("csrf_new_anon") or request.cookies.get(ANON_COOKIE)
    if value and len(value) <= _MAX_TOKEN:
        return value
    if not create:
        return None
    g.csrf_new_anon = secrets.token_urlsafe(_ANON_BYTES)
    return g.csrf_new_anon


def _binding(create: bool) -> str | None:
    if current_owner() is not None:
        return "session|" + (session_token() or "")
    anon = _anon_binding(create)
    return None if anon is None else "anon|" + anon


def csrf_token() -> str:
    """The token forms must send back (a Jinja global); sets the anonymous cookie if needed."""
    binding = _binding(create=True)
    assert binding is not None
    return _token_for(binding)


def token_valid() -> bool:
    sent = request.headers.get(HEADER) or request.form.get(FORM_FIELD) or ""
    binding = _binding(create=False)
    if binding is None or not sent or len(sent) > _MAX_TOKEN:
        return False
    return hmac.compare_digest(_token_for(binding).encode("ascii"), sent.encode("utf-8"))


# and a CVO's status subscription API, which reads no cookie: the share grant or passcode
# (X-Share-Grant, X-Share-Passcode) and the subscription secret (X-Subscription-Secret) are headers
_EXEMPT_PATHS = re.compile(r"/issuers/[a-z0-9-]{2,63}/oid4vci/(token|nonce|credential)"
                           r"|/api/v1/shares/[A-Za-z0-9_-]{1,128}/subscriptions|/api/v1/subscriptions/[A-Za-z0-9_-]{1,64}")


def exempt(path: str) -> bool:
    return path.startswith(EXEMPT_PREFIXES) or _EXEMPT_PATHS.fullmatch(path) is not None


def _refuse() -> tuple[Response | str, int]:
    error = CsrfError("The request carries no valid CSRF token; reload the page and try again")
    if request.path.startswith("/api/"):
        return jsonify(error.to_dict()), error.http_status
    return render_template_string(_FAILURE_PAGE), error.http_status


def install(app: Flask) -> None:
    app.jinja_env.globals["csrf_token"] = csrf_token

    @app.before_request
    def _check_csrf() -> tuple[Response | str, int] | None:
        if request.method not in UNSAFE_METHODS or exempt(request.path):
            return None
        return None if token_valid() else _refuse()

    @app.after_request
    def _set_anon_cookie(response: Response) -> Response:
        value = g.get("csrf_new_anon")
        if value:
            response.set_cookie(ANON_COOKIE, value, httponly=True, samesite="Lax", secure=_secure_cookies(), path="/")
        return response
