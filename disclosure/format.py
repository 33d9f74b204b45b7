"""SD-JWT building blocks: disclosures, digests and the two serializations (RFC 9901 §4, §5, §8).

* Disclosure: base64url of the JSON array ``[salt, name, value]`` (object property) or
  ``[salt, value]`` (array element), §4.2.1 and §4.2.2.
* Digest: base64url of the ``_sd_alg`` hash over the ASCII of the base64url disclosure, §4.2.3.
* Compact: ``<Issuer-signed JWT>~<Disclosure 1>~...~<Disclosure N>~[<KB-JWT>]``, §4.
* JWS JSON (flattened and general): ``disclosures`` and ``kb_jwt`` in the unprotected header
  (of the first signature, in the general form), §8.1.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from credshare.disclosure.encoding import b64url_decode, json_loads, json_text, quote_string
from credshare.disclosure.errors import SDJWTError
from credshare.foundation.b64 import b64url_encode

SD_KEY = "_sd"
SD_ALG_KEY = "_sd_alg"
ARRAY_DIGEST_KEY = "..."
DEFAULT_SD_ALG = "sha-256"
SALT_BYTES = 18  # 144 bits (§9.3 asks for at least 128); a multiple of 3, so salts need no padding

# IANA "Named Information Hash Algorithm" names; truncated variants (sha-256-128, ...) are refused.
HASH_ALGS: dict[str, Callable[[bytes], Any]] = {
    "sha-256": hashlib.sha256,
    "sha-384": hashlib.sha384,
    "sha-512": hashlib.sha512,
}


class _RandomPool(threading.local):
    """os.urandom read 4 KiB at a time, per thread. Saves a system call per salt and per
    decoy; salts are base64url-encoded a buffer at a time and handed out in slices. A forked
    child drops what it inherited (see the fork hook below), so it never reuses its parent's
    bytes."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.buffer, self.offset = b"", 0
        self.salts: list[str] = []

    def take(self, n: int) -> bytes:
        if self.offset + n > len(self.buffer):
            self.buffer, self.offset = os.urandom(max(4096, n)), 0
        chunk = self.buffer[self.offset:self.offset + n]
        self.offset += n
        return chunk

    def salt(self) -> str:
        if not self.salts:
            text = b64url_encode(self.take(SALT_BYTES * 128))
            width = SALT_BYTES // 3 * 4
            self.salts = [text[i:i + width] for i in range(0, len(text), width)]
        return self.salts.pop()


_random = _RandomPool()
os.register_at_fork(after_in_child=_random.reset)  # only the forking thread lives on in the child


def hash_function(sd_alg: object) -> Callable[[bytes], Any]:
    if not isinstance(sd_alg, str) or sd_alg not in HASH_ALGS:
        raise SDJWTError(f"_sd_alg {sd_alg!r} is not sha-256, sha-384 or sha-512", code="sd_alg_unsupported")
    return HASH_ALGS[sd_alg]


def b64_digest(data: str, sd_alg: str) -> str:
    return b64url_encode(hash_function(sd_alg)(data.encode("ascii")).digest())


class Disclosure(NamedTuple):
    """One disclosure, immutable (a named tuple: issuers make millions of them)."""

    encoded: str
    digest: str
    salt: str
    name: str | None  # None for an array-element disclosure
    value: Any

    @classmethod
    def create(cls, name: str | None, value: Any, sd_alg: str = DEFAULT_SD_ALG) -> Disclosure:
        salt = _random.salt()
        # The same bytes json_dumps([salt, name, value]) gives, without building the array:
        # salts are base64url, so they need no escaping.
        body = quote_string(value) if type(value) is str else json_text(value)
        text = f'["{salt}",{body}]' if name is None else f'["{salt}",{quote_string(name)},{body}]'
        encoded = b64url_encode(text.encode("utf-8"))
        return cls(encoded, b64url_encode(hash_function(sd_alg)(encoded.encode("ascii")).digest()), salt, name, value)

    @classmethod
    def decode(cls, encoded: str, sd_alg: str) -> Disclosure:
        """Decode a disclosure; refuse anything but a JSON array of 2 or 3 well-typed elements.
        ``sd_alg`` must already be known good (see :func:`hash_function`)."""
        raw = b64url_decode(encoded, "disclosure_malformed")
        array = json_loads(raw, "disclosure_malformed")
        if not isinstance(array, list) or len(array) not in (2, 3) or not isinstance(array[0], str):
            raise SDJWTError("a disclosure is [salt, name, value] or [salt, value]", code="disclosure_malformed")
        name = None
        if len(array) == 3:
            name = array[1]
            if not isinstance(name, str):
                raise SDJWTError("a disclosure's claim name must be a string", code="disclosure_malformed")
        return cls(encoded, b64url_encode(hash_function(sd_alg)(encoded.encode("ascii")).digest()), array[0], name, array[-1])


def decoy_digest(sd_alg: str) -> str:
    """A digest over random bytes: indistinguishable from a real one (§4.2.5)."""
    return b64url_encode(hash_function(sd_alg)(_random.take(32)).digest())


@dataclass(frozen=True)
class ParsedSDJWT:
    """An SD-JWT split into its parts, nothing verified yet.

    ``jwts`` holds the issuer-signed JWT in compact form, one per signature (one for compact
    and flattened JSON); ``jwts[0]`` is the one that ``sd_hash`` covers.
    """

    jwts: tuple[str, ...]
    disclosures: tuple[str, ...]
    kb_jwt: str | None

    @property
    def sd_hash_input(self) -> str:
        """``<Issuer-signed JWT>~<D1>~...~<DN>~``: what a KB-JWT's ``sd_hash`` covers (§4.3.1)."""
        return "~".join((self.jwts[0], *self.disclosures)) + "~"


def serialize_compact(jwt: str, disclosures: list[str] | tuple[str, ...], kb_jwt: str | None = None) -> str:
    return "~".join((jwt, *disclosures)) + "~" + (kb_jwt or "")


def parse_compact(text: str) -> ParsedSDJWT:
    if not isinstance(text, str):
        raise SDJWTError("an SD-JWT must be text", code="sdjwt_malformed")
    text = text.strip()
    parts = text.split("~")
    if len(parts) < 2:
        raise SDJWTError("an SD-JWT ends with '~' or a KB-JWT after the last '~'", code="sdjwt_malformed")
    jwt, disclosures, last = parts[0], parts[1:-1], parts[-1]
    if not jwt or any(not d for d in disclosures):
        raise SDJWTError("empty component between '~' separators", code="sdjwt_malformed")
    return ParsedSDJWT((jwt,), tuple(disclosures), last or None)


def parse_json(text: str | bytes) -> ParsedSDJWT:
    """Parse the JWS JSON serialization (§8.1), flattened or general."""
    doc = json_loads(text, "sdjwt_malformed")
    if not isinstance(doc, dict) or not isinstance(doc.get("payload"), str):
        raise SDJWTError("JWS JSON needs a string payload", code="sdjwt_malformed")
    if "signatures" in doc:
        if "signature" in doc or "protected" in doc or "header" in doc:
            raise SDJWTError("general JWS JSON has no top-level signature members", code="sdjwt_malformed")
        signatures = doc["signatures"]
        if not isinstance(signatures, list) or not signatures:
            raise SDJWTError("general JWS JSON needs a non-empty signatures array", code="sdjwt_malformed")
    else:
        signatures = [{k: doc[k] for k in ("protected", "header", "signature") if k in doc}]
    jwts = []
    for i, sig in enumerate(signatures):
        if not isinstance(sig, dict) or not isinstance(sig.get("protected"), str) or not isinstance(sig.get("signature"), str):
            raise SDJWTError("each signature needs protected and signature strings", code="sdjwt_malformed")
        header = sig.get("header", {})
        if not isinstance(header, dict):
            raise SDJWTError("the unprotected header must be an object", code="sdjwt_malformed")
        if i > 0 and ({"disclosures", "kb_jwt"} & set(header)):
            raise SDJWTError("disclosures and kb_jwt belong to the first signature only", code="sdjwt_malformed")
        jwts.append(f"{sig['protected']}.{doc['payload']}.{sig['signature']}")
    first = signatures[0].get("header", {})
    disclosures = first.get("disclosures", [])
    kb_jwt = first.get("kb_jwt")
    if not isinstance(disclosures, list) or not all(isinstance(d, str) and d for d in disclosures):
        raise SDJWTError("disclosures must be an array of strings", code="sdjwt_malformed")
    if kb_jwt is not None and (not isinstance(kb_jwt, str) or not kb_jwt):
        raise SDJWTError("kb_jwt must be a string", code="sdjwt_malformed")
    return ParsedSDJWT(tuple(jwts), tuple(disclosures), kb_jwt)
