"""The physician's JSON API: the same wallet and links as the pages, for apps and scripts.

Authentication is the same server-side session as the browser's (``POST /api/v1/session``
sets the ``credshare_session`` cookie); every state-changing call sends the session's CSRF
token in ``X-CSRF-Token`` (``GET /api/v1/session`` returns it). Errors are
``{"error": code, "detail": ...}`` with the HTTP status of the error class.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from credshare.foundation.errors import CredshareError
from credshare.holding.shares import DEFAULT_ATTEMPTS, DEFAULT_DAYS, ShareSummary
from credshare.holding.wallet import CredentialRefused, parse_upload
from credshare.issuing.types import field_rows
from credshare.sharing.auth import set_session_cookie
from credshare.sharing.context import client_address, current_owner, login_required, services, session_token, signed_in_owner
from credshare.sharing.csrf import csrf_token
from credshare.sharing.json_body import json_object
from credshare.sharing.wallet_pages import share_url

bp = Blueprint("owner_api", __name__, url_prefix="/api/v1")


@bp.get("/session")
def session_info() -> Response:
    owner = current_owner()
    return jsonify({"signed_in": owner is not None, "email": owner.email if owner else None, "csrf_token": csrf_token()})


@bp.post("/session")
def sign_in() -> Any:
    body = json_object()
    session = services().accounts.sign_in(str(body.get("email", "")), str(body.get("password", "")),
                                          client_address())
    old = session_token()
    if old:
        services().accounts.sign_out(old)
    response = jsonify({"signed_in": True, "email": session.info.email})
    return set_session_cookie(response, session)


@bp.get("/wallet/credentials")
@login_required
def credentials() -> Response:
    svc = services()
    out = []
    for entry in svc.wallet.entries(signed_in_owner()):
        ctype = svc.wallet.credential_type(entry)
        report = svc.wallet.status(entry)
        disclosable = set() if entry.is_blockcerts else {tuple(p) for p in entry.view.processed.paths.values()}
        item = {
            "id": entry.id, "type": ctype.slug if ctype else None, "vct": entry.claims.get("vct"),
            "issuer": {"id": report.issuer, "name": report.issuer_name}, "added_at": entry.added_at,
            "status": report.credential_status, "outcome": report.outcome, "expires_at": report.expires_at,
            "fields": [{"path": list(r.path), "label": r.label, "value": r.value, "disclosable": r.disclosable}
                       for r in field_rows(entry.claims, ctype, disclosable)],
        }
        if entry.is_blockcerts:  # shared whole: no field is disclosable on its own
            item.update({"vct": None, "format": entry.format, "type_name": entry.record.type_name})
        out.append(item)
    return jsonify({"credentials": out})


@bp.get("/wallet/holder-key")
@login_required
def holder_key() -> Response:
    """The owner's public holder key (JWK): what an issuer on another server binds a credential
    to (``cnf.jwk``, e.g. a batch row's ``holder_jwk``) so that this wallet can present it."""
    return jsonify({"jwk": signed_in_owner().holder_jwk})


@bp.post("/wallet/credentials")
@login_required
def add_credential() -> Any:
    body = request.get_data(as_text=True)
    try:
        entry, report = services().wallet.add_upload(signed_in_owner(), parse_upload(body))
    except CredentialRefused as exc:
        return jsonify(exc.to_dict()), exc.http_status
    added: dict[str, Any] = {"id": entry.id, "checks": [c.to_json() for c in report.checks]}
    if entry.is_blockcerts:
        added.update({"format": entry.format, "outcome": report.outcome})
    return jsonify(added), 201


@bp.delete("/wallet/credentials/<entry_id>")
@login_required
def delete_credential(entry_id: str) -> Any:
    owner = signed_in_owner()
    entry = services().wallet.get(owner, entry_id)
    revoked = services().shares.delete_credential(owner, entry.id)
    return jsonify({"deleted": entry.id, "links_revoked": revoked})


def _link(summary: ShareSummary) -> dict[str, Any]:
    return {"id": summary.link_id, "url": share_url(summary.token), "credential": summary.credential,
            "recipient": summary.recipient or None, "fields": summary.paths, "state": summary.state,
            "created_at": summary.created_at, "expires_at": summary.expires_at, "views": summary.views,
            "max_views": summary.max_views, "passcode": summary.passcode, "attempts_left": summary.attempts_left,
            "shared_as_history": summary.history, "access": summary.access,
            "credential_status": summary.credential_state}


@bp.post("/wallet/credentials/<entry_id>/links")
@login_required
def create_link(entry_id: str) -> Any:
    """The body's values go to the share service as they are: it checks every type and size."""
    owner, svc, body = signed_in_owner(), services(), json_object()
    summary = svc.shares.create(
        owner, svc.wallet.get(owner, entry_id), body.get("fields"), holder=svc.accounts.holder_signer(owner),
        days=body.get("days", DEFAULT_DAYS), recipient=body.get("recipient"), passcode=body.get("passcode"),
        attempts=body.get("attempts", DEFAULT_ATTEMPTS), max_views=body.get("max_views"),
        history=body.get("history", False), acknowledge_status=body.get("acknowledge_status"))
    return jsonify(_link(summary)), 201


@bp.get("/links")
@login_required
def links() -> Response:
    return jsonify({"links": [_link(s) for s in services().shares.list(signed_in_owner())]})


@bp.get("/links/<link_id>")
@login_required
def link(link_id: str) -> Response:
    return jsonify(_link(services().shares.get(signed_in_owner(), link_id)))


@bp.post("/links/<link_id>/revoke")
@login_required
def revoke(link_id: str) -> Response:
    services().shares.revoke(signed_in_owner(), link_id)
    return jsonify(_link(services().shares.get(signed_in_owner(), link_id)))


@bp.errorhandler(CredshareError)
def _error(exc: CredshareError) -> Any:
    return jsonify(exc.to_dict()), exc.http_status
