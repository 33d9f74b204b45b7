"""Verifying a Blockcerts record from its evidence alone (no network, no store): the checks
cert-verifier-js makes, judged as strictly as the rest of credshare.

1. ``proof_format``: a v2 MerkleProof2017 or v3 MerkleProof2019 record this verifier reads.
2. ``document_hash``: the JSON-LD hash of the record (blockcerts/jsonld.py) is its ``targetHash``.
3. ``merkle_proof``: the path leads from it to the ``merkleRoot`` (blockcerts/proof.py).
4. ``issuer_profile``: the issuer's profile, as fetched and kept, is the one the record names.
5. ``blockchain_anchor``: the transaction carries the root, as the configured endpoints report
   it. A test chain (mockchain, regtest) is never a public record: ``unchecked``, whatever else
   holds, so such a record is at best "incomplete". Not looked up: ``unchecked``.
6. ``issuer_key_valid``: the transaction was sent by an issuing key of the profile, valid at the
   transaction's time (and, v3, the proof's verification method is the profile's and valid then).
   Without a transaction only the record's own statement can be judged: a key it names that the
   profile does not list, or that was revoked or expired by the time the record states, fails;
   one that was valid is ``unchecked`` (nothing proves that key made the anchor).
7. ``status``: the issuer's revocation list (v2, and v3 without ``credentialStatus``) or its
   StatusList2021 credential, as fetched; none published: ``unchecked``.
8. ``credential_validity``: ``expires`` / ``expirationDate`` / ``validUntil`` and ``validFrom``;
   expired and shared as history: ``history``.

Every failure names its code (``Check.code``); nothing here passes that was not shown.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass, field
from typing import Literal

from credshare.blockcerts.errors import BlockcertsError
from credshare.blockcerts.evidence import Anchor, BlockcertsEvidence, Snapshot, Transaction, TransactionLookup
from credshare.blockcerts.issuer_profile import (
    IssuingKey,
    find_address,
    find_verification_method,
    profile_id,
    revocation_list_url,
    revoked_reason,
    status_bit,
)
from credshare.blockcerts.jsonld import document_hash
from credshare.blockcerts.proof import MerkleReceipt, merkle_root
from credshare.blockcerts.record import BlockcertsRecord, parse_record, parse_time
from credshare.foundation.checks import Check, Status

CredentialStatus = Literal["valid", "revoked", "suspended", "unknown"]


@dataclass
class BlockcertsResult:
    """The checks, and the facts they established (``anchored_at``: the confirmed transaction's
    block time; ``anchored_by``: its sender; the status read and from where)."""

    record: BlockcertsRecord | None
    checks: list[Check] = field(default_factory=list)
    issuer_name: str | None = None
    anchored_at: int | None = None
    anchored_by: str | None = None
    credential_status: CredentialStatus = "unknown"
    status_as_of: int | None = None
    status_from: str | None = None

    def add(self, name: str, status: Status, detail: str, code: str = "") -> None:
        self.checks.append(Check(name, status, detail, code))


def _day(moment: int | None) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(moment)) if moment is not None else "an unknown date"


def _minute(moment: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(moment))


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _source(snapshot: Snapshot) -> str:
    if snapshot.source_url.startswith("file:"):
        return f"from the file {snapshot.source_url[5:][:200]}"
    return f"fetched from {snapshot.source_url[:300]} on {_minute(snapshot.fetched_at)}"


def _is_for(snapshot: Snapshot, url: str | None) -> bool:
    """Whether ``snapshot`` is the document at ``url``: fetched from there, or given by the
    verifier as a file (whose own ``id``, when it has one, must be that URL)."""
    if url is None:
        return snapshot.source_url.startswith("file:")
    if snapshot.source_url.startswith("file:"):
        stated = snapshot.document.get("id")
        return not isinstance(stated, str) or _same(stated, url)
    return _same(snapshot.source_url, url)


def _integrity(result: BlockcertsResult, evidence: BlockcertsEvidence, receipt: MerkleReceipt) -> None:
    try:
        digest = document_hash(evidence.document)
    except BlockcertsError as exc:
        result.add("document_hash", "failed", exc.detail, exc.code)
    else:
        if _same(digest, receipt.target_hash):
            result.add("document_hash", "passed", f"SHA-256 of the canonical record (URDNA2015) is {digest[:16]}…, "
                       "the hash the issuer put in its batch")
        else:
            result.add("document_hash", "failed", "The record was changed after it was issued: its hash is "
                       f"{digest[:16]}…, the issuer's batch holds {receipt.target_hash[:16]}…", "blockcerts_hash_mismatch")
    root = merkle_root(receipt.target_hash, receipt.path)
    if _same(root, receipt.merkle_root):
        result.add("merkle_proof", "passed", f"{len(receipt.path)} step(s) lead to the batch's root {root[:16]}…")
    else:
        result.add("merkle_proof", "failed", f"The Merkle path leads to {root[:16]}…, not to the stated root "
                   f"{receipt.merkle_root[:16]}…", "blockcerts_merkle_path_mismatch")


def _profile(result: BlockcertsResult, evidence: BlockcertsEvidence, record: BlockcertsRecord) -> Snapshot | None:
    snapshot = evidence.issuer_profile
    if snapshot is None:
        result.add("issuer_profile", "unchecked", evidence.profile_problem or "No issuer profile was available",
                   "blockcerts_profile_unavailable")
        return None
    stated = profile_id(snapshot.document)
    if stated is None or not _same(stated, record.issuer_id):
        result.add("issuer_profile", "failed", f"The profile is {str(stated)[:200]!r}, not the record's issuer "
                   f"{record.issuer_id[:200]}", "blockcerts_profile_mismatch")
        return None
    name = snapshot.document.get("name")
    result.issuer_name = name[:200] if isinstance(name, str) else result.issuer_name
    result.add("issuer_profile", "passed", f"{record.issuer_id[:300]}, {_source(snapshot)}")
    return snapshot


def _lookup_for(evidence: BlockcertsEvidence, anchor: Anchor) -> TransactionLookup | None:
    return next((lk for lk in evidence.lookups if lk.anchor.chain == anchor.chain and lk.anchor.txid == anchor.txid), None)


def _anchor(result: BlockcertsResult, evidence: BlockcertsEvidence, receipt: MerkleReceipt) -> Transaction | None:
    anchor = next((a for a in receipt.anchors if not a.test), receipt.anchors[0])
    if anchor.test:
        result.add("blockchain_anchor", "unchecked", f"Test anchor ({anchor.chain}), not a public chain: no blockchain "
                   "records this batch, so nothing shows who issued it or when", "blockcerts_test_anchor")
        return None
    where = f"transaction {anchor.txid[:80]} on {anchor.chain}"
    lookup = _lookup_for(evidence, anchor)
    if lookup is None:
        result.add("blockchain_anchor", "unchecked", f"{where}: not looked up (no endpoint for {anchor.chain} was asked)",
                   "blockcerts_anchor_not_looked_up")
        return None
    tx = lookup.transaction
    if tx is None:
        status: Status = "failed" if lookup.refuted else "unchecked"
        result.add("blockchain_anchor", status, f"{where}: {lookup.problem or 'no answer'}",
                   "blockcerts_anchor_refuted" if lookup.refuted else "blockcerts_anchor_unavailable")
        return None
    if not _same(tx.data_hex.lower(), receipt.merkle_root):
        result.add("blockchain_anchor", "failed", f"{where} carries {tx.data_hex[:16]}…, not the batch's root "
                   f"{receipt.merkle_root[:16]}…", "blockcerts_anchor_mismatch")
        return None
    result.anchored_at, result.anchored_by = tx.time, tx.sender
    result.add("blockchain_anchor", "passed", f"{where}, in a block of {_minute(tx.time)}, carries the batch's root "
               f"(as {', '.join(tx.sources)[:300]} reported)")
    return tx


def _claimed_key(record: BlockcertsRecord, receipt: MerkleReceipt, profile: dict[str, object],
                 document: dict[str, object]) -> tuple[IssuingKey | None, str, int | None]:
    """The key the record itself names, the words for it, and the time it states."""
    if record.version == "v3":
        method = receipt.proof.get("verificationMethod")
        if not isinstance(method, str):
            return None, "", None
        stated = parse_time(receipt.proof.get("created"), "the proof's creation time") or record.issued_at
        return find_verification_method(profile, method), f"verification method {method[:200]}", stated
    verification = document.get("verification")
    key = verification.get("publicKey") if isinstance(verification, dict) else None
    if not isinstance(key, str):
        return None, "", None
    address = key.removeprefix("ecdsa-koblitz-pubkey:")
    return find_address(profile, address), f"issuing key {address[:100]}", record.issued_at


def _key(result: BlockcertsResult, evidence: BlockcertsEvidence, record: BlockcertsRecord, receipt: MerkleReceipt,
         profile: Snapshot | None, tx: Transaction | None) -> None:
    if profile is None:
        result.add("issuer_key_valid", "unchecked", "Without the issuer's profile its keys cannot be judged")
        return
    doc = profile.document
    try:
        if tx is not None:
            key = find_address(doc, tx.sender)
            if key is None:
                result.add("issuer_key_valid", "failed", f"The anchoring transaction was sent by {tx.sender[:100]}, "
                           "which is not an issuing key of the issuer's profile", "blockcerts_key_unknown")
                return
            problem = key.problem_at(tx.time)
            if problem is None and record.version == "v3":
                method, words, _ = _claimed_key(record, receipt, doc, evidence.document)
                if words and method is None:
                    problem = ("blockcerts_key_unknown", f"the profile does not list the record's {words}")
                elif method is not None:
                    problem = method.problem_at(tx.time)
            if problem is not None:
                result.add("issuer_key_valid", "failed", f"Anchored on {_minute(tx.time)} by {tx.sender[:100]}: "
                           f"{problem[1]}", problem[0])
                return
            result.add("issuer_key_valid", "passed", f"Sent by {tx.sender[:100]}, an issuing key of the profile "
                       f"valid on {_minute(tx.time)}")
            return
        claimed, words, stated = _claimed_key(record, receipt, doc, evidence.document)
    except BlockcertsError as exc:
        result.add("issuer_key_valid", "failed", exc.detail, exc.code)
        return
    if not words:
        result.add("issuer_key_valid", "unchecked", "The record names no key, and no transaction shows which key anchored it")
    elif claimed is None:
        result.add("issuer_key_valid", "failed", f"The record names {words}, which the issuer's profile does not list",
                   "blockcerts_key_unknown")
    elif stated is not None and (problem := claimed.problem_at(stated)) is not None:
        result.add("issuer_key_valid", "failed", f"The record names {words} and the time {_minute(stated)}: "
                   f"{problem[1]}", problem[0])
    else:
        result.add("issuer_key_valid", "unchecked", f"The record names {words}, listed in the profile and valid on "
                   f"{_day(stated)}, the date the record states; no confirmed transaction proves that key anchored it",
                   "blockcerts_key_unproven")


def _status_list(result: BlockcertsResult, evidence: BlockcertsEvidence, record: BlockcertsRecord) -> None:
    snapshot = evidence.status_list
    entry_url = record.status_entries[0].url
    if snapshot is None or not _is_for(snapshot, entry_url):
        result.add("status", "unchecked", evidence.status_problem or f"The status list {entry_url[:300]} was not read",
                   "status_unavailable")
        return
    listed = snapshot.document
    try:
        listed_record = parse_record(listed)
        issuer, receipt = listed_record.issuer_id, listed_record.receipt
        intact = _same(document_hash(listed), receipt.target_hash) and _same(
            merkle_root(receipt.target_hash, receipt.path), receipt.merkle_root)
    except BlockcertsError as exc:
        result.add("status", "failed", f"The status list is not a valid Blockcerts record: {exc.detail}", "status_list_invalid")
        return
    if not intact or not _same(issuer, record.issuer_id):
        result.add("status", "failed", "The status list was altered, or is not the record's issuer's",
                   "status_list_invalid")
        return
    for entry in record.status_entries:
        if entry.url != entry_url:
            continue
        try:
            flagged = status_bit(listed, entry.index)
        except BlockcertsError as exc:
            result.add("status", "failed", exc.detail, exc.code)
            return
        if flagged:
            state: CredentialStatus = "revoked" if entry.purpose == "revocation" else "suspended"
            result.credential_status, result.status_as_of, result.status_from = state, snapshot.fetched_at, entry_url
            result.add("status", "failed", f"The issuer has {state} this record (its status list, {_source(snapshot)})",
                       f"blockcerts_{state}")
            return
    result.credential_status, result.status_as_of, result.status_from = "valid", snapshot.fetched_at, entry_url
    result.add("status", "passed", f"Neither revoked nor suspended on the issuer's status list, {_source(snapshot)}")


def _status(result: BlockcertsResult, evidence: BlockcertsEvidence, record: BlockcertsRecord,
            profile: Snapshot | None) -> None:
    if record.status_entries:
        _status_list(result, evidence, record)
        return
    url = record.revocation_list_url or (revocation_list_url(profile.document) if profile is not None else None)
    snapshot = evidence.revocation_list
    if snapshot is None:
        if url is None and profile is not None:
            result.add("status", "unchecked", "The issuer publishes no revocation list: whether this record was revoked "
                       "cannot be checked", "blockcerts_no_revocation_list")
        else:
            result.add("status", "unchecked", evidence.revocation_problem or "The issuer's revocation list was not read",
                       "status_unavailable")
        return
    if not _is_for(snapshot, url):
        result.add("status", "failed", f"The revocation list given was read from {snapshot.source_url[:300]}, not from the "
                   f"one the issuer names ({str(url)[:300]})", "blockcerts_revocation_list_mismatch")
        return
    issuer = snapshot.document.get("issuer")
    issuer = issuer.get("id") if isinstance(issuer, dict) else issuer
    if isinstance(issuer, str) and not _same(issuer, record.issuer_id):
        result.add("status", "failed", "The revocation list is another issuer's", "blockcerts_revocation_list_mismatch")
        return
    try:
        reason = revoked_reason(snapshot.document, record.id)
    except BlockcertsError as exc:
        result.add("status", "failed", exc.detail, exc.code)
        return
    result.status_as_of, result.status_from = snapshot.fetched_at, snapshot.source_url
    if reason is not None:
        result.credential_status = "revoked"
        result.add("status", "failed", "The issuer has revoked this record" + (f": {reason}" if reason else "")
                   + f" (its revocation list, {_source(snapshot)})", "blockcerts_revoked")
        return
    result.credential_status = "valid"
    result.add("status", "passed", f"Not on the issuer's revocation list, {_source(snapshot)}")


def _validity(result: BlockcertsResult, record: BlockcertsRecord, now: int, history: bool) -> None:
    if record.valid_from is not None and record.valid_from > now:
        result.add("credential_validity", "failed", f"Valid only from {_minute(record.valid_from)}", "blockcerts_not_yet_valid")
    elif record.expires_at is not None and record.expires_at <= now:
        if history:
            result.add("credential_validity", "history", f"Expired on {_day(record.expires_at)}: shared as a record of the past")
        else:
            result.add("credential_validity", "failed", f"Expired on {_day(record.expires_at)}", "credential_expired")
    elif record.expires_at is not None:
        result.add("credential_validity", "passed", f"Valid until {_day(record.expires_at)}")
    else:
        result.add("credential_validity", "passed", "Issued with no expiry date")


def verify_blockcerts(evidence: BlockcertsEvidence, *, now: int, history: bool = False) -> BlockcertsResult:
    """Every check on the record, in the order above. ``history``: the holder shares it as a
    record of the past, so an expiry is reported as ``history`` rather than failed."""
    try:
        record = parse_record(evidence.document)
        receipt = record.receipt
    except BlockcertsError as exc:
        result = BlockcertsResult(None)
        result.add("proof_format", "failed", exc.detail, exc.code)
        return result
    result = BlockcertsResult(record, issuer_name=record.issuer_name)
    suite = "MerkleProof2017" if receipt.suite == "MerkleProof2017" else "MerkleProof2019"
    result.add("proof_format", "passed", f"Blockcerts {record.version} record with a {suite} Merkle proof")
    _integrity(result, evidence, receipt)
    profile = _profile(result, evidence, record)
    tx = _anchor(result, evidence, receipt)
    _key(result, evidence, record, receipt, profile, tx)
    _status(result, evidence, record, profile)
    _validity(result, record, now, history)
    return result
