"""Verification receipts: what a credentialing file must record about a primary-source check
(source, the fields verified, when, by what method, through which link, each check, the verdict
in plain words and, when the verifier typed it, who verified), signed by the verifying server as
a compact JWS (RFC 7515) of type ``credshare-receipt+jwt`` with its key published as a JWK set.

``verified_by`` is outside input (typed by the credentialing specialist): :func:`verified_by`
bounds it to plain one-line text before it is signed; templates escape it when shown.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from typing import Any, Mapping

from credshare.disclosure.errors import SDJWTError
from credshare.disclosure.jws import PublicKey, Signer, parse_compact, sign_compact
from credshare.foundation.errors import InputError
from credshare.verifier.report import Report
from credshare.verifier.verdict import verdict

RECEIPT_TYP = "credshare-receipt+jwt"
METHOD = ("Primary-source verification of an SD-JWT VC (RFC 9901) shared through a credshare link: issuer "
          "signature with a key from the issuer's logged key history, each disclosed field against its signed "
          "digest, holder key binding to this link, inclusion in an RFC 9162 Merkle log under a signed "
          "checkpoint, its witnesses' C2SP cosignatures judged under a tlog-policy (the log's own development "
          "witnesses never count as independent), and the issuer's Token Status List.")
METHOD_IN_WORDS = ("Checked now against its primary source: the issuer's digital signature, each field shown "
                   "against what the issuer signed, the physician's own key for this link, the credential's "
                   "record in a log confirmed by witnesses, and the issuer's list of revoked credentials.")
# a Blockcerts record (issue 15): no holder key, no field choice, its batch anchored on a blockchain
BLOCKCERTS_METHOD = ("Primary-source verification of a Blockcerts record (v2 MerkleProof2017 or v3 MerkleProof2019) "
                     "shared whole through a credshare link: the record's JSON-LD URDNA2015 SHA-256 hash against "
                     "the issuer's batch, its Merkle path to the batch's root, the root in the anchoring blockchain "
                     "transaction as configured endpoints report it (a test chain is never counted), the issuing "
                     "key in the issuer profile kept when the record entered the wallet, and the issuer's "
                     "revocation list or StatusList2021 read now.")
BLOCKCERTS_METHOD_IN_WORDS = ("Checked now against its primary source: the record exactly as the issuer issued it, "
                              "its place in the batch the issuer recorded on a blockchain, the issuer's published "
                              "keys, and the issuer's list of revoked records.")
VERIFIED_BY_MAX = 100  # characters, for each of the name and the organisation
JTI_PATTERN = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16)


def _plain(value: str | None, what: str) -> str | None:
    """One line of printable text, whitespace runs folded; ``None`` when empty."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{what} must be text", code="verified_by_invalid")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") and not ch.isspace() for ch in value):
        raise InputError(f"{what} holds control characters", code="verified_by_invalid")
    text = " ".join(value.split())
    if len(text) > VERIFIED_BY_MAX:
        raise InputError(f"{what} is longer than {VERIFIED_BY_MAX} characters", code="verified_by_invalid")
    return text or None


def verified_by(name: str | None, organisation: str | None) -> dict[str, str | None] | None:
    """Who verified, as the receipt records it: ``None`` when neither was typed."""
    plain_name, plain_org = _plain(name, "The name"), _plain(organisation, "The organisation")
    if plain_name is None and plain_org is None:
        return None
    return {"name": plain_name, "organisation": plain_org}


def receipt_payload(report: Report, *, verifier: str, link: Mapping[str, Any], fields: list[dict[str, Any]],
                    withheld: int, type_name: str | None = None, physician: str | None = None,
                    by: Mapping[str, str | None] | None = None) -> dict[str, Any]:
    """The receipt's payload; ``recheck`` is where this server shows the signed receipt again
    (by its ``jti``, never by the link's token)."""
    jti = secrets.token_urlsafe(16)
    blockcerts = report.credential_format == "blockcerts"
    return {
        "iss": verifier,
        "iat": report.checked_at,
        "jti": jti,
        "outcome": report.outcome,
        "verdict": verdict(report, type_name).to_json(),
        "method": BLOCKCERTS_METHOD if blockcerts else METHOD,
        "method_in_words": BLOCKCERTS_METHOD_IN_WORDS if blockcerts else METHOD_IN_WORDS,
        "verified_by": dict(by) if by else None,
        "physician": physician,
        "source": {"issuer": report.issuer, "name": report.issuer_name, "recognised_as": report.issuer_trust},
        "credential": {"vct": report.vct, **({"format": "blockcerts"} if blockcerts else {}), "type_name": type_name,
                       "anchored_at": report.anchored_at,
                       "status": report.credential_status, "status_as_of": report.status_as_of,
                       "expires_at": report.expires_at},
        "fields_verified": fields,
        "fields_withheld": withheld,
        "link": dict(link),
        "checks": [c.to_json() for c in report.checks],
        "witnesses": report.witnesses,  # who cosigned the checkpoint, the log's own development witnesses marked
        "recheck": recheck_url(verifier, jti),
    }


def recheck_url(verifier: str, jti: str) -> str:
    return f"{verifier.rstrip('/')}/receipts/{jti}"


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
