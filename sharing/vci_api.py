"""OpenID for Verifiable Credential Issuance 1.0 over HTTP, for the issuers hosted here
(:mod:`credshare.issuing.vci` does the work), and the page a physician opens from the e-mail.

Issuer systems (``Authorization: Bearer csi_...``, like the batch API):

* ``POST /api/v1/issuers/<id>/offers`` — ``{"type", "rows": [...]}`` (batch rows with ``email``
  and no ``holder_jwk``) → ``201 {"offers": [{"id", "line", "email", "tx_code", "expires_at",
  "offer_page", "mailed"}]}``. Each row's address is mailed the offer page; the ``tx_code``
  (PIN) is answered here only, for the issuer to send by another channel (text message, its
  portal, a letter).
* ``GET /api/v1/issuers/<id>/offers/<offer id>`` — the offer's state and, once redeemed, the
  ``credential_id`` the status API takes

Wallets (OpenID4VCI; the Credential Issuer Identifier is ``<public URL>/issuers/<id>``, which
is also its own OAuth authorization server):

* ``GET /.well-known/openid-credential-issuer/issuers/<id>`` — Credential Issuer Metadata (§12.2)
* ``GET /.well-known/oauth-authorization-server/issuers/<id>`` — RFC 8414 metadata
* ``GET /issuers/<id>/oid4vci/offers/<code>`` — the Credential Offer by reference (§4.1.3)
* ``POST /issuers/<id>/oid4vci/token`` — pre-authorized code + ``tx_code`` → access token (§6)
* ``POST /issuers/<id>/oid4vci/nonce`` — ``{"c_nonce"}`` (§7)
* ``POST /issuers/<id>/oid4vci/credential`` — Bearer token + ``proofs.jwt`` → ``{"credentials":
  [{"credential": <SD-JWT VC>, "anchor_proof": {...}}]}`` (§8; ``anchor_proof`` is credshare's
  extension member: the log inclusion proof a credshare wallet verifies the credential with)

Protocol errors are ``{"error", "error_description"}`` (RFC 6749 §5.2, §8.3.1.2), never cached.
Failed codes, PINs and tokens count per issuer and client address (10 a minute, then 429).

For people: ``GET /offer/<code>`` — what the offer is, the ``openid-credential-offer://`` link,
its QR code and the link as text to paste into a wallet ("Receive a credential" on credshare).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, jsonify, render_template, request

from credshare.foundation.errors import InputError
from credshare.issuing.vci import (
    FORMAT,
    NONCE_SECONDS,
    PRE_AUTHORIZED_GRANT,
    PROOF_ALGS,
    TOKEN_SECONDS,
    OAuthError,
    configuration_id,
)
from credshare.sharing.context import client_address, services
from credshare.sharing.display import day, when
from credshare.sharing.issuer_api import MAX_API_ROWS, _authenticate
from credshare.sharing.json_body import json_object
from credshare.sharing.qr import qr_svg
from credshare.storage.mail import MailError

bp = Blueprint("vci", __name__)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(OAuthError)
def _oauth_error(exc: OAuthError) -> Response:
    response = jsonify({"error": exc.code, "error_description": exc.detail})
    response.status_code = exc.http_status
    if exc.http_status == 401:
        response.headers["WWW-Authenticate"] = f'Bearer error="{exc.code}"'
    return _no_store(response)


def offer_uri(iss: str, code: str) -> str:
    return f"{iss}/oid4vci/offers/{code}"


def offer_link(iss: str, code: str) -> str:
    """What a wallet app opens (§4.1): the offer by reference."""
    return "openid-credential-offer://?credential_offer_uri=" + quote(offer_uri(iss, code), safe="")


def offer_page(code: str) -> str:
    return f"{services().settings.public_url.rstrip('/')}/offer/{code}"


# -- issuer systems ---------------------------------------------------------------------------

def _mail(email: str, issuer_name: str, type_name: str, page: str, expires_at: int) -> bool:
    body = (f"{issuer_name} has a credential for you: {type_name}.\n\n"
            f"Open this page to receive it into your digital wallet:\n{page}\n\n"
            f"You will also need the 6-digit PIN that {issuer_name} gives you separately (it is never in this e-mail).\n"
            f"The offer can be used once, until {day(expires_at)}.\n\n"
            "If you did not expect this, ignore this message: nothing happens without the PIN.\n")
    try:
        services().mailer.send(email, f"{issuer_name}: a credential for your wallet", body)
    except MailError:
        return False
    return True


@bp.post("/api/v1/issuers/<issuer_id>/offers")
def create_offers(issuer_id: str) -> tuple[Response, int]:
    _authenticate(issuer_id)
    shape = 'the body is {"type": "<credential type>", "rows": [{...}, ...]}'
    body = json_object("request_invalid", shape)
    rows = body.get("rows")
    if not isinstance(rows, list) or not isinstance(body.get("type"), str) or not all(isinstance(r, dict) for r in rows):
        raise InputError(shape, code="request_invalid")
    if len(rows) > MAX_API_ROWS:
        raise InputError(f"at most {MAX_API_ROWS} rows per request", code="request_too_large")
    svc = services()
    ctype = svc.types.get(body["type"])
    if ctype is None:
        raise InputError(f"unknown type {body['type']!r}", code="credential_type_unknown")
    made = svc.vci.create(issuer_id, ctype, enumerate(rows, start=1))
    issuer = svc.issuers.get(issuer_id)
    out = [{"id": m.id, "line": m.line, "email": m.email, "tx_code": m.tx_code, "expires_at": m.expires_at,
            "offer_page": offer_page(m.pre_authorized_code),
            "mailed": _mail(m.email, issuer["name"], ctype.name, offer_page(m.pre_authorized_code), m.expires_at)}
           for m in made]
    return _no_store(jsonify({"offers": out})), 201


@bp.get("/api/v1/issuers/<issuer_id>/offers/<offer_id>")
def offer_state(issuer_id: str, offer_id: str) -> Response:
    """``{"id", "state", "expires_at", "issued_at", "credential_id"}``: an offer's state, and the
    id of the credential it was redeemed for (what the status API takes)."""
    _authenticate(issuer_id)
    return _no_store(jsonify(services().vci.describe(issuer_id, offer_id)))


# -- metadata -----------------------------------------------------------------------------------

@bp.get("/.well-known/openid-credential-issuer/issuers/<issuer_id>")
def issuer_metadata(issuer_id: str) -> Response:
    svc = services()
    issuer = svc.issuers.get(issuer_id)
    iss = str(issuer["iss"])
    configurations = {configuration_id(t): {
        "format": FORMAT, "vct": t.vct, "cryptographic_binding_methods_supported": ["jwk"],
        "credential_signing_alg_values_supported": ["EdDSA", "ES256"],
        "proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": list(PROOF_ALGS)}},
        "credential_metadata": {"display": [{"name": t.name, "locale": "en"}]},
    } for t in svc.types.values()}
    return jsonify({"credential_issuer": iss, "credential_endpoint": f"{iss}/oid4vci/credential",
                    "nonce_endpoint": f"{iss}/oid4vci/nonce", "display": [{"name": issuer["name"], "locale": "en"}],
                    "credential_configurations_supported": configurations})


@bp.get("/.well-known/oauth-authorization-server/issuers/<issuer_id>")
def authorization_server_metadata(issuer_id: str) -> Response:
    iss = services().issuers.issuer_url(issuer_id)
    return jsonify({"issuer": iss, "token_endpoint": f"{iss}/oid4vci/token",
                    "grant_types_supported": [PRE_AUTHORIZED_GRANT],
                    "pre-authorized_grant_anonymous_access_supported": True})


# -- wallets ------------------------------------------------------------------------------------

@bp.get("/issuers/<issuer_id>/oid4vci/offers/<code>")
def credential_offer(issuer_id: str, code: str) -> Response:
    found = services().vci.offer_object(issuer_id, code)
    if found is None:
        raise OAuthError("invalid_grant", "this credential offer is unknown, used or expired", status=404)
    return _no_store(jsonify(found[1]))


def _counted(issuer_id: str) -> Any:
    limiter = services().vci_failures
    attempt = limiter.take(f"{issuer_id}|{client_address()}")  # before the check: parallel tries count too
    if attempt is None:
        raise OAuthError("rate_limited", f"too many failed attempts; retry in {limiter.retry_after()} s", status=429)
    return attempt


@bp.post("/issuers/<issuer_id>/oid4vci/token")
def token(issuer_id: str) -> Response:
    services().issuers.get(issuer_id)
    form = request.form
    if form.get("grant_type") != PRE_AUTHORIZED_GRANT:
        raise OAuthError("unsupported_grant_type", "only the pre-authorized code grant is supported here")
    attempt = _counted(issuer_id)
    access = services().vci.redeem(issuer_id, form.get("pre-authorized_code"), form.get("tx_code"))
    services().vci_failures.give_back(attempt)  # only failures count
    return _no_store(jsonify({"access_token": access, "token_type": "Bearer", "expires_in": TOKEN_SECONDS}))


@bp.post("/issuers/<issuer_id>/oid4vci/nonce")
def nonce(issuer_id: str) -> Response:
    svc = services()
    svc.issuers.get(issuer_id)
    if svc.vci_nonces.take(client_address()) is None:
        raise OAuthError("rate_limited", f"too many nonces asked for; retry in {svc.vci_nonces.retry_after()} s",
                         status=429)
    return _no_store(jsonify({"c_nonce": svc.vci.nonce(), "c_nonce_expires_in": NONCE_SECONDS}))


@bp.post("/issuers/<issuer_id>/oid4vci/credential")
def credential(issuer_id: str) -> Response:
    svc = services()
    svc.issuers.get(issuer_id)
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    attempt = _counted(issuer_id)
    if scheme.lower() != "bearer":
        raise OAuthError("invalid_token", "a bearer access token is required", status=401)
    body = request.get_json(silent=True)
    issued = svc.vci.credential(issuer_id, presented.strip(), body)
    svc.vci_failures.give_back(attempt)
    return _no_store(jsonify({"credentials": [{"credential": issued["sd_jwt"], "anchor_proof": issued["anchor_proof"]}]}))


# -- the physician's page ---------------------------------------------------------------------

@bp.get("/offer/<code>")
def offer(code: str) -> tuple[str, int]:
    svc = services()
    found = svc.vci.offer_object(None, code)
    if found is None:
        return render_template("offer.html", offer=None), 410
    issuer_id, body, expires_at = found
    issuer = svc.issuers.get(issuer_id)
    ctype = next((t for t in svc.types.values() if configuration_id(t) == body["credential_configuration_ids"][0]), None)
    link = offer_link(str(body["credential_issuer"]), code)
    return render_template("offer.html", offer=body, issuer_name=issuer["name"],
                           type_name=ctype.name if ctype else body["credential_configuration_ids"][0], link=link,
                           expires_at=expires_at, when=when,
                           qr=qr_svg(link, label="QR code of the credential offer, for a wallet app")), 200
