"""Builders for hand-crafted SD-JWTs, so that negative tests can break one rule at a time."""

from __future__ import annotations

import json
from typing import Any

from credshare.disclosure.encoding import b64url_encode
from credshare.disclosure.format import b64_digest, serialize_compact
from credshare.disclosure.jws import PublicKey, Signer, sign_compact
from credshare.disclosure.verification import KeyBindingPolicy, jwks_resolver, verify_presentation

ISSUER = Signer.generate("ES256", kid="issuer-1")
HOLDER = Signer.generate("EdDSA", kid="holder-1")
NOW = 1_800_000_000
AUD, NONCE = "https://verifier.example", "nonce-123"


def disclosure(*elements: Any, raw: str | None = None) -> tuple[str, str]:
    """(encoded, sha-256 digest) of a disclosure made of ``elements`` (or of ``raw`` JSON text)."""
    text = raw if raw is not None else json.dumps(list(elements))
    encoded = b64url_encode(text.encode("utf-8"))
    return encoded, b64_digest(encoded, "sha-256")


def signed(payload: dict[str, Any], header: dict[str, Any] | None = None, signer: Signer = ISSUER) -> str:
    return sign_compact({"typ": "dc+sd-jwt", **(header or {})}, payload, signer)


def base_claims(**extra: Any) -> dict[str, Any]:
    return {"iss": "https://issuer.example", "vct": "urn:test", "iat": NOW - 100, "_sd_alg": "sha-256", **extra}


def kb_jwt(sd_jwt_without_kb: str, *, signer: Signer = HOLDER, **overrides: Any) -> str:
    header = {"typ": overrides.pop("typ", "kb+jwt")}
    body = {"iat": NOW, "aud": AUD, "nonce": NONCE, "sd_hash": b64_digest(sd_jwt_without_kb, "sha-256")}
    body.update(overrides)
    body = {k: v for k, v in body.items() if v is not ...}
    return sign_compact(header, body, signer)


def compact(jwt: str, *disclosures: str, kb: str | None = None) -> str:
    return serialize_compact(jwt, list(disclosures), kb)


def verify(presentation: str, *, require_kb: bool = False, keys: list[Signer] | None = None, **kw: Any):
    trusted = [PublicKey.from_jwk(s.public_jwk) for s in (keys or [ISSUER])]
    policy = KeyBindingPolicy(True, AUD, NONCE) if require_kb else KeyBindingPolicy()
    return verify_presentation(presentation, issuer_keys=jwks_resolver(trusted), now=kw.pop("now", NOW), key_binding=policy, **kw)
