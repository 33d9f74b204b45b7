"""The log as static resources: C2SP tlog-tiles (c2sp.org/tlog-tiles) under ``/log``.

``GET /log/tile/<L>/<N>[.p/<W>]`` serves the log's Merkle tree hashes and
``GET /log/tile/entries/<N>[.p/<W>]`` its entries (each the SHA-256 digest of a logged
document: nothing personal), from the stored chunks (``storage.tlog.LogReader.tile_data``);
``GET /log/checkpoint`` (``sharing.log_api``) is the cosigned checkpoint they hash up to.
Anything not canonical or not served (a full tile not full yet, a partial tile of a width no
checkpoint had) is a 404. Full tiles never change and are cached for a year; partial ones
are kept a short while, like the checkpoint.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort

from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.tiles import parse_tile_path
from credshare.sharing.context import services

bp = Blueprint("tiles", __name__, url_prefix="/log")

FULL_TILE_CACHE = "public, max-age=31536000, immutable"
SHORT_CACHE = "public, max-age=5"


@bp.get("/tile/<path:rest>")
def tile(rest: str) -> Response:
    try:
        wanted = parse_tile_path("tile/" + rest)
    except AnchoringError:
        abort(404, "not a tlog-tiles path")
    data = services().log.tile_data(wanted)
    if data is None:
        abort(404, f"the log does not serve {wanted.path()}")
    response = Response(data, mimetype="application/octet-stream")
    response.headers["Cache-Control"] = FULL_TILE_CACHE if wanted.full else SHORT_CACHE
    return response
