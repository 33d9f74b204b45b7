"""A share link made on another server, checked here by this server's own trust list
(federation/link_check.py): what a verifier-only server offers a medical staff office.

* ``GET /check`` — the form: the link, and its passcode when the physician set one
* ``POST /check`` — the link's verification, on this server's trust list
* ``POST /api/v1/checks`` — the same as JSON: ``{"link", "passcode"}`` → ``{"link", "wallet",
  "verification"}`` (docs/openapi.yaml)
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, make_response, render_template, request
from werkzeug.wrappers import Response

from credshare.federation.link_check import CheckedLink, LinkCheckError
from credshare.foundation.errors import InputError
from credshare.holding.receipts import blockcerts_recipient
from credshare.issuing.types import type_for_vct
from credshare.sharing.context import services
from credshare.sharing.display import day, when
from credshare.sharing.json_body import json_object
from credshare.sharing.report_view import shown_report

bp = Blueprint("check", __name__)
MAX_LINK_CHARS = 2048


def _page(checked: CheckedLink | None = None, error: LinkCheckError | None = None, link: str = "",
          status: int = 200) -> Response:
    svc = services()
    shown = None
    if checked is not None:
        carried = checked.bundle.get("blockcerts") if checked.report.credential_format == "blockcerts" else None
        named = blockcerts_recipient(carried.get("document")) if isinstance(carried, dict) else None
        shown = shown_report(checked.report, type_for_vct(svc.types, checked.report.vct), physician=named)
    body = render_template("check.html", checked=checked, report=checked.report if checked else None, error=error,
                           link=link, shown=shown, trust_problem=svc.trusting.problem(), when=when, day=day)
    return make_response(body, status)


@bp.get("/check")
def form() -> Response:
    return _page()


def _inputs(link: Any, passcode: Any) -> tuple[str, str | None]:
    if not isinstance(link, str) or not link.strip() or len(link) > MAX_LINK_CHARS:
        raise LinkCheckError("Paste the share link the physician sent you", code="link_invalid")
    if passcode is not None and not isinstance(passcode, str):
        raise InputError("The passcode is text", code="passcode_wrong")
    return link.strip(), passcode or None


@bp.post("/check")
def check() -> Response:
    link = request.form.get("link", "")
    try:
        checked = services().link_checker.check(*_inputs(link, request.form.get("passcode")))
    except LinkCheckError as exc:
        return _page(error=exc, link=link[:MAX_LINK_CHARS], status=exc.http_status)
    return _page(checked, link=link)


@bp.post("/api/v1/checks")
def api_check() -> Any:
    body = json_object("request_invalid", 'the body is {"link": "<share link>", "passcode": "..."}')
    try:
        checked = services().link_checker.check(*_inputs(body.get("link"), body.get("passcode")))
    except LinkCheckError as exc:
        return jsonify(exc.to_dict()), exc.http_status
    return jsonify({"link": checked.link, "wallet": checked.wallet, "verification": checked.report.to_json()})
