"""What a credential verification organization opens: ``/s/<token>`` (passcode form first
when the owner set one), with every check re-run now; the same as JSON under
``/api/v1/shares/<token>`` (docs/openapi.yaml); the offline bundle; and the signed receipt.

Views are counted when the verification is shown (the page's Open button, or the API). A
browser takes the bundle and the receipt with the grant its counted view gave it (a cookie);
without one it is sent to the gate. Over the API they count as a view unless the request sends
the grant back (``X-Share-Grant``). The owner's access log records every one.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from flask import Blueprint, Response, jsonify, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse  # what redirect() returns; flask's Response is one

from credshare.foundation.errors import CredshareError, NotFoundError
from credshare.holding.receipts import RECEIPT_KEYS_PATH
from credshare.holding.shares import Gate, OpenedShare, PasscodeNeeded, ShareGone
from credshare.issuing.types import type_for_vct
from credshare.sharing.context import client_address, services
from credshare.sharing.display import day, when
from credshare.sharing.report_view import shown_report

bp = Blueprint("verify", __name__)
GRANT_COOKIE = "credshare_grant"
PASSCODE_HEADER = "X-Share-Passcode"
GRANT_HEADER = "X-Share-Grant"


def _client() -> tuple[str | None, str | None]:
    return client_address(), request.user_agent.string


def _open(token: str, *, passcode: str | None = None, download: bool = False, outcome: str = "viewed",
          grant: str | None = None) -> tuple[OpenedShare, str]:
    return services().shares.open(token, _client(), passcode=passcode, grant=grant or request.cookies.get(GRANT_COOKIE),
                                  download=download, outcome=outcome)


def _with_grant(response: Response, token: str, grant: str) -> Response:
    if grant != request.cookies.get(GRANT_COOKIE):
        response.set_cookie(GRANT_COOKIE, grant, max_age=30 * 60, path=f"/s/{token}", httponly=True, samesite="Strict",
                            secure=services().settings.secure_cookies)
    return response


def _head(token: str) -> Response:
    """HEAD answers whether the link can be opened, and never counts a view."""
    try:
        services().shares.gate(token, _client(), request.cookies.get(GRANT_COOKIE))
    except (ShareGone, NotFoundError) as exc:
        return make_response("", exc.http_status)
    return make_response("", 200)


def _gone_page(exc: CredshareError) -> Response:
    return make_response(render_template("share_gone.html", error=exc), exc.http_status)


def _html(token: str, handler: Callable[[OpenedShare], Response], *, passcode: str | None = None, download: bool = False,
          outcome: str = "viewed") -> BaseResponse:
    """Open the link for an HTML view; the gate again (with the passcode error), or a clear
    page, when it cannot be."""
    if request.method == "HEAD":
        return _head(token)
    try:
        if download and not services().shares.gate(token, _client(), request.cookies.get(GRANT_COOKIE), download=True).granted:
            # a browser takes the bundle or receipt after opening the link: anything else (a
            # previewer fetching the URL) goes through the gate and uses up no view
            return redirect(url_for("verify.show", token=token))
        opened, grant = _open(token, passcode=passcode, download=download, outcome=outcome)
        return _with_grant(handler(opened), token, grant)
    except PasscodeNeeded as exc:
        try:
            gate = services().shares.gate(token, _client())
        except (ShareGone, NotFoundError) as gone:  # used up or revoked meanwhile
            return _gone_page(gone)
        return make_response(_gate_page(token, gate, exc.attempts_left,
                                        error=exc if exc.code == "passcode_wrong" else None), 401)
    except (ShareGone, NotFoundError) as exc:
        return _gone_page(exc)
    except CredshareError as exc:
        if exc.http_status >= 500:
            raise
        return _gone_page(exc)


def _render_verification(token: str, opened: OpenedShare) -> Response:
    ctype = services().receipts.credential_type(opened)
    return make_response(render_template(
        "verify.html", token=token, opened=opened, report=opened.report, shown=shown_report(opened.report, ctype),
        when=when, day=day))


@bp.get("/s/<token>")
def show(token: str) -> BaseResponse:
    """The gate (an Open button, or the passcode form): nothing is shown and no view is counted
    until the visitor opens it, so link previewers and HEAD requests cannot use a link up. A
    browser that opened it within its grant sees it again directly."""
    try:
        gate = services().shares.gate(token, _client(), request.cookies.get(GRANT_COOKIE))
    except (ShareGone, NotFoundError) as exc:
        return _gone_page(exc)
    if gate.granted and request.method == "GET":
        return _html(token, lambda opened: _render_verification(token, opened))
    return make_response(_gate_page(token, gate, gate.attempts_left))


def _gate_page(token: str, gate: Gate, attempts_left: int | None, error: CredshareError | None = None) -> str:
    """The gate names what is shared before a view is counted: the type in words, the recipient
    label, the issuer when it is one hosted here (its name from this server's own registry, the
    credential's signature being checked only once opened), the expiry and the views left."""
    svc = services()
    ctype = type_for_vct(svc.types, gate.vct)
    hosted = svc.issuers.hosted(gate.iss)
    return render_template("share_gate.html", token=token, gate=gate, attempts_left=attempts_left, error=error,
                           type_name=ctype.name if ctype else None, issuer_name=hosted[1] if hosted else None,
                           when=when)


@bp.post("/s/<token>")
def unlock(token: str) -> BaseResponse:
    return _html(token, lambda opened: _render_verification(token, opened), passcode=request.form.get("passcode", ""))


def _download(doc: Any, name: str) -> Response:
    response = make_response(json.dumps(doc, indent=2))
    response.mimetype = "application/json"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.get("/s/<token>/bundle")
def bundle(token: str) -> BaseResponse:
    return _html(token, lambda o: _download(services().receipts.bundle(o), f"credshare-bundle-{o.link_id}.json"),
                 download=True,
                 outcome="bundle downloaded")


@bp.get("/s/<token>/receipt")
def receipt(token: str) -> BaseResponse:
    def page(opened: OpenedShare) -> Response:
        doc = services().receipts.receipt(opened)
        ctype = services().receipts.credential_type(opened)
        return make_response(render_template("receipt.html", doc=doc, r=doc["receipt"], token=token, when=when, day=day,
                                             type_name=ctype.name if ctype else None))

    return _html(token, page, download=True, outcome="receipt")


@bp.get("/s/<token>/receipt.json")
def receipt_json(token: str) -> BaseResponse:
    return _html(token, lambda o: _download(services().receipts.receipt(o), f"credshare-receipt-{o.link_id}.json"),
                 download=True, outcome="receipt")


@bp.get(RECEIPT_KEYS_PATH)
def receipt_keys() -> Response:
    signer = services().receipt_signer
    return jsonify({"keys": [{**signer.public_jwk, "kid": signer.kid, "alg": signer.alg, "use": "sig"}]})


# -- JSON API ---------------------------------------------------------------------------------

def _header_text(name: str) -> str | None:
    """A header as the UTF-8 text clients send (WSGI hands headers over as ISO-8859-1)."""
    raw = request.headers.get(name)
    if raw is None:
        return None
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return raw


def _api(token: str, handler: Callable[[OpenedShare], Any], *, download: bool, outcome: str) -> Any:
    """Errors keep the shared ``{"error", "detail"}`` shape (plus ``attempts_left`` for passcodes).
    Every answer carries a grant (``X-Share-Grant``): sent back, it fetches the bundle and the
    receipt without counting another view or checking the passcode again."""
    if request.method == "HEAD":
        return _head(token)
    try:
        opened, grant = _open(token, passcode=_header_text(PASSCODE_HEADER), download=download, outcome=outcome,
                              grant=request.headers.get(GRANT_HEADER))
    except CredshareError as exc:
        return jsonify(exc.to_dict()), exc.http_status
    response = make_response(handler(opened))
    response.headers[GRANT_HEADER] = grant
    return response


@bp.get("/api/v1/shares/<token>")
def api_show(token: str) -> Any:
    return _api(token, lambda o: jsonify(services().receipts.verification(o)), download=False, outcome="viewed (API)")


@bp.get("/api/v1/shares/<token>/bundle")
def api_bundle(token: str) -> Any:
    return _api(token, lambda o: jsonify(services().receipts.bundle(o)), download=True, outcome="bundle downloaded (API)")


@bp.get("/api/v1/shares/<token>/receipt")
def api_receipt(token: str) -> Any:
    return _api(token, lambda o: jsonify(services().receipts.receipt(o)), download=True, outcome="receipt (API)")
