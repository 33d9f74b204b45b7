"""The issuer's documents a Blockcerts record is judged by: its profile, its revocation list and
a v3 status list.

- Issuer profile (Blockcerts v2 ``Profile`` / v3 ``BlockcertsIssuerProfile``): ``publicKey``
  (v2-alpha ``publicKeys``), the issuing keys, each ``{"id": "ecdsa-koblitz-pubkey:<address>",
  "created", "revoked", "expires"}``: the address that sends an anchoring transaction must be one
  of them, valid at the transaction's time (created before it, neither revoked nor expired by
  then), as cert-verifier-js judges it; ``verificationMethod``, the keys a v3 proof names
  (``proof.verificationMethod``), with the same dates.
- Revocation list (Open Badges v2 ``RevocationList``): ``revokedAssertions`` ``[{"id", "revocationReason"}]``.
- Status list (W3C VC Status List 2021): ``credentialSubject.encodedList`` is base64url of the
  GZIP-compressed bitstring; bit ``i`` is byte ``i // 8``, most significant bit first.
"""

from __future__ import annotations

import hmac
import zlib
from dataclasses import dataclass
from typing import Any

from credshare.blockcerts.errors import BlockcertsError
from credshare.blockcerts.record import parse_time
from credshare.foundation.b64 import b64url_decode

KEY_PREFIX = "ecdsa-koblitz-pubkey:"
MAX_KEYS = 64
MAX_REVOKED = 100_000
MAX_STATUS_BITS = 16 * 1024 * 1024 * 8  # a 16 MiB bitstring: far above the 16 KiB minimum lists have


@dataclass(frozen=True)
class IssuingKey:
    """An issuing key (an address) or a verification method, with its validity dates (unix seconds)."""

    id: str
    created: int | None
    revoked: int | None
    expires: int | None

    def problem_at(self, moment: int) -> tuple[str, str] | None:
        """Why the key was not valid at ``moment`` (code, words), or ``None`` when it was."""
        if self.created is not None and moment <= self.created:
            return "blockcerts_key_not_yet_valid", "the key was created after that"
        if self.revoked is not None and moment >= self.revoked:
            return "blockcerts_key_revoked", "the issuer had revoked the key by then"
        if self.expires is not None and moment >= self.expires:
            return "blockcerts_key_expired", "the key had expired by then"
        return None


def _invalid(detail: str) -> BlockcertsError:
    return BlockcertsError(detail, code="blockcerts_profile_malformed", stage="issuer_profile")


def _key(entry: Any, what: str) -> IssuingKey:
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
        raise _invalid(f"{what} without an id")
    try:
        return IssuingKey(entry["id"][:2048], parse_time(entry.get("created"), "created"),
                          parse_time(entry.get("revoked"), "revoked"), parse_time(entry.get("expires"), "expires"))
    except BlockcertsError as exc:
        raise _invalid(f"{what}: {exc.detail}") from None


def _list(value: Any) -> list[Any]:
    items = value if isinstance(value, list) else [] if value is None else [value]
    if len(items) > MAX_KEYS:
        raise _invalid(f"more than {MAX_KEYS} keys")
    return items


def profile_id(profile: dict[str, Any]) -> str | None:
    value = profile.get("id")
    return value if isinstance(value, str) else None


def issuing_keys(profile: dict[str, Any]) -> list[IssuingKey]:
    """The profile's issuing keys, ids without the ``ecdsa-koblitz-pubkey:`` prefix (addresses)."""
    keys = [_key(e, "an issuing key") for e in _list(profile.get("publicKey", profile.get("publicKeys")))]
    return [IssuingKey(k.id.removeprefix(KEY_PREFIX), k.created, k.revoked, k.expires) for k in keys]


def find_address(profile: dict[str, Any], address: str) -> IssuingKey | None:
    """The issuing key for ``address`` (compared without regard to case, as Ethereum addresses are
    written in mixed-case checksum form and cert-verifier-js compares them so)."""
    wanted = address.lower().encode()
    return next((k for k in issuing_keys(profile) if hmac.compare_digest(k.id.lower().encode(), wanted)), None)


def find_verification_method(profile: dict[str, Any], method: str) -> IssuingKey | None:
    """The v3 verification method ``method`` names, by its id or its controller plus a fragment id."""
    for entry in _list(profile.get("verificationMethod")):
        key = _key(entry, "a verification method")
        controller = entry.get("controller") if isinstance(entry.get("controller"), str) else ""
        if key.id == method or (key.id.startswith("#") and controller + key.id == method):
            return IssuingKey(method, key.created, key.revoked, key.expires)
    return None


def revocation_list_url(profile: dict[str, Any]) -> str | None:
    """The URL of the revocation list the profile names, if any."""
    value = profile.get("revocationList")
    return value[:2048] if isinstance(value, str) and value else None


def revoked_reason(revocation_list: dict[str, Any], record_id: str) -> str | None:
    """Why the list revokes ``record_id`` ("" when it gives no reason), or ``None`` when it does not."""
    revoked = revocation_list.get("revokedAssertions", [])
    if not isinstance(revoked, list) or len(revoked) > MAX_REVOKED:
        raise BlockcertsError("The revocation list is not a list of revoked records", code="blockcerts_revocation_list_malformed",
                              stage="status")
    for entry in revoked:
        entry_id = entry.get("id") if isinstance(entry, dict) else entry
        if isinstance(entry_id, str) and entry_id == record_id:
            reason = entry.get("revocationReason") if isinstance(entry, dict) else None
            return reason[:300] if isinstance(reason, str) else ""
    return None


def status_bit(status_credential: dict[str, Any], index: int) -> bool:
    """Bit ``index`` of a StatusList2021 credential's list (``True``: set)."""
    subject = status_credential.get("credentialSubject")
    encoded = subject.get("encodedList") if isinstance(subject, dict) else None
    if not isinstance(encoded, str) or len(encoded) > 4 * 1024 * 1024:
        raise BlockcertsError("The status list has no encoded list", code="status_list_malformed", stage="status")
    try:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # GZIP framing
        if encoded.startswith("uH4sI"):  # multibase base64url (Bitstring Status List) of GZIP data
            encoded = encoded[1:]
        bits = inflater.decompress(b64url_decode(encoded.rstrip("=")), MAX_STATUS_BITS // 8)
        if inflater.unconsumed_tail:
            raise BlockcertsError("The status list is larger than any this verifier reads", code="status_list_too_large",
                                  stage="status")
    except (zlib.error, ValueError):
        raise BlockcertsError("The status list is not GZIP-compressed base64url", code="status_list_malformed",
                              stage="status") from None
    if index >= len(bits) * 8:
        raise BlockcertsError("The record's status index is outside the status list", code="status_list_malformed",
                              stage="status")
    return bool(bits[index // 8] & (0x80 >> (index % 8)))
