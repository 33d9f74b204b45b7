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

from credshare.foundation.errors import CredshareError, InputError, NotFoundError, RateLimitedError
from credshare.holding.receipts import RECEIPT_KEYS_PATH
from credshare.holding.shares import Gate, OpenedShare, PasscodeNeeded, ShareGone
from credshare.issuing.types import type_for_vct
from credshare.sharing.context import client_address, services
from credshare.sharing.display import day, when
from credshare.sharing.qr import qr_svg
from credshare.sharing.report_pdf import Paper, PdfUnavailableError, render_pdf
from credshare.sharing.report_view import shown_report
from credshare.verifier.receipt import VERIFIED_BY_MAX, verified_by

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
    receipts = services().receipts
    ctype = receipts.credential_type(opened)
    shown = shown_report(opened.report, ctype, physician=receipts.physician(opened) if opened.is_blockcerts else None)
    return make_response(render_template(
        "verify.html", token=token, opened=opened, report=opened.report, shown=shown, when=when, day=day))


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
                           type_name=ctype.name if ctype else gate.type_name, issuer_name=hosted[1] if hosted else None,
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


def _verified_by() -> dict[str, str | None] | None:
    """Who verified, as typed in the report page's form (``?verified_by_name=&verified_by_org=``);
    InputError (400) when it is not short plain text."""
    return verified_by(request.args.get("verified_by_name"), request.args.get("verified_by_org"))


def _by_query(by: dict[str, str | None] | None) -> dict[str, str]:
    """The form's values as a query again, for the PDF and JSON links of the same report."""
    if not by:
        return {}
    return {k: v for k, v in (("verified_by_name", by.get("name")), ("verified_by_org", by.get("organisation"))) if v}


def _report_context(doc: dict[str, Any]) -> dict[str, Any]:
    r = doc["receipt"]
    return {"doc": doc, "r": r, "when": when, "day": day,
            "qr": qr_svg(r["recheck"], scale=3, label="QR code of the address to re-check this report")}


def _problem_page(exc: CredshareError) -> Response:
    """A report that could not be made (or a re-check address that shows none), said as such:
    not the link's gone page."""
    return make_response(render_template("receipt_problem.html", error=exc), exc.http_status)


def _receipt_or_error(token: str, page: Callable[[OpenedShare, dict[str, str | None] | None], Response]) -> BaseResponse:
    try:
        by = _verified_by()
    except InputError as exc:
        return _problem_page(exc)

    def made(opened: OpenedShare) -> Response:
        try:
            return page(opened, by)
        except (RateLimitedError, PdfUnavailableError) as exc:
            return _problem_page(exc)

    return _html(token, made, download=True, outcome="receipt")


@bp.get("/s/<token>/receipt")
def receipt(token: str) -> BaseResponse:
    """The one-page verification report, with the form for "verified by" and the Print button."""
    def page(opened: OpenedShare, by: dict[str, str | None] | None) -> Response:
        doc = services().receipts.receipt(opened, by)
        return make_response(render_template("receipt.html", token=token, by=by, query=_by_query(by),
                                             max_len=VERIFIED_BY_MAX, **_report_context(doc)))

    return _receipt_or_error(token, page)


@bp.get("/s/<token>/receipt.json")
def receipt_json(token: str) -> BaseResponse:
    return _receipt_or_error(token, lambda o, by: _download(services().receipts.receipt(o, by),
                                                            f"credshare-receipt-{o.link_id}.json"))


def report_file_name(doc: dict[str, Any]) -> str:
    r = doc["receipt"]
    return f"credshare-report-{r['link']['id']}-{day(r['iat'])}"


def report_pdf(doc: dict[str, Any], paper: Paper = "a4") -> bytes:
    """The receipt document ``doc`` (ReceiptService.receipt) as the printable report's PDF: the
    report on page one, the appendix after it, the JWS attached; its title says the verdict."""
    title = f"Verification report: {doc['receipt']['verdict']['headline']}"
    html = render_template("receipt_pdf.html", title=title, **_report_context({**doc, "attached": True}))
    return render_pdf(html, attachment=doc["jws"], attachment_name=f"{report_file_name(doc)}.receipt.jws", paper=paper)


@bp.get("/s/<token>/receipt.pdf")
def receipt_pdf(token: str) -> BaseResponse:
    """The same report as a PDF (``?paper=letter`` for US Letter, A4 otherwise), the signed
    receipt attached; counted against the link's receipt bound like the page."""
    paper: Paper = "letter" if request.args.get("paper") == "letter" else "a4"

    def pdf(opened: OpenedShare, by: dict[str, str | None] | None) -> Response:
        doc = services().receipts.receipt(opened, by)
        name = report_file_name(doc)
        response = make_response(report_pdf(doc, paper))
        response.mimetype = "application/pdf"
        response.headers["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
        return response

    return _receipt_or_error(token, pdf)


@bp.get("/receipts/<jti>")
def receipt_check(jti: str) -> BaseResponse:
    """The re-check address a printed report carries: the receipt as this server signed it,
    its signature verified again now. By the receipt's id, never by the link's token."""
    try:
        doc = services().receipts.stored(jti)
    except NotFoundError as exc:
        return _problem_page(exc)
    return make_response(render_template("receipt_check.html", **_report_context(doc)))


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
    try:
        by = _verified_by()
    except InputError as exc:
        return jsonify(exc.to_dict()), exc.http_status
    return _api(token, lambda o: jsonify(services().receipts.receipt(o, by)), download=True, outcome="receipt (API)")
