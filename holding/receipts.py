"""What a verifier takes away from an opened share link: the verification as JSON (the link,
the fields verified and the checks, docs/openapi.yaml ``/api/v1/shares/{token}``), the offline
bundle (verifier/bundle.py), and the verification receipt, signed by this server as a compact
JWS (RFC 7515) of type ``credshare-receipt+jwt`` (verifier/receipt.py) with its key published
as a JWK set at ``/.well-known/credshare-receipt-keys``.

Every receipt signed is kept (collection ``receipts``, by its ``jti``), so the printed report's
re-check address (``/receipts/<jti>``) can show the signed receipt again without the link's
token, which is a bearer secret and is never printed. Receipts cost a signature, a stored
document and, for the PDF, a rendering: :data:`RECEIPTS_PER_LINK_PER_HOUR` bound them per link.

The web layer (sharing/verify_pages.py) opens the link (:meth:`ShareService.open`, which counts
the view) and renders what these methods return.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from credshare.blockcerts.errors import BlockcertsError
from credshare.blockcerts.record import parse_record
from credshare.disclosure.errors import SDJWTError
from credshare.disclosure.jws import PublicKey, Signer
from credshare.foundation.clock import SYSTEM_CLOCK, Clock
from credshare.foundation.errors import NotFoundError, RateLimitedError
from credshare.holding.evidence import EvidenceService
from credshare.holding.shares import OpenedShare
from credshare.issuing.types import CredentialType, field_rows, type_for_vct
from credshare.storage.rate_limit import RateLimiter
from credshare.storage.store import Store
from credshare.verifier.receipt import JTI_PATTERN, read_receipt, receipt_payload, sign_receipt

RECEIPT_KEYS_PATH = "/.well-known/credshare-receipt-keys"
RECEIPTS = "receipts"
RECEIPTS_PER_LINK_PER_HOUR = 30


def blockcerts_recipient(document: Any) -> str | None:
    """The recipient a Blockcerts record names (``recipientProfile.name`` in v2,
    ``credentialSubject.name`` in v3), when the record reads; ``None`` otherwise."""
    try:
        named = parse_record(document).recipient_name
    except BlockcertsError:
        return None
    return named if isinstance(named, str) and named.strip() else None


class ReceiptService:
    """``verifier`` is this server's public URL (the receipt's ``iss``); ``signer`` gives the
    receipt key (loaded on first use: only a receipt needs it)."""

    def __init__(self, evidence: EvidenceService, types: dict[str, CredentialType], *, verifier: str,
                 signer: Callable[[], Signer], store: Store, clock: Clock = SYSTEM_CLOCK) -> None:
        self._evidence = evidence
        self._types = types
        self._verifier = verifier
        self._signer = signer
        self._receipts = store.collection(RECEIPTS)
        self.per_link = RateLimiter(store, "receipts-per-link", RECEIPTS_PER_LINK_PER_HOUR, 3600, clock=clock)

    def credential_type(self, opened: OpenedShare) -> CredentialType | None:
        return type_for_vct(self._types, opened.report.vct)

    def link(self, opened: OpenedShare) -> dict[str, Any]:
        """The link as a verifier may see it."""
        return {"id": opened.link_id, "recipient": opened.recipient or None, "created_at": opened.created_at,
                "expires_at": opened.expires_at, "views": opened.views, "max_views": opened.max_views,
                "shared_as_history": opened.history}

    def fields(self, opened: OpenedShare) -> list[dict[str, Any]]:
        """The disclosed fields, labelled as the credential's type names them."""
        return [{"path": list(r.path), "label": r.label, "value": r.value}
                for r in field_rows(opened.report.claims, self.credential_type(opened))]

    def type_name(self, opened: OpenedShare) -> str | None:
        """The credential type in words: the type this server describes, or the one a Blockcerts
        record names itself (``Report.type_name``)."""
        ctype = self.credential_type(opened)
        if ctype is not None:
            return ctype.name
        named = opened.report.type_name
        return named if named and named.strip() else None

    def physician(self, opened: OpenedShare) -> str | None:
        """The physician's name when it was disclosed: every type's first claim is the holder's
        name (``licensee_name``, ``diplomate_name``, ...); a Blockcerts record, shared whole,
        names its recipient."""
        if opened.is_blockcerts:
            return blockcerts_recipient(opened.evidence.document) if opened.evidence is not None else None
        ctype = self.credential_type(opened)
        if ctype is None or not ctype.claims or not ctype.claims[0].path[-1].endswith("_name"):
            return None
        node: Any = opened.report.claims
        for key in ctype.claims[0].path:
            node = node.get(key) if isinstance(node, dict) else None
        return node if isinstance(node, str) and node.strip() else None

    def verification(self, opened: OpenedShare) -> dict[str, Any]:
        """The JSON answer to a verifier's API open: the link, the fields and every check."""
        return {"link": self.link(opened), "fields": self.fields(opened), "fields_withheld": opened.withheld,
                "verification": opened.report.to_json()}

    def bundle(self, opened: OpenedShare) -> dict[str, Any]:
        """The offline bundle: the presentation with everything needed to check it again later;
        a Blockcerts record with the issuer's documents it was just judged by."""
        if opened.is_blockcerts and opened.evidence is not None:
            return self._evidence.blockcerts_bundle(opened.evidence, share={"history": opened.history, "withheld": 0,
                                                                            **self.link(opened)})
        return self._evidence.bundle(
            opened.presentation, opened.anchor_proof, audience=opened.link_id, nonce=opened.nonce,
            not_before=opened.created_at, share={"history": opened.history, "withheld": opened.withheld,
                                                 **self.link(opened)})

    def receipt(self, opened: OpenedShare, by: Mapping[str, str | None] | None = None) -> dict[str, Any]:
        """The signed receipt of this verification (``by``: who verified, from
        :func:`verifier.receipt.verified_by`): its payload, the JWS, and where its key is
        published. Kept for the re-check address; refused past the per-link bound."""
        if self.per_link.take(opened.link_id) is None:
            raise RateLimitedError(f"Too many receipts were made for this link; try again in "
                                   f"{self.per_link.retry_after() // 60 + 1} minutes.")
        payload = receipt_payload(opened.report, verifier=self._verifier, link=self.link(opened),
                                  fields=self.fields(opened), withheld=opened.withheld,
                                  type_name=self.type_name(opened), physician=self.physician(opened), by=by)
        signer = self._signer()
        jws = sign_receipt(payload, signer)
        self._receipts.insert_one({"_id": payload["jti"], "jws": jws, "link_id": opened.link_id, "iat": payload["iat"]})
        return self._document(payload, jws, signer)

    def _document(self, payload: dict[str, Any], jws: str, signer: Signer) -> dict[str, Any]:
        return {"receipt": payload, "jws": jws, "kid": signer.kid,
                "keys": f"{self._verifier.rstrip('/')}{RECEIPT_KEYS_PATH}"}

    def stored(self, jti: str) -> dict[str, Any]:
        """A receipt this server signed, by its id, checked again against the receipt key
        (a stored document altered since fails); NotFoundError when there is none."""
        doc = self._receipts.find_one({"_id": jti}) if isinstance(jti, str) and JTI_PATTERN.fullmatch(jti) else None
        if doc is None:
            raise NotFoundError("No receipt with this id was made here.", code="receipt_unknown")
        signer = self._signer()
        try:
            payload = read_receipt(str(doc.get("jws", "")), [PublicKey.from_jwk({**signer.public_jwk, "kid": signer.kid})])
        except SDJWTError as exc:
            raise NotFoundError("This receipt's signature does not verify.", code="receipt_invalid") from exc
        if payload.get("jti") != jti:
            raise NotFoundError("This receipt's signature does not verify.", code="receipt_invalid")
        return self._document(payload, str(doc["jws"]), signer)
