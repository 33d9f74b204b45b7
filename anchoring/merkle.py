"""Merkle Tree Hash, inclusion proofs and consistency proofs of RFC 9162 §2.1.

Leaf hash ``SHA-256(0x00 || d)``, interior node ``SHA-256(0x01 || left || right)``; a tree of
``n`` leaves splits at the largest power of two smaller than ``n`` (§2.1.1), so nothing is
duplicated or promoted. Proof *generation* asks a :data:`SubtreeHash` callback for
``MTH(D[start:end])``; backed by stored node hashes it touches O(log n) nodes and rehashes
nothing else. Proof *verification* (§2.1.3.2, §2.1.4.2) is pure and strict about indices,
sizes and proof lengths.

The logged leaf (docs/anchor-proof.md): a log *entry* is the SHA-256 digest of the logged
document (:func:`entry_of`), never the document, so that the entries a log serves as C2SP
tlog-tiles hold nothing personal; the leaf hash is ``SHA-256(0x00 || SHA-256(document))``
(:func:`document_leaf`). This is the one place a document becomes a leaf.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Sequence

from credshare.anchoring.errors import AnchoringError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

SubtreeHash = Callable[[int, int], bytes]


class MerkleError(AnchoringError):
    """A proof was asked for impossible indices or sizes."""

    code = "proof_unavailable"


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def entry_of(document: bytes) -> bytes:
    """The log entry of a logged document: its SHA-256 digest (32 bytes)."""
    return hashlib.sha256(document).digest()


def document_leaf(document: bytes) -> bytes:
    """The leaf hash of a logged document: ``leaf_hash(entry_of(document))``."""
    return leaf_hash(entry_of(document))


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes, straight from the definition (for small trees and for checking)."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = split_point(n)
    return node_hash(root_of(leaf_hashes[:k]), root_of(leaf_hashes[k:]))


def inclusion_proof(index: int, size: int, subtree: SubtreeHash) -> list[bytes]:
    """PATH(index, D[size]) of §2.1.3.1, deepest sibling first."""
    if not 0 <= index < size:
        raise MerkleError(f"leaf {index} is not in a tree of {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start += k
    path.reverse()
    return path


def consistency_proof(old_size: int, new_size: int, subtree: SubtreeHash) -> list[bytes]:
    """PROOF(old_size, D[new_size]) of §2.1.4.1; empty when the sizes are equal or old is 0."""
    if not 0 <= old_size <= new_size:
        raise MerkleError(f"no consistency proof from {old_size} to {new_size}")
    if old_size in (0, new_size):
        return []
    path: list[bytes] = []
    start, end, m, complete = 0, new_size, old_size, True
    while m != end - start:
        k = split_point(end - start)
        if m <= k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        path.append(subtree(start, end))
    path.reverse()
    return path


def _valid_hashes(proof: Sequence[bytes]) -> bool:
    return all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in proof)


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """§2.1.3.2: does ``proof`` place the leaf hash ``leaf`` at ``index`` in the tree ``root``?"""
    if not (0 <= index < size) or not _valid_hashes(proof) or len(leaf) != HASH_SIZE:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """§2.1.4.2: is the tree ``new_root`` an append-only extension of ``old_root``?"""
    if not 0 <= old_size <= new_size or not _valid_hashes(proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is itself a node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


def memory_subtree(leaf_hashes: Sequence[bytes]) -> SubtreeHash:
    """A SubtreeHash over an in-memory list of leaf hashes (tests, small logs)."""
    return lambda start, end: root_of(leaf_hashes[start:end])
