"""``GET /healthz``: liveness and readiness for load balancers and operators.

Answers 200 ``{"status": "ok", "store": {...}}`` when the store answers a ping, and 503
``{"status": "unavailable", "error": code}`` when it does not. It also reports the
deployment's instance id, a random id written to the store on first start: seeing the
same id after a restart shows the store kept its data.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone

from flask import Blueprint, Response, jsonify

from credshare import __version__
from credshare.errors import DuplicateKeyError, StoreError
from credshare.sharing.context import services
from credshare.storage import Store

bp = Blueprint("health", __name__)

META_COLLECTION = "meta"
INSTANCE_ID = "instance"


def record_instance(store: Store) -> None:
    """Create the instance record once; concurrent first starts keep a single winner."""
    meta = store.collection(META_COLLECTION)
    try:
        meta.update_one(
            {"_id": INSTANCE_ID},
            {"$setOnInsert": {"instance_id": secrets.token_hex(16), "created_at": datetime.now(timezone.utc)}},
            upsert=True,
        )
    except DuplicateKeyError:
        pass  # another worker inserted it between our match and our insert


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    store = services().store
    body: dict[str, object] = {"version": __version__, "store": {"backend": store.backend}}
    try:
        store.ping()
        instance = store.collection(META_COLLECTION).find_one({"_id": INSTANCE_ID}) or {}
    except StoreError as exc:
        body.update(status="unavailable", error=exc.code)
        return jsonify(body), 503
    body.update(status="ok", instance_id=instance.get("instance_id"))
    return jsonify(body), 200
