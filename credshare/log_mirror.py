"""A mirror of a credshare log as static C2SP tlog-tiles files (c2sp.org/tlog-tiles; the word
*mirror* as in c2sp.org/tlog-mirror): what ``credshare log mirror URL DIR`` does.

One round: fetch ``URL/log/checkpoint``; verify the log's signature with the log key of the
``--policy`` (a C2SP tlog-policy) and its witness quorum (development witnesses are labelled
as such and never count as independent), or with ``--log-key`` alone; refuse a log it has no
key for (``mirror_untrusted``). Then read the tree with :class:`anchoring.tiles.TileReader`,
which checks every tile and entry bundle against the checkpoint's root before it is kept; a
full tile already in ``DIR`` is read from there (and checked again), so each is fetched once.
A checkpoint already in ``DIR`` must be extended by the new one (consistency computed from the
tiles): a smaller tree is ``log_rollback``, another history ``log_fork``, and nothing is
written. Files are written atomically (tmp + rename) at their tlog-tiles paths under ``DIR``
(``DIR/tile/0/000``, ``DIR/tile/entries/000.p/7``...), the checkpoint last, so any plain web
server serving ``DIR`` serves the log, and a reader never sees a checkpoint whose tiles are
not there. Every request is bounded in size and time (:mod:`foundation.http_client`).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from credshare.anchoring import merkle
from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.note import Checkpoint, NoteVerifier, open_checkpoint
from credshare.anchoring.policy import Policy
from credshare.anchoring.proof import witness_check
from credshare.anchoring.tiles import FULL_TILE_BYTES, MAX_BUNDLE_BYTES, TILE_WIDTH, TileReader, bundles_of, tiles_of
from credshare.foundation import http_client

MAX_CHECKPOINT_BYTES = 64 * 1024
TOTAL_SECONDS = 20.0
CHECKPOINT = "checkpoint"

Fetch = Callable[[str], bytes | None]


def http_fetch(prefix: str) -> Fetch:
    """``fetch(path)`` for the tlog-tiles resources under ``prefix`` (``https://host/log``, or a
    mirror's root): the body of a 200, ``None`` for a 404, ``RemoteError`` for anything else."""
    prefix = prefix.rstrip("/")

    def fetch(path: str) -> bytes | None:
        limit = MAX_CHECKPOINT_BYTES if path == CHECKPOINT else (
            MAX_BUNDLE_BYTES if path.startswith("tile/entries/") else FULL_TILE_BYTES)
        answer = http_client.request("GET", f"{prefix}/{path}", max_bytes=limit, total_seconds=TOTAL_SECONDS)
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise http_client.RemoteError(f"{prefix}/{path}: HTTP {answer.status}")
        return answer.body

    return fetch


def directory_fetch(root: Path) -> Fetch:
    """``fetch(path)`` for a mirror kept on disk (``DIR`` of ``credshare log mirror URL DIR``):
    the file's bytes, ``None`` when it is not there. Paths never leave ``root``."""
    base = root.resolve()

    def fetch(path: str) -> bytes | None:
        target = (base / path).resolve()
        if base not in target.parents or not target.is_file():
            return None
        limit = MAX_CHECKPOINT_BYTES if path == CHECKPOINT else max(MAX_BUNDLE_BYTES, FULL_TILE_BYTES)
        with open(target, "rb") as fh:
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise http_client.RemoteError(f"{target}: larger than any tlog-tiles resource")
        return data

    return fetch


def mirror_fetch(where: str) -> Fetch:
    """A mirror by URL (tlog-tiles prefix over HTTP) or by directory on disk."""
    return directory_fetch(Path(where)) if Path(where).is_dir() else http_fetch(where)


def origin_of(note: str) -> str:
    """The origin line of a checkpoint note (not yet verified: only to pick the log's key)."""
    return note.split("\n", 1)[0]


def open_trusted(note: str, *, policy: Policy | None, log_key: NoteVerifier | None) -> tuple[Checkpoint, str]:
    """The checkpoint of ``note`` under ``policy`` (its log key and witness quorum) or ``log_key``
    alone, and a line saying how it was witnessed; ``mirror_untrusted`` without a key for its
    origin, ``mirror_witness_quorum`` when the policy's quorum is not met."""
    origin = origin_of(note)
    key = policy.log_key(origin) if policy is not None else None
    key = key or log_key
    if key is None:
        raise AnchoringError(f"no trusted key for the log {origin!r}: give --policy or --log-key",
                             code="mirror_untrusted")
    checkpoint = open_checkpoint(note, key, origin)
    if policy is None:
        return checkpoint, "witnesses not checked (no policy)"
    check, _ = witness_check(note, policy)
    if check.status == "failed":
        raise AnchoringError(check.detail, code="mirror_witness_quorum")
    return checkpoint, check.detail  # "unchecked": quorum none, or met only by development witnesses


@dataclass
class MirrorResult:
    origin: str
    old_size: int
    size: int
    fetched: int = 0  # tiles and bundles fetched from the log
    written: list[str] = field(default_factory=list)
    witnessed: str = ""

    def to_json(self) -> dict[str, object]:
        return {"origin": self.origin, "old_size": self.old_size, "size": self.size, "fetched": self.fetched,
                "written": len(self.written), "witnessed": self.witnessed}


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def mirror(fetch: Fetch, directory: Path, *, policy: Policy | None = None,
           log_key: NoteVerifier | None = None) -> MirrorResult:
    """One mirroring round from ``fetch`` (:func:`http_fetch` of ``URL/log``) into ``directory``."""
    raw = fetch(CHECKPOINT)
    if raw is None:
        raise AnchoringError("the log serves no checkpoint (it is empty)", code="checkpoint_unknown")
    try:
        note = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise AnchoringError("the checkpoint is not UTF-8", code="note_malformed") from None
    checkpoint, witnessed = open_trusted(note, policy=policy, log_key=log_key)
    old = _held_checkpoint(directory, checkpoint.origin, policy, log_key)
    result = MirrorResult(checkpoint.origin, old.size if old else 0, checkpoint.size, witnessed=witnessed)

    fetched: dict[str, bytes] = {}  # what the reader got from the log; kept once it is checked

    def read(path: str) -> bytes | None:
        local = directory / path
        if local.is_file():  # a tile's content never changes: one held already is checked again, not fetched
            return local.read_bytes()
        data = fetch(path)
        result.fetched += 1
        if data is not None:
            fetched[path] = data
        return data

    reader = TileReader(read, checkpoint)
    if old is not None:
        if old.size > checkpoint.size:
            raise AnchoringError(f"rollback: the log shows size {checkpoint.size}, the mirror holds {old.size}",
                                 code="log_rollback")
        proof = reader.consistency_proof(old.size)
        if not merkle.verify_consistency(old.size, checkpoint.size, old.root, checkpoint.root, proof):
            raise AnchoringError(f"fork: the log's tree of {checkpoint.size} does not extend the mirror's of "
                                 f"{old.size}", code="log_fork")
    reader.check_root()
    wanted = {t.path() for t in tiles_of(checkpoint.size) + bundles_of(checkpoint.size)}
    # a bundle at a time, checked, then written; those below the held checkpoint were checked when
    # it was mirrored, and the consistency proof ties its tree to this one
    for n in range((old.size if old else 0) // TILE_WIDTH, -(-checkpoint.size // TILE_WIDTH)):
        reader.entries(n * TILE_WIDTH, min((n + 1) * TILE_WIDTH, checkpoint.size))
        _flush(directory, fetched, wanted, result)
    _flush(directory, fetched, wanted, result)
    missing = [p for p in wanted if not (directory / p).is_file()]
    if missing:  # a partial tile the log no longer serves: the reader took its full tile's prefix
        raise AnchoringError(f"the log does not serve {sorted(missing)[0]}", code="tile_unavailable")
    _write_atomically(directory / CHECKPOINT, raw)
    result.written.append(CHECKPOINT)
    return result


def _flush(directory: Path, fetched: dict[str, bytes], wanted: set[str], result: MirrorResult) -> None:
    """Write what the reader fetched and checked (a tile not of this tree, such as the full tile
    read for a partial one the log no longer serves, is not written)."""
    for path, data in sorted(fetched.items()):
        if path in wanted:
            _write_atomically(directory / path, data)
            result.written.append(path)
    fetched.clear()


def _held_checkpoint(directory: Path, origin: str, policy: Policy | None,
                     log_key: NoteVerifier | None) -> Checkpoint | None:
    path = directory / CHECKPOINT
    if not path.is_file():
        return None
    held, _ = open_trusted(path.read_text(encoding="utf-8"), policy=None,
                           log_key=(policy.log_key(origin) if policy is not None else None) or log_key)
    if held.origin != origin:
        raise AnchoringError(f"{directory} mirrors {held.origin!r}, not {origin!r}", code="checkpoint_origin_mismatch")
    return held
