"""Strict base64url (RFC 4648 §5, no padding, as JWS requires) and strict JSON (RFC 8259)."""

from __future__ import annotations

import binascii
import json
from typing import Any

from credshare.disclosure.errors import SDJWTError
from credshare.foundation import strict_json

_STANDARD_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")


def b64url_encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).translate(_STANDARD_TO_URLSAFE, b"=").decode("ascii")


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# For a final group of 2 or 3 characters, the bits of the last character that carry no data.
_UNUSED_BITS_MASK = {2: 0x0F, 3: 0x03}
_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


def b64url_decode(text: str, code: str = "jws_malformed") -> bytes:
    """Decode unpadded base64url; refuse padding, other alphabets and non-canonical forms
    (non-zero unused bits in the last character), so each byte string has one encoding."""
    if not isinstance(text, str) or "+" in text or "/" in text or "=" in text:
        raise SDJWTError(code, "not unpadded base64url")
    tail = len(text) % 4
    try:
        if tail == 1 or (tail and _ALPHABET.index(text[-1]) & _UNUSED_BITS_MASK[tail]):
            raise ValueError("non-canonical final character")
        raw = text.encode("ascii")
        if tail:
            raw += b"==" if tail == 2 else b"="
        # strict mode refuses every character outside the (translated) alphabet
        return binascii.a2b_base64(raw.translate(_URLSAFE_TO_STANDARD), strict_mode=True)
    except (binascii.Error, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise SDJWTError(code, "not canonical unpadded base64url") from exc


def json_loads(data: bytes | str, code: str = "jws_malformed") -> Any:
    """Parse UTF-8 JSON strictly (:mod:`credshare.foundation.strict_json`: unique member names, no
    NaN/Infinity, depth-bounded); malformed JSON is refused with ``code``."""
    try:
        return strict_json.loads(data)
    except strict_json.JsonInputError as exc:
        if exc.code in ("json_too_deep", "json_duplicate_member"):
            raise SDJWTError(exc.code, exc.detail) from None
        raise SDJWTError(code, "not valid UTF-8 JSON") from None


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
json_text = _ENCODER.encode  # compact JSON as text
quote_string = json.encoder.encode_basestring  # a JSON string literal, escaped exactly as json_text does it


def json_dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, as signed and hashed (one reused C encoder: no per-call setup)."""
    return _ENCODER.encode(value).encode("utf-8")
