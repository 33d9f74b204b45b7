"""A C2SP transparency log witness (c2sp.org/tlog-witness, c2sp.org/tlog-cosignature): the
state it keeps per log and the ``add-checkpoint`` call around the pure decision of
:func:`credshare.anchoring.witness.check_add_checkpoint`.

The witness keeps, per log origin it witnesses, one document in ``witness_checkpoints``
(``_id`` = the origin): the size and root (standard base64) it last cosigned, that checkpoint's
note (the log's signature lines it verified plus this witness's cosignature) and ``updated_at``.

tlog-witness requires the check of the old size and the write of the new state to be atomic,
or two concurrent requests could roll the record back. Here the decision is made against the
state read, and the write is a compare-and-set on exactly that state: the first checkpoint of
an origin is an insert with the unique ``_id`` (a :class:`DuplicateKeyError` means another
request won), every later one a ``find_one_and_update`` whose filter is the (size, root) the
decision was made against (no match means another request won). A request that lost re-reads
and decides again (at most :data:`CAS_ATTEMPTS` times). Only after the write has returned is
the checkpoint cosigned, so no cosignature ever leaves for a state that is not stored: the
witness never cosigns two roots for one size, nor a smaller tree, across threads, worker
processes and a ``kill -9``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from credshare.anchoring.cosignature import Cosigner, with_signature_lines
from credshare.anchoring.note import Checkpoint, NoteVerifier, split_note
from credshare.anchoring.policy import Policy
from credshare.anchoring.witness import WitnessRefused, check_add_checkpoint, parse_add_checkpoint
from credshare.foundation.b64 import b64_decode, b64_encode
from credshare.foundation.clock import Clock
from credshare.foundation.errors import DuplicateKeyError
from credshare.storage import Store

WITNESS_CHECKPOINTS = "witness_checkpoints"
CAS_ATTEMPTS = 8  # re-reads after a lost compare-and-set, before answering 503
MAX_TREE_SIZE = 2**63 - 1  # what every backend stores as an integer (BSON int64)


def origin_hash(origin: str) -> str:
    """The monitoring path element of a log: SHA-256 of its origin, lower-case hex (tlog-witness)."""
    return hashlib.sha256(origin.encode("utf-8")).hexdigest()


class WitnessService:
    """One witness: its cosigning key, the logs it witnesses (the ``log`` lines of a tlog-policy;
    a log's key name is its origin, and an origin may have several keys) and its store."""

    def __init__(self, store: Store, cosigner: Cosigner, logs: Policy, clock: Clock) -> None:
        self._checkpoints = store.collection(WITNESS_CHECKPOINTS)
        self._cosigner = cosigner
        self._clock = clock
        keys: dict[str, list[NoteVerifier]] = {}
        for key in logs.logs:
            keys.setdefault(key.name, []).append(key)
        self._log_keys = {origin: tuple(found) for origin, found in keys.items()}
        self._origins = {origin_hash(origin): origin for origin in self._log_keys}

    @property
    def key(self) -> NoteVerifier:
        """This witness's verifier key (type 0x04), for the logs' witness policies."""
        return self._cosigner.key

    def add_checkpoint(self, body: bytes) -> str:
        """The ``add-checkpoint`` call: this witness's cosignature line for the checkpoint in
        ``body``, or :class:`WitnessRefused` (400, 404, 403, 409, 422 as tlog-witness says;
        503 ``witness_unavailable`` if it lost the compare-and-set :data:`CAS_ATTEMPTS` times)."""
        request = parse_add_checkpoint(body)
        text, _ = split_note(request.note)
        origin = text.partition("\n")[0]  # if the text is no checkpoint, check_add_checkpoint says so
        keys = self._log_keys.get(origin, ())
        for _ in range(CAS_ATTEMPTS):
            doc = self._checkpoints.find_one({"_id": origin}) if keys else None
            latest = None if doc is None else (int(doc["size"]), b64_decode(doc["root"]))
            checkpoint = check_add_checkpoint(request, keys, latest)  # 404 for an origin without keys
            if checkpoint.size > MAX_TREE_SIZE:
                raise WitnessRefused(f"a tree size is at most {MAX_TREE_SIZE}", code="witness_request_malformed",
                                     http_status=400)
            note = _log_signed(request.note, keys)
            state = {"size": checkpoint.size, "root": b64_encode(checkpoint.root), "note": note,
                     "updated_at": self._clock.utcnow()}
            if not self._compare_and_set(checkpoint, doc, state):
                continue
            line = self._cosigner.cosign(text, self._timestamp())
            self._checkpoints.update_one({"_id": checkpoint.origin, "size": state["size"], "root": state["root"]},
                                         {"$set": {"note": with_signature_lines(note, [line])}})
            return line
        raise WitnessRefused("too many concurrent submissions for this log; try again", code="witness_unavailable",
                             http_status=503)

    def _compare_and_set(self, checkpoint: Checkpoint, read: dict[str, Any] | None, state: dict[str, Any]) -> bool:
        """Store ``state`` if the record is still what was ``read``; False if another request won."""
        if read is None:
            try:
                self._checkpoints.insert_one({"_id": checkpoint.origin, **state})
            except DuplicateKeyError:
                return False
            return True
        won = self._checkpoints.find_one_and_update(
            {"_id": checkpoint.origin, "size": read["size"], "root": read["root"]}, {"$set": state})
        return won is not None

    def latest_checkpoint(self, origin_hash_hex: str) -> str | None:
        """The latest checkpoint this witness cosigned for the log whose origin hashes to
        ``origin_hash_hex``, with the log's signature and this witness's cosignature (the
        monitoring endpoint); ``None`` if it never cosigned one. Should a crash have come between
        the write and the cosignature's, the note is cosigned now: the stored state is what the
        witness stands by."""
        origin = self._origins.get(origin_hash_hex)
        doc = self._checkpoints.find_one({"_id": origin}) if origin is not None else None
        if doc is None:
            return None
        note: str = doc["note"]
        text, lines = split_note(note)
        if not any(name == self.key.name and kid == self.key.key_id for name, kid, _ in lines):
            note = with_signature_lines(note, [self._cosigner.cosign(text, self._timestamp())])
        return note

    def _timestamp(self) -> int:
        return max(1, self._clock.seconds())


def _log_signed(note: str, keys: tuple[NoteVerifier, ...]) -> str:
    """The checkpoint note with only its signature lines by the log's keys (the submitted note
    may carry other witnesses' cosignatures, and lines by keys nobody here knows)."""
    text, _ = split_note(note)
    ids = {(key.name, key.key_id) for key in keys}
    kept = [line for line in note.partition("\n\n")[2].splitlines(keepends=True)
            if (split_note(f"{text}\n{line}")[1][0][:2]) in ids]
    return f"{text}\n{''.join(kept)}"
