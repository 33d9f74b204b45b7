"""The transparency log's persistence: an append-only RFC 9162 Merkle log on the store.

Layout (collections):

* ``tlog_heads``: one document per log origin: committed ``size`` and ``root``. Moving
  it with a compare-and-set on ``size`` is the single commit point of a batch. Its
  ``revision`` goes up whenever something read with the head changes without the size
  moving: a checkpoint's witness cosignatures or chain anchors, or a record kept beside a leaf
  after its append (a key history, a status list token; :meth:`TransparencyLog.bump_revision`).
  ``(size, revision)`` therefore names one state of everything logged: readers keep what
  they read under it and read the store again when the head says it changed.
* ``tlog_hashes``: complete-subtree hashes, one document per (level, run of 256 nodes).
  Node ``(level, i)`` is ``MTH`` of leaves ``[i * 2^level, (i + 1) * 2^level)``; level 0
  holds the leaf hashes. Any proof needs O(log n) of them and hashes only along the edge.
* ``tlog_entries``: the log's entries (``anchoring.merkle.entry_of``: each the SHA-256 digest
  of a logged document, 32 bytes), one document per run of 256 (an entry bundle's worth),
  written like the level-0 hash chunks: only past the head, committed by the head move. A
  batch appended as bare leaf hashes (:meth:`TransparencyLog.append_hashes`) stores none.
  They and the hash chunks are served as C2SP tlog-tiles (:meth:`LogReader.tile_data`).
* ``tlog_checkpoints``: every published checkpoint: ``note`` is the C2SP cosigned checkpoint
  (c2sp.org/tlog-cosignature): the log's signature line, then one ``cosignature/v1`` line per
  witness that cosigned it (the local development witnesses' at once, remote witnesses' as
  they answer, :meth:`TransparencyLog.add_cosignature_lines`); ``witnessed`` what the remote
  witnesses answered (``issuing.cosigning``); chain anchors.
* ``tlog_locks``: a lease that serializes appenders across threads and processes.

Crash safety without multi-document transactions: an appender takes the lease, removes
what an earlier crashed appender left beyond the committed head, writes hashes (only at
positions past the head, which no reader looks at), inserts the checkpoint, and commits by
moving the head. A crash at any instant leaves either the old head with its checkpoint or
the new one with its checkpoint. An appender whose lease ran out stops before committing;
a lease held by a dead process on this host is taken over at once.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Iterator, Sequence

from credshare.anchoring import merkle
from credshare.anchoring.cosignature import Cosigner, cosignatures, is_development_witness, with_signature_lines
from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.note import TIME_EXTENSION, Checkpoint, NoteSigner, NoteVerifier, split_note
from credshare.anchoring.proof import build_anchor_proof
from credshare.anchoring.tiles import ENTRIES, TILE_HEIGHT, TILE_WIDTH, Tile, entry_bundle
from credshare.foundation.b64 import b64_decode, b64_encode
from credshare.foundation.cache import BoundedCache
from credshare.foundation.clock import SYSTEM_CLOCK, Clock
from credshare.foundation.errors import DuplicateKeyError
from credshare.storage.store import Store

CHUNK = 256
_FULL_CHUNK_CACHE = 4096
_PROOF_CACHE = 8192
_CHECKPOINT_CACHE = 1024
HEADS, HASHES, CHECKPOINTS, LOCKS = "tlog_heads", "tlog_hashes", "tlog_checkpoints", "tlog_locks"
ENTRY_CHUNKS = "tlog_entries"


def _stored_nodes(text: str) -> int:
    """How many 32-byte node hashes a stored chunk's base64 holds."""
    return (len(text) // 4 * 3 - text[-2:].count("=")) // 32 if text else 0


def _node_at(text: str, offset: int) -> bytes:
    """Node hash ``offset`` of a stored chunk, decoding only the base64 quanta that hold it
    (b"" or a short value when the chunk does not reach that far)."""
    first = offset * 32
    start, skip = first // 3 * 4, first % 3
    return b64_decode(text[start:start + (skip + 32 + 2) // 3 * 4])[skip:skip + 32]


@dataclass(frozen=True)
class AppendResult:
    first_index: int
    size: int
    root: bytes
    checkpoint: str  # the signed note, with the local development witnesses' cosignatures


@dataclass(frozen=True)
class LogHead:
    """The committed head: ``size`` and ``root``, and the ``revision`` of what was recorded
    with it since (see the module docstring)."""

    size: int
    root: bytes
    revision: int


@dataclass
class _Overlay:
    """Node hashes computed by the append in progress, by level, from index ``start[level]``."""

    start: dict[int, int] = field(default_factory=dict)
    nodes: dict[int, list[bytes]] = field(default_factory=dict)

    def get(self, level: int, index: int) -> bytes | None:
        start = self.start.get(level)
        if start is None or index < start:
            return None
        return self.nodes[level][index - start]


class LogReader:
    """Read access to a log: checkpoints and proofs; needs no key. Worker processes use one
    to prove their share of a batch."""

    def __init__(self, store: Store, origin: str) -> None:
        self.origin = origin
        self._store = store
        self._heads = store.collection(HEADS)
        self._hashes = store.collection(HASHES)
        self._checkpoints = store.collection(CHECKPOINTS)
        self._entries = store.collection(ENTRY_CHUNKS)
        # chunks that are full and committed never change: an LRU of them (~32 MB at most)
        self._full_chunks: OrderedDict[tuple[int, int], str] = OrderedDict()
        # and so do inclusion proofs at a committed size: an LRU of those (~5 MB at most)
        self._proofs: OrderedDict[tuple[int, int], tuple[bytes, ...]] = OrderedDict()
        self._cache_lock = threading.Lock()
        # committed checkpoints as stored, by (size, head revision): read again once the revision moves
        self._checkpoint_docs: BoundedCache[dict[str, Any]] = BoundedCache(_CHECKPOINT_CACHE)

    def read_head(self) -> LogHead:
        """The committed head, read from the store (never kept)."""
        doc = self._heads.find_one({"_id": self.origin})
        if doc is None:
            raise AnchoringError(f"no log {self.origin!r}", code="log_missing")
        return LogHead(doc["size"], b64_decode(doc["root"]), int(doc.get("revision", 0)))

    def head(self) -> tuple[int, bytes]:
        head = self.read_head()
        return head.size, head.root

    def checkpoint(self, size: int | None = None, head: LogHead | None = None) -> dict[str, Any]:
        """The stored checkpoint for ``size`` (default: the latest committed one), as of
        ``head`` (default: the head read now). Kept per (size, head revision), so it is read
        from the store again as soon as the head records a change; callers must not modify it."""
        head = self.read_head() if head is None else head
        size = head.size if size is None else size
        if not 0 < size <= head.size:
            raise AnchoringError(f"no committed checkpoint of size {size}", code="checkpoint_unknown")
        kept = self._checkpoint_docs.get((size, head.revision))
        if kept is not None:
            return kept
        doc = self._stored_checkpoint(size)
        self._checkpoint_docs.put((size, head.revision), doc)
        return doc

    def _stored_checkpoint(self, size: int) -> dict[str, Any]:
        doc = self._checkpoints.find_one({"origin": self.origin, "size": size})
        if doc is None:
            raise AnchoringError(f"no checkpoint of size {size}", code="checkpoint_unknown")
        return doc

    def checkpoints(self) -> list[dict[str, Any]]:
        head_size, _ = self.head()
        return self._checkpoints.find({"origin": self.origin, "size": {"$lte": head_size}}, sort=[("size", 1)])

    def checkpoint_sizes(self, above: int, up_to: int) -> list[int]:
        """The sizes of the stored checkpoints in ``(above, up_to]``, ascending: where each
        append since a size ended (one checkpoint per append)."""
        return [doc["size"] for doc in self._checkpoints.find(
            {"origin": self.origin, "size": {"$gt": above, "$lte": up_to}}, fields=["size"], sort=[("size", 1)])]

    def _chunk_text(self, level: int, chunk: int) -> str:
        """A chunk as stored: the base64 of its node hashes ("" when there is none). Readers
        decode only the node they need from it (:func:`_node_at`)."""
        with self._cache_lock:
            cached = self._full_chunks.get((level, chunk))
            if cached is not None:
                self._full_chunks.move_to_end((level, chunk))
                return cached
        key = f"{self.origin}|{level}|{chunk}"
        return self._hashes.strings_by_id([key], "h").get(key, "")

    def _chunk(self, level: int, chunk: int) -> bytes:
        return b64_decode(self._chunk_text(level, chunk))

    def _node(self, level: int, index: int, size: int, overlay: _Overlay | None = None,
              scoped: dict[tuple[int, int], str] | None = None) -> bytes:
        if overlay is not None:
            found = overlay.get(level, index)
            if found is not None:
                return found
        if (index + 1) << level > size:
            raise AnchoringError(f"node {level}/{index} is not complete at size {size}", code="log_inconsistent")
        chunk, offset = divmod(index, CHUNK)
        if scoped is not None:
            text = scoped.get((level, chunk)) or scoped.setdefault((level, chunk), self._chunk_text(level, chunk))
        else:
            text = self._chunk_text(level, chunk)
        entry = _node_at(text, offset)
        if len(entry) != 32:
            raise AnchoringError(f"node {level}/{index} is missing from the store", code="log_inconsistent")
        if _stored_nodes(text) == CHUNK and ((chunk + 1) * CHUNK) << level <= size:
            with self._cache_lock:
                self._full_chunks[(level, chunk)] = text
                if len(self._full_chunks) > _FULL_CHUNK_CACHE:
                    self._full_chunks.popitem(last=False)
        return entry

    def subtree_hash(self, size: int, overlay: _Overlay | None = None,
                     scoped: dict[tuple[int, int], str] | None = None) -> merkle.SubtreeHash:
        def subtree(start: int, end: int) -> bytes:
            width = end - start
            if width & (width - 1) == 0 and start % width == 0:
                level = width.bit_length() - 1
                return self._node(level, start >> level, size, overlay, scoped)
            k = merkle.split_point(width)
            return merkle.node_hash(subtree(start, start + k), subtree(start + k, end))

        return subtree

    def inclusion_proof(self, index: int, size: int | None = None, head: LogHead | None = None) -> list[bytes]:
        """RFC 9162 §2.1.3 inclusion proof of leaf ``index`` at ``size`` (default: the latest;
        ``head``: the head already read). A proof at a committed size never changes, so it is
        kept and served again unread."""
        if size is not None:
            with self._cache_lock:
                kept = self._proofs.get((index, size))
                if kept is not None:
                    self._proofs.move_to_end((index, size))
                    return list(kept)
        committed = (self.read_head() if head is None else head).size
        size = committed if size is None else size
        if size > committed:
            raise AnchoringError(f"size {size} is beyond the committed {committed}", code="proof_unavailable")
        proof = merkle.inclusion_proof(index, size, self.subtree_hash(size, scoped=self._prefetch(
            size, lambda subtree: merkle.inclusion_proof(index, size, subtree))))
        with self._cache_lock:
            self._proofs[(index, size)] = tuple(proof)
            if len(self._proofs) > _PROOF_CACHE:
                self._proofs.popitem(last=False)
        return proof

    def _prefetch(self, size: int, proof: Callable[[merkle.SubtreeHash], list[bytes]]) -> dict[tuple[int, int], str]:
        """The stored chunks a proof at ``size`` will read, read together: ``proof`` is run once
        on a stand-in that only notes which complete subtrees it asks for (which ones depends on
        the sizes and indices alone, never on the hashes). Chunks kept in memory are not read."""
        wanted: set[tuple[int, int]] = set()

        def note(start: int, end: int) -> bytes:
            width = end - start
            if width & (width - 1) == 0 and start % width == 0:
                level = width.bit_length() - 1
                wanted.add((level, (start >> level) // CHUNK))
            else:
                k = merkle.split_point(width)
                note(start, start + k)
                note(start + k, end)
            return bytes(32)

        proof(note)
        chunks: dict[tuple[int, int], str] = {}
        with self._cache_lock:
            for key in wanted:
                kept = self._full_chunks.get(key)
                if kept is not None:
                    self._full_chunks.move_to_end(key)
                    chunks[key] = kept
        missing = {f"{self.origin}|{level}|{chunk}": (level, chunk) for level, chunk in wanted - chunks.keys()}
        for stored_id, text in self._hashes.strings_by_id(sorted(missing), "h").items():
            chunks[missing[stored_id]] = text
        return chunks

    def prover(self, size: int) -> Callable[[int], list[bytes]]:
        """Inclusion proofs at a committed ``size`` that keep every stored chunk they read
        (nodes below a committed size never change): for proving a whole batch at once."""
        committed, _ = self.head()
        if size > committed:
            raise AnchoringError(f"size {size} is beyond the committed {committed}", code="proof_unavailable")
        subtree = self.subtree_hash(size, scoped={})
        edges: dict[tuple[int, int], bytes] = {}  # the few ranges that are not perfect subtrees

        def remembered(start: int, end: int) -> bytes:
            width = end - start
            if width & (width - 1) == 0:
                return subtree(start, end)
            found = edges.get((start, end))
            if found is None:
                found = edges[(start, end)] = subtree(start, end)
            return found

        return lambda index: merkle.inclusion_proof(index, size, remembered)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        committed, _ = self.head()
        new_size = committed if new_size is None else new_size
        if new_size > committed:
            raise AnchoringError(f"size {new_size} is beyond the committed {committed}", code="proof_unavailable")
        scoped = self._prefetch(new_size, lambda subtree: merkle.consistency_proof(old_size, new_size, subtree))
        return merkle.consistency_proof(old_size, new_size, self.subtree_hash(new_size, scoped=scoped))

    def witnessed_size(self, index: int, head: LogHead | None = None, look_back: int = 64) -> int:
        """The newest committed checkpoint size that holds leaf ``index`` and is not marked short
        of its witness quorum (``witnessed.quorum_met`` false: a remote witness did not answer),
        looking back over at most ``look_back`` checkpoints; the head's size when none is (then
        the proof's own witness check says so). A proof at that size stays verifiable while a
        witness is down, instead of one at a newer checkpoint the witnesses have not completed."""
        head = self.read_head() if head is None else head
        if self.checkpoint(head.size, head).get("witnessed", {}).get("quorum_met") is not False:
            return head.size
        for doc in self._checkpoints.find({"origin": self.origin, "size": {"$gt": index, "$lte": head.size}},
                                          fields=["size", "witnessed"], sort=[("size", -1)], limit=look_back):
            if (doc.get("witnessed") or {}).get("quorum_met") is not False:
                return int(doc["size"])
        return head.size

    def anchor_proof(self, index: int, size: int | None = None, head: LogHead | None = None) -> dict[str, Any]:
        """The anchor proof (docs/anchor-proof.md) of leaf ``index`` at checkpoint ``size``
        (default: the latest), as of ``head`` (default: the head read now)."""
        head = self.read_head() if head is None else head
        doc = self.checkpoint(size, head)
        return build_anchor_proof(
            origin=self.origin, leaf_index=index, tree_size=doc["size"],
            inclusion=self.inclusion_proof(index, doc["size"], head), checkpoint_note=doc["note"],
            chain_anchors=list(doc.get("anchors", {}).values()),
        )

    def leaf_hashes(self, start: int, end: int) -> Iterator[bytes]:
        """Stored leaf hashes of ``[start, end)`` (for audits that recompute the tree)."""
        for index in range(start, end):
            yield self._node(0, index, end)

    # -- C2SP tlog-tiles ------------------------------------------------------------------

    def tile_data(self, tile: Tile, head: LogHead | None = None) -> bytes | None:
        """The content of a tlog-tiles tile or entry bundle of the committed tree (``head``:
        the head already read), or ``None`` when the log does not serve it: a tile past the
        tree (a full tile that is not full yet), a partial tile of a width no checkpoint of
        the log had (tlog-tiles: partial tiles exist for the sizes a checkpoint was produced
        for), an entry bundle whose entries were not stored (appended as bare leaf hashes).
        Tile ``L/N`` is the stored hash chunk ``N`` of Merkle level ``8L``; every entry of a
        bundle is checked against its stored leaf hash before it is served."""
        head = self.read_head() if head is None else head
        level = 0 if tile.level == ENTRIES else tile.level
        end = tile.index * TILE_WIDTH + tile.width  # hashes of this level the tile needs
        if end > head.size >> (TILE_HEIGHT * level):
            return None
        if not tile.full:
            lo = end << (TILE_HEIGHT * level)
            hi = min(((end + 1) << (TILE_HEIGHT * level)) - 1, head.size)
            if not self.checkpoint_sizes(lo - 1, hi):
                return None
        hashes = self._chunk(TILE_HEIGHT * level, tile.index)[:tile.width * 32]
        if len(hashes) != tile.width * 32:
            raise AnchoringError(f"tile {tile.path()} is missing from the store", code="log_inconsistent")
        if tile.level != ENTRIES:
            return hashes
        stored = self._stored_entries(tile.index)[:tile.width * 32]
        entries = [stored[i:i + 32] for i in range(0, len(stored), 32)]
        if len(entries) != tile.width or any(
                merkle.leaf_hash(entry) != hashes[i * 32:(i + 1) * 32] for i, entry in enumerate(entries)):
            return None
        return entry_bundle(entries)

    def _stored_entries(self, chunk: int) -> bytes:
        key = f"{self.origin}|{chunk}"
        return b64_decode(self._entries.strings_by_id([key], "e").get(key, ""))



class TransparencyLog(LogReader):
    """The log's writer: appends batches under a lease, signs their checkpoints and has its
    local development witnesses (``witnesses``) cosign them at once; ``remote_witnesses`` are
    the keys of the witnesses it asks over HTTP, whose cosignatures it accepts afterwards."""

    def __init__(
        self,
        store: Store,
        signer: NoteSigner,
        witnesses: Sequence[Cosigner] = (),
        *,
        remote_witnesses: Sequence[NoteVerifier] = (),
        lease_seconds: float = 120.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__(store, signer.name)
        self.signer = signer
        self.witness_signers = list(witnesses)
        self.remote_witnesses = list(remote_witnesses)
        self.lease = lease_seconds
        self._clock = clock
        self._locks = store.collection(LOCKS)
        self._checkpoints.create_index([("origin", 1), ("size", 1)], unique=True)
        self._heads.update_one(
            {"_id": self.origin},
            {"$setOnInsert": {"size": 0, "root": b64_encode(merkle.EMPTY_ROOT)}},
            upsert=True,
        )

    @property
    def witness_keys(self) -> list[NoteVerifier]:
        """Every witness whose cosignatures this log stores: local development ones, then remote."""
        return [w.key for w in self.witness_signers] + self.remote_witnesses

    def status(self) -> dict[str, Any]:
        """What a verifier needs to know about this log, all public."""
        size, root = self.head()
        return {
            "origin": self.origin,
            "tree_size": size,
            "root_hash": b64_encode(root),
            "log_key": self.signer.verifier.encode(),
            "witnesses": [{"name": key.name, "key": key.encode(), "development_only": is_development_witness(key.name)}
                          for key in self.witness_keys],
        }

    # -- appending ------------------------------------------------------------------------

    def append(self, documents: Sequence[bytes], *, timeout: float = 60.0) -> AppendResult:
        """Append documents as one batch with one checkpoint; atomic. Each is logged as its
        entry, its SHA-256 digest (``anchoring.merkle.entry_of``), which is stored and served."""
        return self.append_entries([merkle.entry_of(document) for document in documents], timeout=timeout)

    def append_entries(self, entries: Sequence[bytes], *, timeout: float = 60.0) -> AppendResult:
        """Append entries (32-byte document digests, ``anchoring.merkle.entry_of``), stored
        with their leaf hashes; atomic."""
        if any(not isinstance(e, bytes) or len(e) != 32 for e in entries):
            raise AnchoringError("a log entry is a 32-byte document digest", code="leaf_hash_invalid")
        return self._append([merkle.leaf_hash(entry) for entry in entries], list(entries), timeout)

    def append_hashes(self, leaf_hashes: Sequence[bytes], *, timeout: float = 60.0) -> AppendResult:
        """Append bare leaf hashes (their entries are not stored, so not served); atomic."""
        return self._append(leaf_hashes, None, timeout)

    def _append(self, leaf_hashes: Sequence[bytes], entries: list[bytes] | None, timeout: float) -> AppendResult:
        if not leaf_hashes:
            raise AnchoringError("a batch has at least one leaf", code="batch_empty")
        if any(len(h) != 32 for h in leaf_hashes):
            raise AnchoringError("leaf hashes are 32 bytes", code="leaf_hash_invalid")
        with self._lease(timeout) as deadline:
            old_size, _ = self.head()
            self._checkpoints.delete_many({"origin": self.origin, "size": {"$gt": old_size}})  # a crashed batch
            new_size = old_size + len(leaf_hashes)
            overlay = self._compute_nodes(old_size, new_size, list(leaf_hashes))
            self._write_nodes(old_size, overlay, entries)
            root = self.subtree_hash(new_size, overlay)(0, new_size)
            signed_at = self._clock.seconds()
            text = Checkpoint(self.origin, new_size, root, (f"{TIME_EXTENSION} {signed_at}",)).text()
            note = with_signature_lines(self.signer.sign(text), [w.cosign(text, signed_at) for w in self.witness_signers])
            doc: dict[str, Any] = {
                "origin": self.origin, "size": new_size, "root": b64_encode(root), "note": note,
                "anchors": {}, "signed_at": signed_at, "created_at": self._clock.utcnow(),
            }
            self._checkpoints.insert_one(doc)
            if time.monotonic() > deadline:
                raise AnchoringError("the append took longer than its lease; nothing was committed", code="log_lease_expired")
            moved = self._heads.update_one(
                {"_id": self.origin, "size": old_size},
                {"$set": {"size": new_size, "root": b64_encode(root), "updated_at": self._clock.utcnow()}},
            )
            if moved.matched != 1:
                raise AnchoringError("the log head moved during the append; nothing was committed", code="log_conflict")
        return AppendResult(old_size, new_size, root, note)

    def _compute_nodes(self, old_size: int, new_size: int, leaf_hashes: list[bytes]) -> _Overlay:
        overlay = _Overlay({0: old_size}, {0: leaf_hashes})
        level = 1
        while True:
            start, end = old_size >> level, new_size >> level
            if start == end:
                return overlay
            below = level - 1
            nodes = []
            for index in range(start, end):
                left = self._node(below, 2 * index, old_size, overlay)
                right = self._node(below, 2 * index + 1, new_size, overlay)
                nodes.append(merkle.node_hash(left, right))
            overlay.start[level], overlay.nodes[level] = start, nodes
            level += 1

    def _write_nodes(self, old_size: int, overlay: _Overlay, entries: list[bytes] | None = None) -> None:
        with self._store.bulk():
            self._write_node_chunks(overlay)
            if entries:
                self._write_entry_chunks(old_size, entries)

    def _write_entry_chunks(self, start: int, entries: list[bytes]) -> None:
        """Entries ``start..``, past the head only. A chunk whose committed part has no stored
        entries (appended as bare hashes) is left as it is: its bundle is not served."""
        end = start + len(entries)
        for chunk in range(start // CHUNK, (end - 1) // CHUNK + 1):
            first = chunk * CHUNK
            keep = b""
            if first < start:
                keep = self._stored_entries(chunk)[: (start - first) * 32]
                if len(keep) != (start - first) * 32:
                    continue
            lo, hi = max(first, start), min(first + CHUNK, end)
            self._entries.update_one(
                {"_id": f"{self.origin}|{chunk}"},
                {"$set": {"origin": self.origin, "chunk": chunk,
                          "e": b64_encode(keep + b"".join(entries[lo - start:hi - start]))}},
                upsert=True,
            )

    def _write_node_chunks(self, overlay: _Overlay) -> None:
        for level, start in overlay.start.items():
            nodes = overlay.nodes[level]
            end = start + len(nodes)
            for chunk in range(start // CHUNK, (end - 1) // CHUNK + 1):
                first = chunk * CHUNK
                keep = b""
                if first < start:  # the committed head of this chunk stays as it is
                    keep = self._chunk(level, chunk)[: (start - first) * 32]
                    if len(keep) != (start - first) * 32:
                        raise AnchoringError(f"chunk {level}/{chunk} is short", code="log_inconsistent")
                lo, hi = max(first, start), min(first + CHUNK, end)
                data = keep + b"".join(nodes[lo - start:hi - start])
                self._hashes.update_one(
                    {"_id": f"{self.origin}|{level}|{chunk}"},
                    {"$set": {"origin": self.origin, "level": level, "chunk": chunk, "h": b64_encode(data)}},
                    upsert=True,
                )

    # -- checkpoints after the fact -------------------------------------------------------

    def add_cosignature_lines(self, size: int, lines: Sequence[str],
                              witnessed: dict[str, Any] | None = None) -> list[NoteVerifier]:
        """Add witnesses' cosignature lines (``— <name> <base64>\\n``, as a tlog-witness answers)
        to the stored note of checkpoint ``size``, and record ``witnessed`` (what asking them
        gave) with it. Each line is verified first against :attr:`witness_keys`: one by an
        unknown key is ignored, as tlog-witness says; one by a known key that does not verify
        is refused (``witness_signature_invalid``) and nothing is stored. A witness that already
        has a line on the note keeps it. Returns the witnesses whose line was added; bumps the
        head revision when anything was written."""
        self.checkpoint(size)  # committed?
        for _ in range(8):  # compare-and-set on the note: concurrent callers each add theirs
            doc = self._stored_checkpoint(size)
            note: str = doc["note"]
            text, held = split_note(note)
            have = {(name, kid) for name, kid, _ in held}
            added: list[NoteVerifier] = []
            new_lines: list[str] = []
            for line in lines:
                if not isinstance(line, str) or not line.endswith("\n") or line.count("\n") != 1:
                    raise AnchoringError("a cosignature is one signature line", code="witness_malformed")
                found = cosignatures(f"{text}\n{line}", self.witness_keys)
                if not found:
                    continue
                key = found[0].witness
                if (key.name, key.key_id) not in have:
                    have.add((key.name, key.key_id))
                    added.append(key)
                    new_lines.append(line)
            update: dict[str, Any] = {}
            if new_lines:
                update["note"] = with_signature_lines(note, new_lines)
            if witnessed is not None:
                update["witnessed"] = witnessed
            if not update:
                return []
            moved = self._checkpoints.update_one({"_id": doc["_id"], "note": note}, {"$set": update})
            if moved.matched == 1:
                self.bump_revision()
                return added
        raise AnchoringError(f"the note of checkpoint {size} kept changing; try again", code="log_busy")

    def add_chain_anchor(self, size: int, anchor: dict[str, Any]) -> None:
        """Record a chain anchor (``anchoring.chain.ChainAnchor.to_json()``), keyed by its tx."""
        doc = self.checkpoint(size)
        tx_hash = anchor.get("tx_hash")
        if not isinstance(tx_hash, str) or not tx_hash.startswith("0x") or "." in tx_hash:
            raise AnchoringError("a chain anchor names its 0x transaction hash", code="anchor_malformed")
        self._checkpoints.update_one({"_id": doc["_id"]}, {"$set": {f"anchors.{tx_hash}": anchor}})
        self.bump_revision()

    def bump_revision(self) -> None:
        """Record that something read together with the head changed while the size did not:
        a checkpoint's cosignatures or anchors, or a record kept beside a leaf (a key history,
        a status list token), called after that write. Readers keep what they read under
        ``(size, revision)`` (read after the head) and so see the change on their next read."""
        self._heads.update_one({"_id": self.origin}, {"$inc": {"revision": 1}})

    # -- the lease ------------------------------------------------------------------------

    @contextmanager
    def _lease(self, timeout: float) -> Iterator[float]:
        """Hold the append lease; yields the monotonic deadline for committing."""
        token = self._acquire(timeout)
        try:
            yield time.monotonic() + self.lease * 0.8  # stop well before another may take over
        finally:
            self._locks.update_one({"_id": self.origin, "owner": token}, {"$set": {"owner": None}})

    def _acquire(self, timeout: float) -> str:
        token = lease_owner()
        deadline = time.monotonic() + timeout
        while True:
            now = self._clock.utcnow()
            try:
                doc = self._locks.find_one_and_update(
                    {"_id": self.origin, "$or": [{"owner": None}, {"expires_at": {"$lt": now}}]},
                    {"$set": {"owner": token, "expires_at": now + timedelta(seconds=self.lease)}},
                    upsert=True,
                )
            except DuplicateKeyError:
                doc = None  # held by someone else
            if doc is not None and doc.get("owner") == token:
                return token
            holder = self._locks.find_one({"_id": self.origin})
            owner = (holder or {}).get("owner")
            if owner and lease_owner_gone(owner):
                self._locks.update_one({"_id": self.origin, "owner": owner}, {"$set": {"owner": None}})
                continue
            if time.monotonic() > deadline:
                raise AnchoringError("another appender holds the log; try again", code="log_busy")
            time.sleep(0.02 + secrets.randbelow(30) / 1000)


def lease_owner() -> str:
    """Who holds a lease (the log's append lease, a batch's): ``host:pid:thread:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}:{secrets.token_hex(4)}"


def lease_owner_gone(owner: str) -> bool:
    """Is the process a :func:`lease_owner` token names known to be dead (a process of this
    host, not this one, that no longer exists)? False whenever it cannot be told."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
