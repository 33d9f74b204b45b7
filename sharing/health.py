"""``GET /healthz``: liveness and readiness for load balancers and operators.

Answers 200 ``{"status": "ok", "store": {...}}`` when the store answers a ping, and 503
``{"status": "unavailable", "error": code}`` when it does not. It also reports the
deployment's instance id, a random id written to the store on first start: seeing the
same id after a restart shows the store kept its data.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from credshare import __version__
from credshare.foundation.errors import StoreError
from credshare.sharing.context import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    svc = services()
    body: dict[str, object] = {"version": __version__, "store": {"backend": svc.store.backend}}
    try:
        svc.store.ping()
        instance_id = svc.deployment.instance_id()
    except StoreError as exc:
        body.update(status="unavailable", error=exc.code)
        return jsonify(body), 503
    body.update(status="ok", instance_id=instance_id)
    return jsonify(body), 200
