"""Anchor proofs: what a credential carries so anyone can check, offline and years later,
that it was logged and witnessed (schema: docs/anchor-proof.md, ``credshare-anchor-proof/v2``).

The proof's checkpoint is a C2SP cosigned checkpoint (c2sp.org/tlog-checkpoint,
c2sp.org/signed-note): the log's signature line and one ``cosignature/v1`` line per witness
that cosigned it (c2sp.org/tlog-cosignature). Checking it needs the log's public key and,
for the witnesses, a C2SP tlog-policy (c2sp.org/tlog-policy: which witnesses, what quorum),
plus JSON-RPC endpoints for chain anchors. Each check is reported as ``passed``, ``failed`` or
``unchecked``. The proof is verified when none failed and the log signature and inclusion
passed. The witness quorum passes only when witnesses that are not the log's own development
witnesses satisfy the policy; met only with those, or under ``quorum none``, it is
``unchecked`` (the report then cannot be a full verification), never ``passed``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Sequence

from credshare.anchoring import merkle
from credshare.anchoring.cosignature import cosignatures, is_development_witness
from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.note import Checkpoint, NoteVerifier, open_checkpoint
from credshare.anchoring.policy import Policy
from credshare.foundation.b64 import b64_decode, b64_encode
from credshare.foundation.cache import BoundedCache
from credshare.foundation.checks import Check, Status

PROOF_TYPE = "credshare-anchor-proof/v2"
RETIRED_TYPES = ("credshare-anchor-proof/v1",)  # BLS-aggregated witnesses: no longer verifiable here
ChainCheck = Callable[[dict[str, Any], Checkpoint], tuple[Status, str]]
PROVEN_LEAVES = 4096  # proofs whose log signature, inclusion and witness checks none failed, kept by their inputs
_proven: BoundedCache[tuple[tuple[Check, ...], Checkpoint, tuple[WitnessSeen, ...]]] = BoundedCache(PROVEN_LEAVES)


@dataclass(frozen=True)
class WitnessSeen:
    """A policy witness whose cosignature on the checkpoint verified: its name in the policy,
    its key name, when it says it cosigned, and whether it is one of the log's own
    development witnesses (never an independent one)."""

    name: str
    key_name: str
    timestamp: int
    development_only: bool

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "key_name": self.key_name, "timestamp": self.timestamp,
                "development_only": self.development_only}


@dataclass
class Verdict:
    origin: str | None
    leaf_index: int | None
    tree_size: int | None
    checks: list[Check] = field(default_factory=list)
    anchored_at: int | None = None  # when the log signed the checkpoint (its credshare-time line)
    witnesses: list[WitnessSeen] = field(default_factory=list)  # policy witnesses that cosigned

    @property
    def verified(self) -> bool:
        """No check failed, and the log signature and inclusion passed. The witness quorum is
        its own check: failed fails this, ``unchecked`` (no independent quorum) is reported."""
        by_name = {c.name: c.status for c in self.checks}
        return all(c.status != "failed" for c in self.checks) and all(
            by_name.get(n) == "passed" for n in ("checkpoint_signature", "inclusion"))

    def to_json(self) -> dict[str, Any]:
        return {
            "verified": self.verified, "origin": self.origin, "leaf_index": self.leaf_index, "tree_size": self.tree_size,
            "anchored_at": self.anchored_at,
            "checks": [{"check": c.name, "status": c.status, "detail": c.detail} for c in self.checks],
            "witnesses": [w.to_json() for w in self.witnesses],
        }


def build_anchor_proof(
    *, origin: str, leaf_index: int, tree_size: int, inclusion: Sequence[bytes], checkpoint_note: str,
    chain_anchors: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A v2 proof; ``checkpoint_note`` is the cosigned checkpoint as the log stores it (the
    log's signature line and its witnesses' cosignature/v1 lines)."""
    return {
        "type": PROOF_TYPE,
        "log_origin": origin,
        "leaf_index": leaf_index,
        "tree_size": tree_size,
        "inclusion_proof": [b64_encode(h) for h in inclusion],
        "checkpoint": checkpoint_note,
        "chain_anchors": list(chain_anchors),
    }


def _hash(text: Any) -> bytes:
    try:
        raw = b64_decode(text)
    except ValueError:
        raw = b""
    if len(raw) != merkle.HASH_SIZE:
        raise AnchoringError(f"each inclusion_proof hash is {merkle.HASH_SIZE} bytes of canonical standard base64",
                             code="proof_malformed")
    return raw


def _parse(proof: Any) -> tuple[str, int, int, list[bytes], str]:
    if isinstance(proof, dict) and proof.get("type") in RETIRED_TYPES:
        raise AnchoringError(f"a {proof['type']} proof (BLS-aggregated witnesses) is no longer supported; "
                             f"ask the log for a {PROOF_TYPE} proof of the same leaf", code="proof_version_unsupported")
    if not isinstance(proof, dict) or proof.get("type") != PROOF_TYPE:
        raise AnchoringError(f"not a {PROOF_TYPE} document", code="proof_malformed")
    origin, index, size, path, note = (
        proof.get(k) for k in ("log_origin", "leaf_index", "tree_size", "inclusion_proof", "checkpoint"))
    if not isinstance(origin, str) or not isinstance(note, str) or not isinstance(path, list):
        raise AnchoringError("log_origin, checkpoint and inclusion_proof are required", code="proof_malformed")
    if isinstance(index, bool) or isinstance(size, bool) or not isinstance(index, int) or not isinstance(size, int):
        raise AnchoringError("leaf_index and tree_size are integers", code="proof_malformed")
    hashes = [_hash(h) for h in path]
    return origin, index, size, hashes, note


def verify_anchor_proof(
    proof: Any,
    leaf_data: bytes,
    *,
    log_key: NoteVerifier,
    policy: Policy | None = None,
    chain_check: ChainCheck | None = None,
) -> Verdict:
    """Check every part of an anchor proof for ``leaf_data`` (the issuer-signed JWT's bytes,
    logged as its digest: ``anchoring.merkle.document_leaf``);
    the witness quorum under ``policy`` (``None``: no witnesses are trusted, so no
    ``witness_quorum`` check is made here; the caller reports it)."""
    try:
        origin, index, size, path, note = _parse(proof)
    except AnchoringError as exc:
        return Verdict(None, None, None, [Check("proof_format", "failed", f"{exc.detail} [{exc.code}]")])
    verdict = Verdict(origin, index, size, [Check("proof_format", "passed")])
    leaf = merkle.document_leaf(leaf_data)
    kept_as = _proven_key(leaf, origin, index, size, path, note, log_key, policy)
    proven = _proven.get(kept_as)
    if proven is not None:
        checks, checkpoint, seen = proven
        verdict.checks.extend(checks)
        verdict.witnesses = list(seen)
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
        if policy is not None:
            check, verdict.witnesses = witness_check(note, policy)
            verdict.checks.append(check)
        if all(c.status != "failed" for c in verdict.checks):  # deterministic in its inputs: kept
            _proven.put(kept_as, (tuple(verdict.checks[1:]), checkpoint, tuple(verdict.witnesses)))
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


def _proven_key(leaf: bytes, origin: str, index: int, size: int, path: list[bytes], note: str,
                log_key: NoteVerifier, policy: Policy | None) -> Hashable:
    """What the log signature, inclusion and witness checks of a proof depend on, and nothing
    else (chain anchors are looked up each time): the leaf's hash, the proof's parsed fields
    (the note with all its cosignature lines), the log key and the policy's text."""
    digest = hashlib.sha256()
    for part in (leaf, origin.encode("utf-8", "surrogatepass"), b"%d %d" % (index, size), b"".join(path),
                 note.encode("utf-8", "surrogatepass")):
        digest.update(len(part).to_bytes(8, "big") + part)
    return (digest.digest(), log_key, None if policy is None else policy.to_text())


DEVELOPMENT_ONLY = "development only (the log's own key)"


def _named(seen: Sequence[WitnessSeen], mark: bool = True) -> str:
    """Who cosigned, each named once (when, is in the report's witness list), the log's own
    development witnesses marked as such unless ``mark`` is off (the detail says it already)."""
    return ", ".join(f"{w.name} (development only)" if mark and w.development_only else w.name for w in seen)


def _quorum_words(policy: Policy) -> str:
    """The quorum as a person reads it: ``2 of 3 witnesses`` for a plain threshold over named
    witnesses (their names follow in the detail), the whole rule otherwise."""
    group = policy.groups.get(policy.quorum)
    if group is not None and all(member in policy.witnesses for member in group.members):
        return f"{group.threshold} of {len(group.members)} witnesses"
    return policy.describe_quorum()


def witness_check(note: str, policy: Policy) -> tuple[Check, list[WitnessSeen]]:
    """The ``witness_quorum`` check of a cosigned checkpoint ``note`` under ``policy``, and the
    policy witnesses whose cosignatures verified. Passed only when witnesses that are not the
    log's own development witnesses satisfy the quorum; met only with those, or ``quorum
    none``: unchecked; not met, or a policy witness's line does not verify: failed."""
    quorum = _quorum_words(policy)
    if policy.quorum == "none":
        return Check("witness_quorum", "unchecked", "the trusted policy requires no witnesses (quorum none)"), []
    try:
        found = cosignatures(note, list(policy.witnesses.values()))
    except AnchoringError as exc:
        return Check("witness_quorum", "failed", f"{exc.detail} [{exc.code}]"), []
    when = {c.witness: c.timestamp for c in found}
    seen = [WitnessSeen(name, key.name, when[key], is_development_witness(name) or is_development_witness(key.name))
            for name, key in policy.witnesses.items() if key in when]
    independent = {w.name for w in seen if not w.development_only}
    if policy.satisfied(independent):
        return Check("witness_quorum", "passed", f"quorum {quorum} met; cosigned by {_named(seen)}"), seen
    if policy.satisfied({w.name for w in seen}):
        return Check("witness_quorum", "unchecked",
                     f"quorum {quorum} met only with the log's own development witnesses ({DEVELOPMENT_ONLY}), "
                     f"not independent ones: cosigned by {_named(seen, mark=False)}"), seen
    cosigned = f"cosigned only by {_named(seen)}" if seen else "no cosignature by a witness of the policy"
    return Check("witness_quorum", "failed", f"quorum {quorum} not met: {cosigned}"), seen
