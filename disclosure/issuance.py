"""Issuing SD-JWTs (RFC 9901 §4.1, §4.2, §5) in the SD-JWT VC profile.

Which claims are selectively disclosable is data: a list of claim paths. A path is a tuple
of object member names (``str``), array indices (``int``) and ``None`` for "every element of
this array". Marking both a claim and something inside it gives recursive disclosures
(§4.2.6). Every ``_sd`` array is padded with decoy digests (§4.2.5) and sorted, so neither
the order nor, up to the padding size, the number of hidden claims leaks.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping

from credshare.disclosure.errors import SDJWTError
from credshare.disclosure.format import (
    ARRAY_DIGEST_KEY,
    DEFAULT_SD_ALG,
    SD_ALG_KEY,
    SD_KEY,
    Disclosure,
    decoy_digest,
    hash_function,
    serialize_compact,
)
from credshare.disclosure.jws import PublicKey, Signer, sign_compact
from credshare.disclosure.paths import ClaimPath, PathPattern
from credshare.disclosure.vc import NEVER_DISCLOSABLE, VC_TYP

_PLAIN_SCALARS = frozenset({str, int, bool, type(None)})
DEFAULT_SD_BUCKET = 8  # without a per-type size, pad each _sd array up to a multiple of this


@dataclass(frozen=True)
class IssuedSDJWT:
    jwt: str
    disclosures: tuple[Disclosure, ...]

    def serialize(self) -> str:
        """The SD-JWT with every disclosure, as the issuer hands it to the holder."""
        return serialize_compact(self.jwt, [d.encoded for d in self.disclosures])


def _pattern_forms(path: ClaimPath) -> Iterator[PathPattern]:
    """Every pattern that matches ``path``: each array index either as itself or as ``None``."""
    return itertools.product(*(((step, None) if isinstance(step, int) else (step,)) for step in path))


class _Builder:
    def __init__(self, patterns: list[PathPattern], sd_alg: str, sd_array_size: int | Mapping[ClaimPath, int] | None) -> None:
        self.patterns = frozenset(patterns)
        self.unused = set(patterns)
        self.plain = all(isinstance(step, str) for pattern in patterns for step in pattern)
        self.sd_alg = sd_alg
        self.sd_array_size = sd_array_size
        self.disclosures: list[Disclosure] = []

    def is_sd(self, path: ClaimPath) -> bool:
        if self.plain:  # no array patterns: a set lookup decides
            if path in self.patterns:
                self.unused.discard(path)
                return True
            return False
        hit = False
        for form in _pattern_forms(path):
            if form in self.patterns:
                self.unused.discard(form)
                hit = True
        return hit

    def disclose(self, name: str | None, value: Any) -> str:
        disclosure = Disclosure.create(name, value, self.sd_alg)
        self.disclosures.append(disclosure)
        return disclosure.digest

    def value(self, value: Any, path: ClaimPath) -> Any:
        if type(value) in _PLAIN_SCALARS:  # the common case first
            return value
        if isinstance(value, dict):
            return self.object(value, path)
        if isinstance(value, list):
            out = []
            for index, item in enumerate(value):
                built = self.value(item, path + (index,))
                out.append({ARRAY_DIGEST_KEY: self.disclose(None, built)} if self.is_sd(path + (index,)) else built)
            return out
        if value is None or isinstance(value, (str, bool, int, float)):
            if isinstance(value, float) and not math.isfinite(value):
                raise SDJWTError("claims must be finite numbers", code="claims_invalid")
            return value
        raise SDJWTError(f"{type(value).__name__} is not a JSON value", code="claims_invalid")

    def object(self, obj: Mapping[str, Any], path: ClaimPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        digests: list[str] = []
        for name, item in obj.items():
            if not isinstance(name, str) or name in (SD_KEY, ARRAY_DIGEST_KEY, SD_ALG_KEY):
                raise SDJWTError(f"claim name {name!r} is reserved or not a string", code="claims_invalid")
            item_path = path + (name,)
            built = self.value(item, item_path)
            if self.is_sd(item_path):
                digests.append(self.disclose(name, built))
            else:
                out[name] = built
        if digests:
            size = self.sd_array_size
            target = (size.get(path, 0) if isinstance(size, Mapping) else size) or 0
            if len(digests) > target:
                target = -(-len(digests) // DEFAULT_SD_BUCKET) * DEFAULT_SD_BUCKET
            digests.extend(decoy_digest(self.sd_alg) for _ in range(target - len(digests)))
            out[SD_KEY] = sorted(digests)
        return out


def issue(
    claims: Mapping[str, Any],
    *,
    signer: Signer,
    disclosable: Iterable[PathPattern],
    holder_jwk: Mapping[str, Any] | None = None,
    typ: str = VC_TYP,
    sd_alg: str = DEFAULT_SD_ALG,
    sd_array_size: int | Mapping[ClaimPath, int] | None = None,
    header: Mapping[str, Any] | None = None,
) -> IssuedSDJWT:
    """Sign ``claims`` with the ``disclosable`` paths made selectively disclosable.

    ``holder_jwk`` (a public JWK) goes into ``cnf.jwk`` for key binding. With ``typ``
    ``dc+sd-jwt`` (the default) the claims must carry a ``vct``. ``sd_array_size`` fixes the
    length ``_sd`` arrays are padded to: one size for all, or a size per object path (a
    credential type gives each object the number of disclosable claims it defines there).
    ``header`` adds protected header parameters, such as the issuer's certificate chain
    (``x5c``, RFC 7515 §4.1.6); ``alg``, ``typ`` and ``crit`` are the signer's and this function's.
    """
    hash_function(sd_alg)
    extra = dict(header or {})
    if {"alg", "typ", "crit"} & set(extra):
        raise SDJWTError("alg, typ and crit are not set through header", code="claims_invalid")
    if not isinstance(claims, Mapping):
        raise SDJWTError("claims must be a JSON object", code="claims_invalid")
    patterns = [tuple(p) for p in disclosable]
    if any(len(p) == 0 for p in patterns):
        raise SDJWTError("an empty path names no claim", code="sd_path_unknown")
    payload_claims = dict(claims)
    if holder_jwk is not None:
        if "cnf" in payload_claims:
            raise SDJWTError("give the holder key either as holder_jwk or in cnf, not both", code="claims_invalid")
        payload_claims["cnf"] = {"jwk": dict(PublicKey.from_jwk(holder_jwk).jwk)}
    if typ == VC_TYP and not isinstance(payload_claims.get("vct"), str):
        raise SDJWTError(code="vct_missing")
    if any(p and p[0] in NEVER_DISCLOSABLE for p in patterns):
        raise SDJWTError("iss, exp, nbf, cnf, vct and status stay visible", code="claim_not_disclosable")

    builder = _Builder(patterns, sd_alg, sd_array_size)
    payload = builder.object(payload_claims, ())
    if builder.unused:
        raise SDJWTError(f"no claim at {list(min(builder.unused, key=str))}", code="sd_path_unknown")
    payload[SD_ALG_KEY] = sd_alg
    jwt = sign_compact({**extra, "typ": typ}, payload, signer)
    return IssuedSDJWT(jwt, tuple(builder.disclosures))
