"""Strict base64url (RFC 4648 §5, no padding, as JWS requires) with SD-JWT error codes, and strict
JSON (RFC 8259). The base64 itself is :mod:`credshare.foundation.b64`."""

from __future__ import annotations

import json
from typing import Any

from credshare.disclosure.errors import SDJWTError
from credshare.foundation import b64, strict_json
from credshare.foundation.b64 import b64url_encode as b64url_encode  # re-exported for callers of this module


def b64url_decode(text: str, code: str = "jws_malformed") -> bytes:
    """Decode canonical unpadded base64url (:func:`credshare.foundation.b64.b64url_decode`: no
    padding, no other alphabet, zero unused bits, so each byte string has one encoding); a
    refusal is an :class:`SDJWTError` with ``code``."""
    try:
        return b64.b64url_decode(text)
    except ValueError:
        raise SDJWTError("not canonical unpadded base64url", code=code) from None


def json_loads(data: bytes | str, code: str = "jws_malformed") -> Any:
    """Parse UTF-8 JSON strictly (:mod:`credshare.foundation.strict_json`: unique member names, no
    NaN/Infinity, depth-bounded); malformed JSON is refused with ``code``."""
    try:
        return strict_json.loads(data)
    except strict_json.JsonInputError as exc:
        if exc.code in ("json_too_deep", "json_duplicate_member"):
            raise SDJWTError(exc.detail, code=exc.code) from None
        raise SDJWTError("not valid UTF-8 JSON", code=code) from None


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
json_text = _ENCODER.encode  # compact JSON as text
quote_string = json.encoder.encode_basestring  # a JSON string literal, escaped exactly as json_text does it


def json_dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, as signed and hashed (one reused C encoder: no per-call setup)."""
    return _ENCODER.encode(value).encode("utf-8")
