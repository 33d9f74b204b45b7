"""Verification receipts: what a credentialing file must record about a primary-source check
(source, the fields verified, when, by what method, through which link, each check and the
result), signed by the verifying server as a compact JWS (RFC 7515) of type
``credshare-receipt+jwt`` with its key published as a JWK set."""

from __future__ import annotations

import secrets
from typing import Any, Mapping

from credshare.disclosure.errors import SDJWTError
from credshare.disclosure.jws import PublicKey, Signer, parse_compact, sign_compact
from credshare.verifier.report import Report

RECEIPT_TYP = "credshare-receipt+jwt"
METHOD = ("Primary-source verification of an SD-JWT VC (RFC 9901) shared through a credshare link: issuer "
          "signature with a key from the issuer's logged key history, each disclosed field against its signed "
          "digest, holder key binding to this link, inclusion in an RFC 9162 Merkle log under a signed "
          "checkpoint, its witnesses' C2SP cosignatures judged under a tlog-policy (the log's own development "
          "witnesses never count as independent), and the issuer's Token Status List.")


def receipt_payload(report: Report, *, verifier: str, link: Mapping[str, Any], fields: list[dict[str, Any]],
                    withheld: int) -> dict[str, Any]:
    return {
        "iss": verifier,
        "iat": report.checked_at,
        "jti": secrets.token_urlsafe(16),
        "outcome": report.outcome,
        "method": METHOD,
        "source": {"issuer": report.issuer, "name": report.issuer_name},
        "credential": {"vct": report.vct, "anchored_at": report.anchored_at, "status": report.credential_status,
                       "status_as_of": report.status_as_of, "expires_at": report.expires_at},
        "fields_verified": fields,
        "fields_withheld": withheld,
        "link": dict(link),
        "checks": [c.to_json() for c in report.checks],
        "witnesses": report.witnesses,  # who cosigned the checkpoint, the log's own development witnesses marked
    }


def sign_receipt(payload: Mapping[str, Any], signer: Signer) -> str:
    return sign_compact({"typ": RECEIPT_TYP}, payload, signer)


def read_receipt(jws: str, keys: list[PublicKey]) -> dict[str, Any]:
    """The payload of a receipt signed by one of ``keys``; raises SDJWTError otherwise."""
    parsed = parse_compact(jws)
    if parsed.header.get("typ") != RECEIPT_TYP:
        raise SDJWTError(f"a receipt has typ {RECEIPT_TYP}", code="typ_mismatch")
    if not parsed.verify_with([k for k in keys if k.kid in (None, parsed.header.get("kid"))]):
        raise SDJWTError(code="signature_invalid")
    return parsed.payload
