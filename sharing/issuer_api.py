"""Issuer-facing HTTP: SD-JWT VC issuer metadata, status lists, key histories, and the JSON
API issuer systems call with their API token (``Authorization: Bearer csi_...``).

* ``GET /.well-known/jwt-vc-issuer/issuers/<id>`` — ``{"issuer", "jwks"}`` (SD-JWT VC §5)
* ``GET /status/<id>/<n>`` — the signed ``statuslist+jwt``, cacheable for its ``ttl``
* ``GET /status/<id>/<n>/proof[?signed_since=T]`` — ``{"token", "anchor_proof"}``: that token and
  its proof in the log (a token signed at or after ``T``, at most now, when asked)
* ``GET /issuers/<id>/key-history`` — the latest signed key history and where it is logged
* ``POST /api/v1/issuers/<id>/batches`` — ``{"type", "rows": [...]}`` → the credentials; an
  ``Idempotency-Key`` header (draft-ietf-httpapi-idempotency-key-header) makes a retry return
  the first result instead of issuing again
* ``POST /api/v1/issuers/<id>/credentials/<cid>/status`` — ``{"status": "revoked"|...}``
"""

from __future__ import annotations

import json
from typing import Any, Iterator

from flask import Blueprint, Response, jsonify, request

from credshare.foundation.errors import AuthenticationError, InputError, RateLimitedError
from credshare.issuing.batch import BatchRequest
from credshare.issuing.issuers import issuer_identifier
from credshare.issuing.status import TOKEN_TTL
from credshare.sharing.context import client_address, services
from credshare.sharing.json_body import json_object

bp = Blueprint("issuers", __name__)
MAX_API_ROWS = 20_000


def _identifier_asked_for(issuer_id: str) -> str:
    """The issuer identifier this request's URL stands for (SD-JWT VC §5: the metadata URL is
    made from the ``iss``), when the issuer has issued under it; else its current one."""
    issuer = services().issuers.get(issuer_id)
    asked = issuer_identifier(request.host_url, issuer_id)
    return asked if asked in issuer["identifiers"] else str(issuer["iss"])


@bp.get("/.well-known/jwt-vc-issuer/issuers/<issuer_id>")
def issuer_metadata(issuer_id: str) -> Response:
    return jsonify({"issuer": _identifier_asked_for(issuer_id), "jwks": services().issuers.jwks(issuer_id)})


@bp.get("/status/<issuer_id>/<int:number>")
def status_list(issuer_id: str, number: int) -> Response:
    token = services().status.token(issuer_id, number)
    response = Response(token, mimetype="application/statuslist+jwt")
    response.headers["Cache-Control"] = f"public, max-age={TOKEN_TTL}"
    return response


@bp.get("/status/<issuer_id>/<int:number>/proof")
def status_list_proof(issuer_id: str, number: int) -> Response:
    """The token ``GET /status/<id>/<n>`` serves with its anchor proof (the token is a leaf of
    this server's log), in one JSON answer: what another server verifying the list needs."""
    svc = services()
    asked = request.args.get("signed_since", "0")
    # a token signed no earlier than this (a bundle's snapshot must be as new as its presentation);
    # at most now, so a list is signed again at most once a second whoever asks
    signed_since = min(int(asked), svc.clock.seconds()) if asked.isdigit() and len(asked) <= 12 else 0
    token, index, size = svc.status.logged_token(issuer_id, number, signed_since=signed_since)
    response = jsonify({"token": token, "anchor_proof": svc.log.anchor_proof(index, size)})
    response.headers["Cache-Control"] = f"public, max-age={TOKEN_TTL}"
    return response


@bp.get("/issuers/<issuer_id>/key-history")
def key_history(issuer_id: str) -> Response:
    """The newest key history, proven at the newest checkpoint that met its witness quorum."""
    svc = services()
    doc = svc.issuers.latest_history(issuer_id, _identifier_asked_for(issuer_id))
    index = doc["log_index"]
    return jsonify({"version": doc["version"], "jws": doc["jws"],
                    "anchor_proof": svc.log.anchor_proof(index, svc.log.witnessed_size(index))})


def _authenticate(issuer_id: str) -> None:
    """Check the bearer token; after 10 failures in a minute from one address, refuse all tries
    for that issuer from there until the minute is over (429), so tokens cannot be guessed."""
    svc = services()
    limiter = svc.token_failures
    attempt = limiter.take(f"{issuer_id}|{client_address()}")  # before the check: parallel tries count too
    if attempt is None:
        raise RateLimitedError(f"too many failed token attempts; retry in {limiter.retry_after()} s")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not svc.issuers.authenticate(issuer_id, token.strip()):
        raise AuthenticationError("a valid issuer API token is required (Authorization: Bearer ...)",
                                  code="issuer_token_invalid")
    limiter.give_back(attempt)  # only failures count


class _JsonSink:
    """Credentials kept as the JSON text the answer is made of."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def write(self, credential: dict[str, Any]) -> None:
        self.items.append(json.dumps(credential))


def _joined(head: str, items: list[str], tail: str) -> Iterator[str]:
    """A JSON array's text streamed piece by piece, never joined whole in memory."""
    yield head
    for i, item in enumerate(items):
        yield "," + item if i else item
    yield tail


@bp.post("/api/v1/issuers/<issuer_id>/batches")
def issue_batch(issuer_id: str) -> tuple[Response, int]:
    _authenticate(issuer_id)
    shape = 'the body is {"type": "<credential type>", "rows": [{...}, ...]}'
    body = json_object("request_invalid", shape)
    if not isinstance(body.get("rows"), list) or not isinstance(body.get("type"), str):
        raise InputError(shape, code="request_invalid")
    rows = body["rows"]
    if len(rows) > MAX_API_ROWS:
        raise InputError(f"at most {MAX_API_ROWS} rows per request; use the CLI for larger rosters",
                             code="request_too_large")
    if not all(isinstance(row, dict) for row in rows):
        raise InputError("each row is a JSON object", code="request_invalid")
    svc = services()
    ctype = svc.types.get(body["type"])
    if ctype is None:
        raise InputError(f"unknown type {body['type']!r}", code="credential_type_unknown")
    key = request.headers.get("Idempotency-Key")
    batch_request = BatchRequest.of(key, ctype, rows) if key is not None else None
    sink = _JsonSink()
    result = svc.batches.issue(issuer_id, ctype, enumerate(rows, start=1), sink, expected_rows=len(rows),
                               request=batch_request)
    head = json.dumps(result.summary())[:-1] + ', "credentials": ['  # the summary, left open
    response = Response(_joined(head, sink.items, "]}"), mimetype="application/json")
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response, 201


@bp.post("/api/v1/issuers/<issuer_id>/credentials/<credential_id>/status")
def set_status(issuer_id: str, credential_id: str) -> Response:
    _authenticate(issuer_id)
    body = json_object(shape='the body is {"status": "valid" | "revoked" | "suspended"}')
    services().batches.change_status(issuer_id, [credential_id], str(body.get("status")))
    return jsonify({"credential_id": credential_id, "status": body.get("status")})
