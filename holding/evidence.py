"""Gathering, on this server, the evidence a credential is verified by (verifier/credential.py):
the log key and witness policy (C2SP tlog-policy), the issuer's logged key history with a fresh inclusion proof, and
the issuer's current status list token. Everything is then checked by the same pure code an
offline verifier runs on a bundle.

Every piece of that evidence is a leaf of the log or read beside one, so what was gathered is
kept (bounded) under the log head it was gathered at, ``(size, revision)``
(storage/tlog.py): an open reads the head once, and the issuer's key history again only when
the head says something was logged or recorded since (a key rotated or revoked publishes a
new history). The issuer (one small read) and the status list (its versions only:
:meth:`StatusService.served_token`) are read on every open, so an issuer gone from here, a
revocation or a suspension shows on the very next one. Nothing kept is trusted: the verifier
checks it all, each time.

An issuer hosted on another credshare server, on the trust list with its keys in a logged key
history, has its history and status list fetched from there (federation/remote.py, cached with
their freshness), and is judged under the log the trust list names for it
(``TrustList.log_for_origin``), never under this server's own.

An issuer the trust list names with ``keys = metadata`` (an SD-JWT VC issuer that is not a
credshare server) keeps no log: its keys come from its JWT VC Issuer Metadata and its status
list from its server (federation/issuer_metadata.py), and there is no anchor proof to gather
(:meth:`EvidenceService._published`).

An issuer the trust list names by X.509 roots (``keys = x5c``, OpenID4VC HAIP) keeps no log
either: its key is the one each credential's own ``x5c`` chain certifies (verifier/x5c.py).
Its status list token is fetched from the issuer's server the same bounded way, but only once
the credential's chain validated to a root on the list and its signature verified with the
certified key (:meth:`EvidenceService._certified_status`).

A Blockcerts record (issue 15) keeps no log of ours: its evidence is the record with the
issuer's documents as they were read (blockcerts/evidence.py), gathered through the Blockcerts
sources (federation/blockcerts_sources.py: the issuer profile fetched once, on arrival, and kept
as a snapshot; the revocation list or StatusList2021 credential read again on every check; the
anchoring transactions looked up on the configured endpoints) and judged by
verifier/blockcerts.py against this server's trust list (:meth:`EvidenceService.verify_blockcerts`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Protocol

from credshare.anchoring.cosignature import with_signature_lines
from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.note import split_note
from credshare.anchoring.policy import Policy
from credshare.blockcerts.evidence import BlockcertsEvidence, Snapshot, evidence_from_json
from credshare.disclosure.errors import SDJWTError
from credshare.disclosure.jws import CompactJWS, PublicKey, parse_compact
from credshare.disclosure.status_list import status_reference
from credshare.disclosure.verification import KeyBindingPolicy
from credshare.federation.issuer_metadata import IssuerMetadataService
from credshare.federation.remote import RemoteEvidence
from credshare.federation.trust import TrustService
from credshare.foundation.cache import BoundedCache
from credshare.foundation.clock import SYSTEM_CLOCK, Clock
from credshare.foundation.errors import CredshareError, InputError, NotFoundError
from credshare.issuing.issuers import IssuerRegistry
from credshare.issuing.status import StatusService
from credshare.storage.tlog import LogHead, TransparencyLog
from credshare.verifier.blockcerts import blockcerts_report, recognised_issuer
from credshare.verifier.bundle import build_blockcerts_bundle, build_bundle
from credshare.verifier.credential import (
    ChainCheck,
    IssuerKeysEvidence,
    KeyHistoryEvidence,
    LogTrust,
    StatusEvidence,
    presented_at,
    verify_credential,
)
from credshare.verifier.report import Report
from credshare.verifier.trust_list import TrustedIssuer, TrustList
from credshare.verifier.x5c import CertificateError, certified_key

EVIDENCE_CACHE = 2048  # gathered pieces kept: (kind, what, head size, head revision) each


class BlockcertsGathering(Protocol):
    """Where a Blockcerts record's evidence comes from (federation/blockcerts_sources.py
    ``BlockcertsSources``): the issuer's documents (``profile`` given: kept, not fetched again)
    and a lookup of each anchor on the configured endpoints."""

    def gather(self, document: dict[str, Any], *, now: int, profile: Snapshot | None = None) -> BlockcertsEvidence: ...


@dataclass(frozen=True)
class Gathered:
    """The evidence for one credential and whom to judge it by: the trust list (with the issuer
    when it is hosted here), the log its issuer's credentials are anchored in (``trust``, with
    that log's key and policy text for a bundle), and whether that log is this server's own."""

    history: KeyHistoryEvidence | None
    status: StatusEvidence | None
    issuers: TrustList
    trust: LogTrust
    log_key: str
    policy_text: str
    own_log: bool = True


class EvidenceService:
    def __init__(self, issuers: IssuerRegistry, status: StatusService, log: TransparencyLog, policy: Policy,
                 trusting: TrustService, chain_check: ChainCheck | None = None, *, remote: RemoteEvidence | None = None,
                 clock: Clock = SYSTEM_CLOCK, published: IssuerMetadataService | None = None,
                 blockcerts: BlockcertsGathering | None = None) -> None:
        """``policy``: the tlog-policy this server judges its own log's witnesses by (the one
        it suggests at ``GET /log/trust``); ``trusting``: whom it recognises as issuers;
        ``remote``: how evidence is fetched from other servers (``None``: never);
        ``published``: keys and status lists of issuers without a log (none asked without it);
        ``blockcerts``: where Blockcerts evidence is gathered (``None``: nothing is fetched, a
        kept record is judged by the snapshots it was kept with)."""
        self._clock = clock
        self._blockcerts = blockcerts
        self._published_by = published
        self._issuers, self._status, self._log, self._policy = issuers, status, log, policy
        self._trusting = trusting
        self._remote = remote
        self._chain_check = chain_check  # Ethereum lookups when the server has RPC endpoints
        self._kept: BoundedCache[Any] = BoundedCache(EVIDENCE_CACHE)

    def with_log_anchors(self, anchor_proof: dict[str, Any], head: LogHead | None = None) -> dict[str, Any]:
        """The proof with every chain anchor the log has recorded for its checkpoint since it
        was made (a checkpoint is usually anchored after its credentials were delivered), and
        every cosignature its witnesses gave that checkpoint since (one down at delivery,
        asked again by ``credshare log cosign``). Anchors are claims to look up on the chain and
        cosignature lines are checked against the verifier's policy, so adding them trusts nothing."""
        size = anchor_proof.get("tree_size") if isinstance(anchor_proof, dict) else None
        if not isinstance(size, int) or isinstance(size, bool):
            return anchor_proof
        try:
            doc = self._log.checkpoint(size, head)
        except CredshareError:
            return anchor_proof
        recorded = list(doc.get("anchors", {}).values())
        known = {a.get("tx_hash") for a in anchor_proof.get("chain_anchors") or [] if isinstance(a, dict)}
        extra = [a for a in recorded if a.get("tx_hash") not in known]
        proof = {**anchor_proof, "chain_anchors": [*(anchor_proof.get("chain_anchors") or []), *extra]} if extra else anchor_proof
        note, stored = proof.get("checkpoint"), doc.get("note")
        if isinstance(note, str) and isinstance(stored, str) and note != stored:
            try:
                if split_note(note)[0] == split_note(stored)[0]:  # the same checkpoint, never another's lines
                    proof = {**proof, "checkpoint": with_signature_lines(
                        note, stored.partition("\n\n")[2].splitlines(keepends=True))}
            except AnchoringError:
                pass  # a malformed note: the verifier says so
        return proof

    def trust(self) -> LogTrust:
        """This server's own log: the key it signs checkpoints with and its witness policy."""
        return LogTrust(self._log.signer.verifier, self._policy)

    def key_history(self, iss: Any, head: LogHead | None = None) -> KeyHistoryEvidence | None:
        """The newest logged key history of the issuer that issued under ``iss``, if it is here,
        as of ``head`` (default: the head read now)."""
        return self._key_history(iss, self._issuers.issuer_for(iss), self._log.read_head() if head is None else head)

    def _key_history(self, iss: Any, issuer_id: str | None, head: LogHead) -> KeyHistoryEvidence | None:
        if issuer_id is None:  # looked up each time: an issuer gone from here is unknown at once
            return None
        key = ("history", issuer_id, iss, head.size, head.revision)
        kept = self._kept.get(key)
        if kept is None:
            doc = self._issuers.latest_history(issuer_id, iss)
            index = doc["log_index"]
            kept = KeyHistoryEvidence(doc["jws"], self._log.anchor_proof(index, self._log.witnessed_size(index, head),
                                                                         head))
            self._kept.put(key, kept)
        return kept if isinstance(kept, KeyHistoryEvidence) else None

    def status_evidence(self, claims: dict[str, Any], now: int,
                        signed_since: int = 0, head: LogHead | None = None) -> StatusEvidence | None:
        """The current signed list the credential points at (signed no earlier than
        ``signed_since``), with the anchor proof of the token as a leaf of the log, or why it
        cannot be had."""
        return self._status_evidence(claims, now, signed_since, self._log.read_head() if head is None else head,
                                     lambda: self._issuers.issuer_for(claims.get("iss")))

    def _status_evidence(self, claims: dict[str, Any], now: int, signed_since: int, head: LogHead,
                         issuer: Callable[[], str | None]) -> StatusEvidence | None:
        try:
            reference = status_reference(claims)
        except SDJWTError:
            return None  # the verifier reports the malformed reference itself
        if reference is None:
            return None
        _, uri = reference
        issuer_id = issuer()
        try:
            served = self._status.served_token(issuer_id, uri, signed_since=min(signed_since, now)) if issuer_id else None
            if served is None:
                return StatusEvidence(None, now, f"{uri} is not a status list of this server")
            token, index, size, _ = served
            as_of = head if size <= head.size else None  # or signed (and logged) just now, after the head was read
            return StatusEvidence(token, now, anchor_proof=self._log.anchor_proof(index, size, as_of))
        except CredshareError as exc:
            return StatusEvidence(None, now, exc.detail or exc.code)

    def gather(self, presentation: str, now: int, signed_since: int = 0,
               head: LogHead | None = None) -> tuple[KeyHistoryEvidence | None, StatusEvidence | None]:
        """Evidence for the credential in ``presentation``: located by its (not yet trusted)
        ``iss`` and ``status`` claims; the verifier then checks all of it."""
        found = self.gathered(presentation, now, signed_since, head)
        return found.history, found.status

    def gathered(self, presentation: str, now: int, signed_since: int = 0, head: LogHead | None = None) -> Gathered:
        """The evidence, and whom to judge the issuer by: one lookup of the issuer for all of it.
        An issuer hosted elsewhere, on the trust list with a logged key history, has its evidence
        fetched from its server (``remote``) and is judged under its own log."""
        own = self._own()
        try:
            payload = parse_compact(presentation.split("~", 1)[0]).payload
        except SDJWTError:
            return Gathered(None, None, self._trusting.trust_list(), *own)
        iss = payload.get("iss")
        hosted = self._issuers.hosted(iss)
        issuers = self._trusting.for_issuer(iss, hosted[1] if hosted else None)
        if hosted is None:
            return self._gathered_remote(payload, issuers, now, own, signed_since)
        head = self._log.read_head() if head is None else head
        issuer_id = hosted[0]
        return Gathered(self._key_history(iss, issuer_id, head),
                        self._status_evidence(payload, now, signed_since, head, lambda: issuer_id), issuers, *own)

    def _own(self) -> tuple[LogTrust, str, str, bool]:
        return self.trust(), self._log.signer.verifier.encode(), self._policy.to_text(), True

    def _gathered_remote(self, payload: dict[str, Any], issuers: TrustList, now: int,
                         own: tuple[LogTrust, str, str, bool], signed_since: int = 0) -> Gathered:
        """Evidence of an issuer not hosted here: fetched when the trust list names it with its
        keys in a listed log, under that log; otherwise none (the verifier says why)."""
        entry = issuers.issuer(payload.get("iss"))
        if self._remote is None or entry is None or entry.keys != "log" or entry.log is None:
            return Gathered(None, None, issuers, *own)
        listed = issuers.log_for_origin(entry.log)
        if listed is None:  # pragma: no cover - a trust list naming an unlisted log does not read
            return Gathered(KeyHistoryEvidence.unavailable(f"the trust list names no log {entry.log}"), None,
                            issuers, *own)
        log, key = listed
        trust = log.trust(key)
        own_log = key == own[1]
        history = self._remote.key_history(entry, trust)
        status: StatusEvidence | None = None
        try:
            reference = status_reference(payload)
        except SDJWTError:
            reference = None  # the verifier reports the malformed reference itself
        if reference is not None:
            status = self._remote.status(entry, reference[1], signed_since).evidence
        return Gathered(history, status, issuers, trust, key, log.policy.to_text() if log.policy else "", own_log)

    def current_status(self, claims: dict[str, Any], now: int) -> StatusEvidence | None:
        """The status list a credential with those (unverified) claims names, as it stands now:
        read here for an issuer hosted here, fetched from its server for a trusted issuer hosted
        elsewhere; ``None`` when there is none to read (the bundle's snapshot is then used)."""
        iss = claims.get("iss")
        hosted = self._issuers.hosted(iss)
        if hosted is not None:
            return self.status_evidence(claims, now)
        entry = self._trusting.trust_list().issuer(iss)
        try:
            reference = status_reference(claims)
        except SDJWTError:
            return None
        if self._remote is None or entry is None or entry.keys != "log" or reference is None:
            return None
        return self._remote.status(entry, reference[1]).evidence

    # -- issuers without a log (trust list: keys = "metadata") ----------------------------

    def _without_log(self, presentation: str) -> tuple[TrustedIssuer, CompactJWS, TrustList] | None:
        """The trust list's entry for the credential's (not yet trusted) ``iss`` when it names an
        issuer without a log that is not hosted here (its keys in its metadata, or certified by
        X.509 roots), with the issuer-signed JWT and the list."""
        try:
            jws = parse_compact(presentation.split("~", 1)[0])
        except SDJWTError:
            return None
        iss = jws.payload.get("iss")
        listed = self._trusting.trust_list()
        entry = listed.issuer(iss)
        if entry is None or entry.keys not in ("metadata", "x5c") or self._issuers.hosted(iss) is not None:
            return None
        if entry.keys == "metadata" and self._published_by is None:
            return None  # no one to ask for its keys: judged as any issuer that is not known here
        return entry, jws, listed

    def keeps_no_log(self, presentation: str) -> bool:
        """Does the trust list say the credential's issuer keeps no log (its keys in its
        metadata, or certified by X.509 roots), so its credentials come without an anchor proof?"""
        return self._without_log(presentation) is not None

    def recognised(self, presentation: str) -> bool:
        """Is the credential's (not yet trusted) ``iss`` hosted here or on the trust list?"""
        try:
            iss = parse_compact(presentation.split("~", 1)[0]).payload.get("iss")
        except SDJWTError:
            return False
        return self._issuers.hosted(iss) is not None or self._trusting.trust_list().issuer(iss) is not None

    def _published(self, found: tuple[TrustedIssuer, CompactJWS, TrustList]
                   ) -> tuple[IssuerKeysEvidence, StatusEvidence | None, TrustList]:
        """The published keys and the status list of an issuer with its keys in its metadata.
        The status list is asked for only when the issuer signed its address with one of those
        keys: never a URL someone merely wrote."""
        entry, jws, listed = found
        assert self._published_by is not None
        keys = self._published_by.keys_for(entry, jws.header.get("kid"))
        try:
            reference = status_reference(jws.payload)
        except SDJWTError:
            reference = None  # the verifier reports the malformed reference itself
        status = None
        if reference is not None and keys.jwks is not None and _signed_by(jws, _jwks_keys(keys.jwks)):
            status = self._published_by.status_evidence(reference[1])
        return keys, status, listed

    def _certified_status(self, entry: TrustedIssuer, jws: CompactJWS, now: int) -> StatusEvidence | None:
        """The status list of a credential of an issuer known by X.509 roots, read from its
        server (bounded, https outside loopback, no redirects): asked for only once the
        credential's ``x5c`` chain validated to one of the entry's roots (judged ``now``) and
        the certified key verifies its signature, so that no URL someone merely wrote into a
        credential is ever fetched. ``None``: nothing to read (the verifier says why)."""
        try:
            reference = status_reference(jws.payload)
        except SDJWTError:
            return None  # the verifier reports the malformed reference itself
        if reference is None or self._published_by is None:
            return None
        try:
            key = certified_key(jws.header, roots=entry.x5c_roots, iss=entry.id, at=now).key
        except (CertificateError, SDJWTError):
            return None  # the verifier's issuer_certificate check says what is wrong
        if not _signed_by(jws, [key]):
            return None
        return self._published_by.status_evidence(reference[1])

    def verify(self, presentation: str, anchor_proof: dict[str, Any], *, key_binding: KeyBindingPolicy = KeyBindingPolicy(),
               allow_expired: bool = False, now: int | None = None) -> Report:
        now = self._clock.seconds() if now is None else now
        without_log = self._without_log(presentation)
        if without_log is not None and without_log[0].keys == "x5c":
            entry, jws, listed = without_log
            return verify_credential(presentation, anchor_proof or None, trust=self.trust(), history=None,
                                     status=self._certified_status(entry, jws, now), key_binding=key_binding, now=now,
                                     allow_expired=allow_expired, issuers=listed, chain_check=self._chain_check)
        if without_log is not None:
            keys, status, listed = self._published(without_log)
            return verify_credential(presentation, anchor_proof, trust=self.trust(), history=keys, status=status,
                                     key_binding=key_binding, now=now, allow_expired=allow_expired, issuers=listed)
        head = self._log.read_head()  # the one read of the log: what was gathered under it is kept
        found = self.gathered(presentation, now, head=head)
        proof = self.with_log_anchors(anchor_proof, head) if found.own_log else anchor_proof
        return verify_credential(presentation, proof, trust=found.trust, history=found.history,
                                 status=found.status, key_binding=key_binding, now=now, allow_expired=allow_expired,
                                 issuers=found.issuers, chain_check=self._chain_check)

    def bundle(self, presentation: str, anchor_proof: dict[str, Any], *, audience: str, nonce: str, not_before: int,
               share: dict[str, Any], now: int | None = None) -> dict[str, Any]:
        """An offline bundle with the evidence as it stands now (the status list as read now)."""
        now = self._clock.seconds() if now is None else now
        if self.keeps_no_log(presentation):
            raise NotFoundError("The credential's issuer keeps no transparency log, so it cannot be checked offline: "
                                "only with the issuer's server", code="bundle_unavailable")
        # the snapshot must be at least as new as the presentation (the KB-JWT's iat, read
        # unverified here: it only decides whether the list is signed again now)
        found = self.gathered(presentation, now, signed_since=presented_at(presentation))
        history = found.history
        if history is None:
            raise NotFoundError("The credential's issuer is no longer known here: no bundle can be made",
                                code="issuer_unknown")
        if history.problem:
            raise NotFoundError(f"The issuer's key history {history.problem}: no bundle can be made",
                                code="issuer_unavailable")
        # the key and policy of the log the credential is judged under: for information only
        return build_bundle(presentation=presentation, audience=audience, nonce=nonce, not_before=not_before,
                            anchor_proof=self.with_log_anchors(anchor_proof) if found.own_log else anchor_proof,
                            history=history, status=found.status, log_key=found.log_key, policy=found.policy_text,
                            share=share, created_at=now)


    # -- Blockcerts records (issue 15) -------------------------------------------------------

    def blockcerts_arrival(self, document: dict[str, Any], *, now: int | None = None
                           ) -> tuple[Report, BlockcertsEvidence]:
        """A Blockcerts record arriving in a wallet: its evidence gathered now (the issuer
        profile fetched, once), judged against this server's trust list, as its holder sees it
        (an expired record is ``history``, as with ``allow_expired``). A record of an issuer
        the list does not recognise is judged with nothing fetched (``issuer_trust`` fails)."""
        now = self._clock.seconds() if now is None else now
        trusted = self._trusting.trust_list()
        if self._blockcerts is None:
            evidence = BlockcertsEvidence(document, profile_problem="this server fetches no issuer profiles")
        elif not recognised_issuer(document, trusted):
            evidence = BlockcertsEvidence(document, profile_problem="not fetched: the issuer is not on this server's "
                                                                    "trust list")
        else:
            evidence = self._blockcerts.gather(document, now=now)
        return blockcerts_report(evidence, trusted, now=now, history=True), evidence

    def verify_blockcerts(self, kept: dict[str, Any], *, now: int | None = None,
                          allow_expired: bool = False) -> tuple[Report, BlockcertsEvidence]:
        """A kept Blockcerts record (``evidence_to_json``: a wallet entry, a share link, a
        status watch) checked again now: the issuer profile as it was kept, the revocation or
        status list read again (what cannot be read now is said so, never taken from the old
        snapshot), the anchors looked up, all judged against this server's trust list. With
        ``allow_expired`` (the holder's own view, or a link made to share it as history) an
        expired record's validity is ``history``, never ``passed``. Returns the report and the
        evidence it was judged by (what a bundle carries). Nothing is fetched for a record whose
        issuer the list no longer recognises, or that was kept without a profile."""
        now = self._clock.seconds() if now is None else now
        evidence = evidence_from_json(kept)
        if evidence is None:
            raise InputError("The kept Blockcerts record is unreadable", code="blockcerts_invalid")
        trusted = self._trusting.trust_list()
        if self._blockcerts is not None:
            if evidence.issuer_profile is not None and recognised_issuer(evidence.document, trusted):
                evidence = self._blockcerts.gather(evidence.document, now=now, profile=evidence.issuer_profile)
            else:
                why = "not read again: the issuer is not on this server's trust list, or its profile was never had"
                evidence = replace(
                    evidence, lookups=(),
                    revocation_list=None, revocation_problem=why if evidence.revocation_list else evidence.revocation_problem,
                    status_list=None, status_problem=why if evidence.status_list else evidence.status_problem)
        return blockcerts_report(evidence, trusted, now=now, history=allow_expired), evidence

    def blockcerts_bundle(self, evidence: BlockcertsEvidence, *, share: dict[str, Any],
                          now: int | None = None) -> dict[str, Any]:
        """The offline bundle of a shared Blockcerts record: the evidence it was just judged by."""
        return build_blockcerts_bundle(evidence, share=share, created_at=self._clock.seconds() if now is None else now)


def _jwks_keys(jwks: dict[str, Any]) -> list[PublicKey]:
    """The usable keys of a JWK Set (others are skipped)."""
    keys = []
    for jwk in jwks.get("keys") or []:
        try:
            keys.append(PublicKey.from_jwk(jwk))
        except (SDJWTError, TypeError, AttributeError):
            continue
    return keys


def _signed_by(jws: CompactJWS, keys: list[PublicKey]) -> bool:
    """Does one of ``keys`` verify ``jws``? (Only to decide what to fetch: the verifier judges
    the signature itself.)"""
    kid = jws.header.get("kid")
    try:
        return jws.verify_with([k for k in keys if kid is None or k.kid in (None, kid)])
    except SDJWTError:
        return False
