"""What a Blockcerts record says, read for people and for the checks.

- v2 (Blockcerts v2 schema, an Open Badges v2 ``Assertion``): the recipient (``recipientProfile``),
  the credential (``badge``: name, description, and its ``issuer``, a ``Profile`` with its id,
  name and ``revocationList``), ``issuedOn`` and ``expires``.
- v3 (Blockcerts v3, a W3C Verifiable Credential 1.1 or 2.0): ``issuer`` (the profile URL, or an
  object with its ``id``), ``credentialSubject``, ``issuanceDate`` / ``validFrom``,
  ``expirationDate`` / ``validUntil``, and ``credentialStatus`` (W3C Status List 2021 entries).

Dates are ISO 8601 (as cert-issuer writes them); a date that is not is a malformed record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from credshare.blockcerts.errors import BlockcertsError
from credshare.blockcerts.evidence import Anchor
from credshare.blockcerts.jsonld import is_merkle_proof
from credshare.blockcerts.proof import MerkleReceipt, read_receipt

MAX_FIELDS = 40
MAX_TEXT = 500
_NOT_TYPES = {"VerifiableCredential", "BlockcertsCredential"}
_WORDS = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@dataclass(frozen=True)
class StatusEntry:
    """A v3 ``credentialStatus`` entry: bit ``index`` of the status list credential at ``url``
    says whether the record is revoked (``purpose`` ``revocation``) or suspended."""

    purpose: Literal["revocation", "suspension"]
    index: int
    url: str


@dataclass(frozen=True)
class BlockcertsRecord:
    version: Literal["v2", "v3"]
    id: str
    issuer_id: str
    issuer_name: str | None
    type_name: str
    recipient_name: str | None
    issued_at: int | None
    expires_at: int | None
    valid_from: int | None
    fields: dict[str, Any]
    receipt: MerkleReceipt  # its Merkle proof (blockcerts/proof.py), read once with the rest
    revocation_list_url: str | None
    status_entries: tuple[StatusEntry, ...] = field(default_factory=tuple)

    @property
    def anchors(self) -> tuple[Anchor, ...]:
        return self.receipt.anchors

    @property
    def status_list_url(self) -> str | None:
        return self.status_entries[0].url if self.status_entries else None


def _invalid(detail: str) -> BlockcertsError:
    return BlockcertsError(detail, code="blockcerts_record_malformed", stage="proof_format")


def looks_like_blockcerts(document: Any) -> bool:
    """A JSON object that carries a Blockcerts Merkle proof (v2 ``signature`` MerkleProof2017 or
    a v3 MerkleProof2019 proof): what an upload is told apart by."""
    if not isinstance(document, dict):
        return False
    signature = document.get("signature")
    if isinstance(signature, dict) and "proof" not in document:
        kinds = signature.get("type")
        return "MerkleProof2017" in (kinds if isinstance(kinds, list) else [kinds])
    proof = document.get("proof")
    return any(is_merkle_proof(p) for p in (proof if isinstance(proof, list) else [proof]))


def parse_time(value: Any, what: str) -> int | None:
    """An ISO 8601 date-time (or date) as unix seconds; ``None`` when absent."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise _invalid(f"{what} is not a date")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _invalid(f"{what} is not an ISO 8601 date ({value[:40]})") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


def _text(value: Any) -> str | None:
    return value[:MAX_TEXT] if isinstance(value, str) and value.strip() else None


def _label(key: str) -> str:
    words = _WORDS.sub(" ", key).replace("_", " ").strip()
    return words[:1].upper() + words[1:].lower()


def _flatten(prefix: str, value: Any, out: dict[str, Any], depth: int = 0) -> None:
    if len(out) >= MAX_FIELDS or depth > 4:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("id", "type", "@context", "publicKey", "image") or not isinstance(key, str):
                continue
            _flatten(f"{prefix} · {_label(key)}" if prefix else _label(key), item, out, depth + 1)
    elif isinstance(value, list):
        texts = [str(v)[:MAX_TEXT] for v in value if isinstance(v, (str, int, float)) and not isinstance(v, bool)]
        if texts:
            out[prefix] = ", ".join(texts)[:MAX_TEXT]
        for item in value:
            if isinstance(item, dict):
                _flatten(prefix, item, out, depth + 1)
    elif isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value).strip():
        if not str(value).startswith("data:"):
            out[prefix] = str(value)[:MAX_TEXT]


def _v2(doc: dict[str, Any]) -> BlockcertsRecord:
    badge = doc.get("badge")
    if not isinstance(badge, dict) or not isinstance(badge.get("issuer"), dict):
        raise _invalid("a v2 record names its credential (badge) and the badge's issuer")
    issuer = badge["issuer"]
    issuer_id = issuer.get("id")
    if not isinstance(issuer_id, str) or not issuer_id.startswith(("https://", "http://", "did:")):
        raise _invalid("the badge's issuer has no profile URL")
    profile: dict[str, Any] = doc["recipientProfile"] if isinstance(doc.get("recipientProfile"), dict) else {}
    recipient: dict[str, Any] = doc["recipient"] if isinstance(doc.get("recipient"), dict) else {}
    fields: dict[str, Any] = {}
    name = _text(profile.get("name"))
    if name:
        fields["Recipient"] = name
    if recipient.get("hashed") is False and _text(recipient.get("identity")):
        fields["Recipient " + str(recipient.get("type") or "identity")[:20]] = _text(recipient.get("identity"))
    _flatten("", {k: v for k, v in badge.items() if k not in ("issuer", "signatureLines", "criteria")}, fields)
    for key in ("issuedOn", "expires"):
        if _text(doc.get(key)):
            fields[_label(key)] = doc[key]
    return BlockcertsRecord(
        version="v2", id=str(doc.get("id", ""))[:200], issuer_id=issuer_id[:2048], issuer_name=_text(issuer.get("name")),
        type_name=_text(badge.get("name")) or "Blockcerts record", recipient_name=name,
        issued_at=parse_time(doc.get("issuedOn"), "issuedOn"), expires_at=parse_time(doc.get("expires"), "expires"),
        valid_from=None, fields=fields, receipt=read_receipt(doc),
        revocation_list_url=_text(issuer.get("revocationList")))


def _status_entries(value: Any) -> tuple[StatusEntry, ...]:
    entries = value if isinstance(value, list) else [value] if value is not None else []
    out = []
    for entry in entries[:4]:
        if not isinstance(entry, dict) or entry.get("type") not in ("StatusList2021Entry", "BitstringStatusListEntry"):
            raise _invalid("credentialStatus is not a StatusList2021 entry")
        purpose, index, url = entry.get("statusPurpose"), entry.get("statusListIndex"), entry.get("statusListCredential")
        if purpose not in ("revocation", "suspension") or not isinstance(url, str) or not str(index).isdigit():
            raise _invalid("a credentialStatus entry lacks its purpose, index or list")
        out.append(StatusEntry(purpose, int(str(index)), url[:2048]))
    return tuple(sorted(out, key=lambda e: e.purpose))  # revocation before suspension, as cert-verifier-js


def _v3_type_name(doc: dict[str, Any], subject: dict[str, Any]) -> str:
    for candidate in (doc.get("name"), subject.get("degree"), (subject.get("claim") or {}).get("name")
                      if isinstance(subject.get("claim"), dict) else None):
        if isinstance(candidate, dict):
            candidate = candidate.get("name")
        if _text(candidate):
            return str(candidate)[:MAX_TEXT]
    kinds: list[Any] = doc["type"] if isinstance(doc.get("type"), list) else []
    named = [k for k in kinds if isinstance(k, str) and k not in _NOT_TYPES]
    return _label(named[0]) if named else "Blockcerts record"


def _v3(doc: dict[str, Any]) -> BlockcertsRecord:
    issuer = doc.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    if not isinstance(issuer_id, str) or not issuer_id.startswith(("https://", "http://", "did:")):
        raise _invalid("the record's issuer is not a profile URL or DID")
    subjects = doc.get("credentialSubject")
    subject = (subjects[0] if isinstance(subjects, list) and subjects else subjects) or {}
    if not isinstance(subject, dict):
        raise _invalid("credentialSubject is not an object")
    fields: dict[str, Any] = {}
    recipient = _text(subject.get("name"))
    if recipient:
        fields["Recipient"] = recipient
    for key in ("name", "description"):
        if _text(doc.get(key)):
            fields[_label(key)] = doc[key][:MAX_TEXT]
    _flatten("", {k: v for k, v in subject.items() if k != "name"}, fields)
    issued = doc.get("issuanceDate", doc.get("validFrom"))
    expires = doc.get("expirationDate", doc.get("validUntil"))
    for label, value in (("Issued", issued), ("Expires", expires)):
        if _text(value):
            fields[label] = value
    return BlockcertsRecord(
        version="v3", id=str(doc.get("id", ""))[:200], issuer_id=issuer_id[:2048],
        issuer_name=_text(issuer.get("name")) if isinstance(issuer, dict) else None,
        type_name=_v3_type_name(doc, subject), recipient_name=recipient,
        issued_at=parse_time(issued, "the issuance date"), expires_at=parse_time(expires, "the expiry date"),
        valid_from=parse_time(doc.get("validFrom"), "validFrom"), fields=fields, receipt=read_receipt(doc),
        revocation_list_url=None, status_entries=_status_entries(doc.get("credentialStatus")))


def parse_record(document: Any) -> BlockcertsRecord:
    """The record's facts, or :class:`BlockcertsError` when it is not a Blockcerts record this reads."""
    if not looks_like_blockcerts(document):
        raise BlockcertsError("This is not a Blockcerts record (no MerkleProof2017 or MerkleProof2019 proof)",
                              code="blockcerts_proof_missing", stage="proof_format")
    return _v3(document) if "proof" in document else _v2(document)
