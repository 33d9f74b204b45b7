"""The SD-JWT VC profile (draft-ietf-oauth-sd-jwt-vc): media type, ``vct``, and the claims that
must never be selectively disclosable."""

from __future__ import annotations

from typing import Any, Iterable

from credshare.disclosure.errors import SDJWTError
from credshare.disclosure.paths import ClaimPath

VC_TYP = "dc+sd-jwt"
KB_TYP = "kb+jwt"
# Registered claims a verifier must always see (SD-JWT VC §3.2.2; status: Token Status List).
NEVER_DISCLOSABLE = frozenset({"iss", "exp", "nbf", "cnf", "vct", "status"})


def check_not_disclosable(paths: Iterable[ClaimPath]) -> None:
    for path in paths:
        if len(path) == 1 and path[0] in NEVER_DISCLOSABLE:
            raise SDJWTError(f"{path[0]!r} must not be selectively disclosable", code="claim_not_disclosable")


def check_vc_claims(claims: dict[str, Any], disclosed: Iterable[ClaimPath]) -> None:
    """An SD-JWT VC names its type in a visible ``vct`` string."""
    if not isinstance(claims.get("vct"), str) or not claims["vct"]:
        raise SDJWTError(code="vct_missing")
    check_not_disclosable(disclosed)
