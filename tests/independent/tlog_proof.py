"""Reference tlog-proof, from c2sp.org/tlog-proof: parse, write and verify against a policy."""

from __future__ import annotations

from dataclasses import dataclass

from tests.independent import merkle
from tests.independent.note import ReferenceError, b64decode, b64encode, open_checkpoint
from tests.independent.policy import Policy, checkpoint_valid

HEADER = "c2sp.org/tlog-proof@v1"


@dataclass(frozen=True)
class Proof:
    index: int
    hashes: list[bytes]
    checkpoint: str
    extra: bytes | None


def parse(text: str) -> Proof:
    lines = text.split("\n")
    if lines[0] != HEADER:
        raise ReferenceError("the first line is c2sp.org/tlog-proof@v1")
    at, extra = 1, None
    if lines[at].startswith("extra "):
        extra = b64decode(lines[at][6:])
        at += 1
    if not lines[at].startswith("index "):
        raise ReferenceError("an index line")
    number = lines[at][6:]
    if not number.isascii() or not number.isdigit() or (number != "0" and number.startswith("0")):
        raise ReferenceError("the index is a decimal without leading zeroes")
    at += 1
    hashes = []
    while at < len(lines) and lines[at]:
        hashes.append(b64decode(lines[at]))
        at += 1
    if at >= len(lines):
        raise ReferenceError("an empty line before the checkpoint")
    return Proof(int(number), hashes, "\n".join(lines[at + 1:]), extra)


def write(index: int, hashes: list[bytes], checkpoint: str, extra: bytes | None = None) -> str:
    head = [HEADER] + ([f"extra {b64encode(extra)}"] if extra is not None else []) + [f"index {index}"]
    return "\n".join(head + [b64encode(h) for h in hashes]) + "\n\n" + checkpoint


def verify(text: str, leaf_hash: bytes, policy: Policy) -> bool:
    """Steps 2-4: an acceptable log signed the checkpoint, the witnesses meet the quorum, and the
    inclusion proof binds the leaf hash to the checkpoint's root."""
    try:
        proof = parse(text)
        if not checkpoint_valid(policy, proof.checkpoint):
            return False
        checkpoint = open_checkpoint(proof.checkpoint, policy.logs)
    except ReferenceError:
        return False
    return merkle.verify_inclusion(leaf_hash, proof.index, checkpoint.size, proof.hashes, checkpoint.root)
