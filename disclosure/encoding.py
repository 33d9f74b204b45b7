"""Strict base64url (RFC 4648 §5, no padding, as JWS requires) and strict JSON (RFC 8259)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from disclosure.errors import SDJWTError

_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, code: str = "jws_malformed") -> bytes:
    """Decode unpadded base64url; refuse padding, other alphabets and non-canonical forms."""
    if not isinstance(text, str) or not _B64URL.match(text) or len(text) % 4 == 1:
        raise SDJWTError(code, "not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise SDJWTError(code, "not unpadded base64url") from exc
    if b64url_encode(data) != text:
        raise SDJWTError(code, "non-canonical base64url")
    return data


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise SDJWTError("json_duplicate_member", "a JSON object repeats a member name")
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_loads(data: bytes | str, code: str = "jws_malformed") -> Any:
    """Parse UTF-8 JSON, refusing duplicate member names and NaN/Infinity."""
    try:
        return json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except SDJWTError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise SDJWTError(code, "not valid UTF-8 JSON") from exc


def json_dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, as signed and hashed."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
