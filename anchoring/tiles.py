"""Tiled transparency logs: C2SP tlog-tiles (c2sp.org/tlog-tiles) over the RFC 9162 Merkle tree.

A log serves its tree as *tiles*: ``tile/<L>/<N>[.p/<W>]`` holds the ``W`` (256 when full)
consecutive Merkle Tree Hashes at height ``8L`` starting at hash ``256 N``, each the MTH of
``256**L`` leaves, concatenated as 32-byte values; ``tile/entries/<N>[.p/<W>]`` holds the
matching entries as big-endian uint16 length-prefixed byte strings. ``<L>`` is 0..63 and ``<W>``
1..255, decimal without leading zeroes; ``<N>`` is written in 3-digit groups, all but the last
prefixed with ``x`` (``1234067`` is ``x001/x234/067``). Every value has exactly one spelling:
:func:`parse_tile_path` refuses the others. The right edge of a tree of size ``s`` is the
partial tile of width ``floor(s / 256**L) mod 256`` at each level where that is not zero.

:class:`TileReader` computes RFC 9162 inclusion and consistency proofs, leaf hashes and entries
client side from a ``fetch(path) -> bytes | None`` callback (``None``: not served), for a
checkpoint the caller has verified. It trusts no byte it fetched until it hashes up to the
checkpoint's root: the right-edge partial tiles must give the root, and each full tile must
hash to its entry in the (already trusted) tile above it; a tile or entry bundle of the wrong
length or that does not hash up is refused with ``tile_invalid``. A partial tile that is no
longer served is read from the prefix of its full tile, as the spec allows.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Callable, Sequence

from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.merkle import HASH_SIZE, SubtreeHash, consistency_proof, inclusion_proof, leaf_hash, node_hash, root_of
from credshare.anchoring.note import Checkpoint

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # hashes in a full tile, entries in a full bundle
FULL_TILE_BYTES = TILE_WIDTH * HASH_SIZE  # 8,192
MAX_LEVEL = 63
MAX_TREE_SIZE = 2**63 - 1  # the largest tree a reader accepts (and the last leaf a path may address)
MAX_ENTRY_BYTES = 0xFFFF  # one uint16 length prefix
MAX_BUNDLE_BYTES = TILE_WIDTH * (2 + MAX_ENTRY_BYTES)
MAX_PATH_CHARS = 64  # the longest canonical path (entries, 7 index groups, .p/255) is 52

_LEVEL = r"(0|[1-9][0-9]?)"
_WIDTH = r"(?:\.p/([1-9][0-9]{0,2}))?"
_INDEX = r"((?:x[0-9]{3}/)*[0-9]{3})"
_TILE_PATH = re.compile(rf"tile/(?:{_LEVEL}|(entries))/{_INDEX}{_WIDTH}")

Fetch = Callable[[str], bytes | None]


def _invalid(detail: str) -> AnchoringError:
    return AnchoringError(detail, code="tile_invalid")


def encode_index(n: int) -> str:
    """The ``<N>`` path element: zero-padded 3-digit groups, all but the last prefixed with ``x``."""
    if not isinstance(n, int) or n < 0:
        raise AnchoringError("a tile index is a non-negative integer", code="tile_path_invalid")
    groups = []
    while True:
        groups.append(f"{n % 1000:03d}")
        n //= 1000
        if not n:
            break
    return "/".join(["x" + g for g in reversed(groups[1:])] + [groups[0]])


@dataclass(frozen=True, order=True)
class Tile:
    """A tile (``level`` 0..63) or, with ``level`` :data:`ENTRIES`, an entry bundle: its index
    within the level and its width (256 for a full tile)."""

    level: int
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if not (ENTRIES <= self.level <= MAX_LEVEL and self.index >= 0 and 1 <= self.width <= TILE_WIDTH):
            raise AnchoringError(f"no such tile: {self!r}", code="tile_path_invalid")
        if self.start + self.width * self.span > MAX_TREE_SIZE:
            raise AnchoringError("the tile lies beyond the largest tree", code="tile_path_invalid")

    @property
    def span(self) -> int:
        """How many leaves one hash (or entry) of this tile covers: ``256**L``."""
        return 1 << (TILE_HEIGHT * max(self.level, 0))

    @property
    def start(self) -> int:
        """The first leaf this tile covers (its *start index*)."""
        return self.index * TILE_WIDTH * self.span

    @property
    def full(self) -> bool:
        return self.width == TILE_WIDTH

    def path(self) -> str:
        level = "entries" if self.level == ENTRIES else str(self.level)
        suffix = "" if self.full else f".p/{self.width}"
        return f"tile/{level}/{encode_index(self.index)}{suffix}"

    def as_full(self) -> Tile:
        return Tile(self.level, self.index)

    def hashes(self, subtree: SubtreeHash) -> bytes:
        """The tile's content, from a log's stored node hashes (``subtree(start, end)`` is
        MTH(D[start:end])): ``width`` concatenated 32-byte hashes."""
        if self.level == ENTRIES:
            raise AnchoringError("an entry bundle holds entries, not hashes", code="tile_path_invalid")
        return b"".join(subtree(self.start + i * self.span, self.start + (i + 1) * self.span) for i in range(self.width))


ENTRIES = -1  # Tile.level of an entry bundle


def parse_tile_path(path: str) -> Tile:
    """The tile a canonical tlog-tiles path names; ``tile_path_invalid`` for anything else
    (leading zeroes, a missing or superfluous ``x`` group, ``.p/256``, a level above 63...)."""
    ok = isinstance(path, str) and path.isascii() and len(path) <= MAX_PATH_CHARS
    match = _TILE_PATH.fullmatch(path) if ok else None
    if match is None:
        raise AnchoringError("not a tlog-tiles path", code="tile_path_invalid")
    level, entries, index, width = match.groups()
    if index.startswith("x000"):
        raise AnchoringError("the tile index has a leading zero group", code="tile_path_invalid")
    if level is not None and int(level) > MAX_LEVEL:
        raise AnchoringError(f"tile levels are 0..{MAX_LEVEL}", code="tile_path_invalid")
    if width is not None and int(width) >= TILE_WIDTH:
        raise AnchoringError("a partial tile is 1..255 wide", code="tile_path_invalid")
    return Tile(ENTRIES if entries else int(level), int(index.replace("x", "").replace("/", "")),
                int(width) if width else TILE_WIDTH)


def tiles_of(size: int) -> list[Tile]:
    """Every tile a tree of ``size`` leaves is served as: the full tiles and the right edge's
    partial ones, level by level (entry bundles not included: see :func:`bundles_of`)."""
    if not 0 <= size <= MAX_TREE_SIZE:
        raise AnchoringError(f"no tree of {size} leaves", code="tile_path_invalid")
    found = []
    level, hashes = 0, size  # hashes at this level: complete subtrees of 256**level leaves
    while hashes:
        found += [Tile(level, n) for n in range(hashes // TILE_WIDTH)]
        if hashes % TILE_WIDTH:
            found.append(Tile(level, hashes // TILE_WIDTH, hashes % TILE_WIDTH))
        level, hashes = level + 1, hashes // TILE_WIDTH
    return found


def bundles_of(size: int) -> list[Tile]:
    """The entry bundles of a tree of ``size`` leaves (those of the level-0 tiles)."""
    return [Tile(ENTRIES, t.index, t.width) for t in tiles_of(size) if t.level == 0]


def edge(size: int) -> list[Tile]:
    """The right edge of a tree of ``size``: its partial tile at each level, lowest first."""
    found = []
    level, hashes = 0, size
    while hashes:
        if hashes % TILE_WIDTH:
            found.append(Tile(level, hashes // TILE_WIDTH, hashes % TILE_WIDTH))
        level, hashes = level + 1, hashes // TILE_WIDTH
    return found


def entry_bundle(entries: Sequence[bytes]) -> bytes:
    """An entry bundle: each entry as a big-endian uint16 length and its bytes."""
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise AnchoringError("an entry bundle holds 1..256 entries", code="tile_invalid")
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_ENTRY_BYTES:
            raise AnchoringError(f"an entry is at most {MAX_ENTRY_BYTES} bytes", code="tile_invalid")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def parse_entry_bundle(data: bytes, count: int) -> list[bytes]:
    """Exactly ``count`` length-prefixed entries filling ``data``; ``tile_invalid`` otherwise."""
    if not isinstance(data, bytes) or len(data) > MAX_BUNDLE_BYTES:
        raise _invalid("an entry bundle is at most 256 entries of 64 KiB")
    entries: list[bytes] = []
    at = 0
    while at < len(data):
        if len(entries) == count or at + 2 > len(data):
            raise _invalid("the entry bundle has trailing bytes")
        length = int.from_bytes(data[at:at + 2], "big")
        if at + 2 + length > len(data):
            raise _invalid("an entry runs past the end of the bundle")
        entries.append(data[at + 2:at + 2 + length])
        at += 2 + length
    if len(entries) != count:
        raise _invalid(f"the entry bundle holds {len(entries)} entries, not {count}")
    return entries


def _hashes(data: bytes) -> list[bytes]:
    return [data[i:i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


class TileReader:
    """Proofs, leaf hashes and entries of the tree a (verified) ``checkpoint`` names, computed
    from tiles ``fetch`` returns; every tile is checked against the checkpoint's root before
    any hash of it is used, and each tile is fetched once."""

    def __init__(self, fetch: Fetch, checkpoint: Checkpoint) -> None:
        if not 0 <= checkpoint.size <= MAX_TREE_SIZE:
            raise _invalid(f"no tree of {checkpoint.size} leaves")
        self._fetch = fetch
        self.size = checkpoint.size
        self.root = checkpoint.root
        self._trusted: dict[tuple[int, int], list[bytes]] = {}  # (level, index) -> its hashes
        self._edge_checked = False

    # -- reading and checking tiles -----------------------------------------------------------

    def _get(self, tile: Tile) -> bytes:
        """A tile's bytes, ``width`` hashes or entries long in the raw; a partial one that is no
        longer served comes from its full tile's prefix."""
        data = self._fetch(tile.path())
        if data is None and not tile.full:
            full = self._fetch(tile.as_full().path())
            if full is not None and tile.level != ENTRIES:
                if len(full) != FULL_TILE_BYTES:
                    raise _invalid(f"{tile.as_full().path()} is {len(full)} bytes, not {FULL_TILE_BYTES}")
                data = full[:tile.width * HASH_SIZE]
            elif full is not None:
                data = entry_bundle(parse_entry_bundle(full, TILE_WIDTH)[:tile.width])
        if data is None:
            raise AnchoringError(f"the log does not serve {tile.path()}", code="tile_unavailable")
        if not isinstance(data, bytes):
            raise _invalid(f"{tile.path()} is not bytes")
        return data

    def _read(self, tile: Tile) -> list[bytes]:
        data = self._get(tile)
        if len(data) != tile.width * HASH_SIZE:
            raise _invalid(f"{tile.path()} is {len(data)} bytes, not {tile.width * HASH_SIZE}")
        return _hashes(data)

    def _width(self, level: int, index: int) -> int:
        """The width of tile (level, index) in this tree, 0 if the tree has none such."""
        hashes = self.size >> (TILE_HEIGHT * level)
        return max(0, min(TILE_WIDTH, hashes - index * TILE_WIDTH))

    def check_root(self) -> None:
        """Fetch the right edge's partial tiles and check that they give the checkpoint's root:
        the root is the MTH of the perfect subtrees of the tree size's binary decomposition,
        and those of height 8L..8L+7 are made of the hashes of the partial tile at level L."""
        if self._edge_checked:
            return
        parts: list[tuple[int, int, list[bytes]]] = []  # (level, index, hashes), lowest first
        for tile in edge(self.size):
            parts.append((tile.level, tile.index, self._read(tile)))
        root: bytes | None = None
        for _, _, hashes in parts:  # lowest (rightmost) first: fold subtrees right to left
            for bit in range(TILE_HEIGHT):
                if len(hashes) >> bit & 1:
                    start = (len(hashes) >> (bit + 1)) << (bit + 1)
                    subtree = root_of(hashes[start:start + (1 << bit)])
                    root = subtree if root is None else node_hash(subtree, root)
        if self.size == 0:
            if self.root != hashlib.sha256(b"").digest():
                raise _invalid("an empty tree's root is SHA-256 of nothing")
        elif root != self.root:
            raise _invalid("the right edge's tiles do not hash to the checkpoint's root")
        for level, index, hashes in parts:
            self._trusted[(level, index)] = hashes
        self._edge_checked = True

    def _tile(self, level: int, index: int) -> list[bytes]:
        """The trusted hashes of tile (level, index): the edge is checked against the root, a
        full tile against its hash in the tile above."""
        self.check_root()
        held = self._trusted.get((level, index))
        if held is not None:
            return held
        if self._width(level, index) != TILE_WIDTH:
            raise AnchoringError(f"no tile {level}/{index} in a tree of {self.size}", code="proof_unavailable")
        above = self._tile(level + 1, index // TILE_WIDTH)
        hashes = self._read(Tile(level, index))
        if root_of(hashes) != above[index % TILE_WIDTH]:
            raise _invalid(f"{Tile(level, index).path()} does not hash to its entry in the tile above")
        self._trusted[(level, index)] = hashes
        return hashes

    # -- the tree -----------------------------------------------------------------------------

    def subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for ``0 <= start < end <= size``, from the fewest tile hashes: a
        perfect, aligned subtree of height 8L + r is 2**r hashes of one tile at level L."""
        if not 0 <= start < end <= self.size:
            raise AnchoringError(f"no range {start}..{end} in a tree of {self.size}", code="proof_unavailable")
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            height = n.bit_length() - 1
            level = height // TILE_HEIGHT
            span = 1 << (TILE_HEIGHT * level)
            hashes = self._tile(level, start // (span * TILE_WIDTH))
            first = (start // span) % TILE_WIDTH
            return root_of(hashes[first:first + (n // span)])
        k = 1 << ((n - 1).bit_length() - 1)
        return node_hash(self.subtree(start, start + k), self.subtree(start + k, end))

    def leaf_hash(self, index: int) -> bytes:
        if not 0 <= index < self.size:
            raise AnchoringError(f"leaf {index} is not in a tree of {self.size}", code="proof_unavailable")
        return self.subtree(index, index + 1)

    def inclusion_proof(self, index: int) -> list[bytes]:
        """RFC 9162 PATH(index, D[size]), deepest sibling first."""
        self.check_root()
        return inclusion_proof(index, self.size, self.subtree)

    def consistency_proof(self, old_size: int) -> list[bytes]:
        """RFC 9162 PROOF(old_size, D[size]) (even an empty one only once the root is checked)."""
        self.check_root()
        return consistency_proof(old_size, self.size, self.subtree)

    def entries(self, start: int, end: int) -> list[bytes]:
        """Entries ``start..end-1``, each checked against its (trusted) leaf hash."""
        if not 0 <= start <= end <= self.size:
            raise AnchoringError(f"no entries {start}..{end} in a tree of {self.size}", code="proof_unavailable")
        self.check_root()
        found: list[bytes] = []
        for n in range(start // TILE_WIDTH, -(-end // TILE_WIDTH)):
            width = self._width(0, n)
            bundle = Tile(ENTRIES, n, width)
            entries = parse_entry_bundle(self._get(bundle), width)
            hashes = self._tile(0, n)
            for i, entry in enumerate(entries):
                if leaf_hash(entry) != hashes[i]:
                    raise _invalid(f"entry {n * TILE_WIDTH + i} of {bundle.path()} does not hash to its leaf")
            lo, hi = max(start - n * TILE_WIDTH, 0), min(end - n * TILE_WIDTH, width)
            found += entries[lo:hi]
        return found
