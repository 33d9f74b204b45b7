"""The verification report: every check on a shared credential, each passed, failed or
unchecked, and the one-word outcome a credentialing file records.

The same report is produced by the verifier page, the JSON API (schema in
``docs/openapi.yaml``) and ``credshare verify`` on an offline bundle, so the three can never
disagree about what was checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from credshare.foundation.checks import (
    CHECK_LABELS as CHECK_LABELS,  # re-exported: the report's check names
    Check as Check,
    Status as Status,
)
from credshare.verifier.verdict import verdict

Outcome = Literal["verified", "verified_as_history", "not_verified", "incomplete"]


@dataclass
class Report:
    """What was checked and what it showed. ``claims`` holds only what the presentation
    disclosed (plus the always-visible claims such as ``iss`` and ``vct``)."""

    checks: list[Check] = field(default_factory=list)
    claims: dict[str, Any] = field(default_factory=dict)
    disclosed_paths: list[list[str | int | None]] = field(default_factory=list)
    issuer: str | None = None
    issuer_name: str | None = None
    vct: str | None = None
    anchored_at: int | None = None
    credential_status: Literal["valid", "revoked", "suspended", "unknown"] = "unknown"
    status_as_of: int | None = None
    status_from: str | None = None  # the URL the status list was fetched from (another server's); None: read here
    status_fetched_at: int | None = None  # when the status list that was checked was read (or fetched)
    expires_at: int | None = None
    checked_at: int = 0
    holder_statement: dict[str, Any] = field(default_factory=dict)  # signed by the holder in the KB-JWT
    # the trusted policy's witnesses whose cosignature/v1 on the credential's checkpoint verified:
    # {"name", "key_name", "timestamp", "development_only"} (anchoring/proof.py WitnessSeen)
    witnesses: list[dict[str, Any]] = field(default_factory=list)
    # the trust list entry that vouches for the issuer (TrustedIssuer.to_json), once issuer_trust passed
    issuer_trust: dict[str, Any] | None = None
    # what was verified: an SD-JWT VC presentation, or a Blockcerts record (shared whole: every field shown)
    credential_format: Literal["sd-jwt-vc", "blockcerts"] = "sd-jwt-vc"
    type_name: str | None = None  # the record's own name for its type (Blockcerts: "Doctor of Medicine"); SD-JWT: None

    def add(self, name: str, status: Status, detail: str = "", code: str = "") -> None:
        self.checks.append(Check(name, status, detail, code))

    def status_of(self, name: str) -> Status | None:
        found = [c.status for c in self.checks if c.name == name]
        if not found:
            return None
        return next(s for s in ("failed", "unchecked", "history", "passed") if s in found)

    @property
    def outcome(self) -> Outcome:
        """``verified`` only when every check passed, except a chain anchor (an optional,
        extra anchor) that could not be looked up offline. ``verified_as_history`` when, in
        the same way, everything holds but the credential has expired and is shared as
        history: its own verdict, never a plain ``verified``."""
        if not self.checks or any(c.status == "failed" for c in self.checks):
            return "not_verified"
        if any(c.status == "unchecked" and c.name != "chain_anchor" for c in self.checks):
            return "incomplete"
        if any(c.status == "history" for c in self.checks):
            return "verified_as_history"
        return "verified"

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "verdict": verdict(self).to_json(),
            "checked_at": self.checked_at,
            "issuer": {"id": self.issuer, "name": self.issuer_name, "vouched_for": self.issuer_trust},
            "vct": self.vct,
            "format": self.credential_format,
            "type_name": self.type_name,
            "anchored_at": self.anchored_at,
            "credential": {"status": self.credential_status, "status_as_of": self.status_as_of,
                           "status_from": self.status_from, "status_fetched_at": self.status_fetched_at,
                           "expires_at": self.expires_at},
            "holder_statement": self.holder_statement,
            "claims": self.claims,
            "disclosed_paths": self.disclosed_paths,
            "checks": [c.to_json() for c in self.checks],
            "witnesses": self.witnesses,
        }
