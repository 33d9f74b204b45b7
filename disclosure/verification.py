"""Verifying an SD-JWT presentation (RFC 9901 §7.1 and §7.3), failing closed.

Order: structure; key-binding policy (§7.3 step 1: required by policy, never inferred from a
KB-JWT's presence); issuer signature with an allowlisted algorithm and a key found by the
caller's resolver from ``iss`` and ``kid``; ``_sd_alg``; disclosures (§7.1 step 3); ``exp``,
``nbf``, ``iat`` on the processed payload; the SD-JWT VC profile when ``typ`` is
``dc+sd-jwt``; then the Key Binding JWT.

Each refusal is an :class:`SDJWTError` carrying the stage it was raised in, the verification
report's check it fails (``issuer_signature``, ``disclosures``, ``credential_validity``,
``key_binding``), whatever its code: a KB-JWT that is not a JWS is ``jws_malformed`` in the
``key_binding`` stage.

A KB-JWT that is present although the policy does not require one is still checked for
signature, ``typ`` and ``sd_hash`` (it must not be broken), but not for audience, nonce or age.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from credshare.disclosure.errors import SDJWTError
from credshare.disclosure.format import (
    DEFAULT_SD_ALG,
    SD_ALG_KEY,
    Disclosure,
    ParsedSDJWT,
    b64_digest,
    hash_function,
    parse_compact as parse_sd_jwt_compact,
    parse_json as parse_sd_jwt_json,
)
from credshare.disclosure.jws import CompactJWS, PublicKey, constant_time_equal, parse_compact
from credshare.disclosure.paths import ClaimPath
from credshare.disclosure.processing import process
from credshare.disclosure.vc import KB_TYP, VC_TYP, check_vc_claims
from credshare.foundation.errors import in_stage

KeyResolver = Callable[[Any, Any], list[PublicKey]]
DEFAULT_SKEW_SECONDS = 30


@dataclass(frozen=True)
class KeyBindingPolicy:
    required: bool = False
    audience: str | None = None
    nonce: str | None = None
    max_age_seconds: int = 300

    def __post_init__(self) -> None:
        if self.required and (not self.audience or not self.nonce):
            raise ValueError("a policy that requires key binding names the audience and nonce")


@dataclass(frozen=True)
class VerifiedSDJWT:
    claims: dict[str, Any]
    disclosed_paths: list[ClaimPath]
    issuer_header: dict[str, Any]
    issuer_payload: dict[str, Any] = field(repr=False)
    key_binding: dict[str, Any] | None = None  # the KB-JWT payload, when one was verified


def jwks_resolver(keys: list[PublicKey]) -> KeyResolver:
    """A resolver over a fixed key set, ignoring ``iss``: a key with a ``kid`` serves only JWTs
    with that ``kid``; a key without one serves any JWT of the set's issuer."""

    def resolve(_iss: Any, kid: Any) -> list[PublicKey]:
        return [key for key in keys if kid is None or key.kid is None or key.kid == kid]

    return resolve


def parse_presentation(text: str, serialization: Literal["compact", "json"] = "compact") -> ParsedSDJWT:
    if serialization == "compact":
        return parse_sd_jwt_compact(text)
    if serialization == "json":
        return parse_sd_jwt_json(text)
    raise ValueError(f"unknown serialization {serialization!r}")


def verify_presentation(
    presentation: str,
    *,
    issuer_keys: KeyResolver,
    now: int,
    serialization: Literal["compact", "json"] = "compact",
    key_binding: KeyBindingPolicy = KeyBindingPolicy(),
    expected_typ: str | None = None,
    skew_seconds: int = DEFAULT_SKEW_SECONDS,
    enforce_validity: bool = True,
) -> VerifiedSDJWT:
    """``enforce_validity=False`` leaves ``exp``/``nbf``/``iat`` to the caller (a verifier that
    reports an expired credential as such, rather than refusing to look at it)."""
    with in_stage("issuer_signature"):
        parsed = parse_presentation(presentation, serialization)
    if key_binding.required and parsed.kb_jwt is None:
        raise SDJWTError(code="kb_missing")
    with in_stage("issuer_signature"):
        issuer_jws = [_verify_issuer_signature(jwt, issuer_keys, expected_typ) for jwt in parsed.jwts]
    header, payload = issuer_jws[0].header, issuer_jws[0].payload

    with in_stage("disclosures"):
        sd_alg = payload.get(SD_ALG_KEY, DEFAULT_SD_ALG)
        hash_function(sd_alg)
        processed = process(payload, (Disclosure.decode(d, sd_alg) for d in parsed.disclosures))
    if enforce_validity:
        with in_stage("credential_validity"):
            check_validity(processed.claims, now, skew_seconds)
    if header.get("typ") == VC_TYP:
        with in_stage("disclosures"):
            check_vc_claims(processed.claims, processed.disclosed_paths)

    kb_payload = None
    if parsed.kb_jwt is not None:
        with in_stage("key_binding"):
            kb_payload = _verify_key_binding(parsed, processed.claims, sd_alg, key_binding, now, skew_seconds)
    return VerifiedSDJWT(processed.claims, processed.disclosed_paths, header, payload, kb_payload)


def _verify_issuer_signature(jwt: str, resolve: KeyResolver, expected_typ: str | None) -> CompactJWS:
    jws = parse_compact(jwt)
    if expected_typ is not None and jws.header.get("typ") != expected_typ:
        raise SDJWTError(f"issuer JWT typ is {jws.header.get('typ')!r}, expected {expected_typ!r}", code="typ_mismatch")
    keys = resolve(jws.payload.get("iss"), jws.header.get("kid"))
    if not keys:
        raise SDJWTError(code="issuer_key_unknown")
    if not any(jws.alg in key.algs for key in keys):
        raise SDJWTError(f"no trusted issuer key may verify {jws.alg}", code="alg_not_allowed")
    if not jws.verify_with(keys):
        raise SDJWTError(code="signature_invalid")
    return jws


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None and name not in claims:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SDJWTError(f"{name} must be a NumericDate", code="validity_claim_invalid")
    return value


def check_validity(claims: dict[str, Any], now: int, skew_seconds: int) -> None:
    exp, nbf, iat = _number(claims, "exp"), _number(claims, "nbf"), _number(claims, "iat")
    if exp is not None and now >= exp + skew_seconds:
        raise SDJWTError(code="expired")
    if nbf is not None and now + skew_seconds < nbf:
        raise SDJWTError(code="not_yet_valid")
    if iat is not None and now + skew_seconds < iat:
        raise SDJWTError(code="iat_in_future")


def _verify_key_binding(
    parsed: ParsedSDJWT,
    claims: dict[str, Any],
    sd_alg: str,
    policy: KeyBindingPolicy,
    now: int,
    skew_seconds: int,
) -> dict[str, Any]:
    assert parsed.kb_jwt is not None
    cnf = claims.get("cnf")
    holder_jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
    if not isinstance(holder_jwk, dict):
        raise SDJWTError(code="kb_holder_key_missing")
    holder_key = PublicKey.from_jwk(holder_jwk)
    kb = parse_compact(parsed.kb_jwt)
    if kb.header.get("typ") != KB_TYP:
        raise SDJWTError(code="kb_typ_invalid")
    if kb.alg not in holder_key.algs:
        raise SDJWTError(f"the holder key may not verify {kb.alg}", code="alg_not_allowed")
    if not kb.verify_with([holder_key]):
        raise SDJWTError(code="kb_signature_invalid")
    body = kb.payload
    if not all(name in body for name in ("iat", "aud", "nonce", "sd_hash")):
        raise SDJWTError(code="kb_claims_missing")
    sd_hash = body["sd_hash"]
    if not isinstance(sd_hash, str) or not constant_time_equal(sd_hash, b64_digest(parsed.sd_hash_input, sd_alg)):
        raise SDJWTError(code="kb_sd_hash_mismatch")
    if policy.required:
        iat = body["iat"]
        if isinstance(iat, bool) or not isinstance(iat, (int, float)):
            raise SDJWTError("iat must be a NumericDate", code="kb_iat_invalid")
        if not now - policy.max_age_seconds - skew_seconds <= iat <= now + skew_seconds:
            raise SDJWTError(code="kb_iat_invalid")
        if not isinstance(body["aud"], str) or not constant_time_equal(body["aud"], policy.audience or ""):
            raise SDJWTError(code="kb_aud_mismatch")
        if not isinstance(body["nonce"], str) or not constant_time_equal(body["nonce"], policy.nonce or ""):
            raise SDJWTError(code="kb_nonce_mismatch")
    return body
