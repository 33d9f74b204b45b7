"""Public transparency-log endpoints: the log's key, its checkpoints, witnesses and proofs.

Everything here is public by design (hashes, signatures, keys): verifiers fetch the key and
the trust policy (C2SP tlog-policy, ``/log/trust``) once and keep them, so later checks need
no server; monitors follow ``/log/checkpoint`` and ``/log/consistency`` (RFC 9162 proofs).
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort, jsonify, request

from credshare.anchoring.errors import AnchoringError
from credshare.foundation.b64 import b64_encode
from credshare.issuing.cosigning import witness_summary
from credshare.sharing.context import services

bp = Blueprint("log", __name__, url_prefix="/log")


def _text(body: str) -> Response:
    return Response(body, mimetype="text/plain; charset=utf-8")


@bp.get("")
def status() -> Response:
    svc = services()
    head = svc.log.read_head()
    latest = svc.log.checkpoint(head=head).get("witnessed") if head.size else None
    summary = witness_summary(svc.trust_policy, svc.log.witness_keys)
    return jsonify({**svc.log.status(), **summary, "latest_witnessed": latest})


@bp.get("/key")
def key() -> Response:
    return _text(services().log.signer.verifier.encode() + "\n")


@bp.get("/witnesses")
def witnesses() -> Response:
    svc = services()
    return jsonify(witness_summary(svc.trust_policy, svc.log.witness_keys))


@bp.get("/trust")
def trust() -> Response:
    """The log's suggestion of what to trust, as a C2SP tlog-policy file (``credshare verify
    --trust``): its key, the witnesses and their quorum. Development witnesses, when that is
    all it has, are the log's own keys: a verifier's own policy should name independent ones."""
    return _text(services().trust_policy.to_text())


@bp.get("/checkpoint")
def checkpoint() -> Response:
    log = services().log
    if log.head()[0] == 0:
        abort(404, "the log is empty")
    response = _text(log.checkpoint()["note"])
    response.headers["Cache-Control"] = "public, max-age=5"  # tlog-tiles: mutable, cached a few seconds
    return response


@bp.get("/proof/<int:index>")
def proof(index: int) -> Response:
    log = services().log
    size = request.args.get("size", type=int)
    return jsonify(log.anchor_proof(index, size))


_SIZE = re.compile(r"^(0|[1-9][0-9]{0,19})$")


@bp.get("/consistency")
def consistency() -> Response:
    """RFC 9162 §2.1.4 consistency proof from tree size ``old`` to ``new`` (both committed, old
    <= new): one standard-base64 hash per line, text/plain (empty when old is 0 or equal to new)."""
    sizes = [request.args.get(name, "") for name in ("old", "new")]
    if not all(_SIZE.match(text) for text in sizes):
        raise AnchoringError("old and new are tree sizes in decimal", code="proof_unavailable")
    old, new = (int(text) for text in sizes)
    log = services().log
    committed = log.head()[0]
    if not old <= new <= committed:
        raise AnchoringError(f"no consistency proof from {old} to {new}: 0 <= old <= new <= {committed}",
                             code="proof_unavailable")
    return _text("".join(b64_encode(h) + "\n" for h in log.consistency_proof(old, new)))
