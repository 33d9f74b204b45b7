"""The tlog-witness protocol's ``add-checkpoint`` call (c2sp.org/tlog-witness), both sides,
without HTTP or storage: the request body, the witness's decision, the answer.

Request body: ``old <size>\\n``, up to 63 consistency proof lines (standard base64 hashes),
an empty line, then the signed checkpoint. The witness refuses, in this order, a malformed
body (400), a checkpoint of an origin it does not witness (404), one without a valid
signature by the log's key (403), an old size above the checkpoint's (400), an old size
other than the size it last cosigned for the origin (409, answering that size as
``text/x.tlog.size``), and a checkpoint that is not consistent with what it cosigned: a
non-empty proof from size 0, a consistency proof that does not verify, another root at
the same size, a size-0 checkpoint without the empty root (422). Only then may it cosign,
after persisting the new size and root atomically with that check (the caller's job).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from credshare.anchoring import merkle
from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.note import SIGNATURE_PREFIX, Checkpoint, NoteVerifier, open_checkpoint, split_note
from credshare.foundation.b64 import b64_decode, b64_encode

MAX_PROOF_LINES = 63
MAX_REQUEST_BYTES = 64 * 1024  # a checkpoint with a few signatures and 63 hashes is a few kilobytes
MAX_RESPONSE_BYTES = 64 * 1024
SIZE_CONTENT_TYPE = "text/x.tlog.size"
_OLD = re.compile(r"^old (0|[1-9][0-9]{0,19})$")


class WitnessRefused(AnchoringError):
    """What a witness answers instead of a cosignature: an HTTP status, a code, and for 409
    the size it last cosigned (``latest_size``)."""

    def __init__(self, detail: str, *, code: str, http_status: int, latest_size: int | None = None) -> None:
        super().__init__(detail, code=code)
        self.http_status = http_status  # type: ignore[misc]  # per-instance, as CredshareError refines code
        self.latest_size = latest_size


@dataclass(frozen=True)
class AddCheckpoint:
    old_size: int
    proof: tuple[bytes, ...]
    note: str  # the signed checkpoint note, all its signatures

    def body(self) -> bytes:
        lines = [f"old {self.old_size}", *(b64_encode(h) for h in self.proof)]
        return ("".join(line + "\n" for line in lines) + "\n" + self.note).encode("utf-8")


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """The request body, or :class:`WitnessRefused` 400 (``witness_request_malformed``)."""
    def bad(why: str) -> WitnessRefused:
        return WitnessRefused(why, code="witness_request_malformed", http_status=400)

    if len(body) > MAX_REQUEST_BYTES:
        raise bad(f"an add-checkpoint body is at most {MAX_REQUEST_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise bad("the body is not UTF-8") from None
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise bad("the old size and proof lines end with an empty line before the checkpoint")
    lines = head.split("\n")
    match = _OLD.match(lines[0])
    if match is None:
        raise bad("the first line is 'old <size>' in decimal, without leading zeroes")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise bad(f"at most {MAX_PROOF_LINES} consistency proof lines")
    proof = []
    for line in lines[1:]:
        try:
            raw = b64_decode(line)
        except ValueError:
            raw = b""
        if len(raw) != merkle.HASH_SIZE:
            raise bad("each consistency proof line is one 32-byte hash in standard base64")
        proof.append(raw)
    try:
        split_note(note)
    except AnchoringError as exc:
        raise bad(f"the checkpoint is not a signed note: {exc.detail}") from None
    return AddCheckpoint(int(match.group(1)), tuple(proof), note)


def check_add_checkpoint(request: AddCheckpoint, log_keys: Sequence[NoteVerifier] | None,
                         latest: tuple[int, bytes] | None) -> Checkpoint:
    """The witness's decision on ``request``: the checkpoint to cosign, or :class:`WitnessRefused`.
    ``log_keys``: the keys the witness trusts for the checkpoint's origin (``None``: an origin it
    does not witness); ``latest``: the size and root it last cosigned for it (``None``: never)."""
    text, _ = split_note(request.note)
    try:
        origin = Checkpoint.parse(text).origin
    except AnchoringError as exc:
        raise WitnessRefused(exc.detail, code="witness_request_malformed", http_status=400) from None
    if not log_keys:
        raise WitnessRefused(f"this witness does not witness {origin!r}", code="witness_log_unknown", http_status=404)
    checkpoint = None
    for key in log_keys:
        try:
            checkpoint = open_checkpoint(request.note, key, origin)
            break
        except AnchoringError:
            continue
    if checkpoint is None:
        raise WitnessRefused(f"no valid signature by the log key of {origin!r}", code="witness_log_signature_invalid",
                             http_status=403)
    if request.old_size > checkpoint.size:
        raise WitnessRefused(f"old size {request.old_size} is above the checkpoint's {checkpoint.size}",
                             code="witness_request_malformed", http_status=400)
    latest_size, latest_root = latest if latest is not None else (0, merkle.EMPTY_ROOT)
    if request.old_size != latest_size:
        raise WitnessRefused(f"this witness last cosigned size {latest_size}", code="witness_conflict",
                             http_status=409, latest_size=latest_size)
    if checkpoint.size == 0 and checkpoint.root != merkle.EMPTY_ROOT:
        raise WitnessRefused("a checkpoint of size 0 has the empty tree's root", code="witness_proof_invalid",
                             http_status=422)
    if request.old_size == 0:
        if request.proof:
            raise WitnessRefused("from size 0 the consistency proof is empty", code="witness_proof_invalid",
                                 http_status=422)
    elif request.old_size == checkpoint.size:
        if checkpoint.root != latest_root or request.proof:
            raise WitnessRefused(f"another root at size {checkpoint.size}, which this witness cosigned already",
                                 code="witness_proof_invalid", http_status=422)
    elif not merkle.verify_consistency(request.old_size, checkpoint.size, latest_root, checkpoint.root, request.proof):
        raise WitnessRefused(f"the consistency proof from size {request.old_size} does not verify",
                             code="witness_proof_invalid", http_status=422)
    return checkpoint


def parse_cosignature_lines(body: bytes) -> list[str]:
    """A witness's 200 answer: one or more signature lines, each ``— <name> <base64>\\n``."""
    if len(body) > MAX_RESPONSE_BYTES:
        raise AnchoringError("the witness's answer is too long", code="witness_malformed")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise AnchoringError("the witness's answer is not UTF-8", code="witness_malformed") from None
    lines = text.splitlines(keepends=True)
    if not lines or any(not line.startswith(SIGNATURE_PREFIX) or not line.endswith("\n") for line in lines):
        raise AnchoringError("a witness answers signature lines, each ending in a newline", code="witness_malformed")
    return lines


def parse_size(body: bytes) -> int:
    """A 409 answer's body: the size the witness last cosigned, in decimal, then a newline."""
    match = re.fullmatch(rb"(0|[1-9][0-9]{0,19})\n", body[:32])
    if match is None:
        raise AnchoringError("a witness's 409 answer is its size in decimal and a newline", code="witness_malformed")
    return int(match.group(1))
