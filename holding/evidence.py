"""Gathering, on this server, the evidence a credential is verified by (verifier/credential.py):
the log and witness keys, the issuer's logged key history with a fresh inclusion proof, and
the issuer's current status list token. Everything is then checked by the same pure code an
offline verifier runs on a bundle."""

from __future__ import annotations

from typing import Any

from credshare.disclosure.errors import SDJWTError
from credshare.disclosure.jws import parse_compact
from credshare.disclosure.status_list import status_reference
from credshare.disclosure.verification import KeyBindingPolicy
from credshare.foundation.clock import SYSTEM_CLOCK, Clock
from credshare.foundation.errors import CredshareError, NotFoundError
from credshare.issuing.issuers import IssuerRegistry
from credshare.issuing.status import StatusService
from credshare.storage.tlog import TransparencyLog
from credshare.verifier.bundle import build_bundle
from credshare.verifier.credential import (
    ChainCheck,
    KeyHistoryEvidence,
    LogTrust,
    StatusEvidence,
    presented_at,
    verify_credential,
)
from credshare.verifier.report import Report


class EvidenceService:
    def __init__(self, issuers: IssuerRegistry, status: StatusService, log: TransparencyLog, quorum: int,
                 chain_check: ChainCheck | None = None, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._issuers, self._status, self._log, self._quorum = issuers, status, log, quorum
        self._chain_check = chain_check  # Ethereum lookups when the server has RPC endpoints

    def with_log_anchors(self, anchor_proof: dict[str, Any]) -> dict[str, Any]:
        """The proof with every chain anchor the log has recorded for its checkpoint since it
        was made (a checkpoint is usually anchored after its credentials were delivered).
        Anchors are claims to look up on the chain, so adding them trusts nothing."""
        size = anchor_proof.get("tree_size") if isinstance(anchor_proof, dict) else None
        if not isinstance(size, int) or isinstance(size, bool):
            return anchor_proof
        try:
            recorded = list(self._log.checkpoint(size).get("anchors", {}).values())
        except CredshareError:
            return anchor_proof
        known = {a.get("tx_hash") for a in anchor_proof.get("chain_anchors") or [] if isinstance(a, dict)}
        extra = [a for a in recorded if a.get("tx_hash") not in known]
        return {**anchor_proof, "chain_anchors": [*(anchor_proof.get("chain_anchors") or []), *extra]} if extra else anchor_proof

    def trust(self) -> LogTrust:
        """This server's own log: the keys it signs and co-signs checkpoints with."""
        return LogTrust(self._log.signer.verifier, list(self._log.witness_keys), self._quorum)

    def key_history(self, iss: Any) -> KeyHistoryEvidence | None:
        """The newest logged key history of the issuer that issued under ``iss``, if it is here."""
        issuer_id = self._issuers.issuer_for(iss)
        if issuer_id is None:
            return None
        doc = self._issuers.latest_history(issuer_id, iss)
        return KeyHistoryEvidence(doc["jws"], self._log.anchor_proof(doc["log_index"]))

    def status_evidence(self, claims: dict[str, Any], now: int,
                        signed_since: int = 0) -> StatusEvidence | None:
        """The current signed list the credential points at (signed no earlier than
        ``signed_since``), with the anchor proof of the token as a leaf of the log, or why it
        cannot be had."""
        try:
            reference = status_reference(claims)
        except SDJWTError:
            return None  # the verifier reports the malformed reference itself
        if reference is None:
            return None
        _, uri = reference
        issuer_id = self._issuers.issuer_for(claims.get("iss"))
        number = self._status.number_for(issuer_id, uri) if issuer_id else None
        if number is None:
            return StatusEvidence(None, now, f"{uri} is not a status list of this server")
        try:
            token, index, size = self._status.logged_token(issuer_id, number, signed_since=min(signed_since, now))  # type: ignore[arg-type]
            return StatusEvidence(token, now, anchor_proof=self._log.anchor_proof(index, size))
        except CredshareError as exc:
            return StatusEvidence(None, now, exc.detail or exc.code)

    def gather(self, presentation: str, now: int,
               signed_since: int = 0) -> tuple[KeyHistoryEvidence | None, StatusEvidence | None]:
        """Evidence for the credential in ``presentation``: located by its (not yet trusted)
        ``iss`` and ``status`` claims; the verifier then checks all of it."""
        try:
            payload = parse_compact(presentation.split("~", 1)[0]).payload
        except SDJWTError:
            return None, None
        return self.key_history(payload.get("iss")), self.status_evidence(payload, now, signed_since)

    def verify(self, presentation: str, anchor_proof: dict[str, Any], *, key_binding: KeyBindingPolicy = KeyBindingPolicy(),
               allow_expired: bool = False, now: int | None = None) -> Report:
        now = self._clock.seconds() if now is None else now
        history, status = self.gather(presentation, now)
        return verify_credential(presentation, self.with_log_anchors(anchor_proof), trust=self.trust(), history=history,
                                 status=status, key_binding=key_binding, now=now, allow_expired=allow_expired,
                                 chain_check=self._chain_check)

    def bundle(self, presentation: str, anchor_proof: dict[str, Any], *, audience: str, nonce: str, not_before: int,
               share: dict[str, Any], now: int | None = None) -> dict[str, Any]:
        """An offline bundle with the evidence as it stands now (the status list as read now)."""
        now = self._clock.seconds() if now is None else now
        # the snapshot must be at least as new as the presentation (the KB-JWT's iat, read
        # unverified here: it only decides whether the list is signed again now)
        history, status = self.gather(presentation, now, signed_since=presented_at(presentation))
        if history is None:
            raise NotFoundError("the credential's issuer is no longer known here: no bundle can be made",
                                code="issuer_unknown")
        # this server's own keys, as trust() gives them (where the witness set is never None)
        return build_bundle(presentation=presentation, audience=audience, nonce=nonce, not_before=not_before,
                            anchor_proof=self.with_log_anchors(anchor_proof), history=history, status=status,
                            log_key=self._log.signer.verifier.encode(),
                            witnesses=[w.to_json() for w in self._log.witness_keys], quorum=self._quorum, share=share,
                            created_at=now)
