"""Holder side (RFC 9901 §4.3, §7.2): choose what to disclose and add a Key Binding JWT.

The holder names claims by path; the disclosures those claims need come along: the claim's
own disclosure, every disclosure above it (a nested claim is unreachable without its
parents) and every disclosure inside it (disclosing ``address`` reveals all of it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from credshare.disclosure.errors import SDJWTError
from credshare.disclosure.format import (
    DEFAULT_SD_ALG,
    SD_ALG_KEY,
    Disclosure,
    ParsedSDJWT,
    b64_digest,
    parse_compact,
    serialize_compact,
)
from credshare.disclosure.jws import PublicKey, Signer, parse_compact as parse_jws, sign_compact
from credshare.disclosure.paths import ClaimPath
from credshare.disclosure.processing import Processed, process
from credshare.disclosure.vc import KB_TYP


@dataclass(frozen=True)
class HolderView:
    """An SD-JWT as its holder sees it: every claim, and the path each disclosure reveals."""

    parsed: ParsedSDJWT
    sd_alg: str
    disclosures: tuple[Disclosure, ...]  # in their original order
    processed: Processed

    @property
    def claims(self) -> dict[str, Any]:
        return self.processed.claims


def open_sd_jwt(sd_jwt: str) -> HolderView:
    """Parse and process an SD-JWT with all its disclosures (§7.2 steps 1-3, no signature check:
    a holder checks the issuer signature with :func:`disclosure.verification.verify_presentation`)."""
    parsed = parse_compact(sd_jwt)
    payload = parse_jws(parsed.jwts[0]).payload
    sd_alg = payload.get(SD_ALG_KEY, DEFAULT_SD_ALG)
    disclosures = [Disclosure.decode(d, sd_alg) for d in parsed.disclosures]
    processed = process(payload, disclosures)
    return HolderView(parsed, sd_alg, tuple(disclosures), processed)


def _claim_exists(claims: Any, path: ClaimPath) -> bool:
    node = claims
    for step in path:
        if isinstance(node, dict) and isinstance(step, str) and step in node:
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and not isinstance(step, bool) and 0 <= step < len(node):
            node = node[step]
        else:
            return False
    return True


def select_disclosures(view: HolderView, paths: Iterable[ClaimPath]) -> list[str]:
    """The encoded disclosures that reveal exactly ``paths`` (with parents and contents), in
    their original order."""
    wanted: set[str] = set()
    for raw in paths:
        path = tuple(raw)
        if not path or not _claim_exists(view.claims, path):
            raise SDJWTError(f"no claim at {list(path)}", code="selection_unknown_path")
        for digest, where in view.processed.paths.items():
            if where[: len(path)] == path or path[: len(where)] == where:
                wanted.add(digest)
    return [d.encoded for d in view.disclosures if d.digest in wanted]


@dataclass(frozen=True)
class KeyBindingRequest:
    signer: Signer
    audience: str
    nonce: str
    issued_at: int
    extra: Mapping[str, Any] = field(default_factory=dict)  # more holder-signed claims (never iat/aud/nonce/sd_hash)


def present(sd_jwt: str, paths: Iterable[ClaimPath], key_binding: KeyBindingRequest | None = None) -> str:
    """A compact presentation disclosing ``paths``, with a KB-JWT when ``key_binding`` is given."""
    view = open_sd_jwt(sd_jwt)
    chosen = select_disclosures(view, paths)
    if key_binding is None:
        return serialize_compact(view.parsed.jwts[0], chosen)
    return serialize_compact(view.parsed.jwts[0], chosen, make_kb_jwt(view, chosen, key_binding))


def make_kb_jwt(view: HolderView, chosen: list[str], request: KeyBindingRequest) -> str:
    cnf = view.claims.get("cnf")
    holder_jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
    if not isinstance(holder_jwk, dict):
        raise SDJWTError(code="kb_holder_key_missing")
    if PublicKey.from_jwk(holder_jwk).thumbprint() != PublicKey.from_jwk(request.signer.public_jwk).thumbprint():
        raise SDJWTError("the key binding key is not the holder key in cnf.jwk", code="key_invalid")
    sd_hash = b64_digest(serialize_compact(view.parsed.jwts[0], chosen), view.sd_alg)
    payload: Mapping[str, Any] = {
        **request.extra,
        "iat": request.issued_at,
        "aud": request.audience,
        "nonce": request.nonce,
        "sd_hash": sd_hash,
    }
    return sign_compact({"typ": KB_TYP}, payload, request.signer)
