"""C2SP tlog-tiles (anchoring.tiles): path spellings, the tiles of a tree, and proofs a client
computes from served tiles, checked against anchoring.merkle's proofs over the same leaves."""

from __future__ import annotations

import base64
import functools
import random
from typing import Callable

import pytest

from credshare.anchoring import merkle
from credshare.anchoring.cosignature import Cosigner, cosignatures, with_signature_lines
from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.note import Checkpoint, NoteSigner, open_checkpoint
from credshare.anchoring.tiles import (
    ENTRIES,
    FULL_TILE_BYTES,
    Tile,
    TileReader,
    bundles_of,
    edge,
    encode_index,
    entry_bundle,
    parse_entry_bundle,
    parse_tile_path,
    tiles_of,
)
from credshare.anchoring.tlog_proof import build_tlog_proof, parse_tlog_proof

ORIGIN = "example.com/tiles"


def entries_of(size: int) -> list[bytes]:
    return [f"entry {i}".encode() * (1 + i % 3) for i in range(size)]


@functools.lru_cache(maxsize=None)
def tree(size: int) -> tuple[list[bytes], merkle.SubtreeHash]:
    leaves = [merkle.leaf_hash(e) for e in entries_of(size)]
    return leaves, functools.lru_cache(maxsize=None)(merkle.memory_subtree(leaves))


def served(size: int) -> dict[str, bytes]:
    """Every tile and entry bundle of a tree of ``size``, by path, as a log serves them (a copy
    the caller may change)."""
    return dict(_served(size))


@functools.lru_cache(maxsize=8)
def _served(size: int) -> dict[str, bytes]:
    _, subtree = tree(size)
    data = entries_of(size)
    paths = {tile.path(): tile.hashes(subtree) for tile in tiles_of(size)}
    paths |= {b.path(): entry_bundle(data[b.index * 256:b.index * 256 + b.width]) for b in bundles_of(size)}
    return paths


def checkpoint(size: int) -> Checkpoint:
    leaves, _ = tree(size)
    return Checkpoint(ORIGIN, size, merkle.root_of(leaves))


def reader(size: int, tiles: dict[str, bytes] | None = None) -> TileReader:
    return TileReader((tiles if tiles is not None else served(size)).get, checkpoint(size))


def check_proofs(size: int, indices: list[int], old_sizes: list[int]) -> None:
    leaves, subtree = tree(size)
    root = merkle.root_of(leaves)
    r = reader(size)
    for i in indices:
        proof = r.inclusion_proof(i)
        assert proof == merkle.inclusion_proof(i, size, subtree)
        assert r.leaf_hash(i) == leaves[i]
        assert merkle.verify_inclusion(leaves[i], i, size, proof, root)
    for m in old_sizes:
        proof = r.consistency_proof(m)
        assert proof == merkle.consistency_proof(m, size, subtree)
        assert merkle.verify_consistency(m, size, merkle.root_of(leaves[:m]), root, proof)


# -- paths ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("n", "text"), [
    (0, "000"), (7, "007"), (999, "999"), (1000, "x001/000"), (1234067, "x001/x234/067"),
    (10**9, "x001/x000/x000/000"),
])
def test_index_encoding_as_the_spec_writes_it(n: int, text: str) -> None:
    assert encode_index(n) == text


@pytest.mark.parametrize(("tile", "path"), [
    (Tile(0, 1234067), "tile/0/x001/x234/067"),
    (Tile(0, 0, 1), "tile/0/000.p/1"),
    (Tile(1, 3, 255), "tile/1/003.p/255"),
    (Tile(5, 0, 17), "tile/5/000.p/17"),
    (Tile(ENTRIES, 1234067, 112), "tile/entries/x001/x234/067.p/112"),
    (Tile(ENTRIES, 0), "tile/entries/000"),
])
def test_paths_round_trip(tile: Tile, path: str) -> None:
    assert tile.path() == path
    assert parse_tile_path(path) == tile


@pytest.mark.parametrize("path", [
    "tile/0/0", "tile/0/01", "tile/0/0000", "tile/00/000", "tile/01/000", "tile/64/000", "tile/-1/000",
    "tile/0/x000/001", "tile/0/001/234", "tile/0/x1/234", "tile/0/x001x234/067", "tile/0/y001/234",
    "tile/0/000.p/256", "tile/0/000.p/0", "tile/0/000.p/01", "tile/0/000.p/", "tile/0/000.p",
    "tile/0/000/", "/tile/0/000", "tile/0/000 ", "tile/entries/000.p/300", "tile/entry/000",
    "tile/0/\u0661\u0662\u0663", "tile/0/x001/x234/067.p/1\n", "tile/8/000", "tile/7/000",
    "tile/0/x009/x223/x372/x036/x854/x775/807", "",
])
def test_non_canonical_or_impossible_paths_are_refused(path: str) -> None:
    with pytest.raises(AnchoringError) as exc:
        parse_tile_path(path)
    assert exc.value.code == "tile_path_invalid"


def test_the_spec_examples_of_a_trees_tiles() -> None:
    # "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level 0
    # tile of width 112, one full level 1 tile, one partial level 1 tile of width 17, and one
    # partial level 2 tile of width 1"
    tiles = tiles_of(70_000)
    assert sum(t.level == 0 and t.full for t in tiles) == 273
    assert [t for t in tiles if not t.full] == [Tile(0, 273, 112), Tile(1, 1, 17), Tile(2, 0, 1)]
    assert [t for t in tiles if t.level == 1 and t.full] == [Tile(1, 0)]
    assert len(tiles) == 273 + 4
    assert edge(70_000) == [Tile(0, 273, 112), Tile(1, 1, 17), Tile(2, 0, 1)]
    # "a tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile of width 1"
    assert tiles_of(256) == [Tile(0, 0), Tile(1, 0, 1)]
    assert tiles_of(0) == [] and bundles_of(1) == [Tile(ENTRIES, 0, 1)]


def test_tile_contents_are_the_hashes_at_level_8l() -> None:
    leaves, subtree = tree(70_000)
    tiles = served(70_000)
    level0 = tiles["tile/0/001"]
    assert len(level0) == FULL_TILE_BYTES and level0 == b"".join(leaves[256:512])
    level1 = tiles["tile/1/000"]
    assert level1[32 * 5:32 * 6] == merkle.root_of(leaves[5 * 256:6 * 256])
    assert tiles["tile/2/000.p/1"] == merkle.root_of(leaves[:65536])
    assert len(tiles["tile/1/001.p/17"]) == 17 * 32


# -- proofs from tiles ------------------------------------------------------------------------

def test_every_proof_of_small_trees() -> None:
    for size in range(1, 701):
        if size <= 40:
            indices, olds = list(range(size)), list(range(size + 1))
        else:
            picks = {0, size - 1, size // 2, 255, 256, 511, 512, size - 2, size - 257}
            indices = sorted(i for i in picks if 0 <= i < size)
            olds = sorted(m for m in picks | {1, 256, 257, size} if 0 <= m <= size)
        check_proofs(size, indices, olds)


@pytest.mark.parametrize("seed", range(4))
def test_proofs_of_random_trees_up_to_70000(seed: int) -> None:
    rng = random.Random(seed)
    size = 70_000 if seed == 0 else rng.randrange(700, 70_001)
    indices = [0, size - 1] + [rng.randrange(size) for _ in range(6)]
    olds = [0, 1, size, 65536 if size >= 65536 else 256] + [rng.randrange(1, size + 1) for _ in range(6)]
    check_proofs(size, indices, olds)


def test_an_exact_power_of_256_and_the_empty_tree() -> None:
    check_proofs(65536, [0, 65535, 300], [1, 256, 65535, 65536, 4096])
    empty = TileReader({}.get, Checkpoint(ORIGIN, 0, merkle.EMPTY_ROOT))
    assert empty.consistency_proof(0) == [] and empty.entries(0, 0) == []
    with pytest.raises(AnchoringError) as exc:
        TileReader({}.get, Checkpoint(ORIGIN, 0, b"\x00" * 32)).consistency_proof(0)
    assert exc.value.code == "tile_invalid"


def test_entries_are_read_and_checked_against_their_leaves() -> None:
    size = 1000
    data = entries_of(size)
    r = reader(size)
    assert r.entries(0, size) == data
    assert r.entries(250, 780) == data[250:780]
    assert r.entries(999, 1000) == data[999:]
    assert r.entries(5, 5) == []
    with pytest.raises(AnchoringError):
        r.entries(0, 1001)


def test_each_tile_is_fetched_once() -> None:
    tiles = served(5000)
    fetched: list[str] = []

    def fetch(path: str) -> bytes | None:
        fetched.append(path)
        return tiles.get(path)

    r = TileReader(fetch, checkpoint(5000))
    for i in range(0, 5000, 97):
        r.inclusion_proof(i)
    assert len(fetched) == len(set(fetched))


# -- refusals ---------------------------------------------------------------------------------

def used_paths(size: int, operation: Callable[[TileReader], object]) -> list[str]:
    tiles = served(size)
    fetched: list[str] = []

    def fetch(path: str) -> bytes | None:
        fetched.append(path)
        return tiles.get(path)

    operation(TileReader(fetch, checkpoint(size)))
    return fetched


OPERATIONS: dict[str, Callable[[TileReader], object]] = {
    "inclusion": lambda r: r.inclusion_proof(1234),
    "consistency": lambda r: r.consistency_proof(777),
    "leaf": lambda r: r.leaf_hash(12_345),
    "entries": lambda r: r.entries(600, 700),
}


@pytest.mark.parametrize("name", OPERATIONS)
def test_any_corrupted_tile_it_reads_is_refused(name: str) -> None:
    operation = OPERATIONS[name]
    size = 70_000
    paths = used_paths(size, operation)
    assert any(".p/" in p for p in paths) and any(".p/" not in p for p in paths)
    for path in paths:
        for corrupt in (lambda b: bytes([b[0] ^ 1]) + b[1:], lambda b: b[:-1] + bytes([b[-1] ^ 0x80]),
                        lambda b: b[:-32] if len(b) > 32 else b + b"\x00" * 32, lambda b: b + b"\x00"):
            tiles = served(size)
            tiles[path] = corrupt(tiles[path])
            with pytest.raises(AnchoringError) as exc:
                operation(reader(size, tiles))
            assert exc.value.code == "tile_invalid", path


def test_a_wrong_root_or_a_tile_of_another_tree_is_refused() -> None:
    tiles = served(3000)
    with pytest.raises(AnchoringError) as exc:
        TileReader(tiles.get, Checkpoint(ORIGIN, 3000, b"\x01" * 32)).inclusion_proof(5)
    assert exc.value.code == "tile_invalid"
    other = served(3000)
    other["tile/0/002"] = bytes(FULL_TILE_BYTES)
    with pytest.raises(AnchoringError) as exc:
        reader(3000, other).inclusion_proof(600)
    assert exc.value.code == "tile_invalid"
    assert reader(3000, other).inclusion_proof(100) == reader(3000).inclusion_proof(100)  # that tile is not read


def test_a_missing_tile_is_unavailable_and_a_gone_partial_tile_comes_from_its_full_tile() -> None:
    tiles = served(1000)
    del tiles["tile/0/001"]
    with pytest.raises(AnchoringError) as exc:
        reader(1000, tiles).inclusion_proof(300)
    assert exc.value.code == "tile_unavailable"
    # the log has grown to 1024 and deleted the partial level-0 tile and bundle of size 1000, now
    # that their full ones are served (tlog-tiles allows it)
    grown = served(1000)
    del grown["tile/0/003.p/232"], grown["tile/entries/003.p/232"]
    grown |= {path: served(1024)[path] for path in ("tile/0/003", "tile/entries/003")}
    r = TileReader(grown.get, checkpoint(1000))
    assert r.inclusion_proof(999) == reader(1000).inclusion_proof(999)
    assert r.entries(990, 1000) == entries_of(1000)[990:]
    # but the full tile must then be a full tile
    grown["tile/0/003"] = grown["tile/0/003"][:-32]
    with pytest.raises(AnchoringError) as exc:
        TileReader(grown.get, checkpoint(1000)).inclusion_proof(999)
    assert exc.value.code == "tile_invalid"


def test_requests_outside_the_tree_are_refused() -> None:
    r = reader(300)
    for call in (lambda: r.inclusion_proof(300), lambda: r.leaf_hash(-1), lambda: r.consistency_proof(301),
                 lambda: r.subtree(0, 301), lambda: r.entries(10, 5)):
        with pytest.raises(AnchoringError) as exc:
            call()
        assert exc.value.code == "proof_unavailable"
    with pytest.raises(AnchoringError):
        TileReader({}.get, Checkpoint(ORIGIN, 2**63, b"\x00" * 32))


@pytest.mark.parametrize(("data", "count"), [
    (b"", 1), (b"\x00", 1), (b"\x00\x02a", 1), (b"\x00\x01a\x00", 1), (b"\x00\x01a\x00\x01b", 1),
    (b"\x00\x01a", 2), (b"\x00\x00", 2),
])
def test_malformed_entry_bundles_are_refused(data: bytes, count: int) -> None:
    with pytest.raises(AnchoringError) as exc:
        parse_entry_bundle(data, count)
    assert exc.value.code == "tile_invalid"


def test_entry_bundles_round_trip_and_are_bounded() -> None:
    entries = [b"", b"a", b"\xff" * 65535]
    assert entry_bundle(entries)[:5] == b"\x00\x00\x00\x01a"
    assert parse_entry_bundle(entry_bundle(entries), 3) == entries
    for bad in ([b"x" * 65536], [], [b""] * 257):
        with pytest.raises(AnchoringError):
            entry_bundle(bad)
    with pytest.raises(AnchoringError):
        parse_entry_bundle(b"\x00\x00" * (256 * 32769), 256)


# -- tlog-proof (anchoring.tlog_proof) ---------------------------------------------------------

LOG = NoteSigner.from_seed(ORIGIN, bytes(range(32)))
WITNESS = Cosigner.from_seed("witness.example/w1", bytes(range(1, 33)))


def signed(size: int) -> str:
    text = checkpoint(size).text()
    return with_signature_lines(LOG.sign(text), [WITNESS.cosign(text, 1_700_000_000)])


def proof_text(size: int, index: int, extra: bytes = b"") -> str:
    _, subtree = tree(size)
    return build_tlog_proof(index=index, proof=merkle.inclusion_proof(index, size, subtree), note=signed(size),
                            extra=extra)


@pytest.mark.parametrize(("size", "index", "extra"), [(1, 0, b""), (1000, 777, b"age-v1.2.1"), (70_000, 69_999, b"\x00")])
def test_a_tlog_proof_round_trips_and_proves_its_leaf(size: int, index: int, extra: bytes) -> None:
    text = proof_text(size, index, extra)
    lines = text.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1"
    assert (lines[1] == "extra " + base64.b64encode(extra).decode()) if extra else lines[1] == f"index {index}"
    assert text.endswith("\n\n" + signed(size))
    proof = parse_tlog_proof(text.encode())
    assert proof == parse_tlog_proof(text) and proof.to_text() == text and proof.extra == extra
    cp = open_checkpoint(proof.note, LOG.verifier, ORIGIN)
    assert [c.witness for c in cosignatures(proof.note, [WITNESS.key])] == [WITNESS.key]
    leaves, _ = tree(size)
    assert proof.includes(leaves[index], cp)
    assert not proof.includes(leaves[index - 1] if index else b"\x00" * 32, cp)


def _swap(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


TLOG_PROOF_REFUSALS: dict[str, Callable[[str], str | bytes]] = {
    "another header": lambda t: _swap(t, "@v1", "@v2"),
    "an empty extra line": lambda t: _swap(t, "index", "extra \nindex"),
    "extra data in unpadded base64": lambda t: _swap(t, "extra YWdlLXYxLjIuMQ==", "extra YWdlLXYxLjIuMQ"),
    "a leading zero in the index": lambda t: _swap(t, "index 777", "index 0777"),
    "an index outside the tree": lambda t: _swap(t, "index 777", "index 1000"),
    "no index line": lambda t: _swap(t, "index 777\n", ""),
    "a missing proof hash": lambda t: "\n".join(line for i, line in enumerate(t.split("\n")) if i != 3),
    "an extra proof hash": lambda t: _swap(t, "index 777\n", "index 777\n" + base64.b64encode(bytes(32)).decode() + "\n"),
    "a short hash": lambda t: _swap(t, "index 777\n", "index 777\nAAAA\n"),
    "no empty line before the note": lambda t: _swap(t, "\n\nexample.com", "\nexample.com"),
    "two empty lines": lambda t: _swap(t, "\n\nexample.com", "\n\n\nexample.com"),
    "text after the note": lambda t: t + "\n",
    "a note without signatures": lambda t: t.split("\n\u2014")[0] + "\n",
    "CRLF line endings": lambda t: t.replace("\n", "\r\n"),
    "a control character": lambda t: _swap(t, "example.com/tiles\n", "example.com/tiles\x01\n"),
    "not UTF-8": lambda t: t.encode().replace(b"c2sp.org", b"c2sp\xff.org"),
    "too large": lambda t: _swap(t, "extra YWdlLXYxLjIuMQ==", "extra " + base64.b64encode(bytes(100_000)).decode()),
}


@pytest.mark.parametrize("name", TLOG_PROOF_REFUSALS)
def test_a_malformed_tlog_proof_is_refused(name: str) -> None:
    good = proof_text(1000, 777, b"age-v1.2.1")
    bad = TLOG_PROOF_REFUSALS[name](good)
    assert bad != good
    with pytest.raises(AnchoringError) as exc:
        parse_tlog_proof(bad)
    assert exc.value.code in ("tlog_proof_malformed", "note_malformed", "checkpoint_malformed"), exc.value.code


def test_building_a_tlog_proof_is_as_strict() -> None:
    _, subtree = tree(10)
    good = merkle.inclusion_proof(3, 10, subtree)
    for kwargs in ({"index": 10, "proof": good}, {"index": 3, "proof": good[:-1]}, {"index": 3, "proof": [*good, good[0]]},
                   {"index": 3, "proof": [b"\x00" * 31, *good[1:]]}, {"index": 3, "proof": good, "extra": bytes(20_000)},
                   {"index": -1, "proof": good}):
        with pytest.raises(AnchoringError) as exc:
            build_tlog_proof(note=signed(10), **kwargs)
        assert exc.value.code == "tlog_proof_malformed"
