"""The HTTP interface of a C2SP transparency log witness (c2sp.org/tlog-witness): the
submission call ``POST /add-checkpoint`` and the monitoring call ``GET /<origin hash>/checkpoint``.

Answers are plain text, as the protocol has them: a 200 to ``add-checkpoint`` is the
witness's cosignature line(s) (``text/plain``); a 409 is the size it last cosigned for the
log, in decimal and a newline, as ``text/x.tlog.size``; every other refusal is one
``text/plain`` line, ``<code>: <detail>``, with the code of :mod:`credshare.anchoring.errors`
(400 ``witness_request_malformed``, 403 ``witness_log_signature_invalid``, 404
``witness_log_unknown``, 422 ``witness_proof_invalid``, 503 ``witness_unavailable``). A body
is read only once its announced length is known to be at most
:data:`credshare.anchoring.witness.MAX_REQUEST_BYTES`, and never beyond that (413 otherwise).
"""

from __future__ import annotations

import re
import sys

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from credshare.anchoring.witness import MAX_REQUEST_BYTES, SIZE_CONTENT_TYPE, WitnessRefused
from credshare.foundation.errors import CredshareError
from credshare.sharing.http_codes import HTTP_CODES
from credshare.witnessing.service import WitnessService

EXTENSION_KEY = "credshare.witness"
TEXT = "text/plain; charset=utf-8"
_ORIGIN_HASH = re.compile(r"^[0-9a-f]{64}$")

bp = Blueprint("witness_api", __name__)


def witness() -> WitnessService:
    service: WitnessService = current_app.extensions[EXTENSION_KEY]
    return service


def text_answer(status: int, code: str, detail: str) -> Response:
    """One line, ``<code>: <detail>``: the shape of every refusal but 409."""
    line = " ".join(f"{code}: {detail}".split())  # one line, whatever the detail holds
    return Response(line + "\n", status=status, content_type=TEXT)


def _body() -> bytes:
    if request.content_length is not None and request.content_length > MAX_REQUEST_BYTES:
        raise RequestEntityTooLarge()
    body = request.stream.read(MAX_REQUEST_BYTES + 1)  # a chunked body has no length to check first
    if len(body) > MAX_REQUEST_BYTES:
        raise RequestEntityTooLarge()
    return body


@bp.post("/add-checkpoint")
def add_checkpoint() -> Response:
    body = _body()
    try:
        line = witness().add_checkpoint(body)
    except WitnessRefused as exc:
        if exc.http_status == 409 and exc.latest_size is not None:
            return Response(f"{exc.latest_size}\n", status=409, content_type=SIZE_CONTENT_TYPE)
        return text_answer(exc.http_status, exc.code, exc.detail)
    return Response(line, status=200, content_type=TEXT)


@bp.get("/<origin_hash>/checkpoint")
def checkpoint(origin_hash: str) -> Response:
    note = witness().latest_checkpoint(origin_hash) if _ORIGIN_HASH.match(origin_hash) else None
    if note is None:
        return text_answer(404, "checkpoint_unknown", "this witness never cosigned a checkpoint of that log")
    return Response(note, status=200, content_type=TEXT)


def install_errors(app: Flask) -> None:
    """Every other error in the same plain-text shape (never an HTML page, never a traceback)."""

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        answer = text_answer(status, HTTP_CODES.get(status, "bad_request"), exc.description or "")
        if status == 405 and exc.get_response().headers.get("Allow"):
            answer.headers["Allow"] = exc.get_response().headers["Allow"]
        return answer

    @app.errorhandler(CredshareError)
    def _ours(exc: CredshareError) -> Response:  # e.g. 503 store_unavailable: nothing was cosigned
        return text_answer(exc.http_status if exc.http_status >= 400 else 500, exc.code, exc.detail)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        app.log_exception(sys.exc_info())
        return text_answer(500, "internal_error", "the witness could not answer")
