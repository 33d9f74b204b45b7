"""The ``inclusion_mirror`` check: a credential's inclusion in its log as a mirror serves the
log (C2SP tlog-tiles, c2sp.org/tlog-tiles), computed client side, so that a credential can be
checked against the log's current tree when the log's own server is gone.

Given the mirror's resources through ``fetch(path) -> bytes | None`` (``checkpoint``,
``tile/...``; the caller does the I/O): the mirror's checkpoint must be signed by the trusted
log key, and its cosignatures are judged under the trusted policy (short of the quorum: the
check is ``unchecked``, as the mirror's tree is then not known to be the one everyone sees);
the credential's
RFC 9162 inclusion proof at the mirror's size is computed from its tiles
(:class:`anchoring.tiles.TileReader`, which checks each tile against the mirror's root) and
verified, and so is the consistency of the credential's own checkpoint with the mirror's.
``passed`` only when both verify; a mirror that cannot be read, or is behind the credential's
checkpoint, leaves it ``unchecked``.
"""

from __future__ import annotations

from typing import Any, Callable

from credshare.anchoring import merkle
from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.note import open_checkpoint
from credshare.anchoring.proof import witness_check
from credshare.anchoring.tiles import TileReader
from credshare.foundation.checks import Check
from credshare.foundation.errors import CredshareError
from credshare.verifier.credential import LogTrust

NAME = "inclusion_mirror"
MAX_CHECKPOINT_BYTES = 64 * 1024

Fetch = Callable[[str], bytes | None]


def _unchecked(detail: str) -> Check:
    return Check(NAME, "unchecked", detail)


def _failed(detail: str) -> Check:
    return Check(NAME, "failed", detail)


def check_mirror(document: bytes, anchor_proof: Any, trust: LogTrust | None, fetch: Fetch) -> Check:
    """The ``inclusion_mirror`` check of the logged ``document`` (the issuer-signed JWT's
    bytes) whose ``anchor_proof`` names its index and checkpoint, under ``trust``."""
    if trust is None:
        return _unchecked("no trusted log to check the mirror's checkpoint with")
    proof = anchor_proof if isinstance(anchor_proof, dict) else {}
    index, note = proof.get("leaf_index"), proof.get("checkpoint")
    if not isinstance(index, int) or isinstance(index, bool) or not isinstance(note, str):
        return _unchecked("the anchor proof names no leaf and checkpoint")
    key = trust.log_key
    try:
        ours = open_checkpoint(note, key, key.name)
    except AnchoringError as exc:
        return _unchecked(f"the credential's checkpoint does not verify: {exc.detail}")
    try:
        raw = fetch("checkpoint")
    except CredshareError as exc:
        return _unchecked(f"the mirror cannot be read: {exc.detail}")
    if raw is None or len(raw) > MAX_CHECKPOINT_BYTES:
        return _unchecked("the mirror serves no checkpoint")
    try:
        mirrored = open_checkpoint(raw.decode("utf-8", "strict"), key, key.name)
    except (AnchoringError, UnicodeDecodeError) as exc:
        return _failed(f"the mirror's checkpoint is not signed by the trusted log: {getattr(exc, 'detail', exc)}")
    witnessed = ""
    if trust.policy is not None:
        check, _ = witness_check(raw.decode("utf-8"), trust.policy)
        if check.status == "failed":  # not witnessed yet, or not by these witnesses: no assurance, no proof of fraud
            return _unchecked(f"the mirror's checkpoint is not witnessed as the trusted policy asks: {check.detail}")
        witnessed = f"; its witnesses: {check.detail}"
    if mirrored.size < ours.size:
        return _unchecked(f"the mirror is behind: it holds {mirrored.size} leaves, the credential's checkpoint "
                          f"{ours.size}")
    reader = TileReader(fetch, mirrored)
    try:
        path = reader.inclusion_proof(index)
        consistency = reader.consistency_proof(ours.size)
    except AnchoringError as exc:
        if exc.code == "tile_invalid":
            return _failed(f"the mirror's tiles do not hash to its checkpoint: {exc.detail}")
        return _unchecked(f"the mirror's tiles cannot be read: {exc.detail} [{exc.code}]")
    except CredshareError as exc:
        return _unchecked(f"the mirror cannot be read: {exc.detail}")
    if not merkle.verify_inclusion(merkle.document_leaf(document), index, mirrored.size, path, mirrored.root):
        return _failed(f"the credential is not leaf {index} of the mirror's tree of {mirrored.size}")
    if not merkle.verify_consistency(ours.size, mirrored.size, ours.root, mirrored.root, consistency):
        return _failed(f"the mirror's tree of {mirrored.size} does not extend the credential's checkpoint of "
                       f"{ours.size}: a fork")
    return Check(NAME, "passed", f"leaf {index} of the mirror's tree of {mirrored.size}, consistent with the "
                                 f"credential's checkpoint of {ours.size}{witnessed}")
