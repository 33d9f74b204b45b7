"""RFC 9162 §2.1 behaviour, checked against an independent implementation (pymerkle) and a
reference written straight from the RFC's recursive definitions."""

from __future__ import annotations

import random

import pytest
from pymerkle import InmemoryTree

from credshare.anchoring import merkle

SIZES = list(range(1, 65)) + [97, 128, 255, 256, 257, 1000, 1025]


def leaves(n: int) -> list[bytes]:
    return [f"leaf-{i}".encode() for i in range(n)]


def reference_mth(data: list[bytes]) -> bytes:
    import hashlib

    if not data:
        return hashlib.sha256(b"").digest()
    if len(data) == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1
    while k * 2 < len(data):
        k *= 2
    return hashlib.sha256(b"\x01" + reference_mth(data[:k]) + reference_mth(data[k:])).digest()


def reference_path(m: int, data: list[bytes]) -> list[bytes]:
    if len(data) == 1:
        return []
    k = 1
    while k * 2 < len(data):
        k *= 2
    if m < k:
        return reference_path(m, data[:k]) + [reference_mth(data[k:])]
    return reference_path(m - k, data[k:]) + [reference_mth(data[:k])]


def reference_subproof(m: int, data: list[bytes], b: bool) -> list[bytes]:
    n = len(data)
    if m == n:
        return [] if b else [reference_mth(data)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return reference_subproof(m, data[:k], b) + [reference_mth(data[k:])]
    return reference_subproof(m - k, data[k:], False) + [reference_mth(data[:k])]


@pytest.fixture(scope="module")
def pymerkle_trees() -> dict[int, InmemoryTree]:
    trees = {}
    tree = InmemoryTree(algorithm="sha256")
    data = leaves(max(SIZES))
    for n, entry in enumerate(data, start=1):
        tree.append_entry(entry)
        if n in SIZES:
            trees[n] = tree
            tree = _copy(tree, data[:n])
    return trees


def _copy(_tree: InmemoryTree, data: list[bytes]) -> InmemoryTree:
    fresh = InmemoryTree(algorithm="sha256")
    for entry in data:
        fresh.append_entry(entry)
    return fresh


@pytest.mark.parametrize("n", SIZES)
def test_roots_match_pymerkle_and_the_rfc_definition(n: int, pymerkle_trees) -> None:
    data = leaves(n)
    ours = merkle.root_of([merkle.leaf_hash(d) for d in data])
    assert ours == reference_mth(data) == pymerkle_trees[n].get_root(n)


def test_empty_tree_root() -> None:
    assert merkle.root_of([]) == reference_mth([])


@pytest.mark.parametrize("n", SIZES)
def test_inclusion_proofs_match_and_verify(n: int, pymerkle_trees) -> None:
    data = leaves(n)
    hashes = [merkle.leaf_hash(d) for d in data]
    root = merkle.root_of(hashes)
    sub = merkle.memory_subtree(hashes)
    for m in (range(n) if n <= 64 else random.Random(n).sample(range(n), 20)):
        proof = merkle.inclusion_proof(m, n, sub)
        assert proof == reference_path(m, data)
        theirs = pymerkle_trees[n].prove_inclusion(m + 1, n).serialize()["path"]
        their_path = [bytes.fromhex(h) for h in theirs]
        their_path.remove(hashes[m])  # pymerkle lists the leaf itself among the path
        assert sorted(proof) == sorted(their_path)
        assert merkle.verify_inclusion(hashes[m], m, n, proof, root)


@pytest.mark.parametrize("n", range(1, 65))
def test_consistency_proofs_between_any_two_sizes(n: int) -> None:
    data = leaves(n)
    hashes = [merkle.leaf_hash(d) for d in data]
    sub = merkle.memory_subtree(hashes)
    new_root = merkle.root_of(hashes)
    for m in range(1, n + 1):
        old_root = merkle.root_of(hashes[:m])
        proof = merkle.consistency_proof(m, n, sub)
        assert proof == (reference_subproof(m, data, True) if m < n else [])
        assert merkle.verify_consistency(m, n, old_root, new_root, proof)
        if proof:
            assert not merkle.verify_consistency(m, n, old_root, new_root, proof[:-1])
            assert not merkle.verify_consistency(m, n, new_root, new_root, proof)
            for i in range(len(proof)):
                bad = list(proof)
                bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
                assert not merkle.verify_consistency(m, n, old_root, new_root, bad)


def test_random_large_trees() -> None:
    rng = random.Random(9162)
    for _ in range(10):
        n = rng.randrange(1000, 5000)
        hashes = [merkle.leaf_hash(rng.randbytes(16)) for _ in range(n)]
        sub = merkle.memory_subtree(hashes)
        root = merkle.root_of(hashes)
        m = rng.randrange(n)
        assert merkle.verify_inclusion(hashes[m], m, n, merkle.inclusion_proof(m, n, sub), root)
        old = rng.randrange(1, n)
        assert merkle.verify_consistency(old, n, merkle.root_of(hashes[:old]), root, merkle.consistency_proof(old, n, sub))


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 9, 31, 64])
def test_tampering_is_rejected(n: int) -> None:
    hashes = [merkle.leaf_hash(d) for d in leaves(n)]
    root = merkle.root_of(hashes)
    sub = merkle.memory_subtree(hashes)
    for m in range(n):
        proof = merkle.inclusion_proof(m, n, sub)
        assert not merkle.verify_inclusion(merkle.leaf_hash(b"other"), m, n, proof, root)
        if n > 1:
            assert not merkle.verify_inclusion(hashes[m], (m + 1) % n, n, proof, root)
        for other_size in {n + 1, n * 2 + 1, max(m + 1, n - 1)} - {n}:
            # a size whose tree shape needs another path length must fail (where the shapes agree,
            # RFC 9162 cannot tell sizes apart: checkpoints bind the size to the root)
            if len(merkle.inclusion_proof(m, other_size, lambda a, b: bytes(32))) != len(proof):
                assert not merkle.verify_inclusion(hashes[m], m, other_size, proof, root)
        assert not merkle.verify_inclusion(hashes[m], m, n, proof + [root], root)
        assert not merkle.verify_inclusion(hashes[m], n, n, proof, root)
        for i in range(len(proof)):
            bad = list(proof)
            bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
            assert not merkle.verify_inclusion(hashes[m], m, n, bad, root)
        if proof:
            assert not merkle.verify_inclusion(hashes[m], m, n, proof[:-1], root)


def test_impossible_requests() -> None:
    sub = merkle.memory_subtree([merkle.leaf_hash(b"x")])
    with pytest.raises(merkle.MerkleError):
        merkle.inclusion_proof(1, 1, sub)
    with pytest.raises(merkle.MerkleError):
        merkle.consistency_proof(2, 1, sub)
    assert not merkle.verify_consistency(2, 1, b"\0" * 32, b"\0" * 32, [])
    assert not merkle.verify_inclusion(b"\0" * 32, 0, 0, [], b"\0" * 32)
