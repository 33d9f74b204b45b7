"""Reference RFC 9162 §2.1 Merkle trees: MTH, PATH and PROOF straight from their recursive
definitions, and verifiers that follow the same recursion backwards (rather than the RFC's
iterative §2.1.3.2 / §2.1.4.2 loops, so as to differ from a port of those)."""

from __future__ import annotations

import hashlib


def leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(hashes: list[bytes]) -> bytes:
    """MTH over leaf hashes (MTH({}) is SHA-256 of the empty string)."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = split(len(hashes))
    return node(mth(hashes[:k]), mth(hashes[k:]))


def path(m: int, hashes: list[bytes]) -> list[bytes]:
    """PATH(m, D[n])."""
    if len(hashes) == 1:
        return []
    k = split(len(hashes))
    if m < k:
        return path(m, hashes[:k]) + [mth(hashes[k:])]
    return path(m - k, hashes[k:]) + [mth(hashes[:k])]


def proof(m: int, hashes: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true); empty for m = 0 or m = n."""
    if m == 0 or m == len(hashes):
        return []
    return _subproof(m, hashes, True)


def _subproof(m: int, hashes: list[bytes], b: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if b else [mth(hashes)]
    k = split(n)
    if m <= k:
        return _subproof(m, hashes[:k], b) + [mth(hashes[k:])]
    return _subproof(m - k, hashes[k:], False) + [mth(hashes[:k])]


def verify_inclusion(leaf_hash: bytes, m: int, n: int, audit: list[bytes], root: bytes) -> bool:
    if not 0 <= m < n or any(len(h) != 32 for h in audit):
        return False

    def climb(m: int, n: int, audit: list[bytes]) -> bytes | None:
        if n == 1:
            return leaf_hash if not audit else None
        if not audit:
            return None
        k, sibling, rest = split(n), audit[-1], audit[:-1]
        if m < k:
            below = climb(m, k, rest)
            return None if below is None else node(below, sibling)
        below = climb(m - k, n - k, rest)
        return None if below is None else node(sibling, below)

    return climb(m, n, list(audit)) == root


def verify_consistency(m: int, n: int, old_root: bytes, new_root: bytes, audit: list[bytes]) -> bool:
    if not 0 <= m <= n or any(len(h) != 32 for h in audit):
        return False
    if m == 0 or m == n:
        return not audit and (m == 0 or old_root == new_root)

    def climb(m: int, n: int, b: bool, audit: list[bytes]) -> tuple[bytes, bytes] | None:
        """(MTH of the old leaves in this subtree, MTH of the subtree), from the proof."""
        if m == n:
            if b:
                return (old_root, old_root) if not audit else None
            return (audit[0], audit[0]) if len(audit) == 1 else None
        if not audit:
            return None
        k, sibling, rest = split(n), audit[-1], audit[:-1]
        if m <= k:
            below = climb(m, k, b, rest)
            return None if below is None else (below[0], node(below[1], sibling))
        below = climb(m - k, n - k, False, rest)
        return None if below is None else (node(sibling, below[0]), node(sibling, below[1]))

    found = climb(m, n, True, list(audit))
    return found is not None and found == (old_root, new_root)
