"""What a verifier takes away from an opened share link: the verification as JSON (the link,
the fields verified and the checks, docs/openapi.yaml ``/api/v1/shares/{token}``), the offline
bundle (verifier/bundle.py), and the verification receipt, signed by this server as a compact
JWS (RFC 7515) of type ``credshare-receipt+jwt`` (verifier/receipt.py) with its key published
as a JWK set at ``/.well-known/credshare-receipt-keys``.

The web layer (sharing/verify_pages.py) opens the link (:meth:`ShareService.open`, which counts
the view) and renders what these methods return.
"""

from __future__ import annotations

from typing import Any, Callable

from credshare.disclosure.jws import Signer
from credshare.holding.evidence import EvidenceService
from credshare.holding.shares import OpenedShare
from credshare.issuing.types import CredentialType, field_rows, type_for_vct
from credshare.verifier.receipt import receipt_payload, sign_receipt

RECEIPT_KEYS_PATH = "/.well-known/credshare-receipt-keys"


class ReceiptService:
    """``verifier`` is this server's public URL (the receipt's ``iss``); ``signer`` gives the
    receipt key (loaded on first use: only a receipt needs it)."""

    def __init__(self, evidence: EvidenceService, types: dict[str, CredentialType], *, verifier: str,
                 signer: Callable[[], Signer]) -> None:
        self._evidence = evidence
        self._types = types
        self._verifier = verifier
        self._signer = signer

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

    def verification(self, opened: OpenedShare) -> dict[str, Any]:
        """The JSON answer to a verifier's API open: the link, the fields and every check."""
        return {"link": self.link(opened), "fields": self.fields(opened), "fields_withheld": opened.withheld,
                "verification": opened.report.to_json()}

    def bundle(self, opened: OpenedShare) -> dict[str, Any]:
        """The offline bundle: the presentation with everything needed to check it again later."""
        return self._evidence.bundle(
            opened.presentation, opened.anchor_proof, audience=opened.link_id, nonce=opened.nonce,
            not_before=opened.created_at, share={"history": opened.history, "withheld": opened.withheld,
                                                 **self.link(opened)})

    def receipt(self, opened: OpenedShare) -> dict[str, Any]:
        """The signed receipt of this verification: its payload, the JWS, and where its key is published."""
        payload = receipt_payload(opened.report, verifier=self._verifier, link=self.link(opened),
                                  fields=self.fields(opened), withheld=opened.withheld)
        signer = self._signer()
        return {"receipt": payload, "jws": sign_receipt(payload, signer), "kid": signer.kid,
                "keys": f"{self._verifier.rstrip('/')}{RECEIPT_KEYS_PATH}"}
