"""Public transparency-log endpoints: the log's key, its checkpoints, witnesses and proofs.

Everything here is public by design (hashes, signatures, keys): verifiers fetch the key and
witness set once and keep them, so later checks need no server.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, request

from credshare.sharing.context import services

bp = Blueprint("log", __name__, url_prefix="/log")


def _text(body: str) -> Response:
    return Response(body, mimetype="text/plain; charset=utf-8")


@bp.get("")
def status() -> Response:
    svc = services()
    return jsonify({**svc.log.status(), "witness_quorum": svc.settings.witness_quorum})


@bp.get("/key")
def key() -> Response:
    return _text(services().log.signer.verifier.encode() + "\n")


@bp.get("/witnesses")
def witnesses() -> Response:
    svc = services()
    return jsonify({"witnesses": [w.to_json() for w in svc.log.witness_keys], "quorum": svc.settings.witness_quorum})


@bp.get("/trust")
def trust() -> Response:
    """Everything a verifier pins once to check bundles offline later (``credshare verify --trust``)."""
    svc = services()
    return jsonify({"log_key": svc.log.signer.verifier.encode(), "witnesses": [w.to_json() for w in svc.log.witness_keys],
                    "quorum": svc.settings.witness_quorum})


@bp.get("/checkpoint")
def checkpoint() -> Response:
    log = services().log
    if log.head()[0] == 0:
        abort(404, "the log is empty")
    return _text(log.checkpoint()["note"])


@bp.get("/proof/<int:index>")
def proof(index: int) -> Response:
    log = services().log
    size = request.args.get("size", type=int)
    return jsonify(log.anchor_proof(index, size))
