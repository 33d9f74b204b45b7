"""The stable error code of each HTTP status (RFC 9110 section 15), for the answers the web
framework or gunicorn make (an unknown route, a body over the limit...). Its own module, with
no imports, so that a server that is not the credential server (the witness, gunicorn's own
error writer) names statuses the same way without importing the credential server's web layer.
"""

from __future__ import annotations

HTTP_CODES: dict[int, str] = {
    400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    406: "not_acceptable", 408: "request_timeout", 409: "conflict", 410: "gone", 411: "length_required",
    412: "precondition_failed", 413: "request_too_large", 414: "url_too_long", 415: "unsupported_media_type",
    416: "range_not_satisfiable", 422: "unprocessable", 428: "precondition_required", 429: "rate_limited",
    431: "headers_too_large", 500: "internal_error", 501: "not_implemented", 502: "bad_gateway",
    503: "unavailable", 504: "gateway_timeout",
}
