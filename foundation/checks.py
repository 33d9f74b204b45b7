"""Checks and their statuses: the one vocabulary the anchoring core, the verifier and the error
hierarchy share.

A check is one named step of verifying a shared credential, as the verification report lists
it (``CheckName`` in docs/openapi.yaml; the anchor proof checks of docs/anchor-proof.md are
among them). Each is ``passed``, ``failed`` or ``unchecked``; ``history`` means checked, and it
does not hold as of now, but the holder shares the credential as a record of the past (only
``credential_validity``: an expired credential shared as history). It is never ``passed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["passed", "failed", "unchecked", "history"]

CheckName = Literal[
    "trust_anchor", "key_history", "issuer_keys", "issuer_certificate", "issuer_trust", "issuer_signature",
    "issuer_key_valid", "disclosures", "key_binding",
    "proof_format", "checkpoint_signature", "inclusion", "witness_quorum", "chain_anchor", "status",
    "credential_validity", "link", "inclusion_mirror",
    "issuer_profile", "document_hash", "merkle_proof", "blockchain_anchor",
]

# Every check a report may hold, with its human label (reports list checks in the order they ran).
CHECK_LABELS: dict[str, str] = {
    "trust_anchor": "Log key is one the verifier trusts",
    "key_history": "Issuer key history (signed by the issuer and logged)",
    "issuer_keys": "Issuer keys (published in the issuer's metadata; not logged)",
    "issuer_certificate": "Issuer certificate (leads to a root certificate on your trust list)",
    "issuer_trust": "Issuer is on the trust list, for this type of credential",
    "issuer_signature": "Issuer signature",
    "issuer_key_valid": "Issuer key valid when the credential was anchored",
    "disclosures": "Field commitments (each disclosed field matches a digest the issuer signed)",
    "key_binding": "Holder key binding (presented by the credential's holder, for this link)",
    "proof_format": "Anchor proof format",
    "checkpoint_signature": "Log checkpoint signature",
    "inclusion": "Inclusion in the log's Merkle tree",
    "witness_quorum": "Witness cosignatures",
    "chain_anchor": "Public chain anchor",
    "status": "Issuer status list",
    "credential_validity": "Credential validity period",
    "link": "Share link validity",
    "inclusion_mirror": "Inclusion in the log as a mirror serves it (C2SP tlog-tiles)",
    # Blockcerts records (blockcerts/verification.py)
    "issuer_profile": "Issuer profile (the issuer's published keys, as fetched and kept)",
    "document_hash": "Record unchanged (its JSON-LD hash is the one the issuer anchored)",
    "merkle_proof": "Record is in the issuer's anchored batch (Merkle proof)",
    "blockchain_anchor": "Batch recorded on a blockchain",
}


@dataclass(frozen=True)
class Check:
    """``code``: for a check that did not pass, the stable machine-readable reason (an error
    code of the one hierarchy), when there is one more precise than the check's name."""

    name: str
    status: Status
    detail: str = ""
    code: str = ""

    @property
    def label(self) -> str:
        return CHECK_LABELS.get(self.name, self.name)

    def to_json(self) -> dict[str, str]:
        out = {"check": self.name, "label": self.label, "status": self.status, "detail": self.detail}
        if self.code:
            out["code"] = self.code
        return out
