"""Offline proofs of logging: the C2SP tlog-proof text format (c2sp.org/tlog-proof), v1.

::

    c2sp.org/tlog-proof@v1
    extra <base64 opaque data>              (only when there is extra data)
    index <decimal leaf index>
    <base64 hash>                           (the RFC 9162 inclusion proof, one hash a line,
    ...                                      the leaf's sibling first, the root's child last)
                                            (an empty line)
    <the signed checkpoint note, verbatim: log signature and witness cosignature lines>

Standard base64 (RFC 4648 §4), newline-separated. This module builds and parses the text and
checks its structure (:func:`parse_tlog_proof`: ``tlog_proof_malformed``; a checkpoint note
that is not a well-formed signed checkpoint keeps its own ``note_malformed`` /
``checkpoint_malformed`` code). It verifies no signature: the caller opens the checkpoint with
the log key and counts cosignatures under its tlog-policy, then checks the inclusion of its
leaf hash (:meth:`TlogProof.includes`), as the spec's verification steps 2-4 say.

Where the spec leaves a choice, the nearest compliant strict form is taken, so that one proof
has one spelling: the ``extra`` line is written only for non-empty extra data and an ``extra``
line with nothing in it is refused; base64 must be canonical (padded, no stray bits); the
proof must hold exactly as many hashes as RFC 9162 needs for its index in the checkpoint's tree
size (so the index must lie inside the tree); the text after the checkpoint note is nothing;
no control character but the newline appears anywhere (signed-note forbids them in the note).
Bounds: at most :data:`MAX_PROOF_BYTES` in all, :data:`MAX_EXTRA_BYTES` of extra data,
:data:`MAX_SIGNATURES` signature lines (signed-note asks verifiers to accept 16).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.merkle import HASH_SIZE, inclusion_proof, verify_inclusion
from credshare.anchoring.note import Checkpoint, split_note
from credshare.foundation.b64 import b64_decode, b64_encode

HEADER = "c2sp.org/tlog-proof@v1"
FILE_EXTENSION = ".tlog-proof"
MAX_PROOF_BYTES = 128 * 1024
MAX_EXTRA_BYTES = 16 * 1024
MAX_SIGNATURES = 64
MAX_PROOF_HASHES = 63  # the deepest leaf of a tree of 2**63 - 1
_INDEX = re.compile(r"^index (0|[1-9][0-9]{0,18})$")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


def _malformed(detail: str) -> AnchoringError:
    return AnchoringError(detail, code="tlog_proof_malformed")


def _b64(text: str, what: str) -> bytes:
    try:
        return b64_decode(text)
    except ValueError:
        raise _malformed(f"{what} is not canonical standard base64") from None


@dataclass(frozen=True)
class TlogProof:
    """A parsed (or to-be-written) tlog-proof: leaf ``index``, its inclusion ``proof`` in the
    tree of the checkpoint ``note`` (kept verbatim, signatures unverified), and ``extra`` data
    (unauthenticated; empty when absent)."""

    index: int
    proof: tuple[bytes, ...]
    note: str
    extra: bytes = b""

    def __post_init__(self) -> None:
        checkpoint = self.checkpoint  # a well-formed signed checkpoint, or its own error
        if len(split_note(self.note)[1]) > MAX_SIGNATURES:
            raise _malformed(f"a proof's checkpoint has at most {MAX_SIGNATURES} signature lines")
        if not isinstance(self.extra, bytes) or len(self.extra) > MAX_EXTRA_BYTES:
            raise _malformed(f"extra data is at most {MAX_EXTRA_BYTES} bytes")
        if not isinstance(self.index, int) or not 0 <= self.index < checkpoint.size:
            raise _malformed(f"leaf {self.index} is not in the checkpoint's tree of {checkpoint.size}")
        if any(not isinstance(h, bytes) or len(h) != HASH_SIZE for h in self.proof):
            raise _malformed("an inclusion proof is SHA-256 hashes")
        needed = len(inclusion_proof(self.index, checkpoint.size, lambda start, end: b""))
        if len(self.proof) != needed:
            raise _malformed(f"leaf {self.index} of {checkpoint.size} needs {needed} proof hashes, not {len(self.proof)}")

    @property
    def checkpoint(self) -> Checkpoint:
        """The checkpoint's note text, parsed; NOT verified (open it with the log's key)."""
        text, _ = split_note(self.note)
        return Checkpoint.parse(text)

    def includes(self, leaf_hash: bytes, checkpoint: Checkpoint) -> bool:
        """Whether the proof places ``leaf_hash`` at ``index`` under ``checkpoint``'s root (the
        caller's verified checkpoint: the one this proof's note opens to)."""
        return verify_inclusion(leaf_hash, self.index, checkpoint.size, self.proof, checkpoint.root)

    def to_text(self) -> str:
        lines = [HEADER] + ([f"extra {b64_encode(self.extra)}"] if self.extra else []) + [f"index {self.index}"]
        lines += [b64_encode(h) for h in self.proof]
        text = "".join(line + "\n" for line in lines) + "\n" + self.note
        if len(text.encode("utf-8")) > MAX_PROOF_BYTES:
            raise _malformed(f"a tlog-proof is at most {MAX_PROOF_BYTES} bytes")
        return text


def build_tlog_proof(*, index: int, proof: Sequence[bytes], note: str, extra: bytes = b"") -> str:
    """The tlog-proof text of leaf ``index`` with its RFC 9162 ``proof`` under the signed
    checkpoint ``note`` (cosignatures included)."""
    return TlogProof(index, tuple(proof), note, extra).to_text()


def parse_tlog_proof(raw: str | bytes) -> TlogProof:
    """Parse a tlog-proof; ``tlog_proof_malformed`` for anything but the one strict form."""
    if isinstance(raw, bytes):
        if len(raw) > MAX_PROOF_BYTES:
            raise _malformed(f"a tlog-proof is at most {MAX_PROOF_BYTES} bytes")
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _malformed("a tlog-proof is UTF-8 text") from None
    if not isinstance(raw, str) or len(raw) > MAX_PROOF_BYTES or _CONTROL.search(raw):
        raise _malformed(f"a tlog-proof is text of at most {MAX_PROOF_BYTES} bytes, without control characters")
    try:
        if len(raw.encode("utf-8")) > MAX_PROOF_BYTES:
            raise _malformed(f"a tlog-proof is at most {MAX_PROOF_BYTES} bytes")
    except UnicodeEncodeError:
        raise _malformed("a tlog-proof is UTF-8 text") from None
    header, sep, rest = raw.partition("\n")
    if header != HEADER or not sep:
        raise _malformed(f"a tlog-proof starts with the line {HEADER}")
    line, _, rest = rest.partition("\n")
    extra = b""
    if line.startswith("extra "):
        extra = _b64(line[len("extra "):], "the extra data")
        if not extra:
            raise _malformed("an extra line holds data (it is left out when there is none)")
        line, _, rest = rest.partition("\n")
    match = _INDEX.match(line)
    if match is None:
        raise _malformed("the index line is 'index <decimal>', with no leading zeroes")
    hashes: list[bytes] = []
    while True:
        line, sep, rest = rest.partition("\n")
        if not sep:
            raise _malformed("the inclusion proof ends with an empty line, then the checkpoint")
        if not line:
            break
        if len(hashes) == MAX_PROOF_HASHES:
            raise _malformed("too many proof hashes")
        hashes.append(_b64(line, "a proof hash"))
    return TlogProof(int(match.group(1)), tuple(hashes), rest, extra)
