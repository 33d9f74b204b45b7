"""Reference tlog-tiles, from c2sp.org/tlog-tiles: the tiles and entry bundles of a tree, their
paths, and a reader that fetches every level-0 tile of a checkpoint's tree, checks every tile
above against the hashes below it and the whole against the root, then answers from the leaves."""

from __future__ import annotations

from typing import Callable

from tests.independent import merkle
from tests.independent.note import ReferenceError


def index_element(n: int) -> str:
    """<N>: zero-padded 3-digit path elements, all but the last beginning with x."""
    digits = str(n)
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i:i + 3] for i in range(0, len(digits), 3)]
    return "/".join(["x" + g for g in groups[:-1]] + groups[-1:])


def tile_path(level: int | str, n: int, width: int = 256) -> str:
    """tile/<L>/<N>[.p/<W>] (``level`` "entries" for an entry bundle)."""
    return f"tile/{level}/{index_element(n)}" + ("" if width == 256 else f".p/{width}")


def _perfect(hashes: list[bytes]) -> bytes:
    """The MTH of a power-of-two number of hashes, pairing them level by level."""
    while len(hashes) > 1:
        hashes = [merkle.node(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
    return hashes[0]


def bundle(entries: list[bytes]) -> bytes:
    return b"".join(len(e).to_bytes(2, "big") + e for e in entries)


def build(entries: list[bytes]) -> dict[str, bytes]:
    """Every tile and entry bundle of the tree of ``entries``: full tiles, and at each level the
    partial tile of floor(s / 256**l) mod 256 hashes when that is not zero."""
    served: dict[str, bytes] = {}
    level, hashes = 0, [merkle.leaf(e) for e in entries]
    for start in range(0, len(entries), 256):
        chunk = entries[start:start + 256]
        served[tile_path("entries", start // 256, len(chunk))] = bundle(chunk)
    while hashes:
        for start in range(0, len(hashes), 256):
            chunk = hashes[start:start + 256]
            served[tile_path(level, start // 256, len(chunk))] = b"".join(chunk)
        hashes = [_perfect(hashes[i:i + 256]) for i in range(0, len(hashes) - 255, 256)]
        level += 1
    return served


class Reader:
    """Reads the tree of size ``size`` and root ``root`` from ``fetch(path) -> bytes | None``."""

    def __init__(self, fetch: Callable[[str], bytes | None], size: int, root: bytes) -> None:
        self.size = size
        leaves: list[bytes] = []
        level_hashes: list[bytes] = []
        level = 0
        count = size
        while count:
            this_level: list[bytes] = []
            for n in range(0, -(-count // 256)):
                width = min(256, count - n * 256)
                data = fetch(tile_path(level, n, width))
                if data is None or len(data) != 32 * width:
                    raise ReferenceError(f"tile {level}/{n} missing or of the wrong size")
                this_level += [data[i:i + 32] for i in range(0, len(data), 32)]
            if level == 0:
                leaves = this_level
            elif [_perfect(level_hashes[i:i + 256]) for i in range(0, 256 * len(this_level), 256)] != this_level:
                raise ReferenceError(f"the tiles at level {level} are not the hashes of those below")
            level_hashes, level, count = this_level, level + 1, count // 256
        if merkle.mth(leaves) != root:
            raise ReferenceError("the level-0 tiles do not hash to the root")
        self.leaves = leaves
        self._fetch = fetch

    def inclusion_proof(self, m: int) -> list[bytes]:
        return merkle.path(m, self.leaves)

    def consistency_proof(self, m: int) -> list[bytes]:
        return merkle.proof(m, self.leaves)

    def entries(self) -> list[bytes]:
        found: list[bytes] = []
        for n in range(0, -(-self.size // 256)):
            width = min(256, self.size - n * 256)
            data = self._fetch(tile_path("entries", n, width))
            if data is None:
                raise ReferenceError(f"entry bundle {n} missing")
            at, entries = 0, []
            while at < len(data):
                length = int.from_bytes(data[at:at + 2], "big")
                entries.append(data[at + 2:at + 2 + length])
                at += 2 + length
            if at != len(data) or len(entries) != width:
                raise ReferenceError(f"entry bundle {n} is malformed")
            if [merkle.leaf(e) for e in entries] != self.leaves[n * 256:n * 256 + width]:
                raise ReferenceError(f"entry bundle {n} does not match its tile")
            found += entries
        return found
