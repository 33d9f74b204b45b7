"""Anchor proofs: what a credential carries so anyone can check, offline and years later,
that it was logged (schema: docs/anchor-proof.md).

Checking one needs only the log's public key (a C2SP verifier key), the witnesses' public
keys and a quorum, plus JSON-RPC endpoints for chain anchors. Each check is reported as
``passed``, ``failed`` or ``unchecked``; the proof is verified when none failed and the
log signature, inclusion and (when a witness policy is given) the quorum passed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Sequence

from credshare.anchoring import merkle
from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.note import Checkpoint, NoteVerifier, open_checkpoint
from credshare.anchoring.witness_bls_old import WitnessAggregate, WitnessKey, canonical_b64decode, verify_aggregate
from credshare.foundation.b64 import b64_encode
from credshare.foundation.cache import BoundedCache
from credshare.foundation.checks import Check, Status

PROOF_TYPE = "credshare-anchor-proof/v1"
ChainCheck = Callable[[dict[str, Any], Checkpoint], tuple[Status, str]]
PROVEN_LEAVES = 4096  # proofs whose log signature, inclusion and witness checks all passed, kept by their inputs
_proven: BoundedCache[tuple[tuple[Check, ...], Checkpoint]] = BoundedCache(PROVEN_LEAVES)


@dataclass
class Verdict:
    origin: str | None
    leaf_index: int | None
    tree_size: int | None
    checks: list[Check] = field(default_factory=list)
    witness_policy: bool = False  # a witness set was given, so the quorum check is required
    anchored_at: int | None = None  # when the log signed the checkpoint (its credshare-time line)

    @property
    def verified(self) -> bool:
        required = {"checkpoint_signature", "inclusion"} | ({"witness_quorum"} if self.witness_policy else set())
        by_name = {c.name: c.status for c in self.checks}
        return all(c.status != "failed" for c in self.checks) and all(by_name.get(n) == "passed" for n in required)

    def to_json(self) -> dict[str, Any]:
        return {
            "verified": self.verified, "origin": self.origin, "leaf_index": self.leaf_index, "tree_size": self.tree_size,
            "anchored_at": self.anchored_at,
            "checks": [{"check": c.name, "status": c.status, "detail": c.detail} for c in self.checks],
        }


def build_anchor_proof(
    *, origin: str, leaf_index: int, tree_size: int, inclusion: Sequence[bytes], checkpoint_note: str,
    witness_aggregate: dict[str, Any] | None = None, chain_anchors: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    return {
        "type": PROOF_TYPE,
        "log_origin": origin,
        "leaf_index": leaf_index,
        "tree_size": tree_size,
        "inclusion_proof": [b64_encode(h) for h in inclusion],
        "checkpoint": checkpoint_note,
        "witness_aggregate": witness_aggregate,
        "chain_anchors": list(chain_anchors),
    }


def _parse(proof: Any) -> tuple[str, int, int, list[bytes], str]:
    if not isinstance(proof, dict) or proof.get("type") != PROOF_TYPE:
        raise AnchoringError(f"not a {PROOF_TYPE} document", code="proof_malformed")
    origin, index, size, path, note = (
        proof.get(k) for k in ("log_origin", "leaf_index", "tree_size", "inclusion_proof", "checkpoint"))
    if not isinstance(origin, str) or not isinstance(note, str) or not isinstance(path, list):
        raise AnchoringError("log_origin, checkpoint and inclusion_proof are required", code="proof_malformed")
    if isinstance(index, bool) or isinstance(size, bool) or not isinstance(index, int) or not isinstance(size, int):
        raise AnchoringError("leaf_index and tree_size are integers", code="proof_malformed")
    hashes = [canonical_b64decode(h, merkle.HASH_SIZE, "each inclusion_proof hash", "proof_malformed") for h in path]
    return origin, index, size, hashes, note


def verify_anchor_proof(
    proof: Any,
    leaf_data: bytes,
    *,
    log_key: NoteVerifier,
    witness_keys: Sequence[WitnessKey] | None = None,
    quorum: int | None = None,
    chain_check: ChainCheck | None = None,
) -> Verdict:
    """Check every part of an anchor proof for ``leaf_data`` (the issuer-signed JWT's bytes)."""
    try:
        origin, index, size, path, note = _parse(proof)
    except AnchoringError as exc:
        return Verdict(None, None, None, [Check("proof_format", "failed", exc.detail)])
    verdict = Verdict(origin, index, size, [Check("proof_format", "passed")], witness_keys is not None)
    leaf = merkle.leaf_hash(leaf_data)
    kept_as = _proven_key(leaf, origin, index, size, path, note, proof.get("witness_aggregate"), log_key,
                          witness_keys, quorum)
    proven = _proven.get(kept_as) if kept_as is not None else None
    if proven is not None:
        checks, checkpoint = proven
        verdict.checks.extend(checks)
    else:
        try:
            checkpoint = open_checkpoint(note, log_key, origin)
        except AnchoringError as exc:
            verdict.checks.append(Check("checkpoint_signature", "failed", exc.detail))
            return verdict
        verdict.checks.append(Check("checkpoint_signature", "passed", f"signed by {log_key.name}"))
        if checkpoint.size != size:
            verdict.checks.append(Check("inclusion", "failed", f"proof is for size {size}, checkpoint for {checkpoint.size}"))
        elif merkle.verify_inclusion(leaf, index, size, path, checkpoint.root):
            verdict.checks.append(Check("inclusion", "passed", f"leaf {index} of {size}"))
        else:
            verdict.checks.append(Check("inclusion", "failed", "the inclusion proof does not lead to the checkpoint root"))
        if witness_keys is not None:
            verdict.checks.append(_witness_check(proof.get("witness_aggregate"), checkpoint, witness_keys, quorum))
        if kept_as is not None and all(c.status == "passed" for c in verdict.checks):
            _proven.put(kept_as, (tuple(verdict.checks[1:]), checkpoint))
    verdict.anchored_at = checkpoint.signed_at
    anchors = proof.get("chain_anchors") or []
    for anchor in anchors if isinstance(anchors, list) else [None]:
        if chain_check is None or not isinstance(anchor, dict):
            verdict.checks.append(Check("chain_anchor", "unchecked" if isinstance(anchor, dict) else "failed",
                                        "no RPC endpoints configured" if isinstance(anchor, dict) else "malformed anchor"))
            continue
        status, detail = chain_check(anchor, checkpoint)
        verdict.checks.append(Check("chain_anchor", status, detail))
    return verdict


def _proven_key(leaf: bytes, origin: str, index: int, size: int, path: list[bytes], note: str, aggregate: Any,
                log_key: NoteVerifier, witness_keys: Sequence[WitnessKey] | None, quorum: int | None) -> Hashable | None:
    """What the log signature, inclusion and witness checks of a proof depend on, and nothing
    else (chain anchors are looked up each time): the leaf's hash, the proof's parsed fields,
    the aggregate's JSON, and the trusted keys and quorum. ``None`` when it cannot be named."""
    try:
        aggregate_json = json.dumps(aggregate, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return None
    digest = hashlib.sha256()
    for part in (leaf, origin.encode(), b"%d %d" % (index, size), b"".join(path), note.encode("utf-8", "surrogatepass"),
                 aggregate_json.encode("utf-8", "surrogatepass")):
        digest.update(len(part).to_bytes(8, "big") + part)
    return (digest.digest(), log_key, None if witness_keys is None else tuple(witness_keys), quorum)


def _witness_check(raw: Any, checkpoint: Checkpoint, keys: Sequence[WitnessKey], quorum: int | None) -> Check:
    if raw is None:
        return Check("witness_quorum", "failed", "the proof carries no witness cosignatures")
    try:
        agg = WitnessAggregate.from_json(raw)
        signed = verify_aggregate(checkpoint.text(), agg, keys, quorum or len(keys))
    except AnchoringError as exc:
        return Check("witness_quorum", "failed", exc.detail)
    return Check("witness_quorum", "passed", f"{len(signed)} of {len(keys)} witnesses: {', '.join(signed)}")
