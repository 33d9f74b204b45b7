"""Token Status List (draft-ietf-oauth-status-list): compact revocation and suspension.

A status list is a byte array of ``bits``-wide entries (1, 2, 4 or 8), entry ``i`` in byte
``i * bits // 8`` starting at bit ``(i * bits) % 8``, least significant bit first; ``lst`` is
base64url(zlib(bytes)). It travels in a JWT with ``typ`` ``statuslist+jwt`` whose ``sub`` is
the list's URI, with ``iat`` and optional ``exp`` and ``ttl``. A credential points at its
entry with ``status.status_list = {"idx": i, "uri": ...}``.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from typing import Any, Mapping

from credshare.disclosure.encoding import b64url_decode
from credshare.disclosure.errors import SDJWTError
from credshare.disclosure.jws import PublicKey, Signer, parse_compact, sign_compact
from credshare.foundation.b64 import b64url_encode
from credshare.foundation.cache import BoundedCache

STATUS_LIST_TYP = "statuslist+jwt"
VALID, INVALID, SUSPENDED = 0x00, 0x01, 0x02
ALLOWED_BITS = (1, 2, 4, 8)
MAX_LIST_BYTES = 16 * 1024 * 1024  # refuse zlib bombs: 128 Mi one-bit entries is plenty
DECODED_LISTS = 32  # decoded lists kept, by their lst text (credshare's are 256 KiB each) ...
KEPT_LIST_BYTES = 1024 * 1024  # ... when they are no larger than this


class StatusList:
    def __init__(self, bits: int, data: bytes | bytearray) -> None:
        if bits not in ALLOWED_BITS:
            raise SDJWTError(code="status_bits_invalid")
        self.bits = bits
        self.data = bytearray(data)

    @classmethod
    def empty(cls, size: int, bits: int = 1) -> StatusList:
        if bits not in ALLOWED_BITS:
            raise SDJWTError(code="status_bits_invalid")
        if size <= 0:
            raise SDJWTError("a status list holds at least one entry", code="status_list_malformed")
        return cls(bits, bytes(-(-size * bits // 8)))

    @property
    def size(self) -> int:
        return len(self.data) * 8 // self.bits

    def _locate(self, index: int) -> tuple[int, int]:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.size:
            raise SDJWTError(f"index {index!r} outside 0..{self.size - 1}", code="status_index_out_of_range")
        bit = index * self.bits
        return bit // 8, bit % 8

    def get(self, index: int) -> int:
        byte, shift = self._locate(index)
        return (self.data[byte] >> shift) & ((1 << self.bits) - 1)

    def set(self, index: int, value: int) -> None:
        mask = (1 << self.bits) - 1
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= mask:
            raise SDJWTError(code="status_value_invalid")
        byte, shift = self._locate(index)
        self.data[byte] = (self.data[byte] & ~(mask << shift)) | (value << shift)

    def to_json(self) -> dict[str, Any]:
        return {"bits": self.bits, "lst": b64url_encode(zlib.compress(bytes(self.data), 9))}

    @classmethod
    def from_json(cls, obj: Any) -> StatusList:
        if not isinstance(obj, Mapping) or not isinstance(obj.get("lst"), str):
            raise SDJWTError("a status list is {\"bits\": n, \"lst\": \"...\"}", code="status_list_malformed")
        bits = obj.get("bits")
        if bits not in ALLOWED_BITS or isinstance(bits, bool):
            raise SDJWTError(code="status_bits_invalid")
        return cls(bits, _inflated(obj["lst"]))


_decoded: BoundedCache[bytes] = BoundedCache(DECODED_LISTS)


def _inflated(lst: str) -> bytes:
    """The bytes of an ``lst`` value, decoded once per value (kept by its SHA-256: the text
    names its content exactly, whatever list or version it came from). A value that does
    not decode raises and nothing is kept for it; lists over :data:`KEPT_LIST_BYTES` are
    decoded each time, so what is kept stays small whatever anyone presents."""
    key = hashlib.sha256(lst.encode("utf-8", "surrogatepass")).digest()
    kept = _decoded.get(key)
    if kept is not None:
        return kept
    data = _inflate(lst)
    if len(data) <= KEPT_LIST_BYTES:
        _decoded.put(key, data)
    return data


def _inflate(lst: str) -> bytes:
    compressed = b64url_decode(lst, "status_list_malformed")
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(compressed, MAX_LIST_BYTES)
    except zlib.error as exc:
        raise SDJWTError("lst is not zlib data", code="status_list_malformed") from exc
    if inflater.unconsumed_tail or not inflater.eof:
        raise SDJWTError("lst is truncated or larger than allowed", code="status_list_malformed")
    if not data:
        raise SDJWTError("empty status list", code="status_list_malformed")
    return data


@dataclass(frozen=True)
class StatusListToken:
    uri: str
    status_list: StatusList
    iat: int
    exp: int | None
    ttl: int | None
    payload: dict[str, Any]


def sign_status_list(
    status_list: StatusList, *, uri: str, signer: Signer, iat: int,
    exp: int | None = None, ttl: int | None = None, iss: str | None = None,
    header: Mapping[str, Any] | None = None,
) -> str:
    """A ``statuslist+jwt``; ``header`` adds protected header parameters (``x5c``, as HAIP has it)."""
    extra = dict(header or {})
    if {"alg", "typ", "crit"} & set(extra):
        raise SDJWTError("alg, typ and crit are not set through header", code="status_list_malformed")
    payload: dict[str, Any] = {"sub": uri, "iat": iat, "status_list": status_list.to_json()}
    if iss is not None:
        payload["iss"] = iss
    if exp is not None:
        payload["exp"] = exp
    if ttl is not None:
        payload["ttl"] = ttl
    return sign_compact({**extra, "typ": STATUS_LIST_TYP}, payload, signer)


def read_status_list(token: str, *, keys: list[PublicKey], uri: str, now: int, skew_seconds: int = 30) -> StatusListToken:
    """Verify a ``statuslist+jwt`` for ``uri`` and decode its list."""
    jws = parse_compact(token)
    if jws.header.get("typ") != STATUS_LIST_TYP:
        raise SDJWTError(f"a status list token has typ {STATUS_LIST_TYP}", code="typ_mismatch")
    candidates = [k for k in keys if jws.header.get("kid") is None or k.kid in (None, jws.header.get("kid"))]
    if not candidates:
        raise SDJWTError(code="issuer_key_unknown")
    if not jws.verify_with(candidates):
        raise SDJWTError(code="signature_invalid")
    body = jws.payload
    if body.get("sub") != uri:
        raise SDJWTError(code="status_list_sub_mismatch")
    iat, exp, ttl = body.get("iat"), body.get("exp"), body.get("ttl")
    if isinstance(iat, bool) or not isinstance(iat, int):
        raise SDJWTError("iat must be an integer", code="status_list_malformed")
    for name, value in (("exp", exp), ("ttl", ttl)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise SDJWTError(f"{name} must be an integer", code="status_list_malformed")
    if exp is not None and now >= exp + skew_seconds:
        raise SDJWTError(code="status_list_expired")
    return StatusListToken(uri, StatusList.from_json(body.get("status_list")), iat, exp, ttl, body)


def status_reference(claims: Mapping[str, Any]) -> tuple[int, str] | None:
    """The ``(idx, uri)`` a credential's ``status.status_list`` claim points at, if any."""
    status = claims.get("status")
    if status is None:
        return None
    ref = status.get("status_list") if isinstance(status, Mapping) else None
    if not isinstance(ref, Mapping):
        raise SDJWTError("status.status_list must be an object", code="status_list_malformed")
    idx, uri = ref.get("idx"), ref.get("uri")
    if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0 or not isinstance(uri, str) or not uri:
        raise SDJWTError("status.status_list needs idx and uri", code="status_list_malformed")
    return idx, uri
