"""JSON request bodies: strict and depth-bounded (:mod:`credshare.foundation.strict_json`).

:class:`StrictJSONProvider` replaces Flask's JSON provider, so every ``request.get_json()``
parses with the strict, depth-checked parser (a body nested deeper than the limit is refused
with ``json_too_deep`` before the decoder recurses). Views read their body with
:func:`json_object`, which also insists on a JSON object.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask.json.provider import DefaultJSONProvider

from credshare.foundation import strict_json
from credshare.foundation.errors import InputError


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, reading with the strict parser (writing is unchanged)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return strict_json.loads(s)


def json_object(code: str = "json_body_invalid", shape: str = "send a JSON object") -> dict[str, Any]:
    """The request's body as a JSON object (``Content-Type: application/json``). A body that
    nests too deep is refused with ``json_too_deep``; any other body that is not one JSON
    object with ``code`` and ``shape`` as its detail."""
    body = strict_json.loads_or_refuse(request.get_data(cache=True), code, shape) if request.is_json else None
    if not isinstance(body, dict):
        raise InputError(shape, code=code)
    return body
