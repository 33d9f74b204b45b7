"""Error responses: every CredshareError becomes ``{"error": code, "detail": ...}`` with its
HTTP status; HTTP errors on JSON routes get the same shape with codes like ``not_found``."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from credshare.errors import CredshareError

logger = logging.getLogger("credshare.errors")


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/healthz")) or request.accept_mimetypes.best == "application/json"


def install(app: Flask) -> None:
    @app.errorhandler(CredshareError)
    def _credshare_error(exc: CredshareError) -> tuple[Response, int]:
        if exc.http_status >= 500:
            logger.error("%s: %s", exc.code, exc.detail)
        return jsonify(exc.to_dict()), exc.http_status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response | HTTPException:
        if not _wants_json():
            return exc
        code = (exc.name or "http_error").lower().replace(" ", "_")
        response = jsonify({"error": code, "detail": exc.description or ""})
        response.status_code = exc.code or 500
        return response
