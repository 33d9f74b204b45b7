"""Following a log from outside (RFC 9162 §2.1.4 consistency, C2SP signed-note checkpoints):
what ``credshare log verify-consistency`` and ``credshare log monitor`` do.

A monitor keeps the last checkpoint it verified (``--state``, a small JSON file written
atomically). Each round it fetches the log's latest checkpoint (``GET /log/checkpoint``),
checks the log's signature, and then that the new tree extends the one it kept: a smaller
tree is a rollback (``log_rollback``); another root at the same size, or a consistency proof
(``GET /log/consistency?old=M&new=N``) that does not verify, is a fork (``log_fork``).
Answers are bounded in size and time (:mod:`foundation.http_client`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from credshare.anchoring import merkle
from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.note import Checkpoint, NoteVerifier, open_checkpoint
from credshare.anchoring.witness import MAX_PROOF_LINES
from credshare.foundation import http_client
from credshare.foundation.b64 import b64_decode, b64_encode
from credshare.foundation.errors import CredshareError

MAX_CHECKPOINT_BYTES = 64 * 1024  # a checkpoint and a few dozen signature lines
MAX_PROOF_BYTES = 128 * 45  # 2 * 64 hashes of 44 base64 characters and a newline: any real proof


def parse_proof(text: str) -> list[bytes]:
    """A consistency proof as ``GET /log/consistency`` serves it: one base64 hash per line."""
    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) > 2 * MAX_PROOF_LINES:
        raise AnchoringError("a consistency proof has at most 126 hashes", code="proof_malformed")
    proof = []
    for line in lines:
        try:
            raw = b64_decode(line.strip())
        except ValueError:
            raw = b""
        if len(raw) != merkle.HASH_SIZE:
            raise AnchoringError("each proof line is one 32-byte hash in standard base64", code="proof_malformed")
        proof.append(raw)
    return proof


def check_consistency(old: Checkpoint, new: Checkpoint, proof: list[bytes]) -> None:
    """Raise ``log_rollback`` or ``log_fork`` unless ``new`` extends ``old`` (same origin)."""
    if old.origin != new.origin:
        raise AnchoringError(f"the checkpoints are of {old.origin!r} and {new.origin!r}", code="checkpoint_origin_mismatch")
    if new.size < old.size:
        raise AnchoringError(f"rollback: the log now shows size {new.size}, after it signed size {old.size}",
                             code="log_rollback")
    if not merkle.verify_consistency(old.size, new.size, old.root, new.root, proof):
        what = "another root at the same size" if new.size == old.size else \
            f"the consistency proof from {old.size} to {new.size} does not verify"
        raise AnchoringError(f"fork: {what}; the log signed two trees that are not one history", code="log_fork")


@dataclass
class Monitor:
    """One followed log: its base URL (``https://host``), its key, and the state file."""

    url: str
    log_key: NoteVerifier
    state_path: Path | None = None
    connect_seconds: float = http_client.CONNECT_SECONDS
    total_seconds: float = http_client.TOTAL_SECONDS

    def _get(self, path: str, max_bytes: int) -> str:
        answer = http_client.request("GET", self.url.rstrip("/") + path, max_bytes=max_bytes,
                                     connect_seconds=self.connect_seconds, total_seconds=self.total_seconds)
        if answer.status != 200:
            raise CredshareError(f"{path}: HTTP {answer.status}", code="remote_unavailable")
        try:
            return answer.body.decode("utf-8")
        except UnicodeDecodeError:
            raise CredshareError(f"{path}: the answer is not UTF-8", code="remote_unavailable") from None

    def load(self) -> Checkpoint | None:
        if self.state_path is None or not self.state_path.exists():
            return None
        try:
            doc = json.loads(self.state_path.read_text())
            kept = Checkpoint(doc["origin"], int(doc["size"]), b64_decode(doc["root"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CredshareError(f"{self.state_path} is not a monitor state file", code="file_unreadable") from exc
        if kept.origin != self.log_key.name:
            raise CredshareError(f"{self.state_path} follows {kept.origin!r}, not {self.log_key.name!r}",
                                 code="file_unreadable")
        return kept

    def save(self, checkpoint: Checkpoint, note: str) -> None:
        if self.state_path is None:
            return
        tmp = self.state_path.with_name(f".{self.state_path.name}.tmp")
        tmp.write_text(json.dumps({"origin": checkpoint.origin, "size": checkpoint.size,
                                   "root": b64_encode(checkpoint.root), "note": note}))
        os.replace(tmp, self.state_path)

    def check(self, kept: Checkpoint | None) -> tuple[Checkpoint, dict[str, Any]]:
        """One round: the log's latest checkpoint, verified and checked against ``kept``
        (raises ``log_rollback``/``log_fork``); the state file moves on only when it passed."""
        note = self._get("/log/checkpoint", MAX_CHECKPOINT_BYTES)
        latest = open_checkpoint(note, self.log_key, self.log_key.name)
        report: dict[str, Any] = {"origin": latest.origin, "size": latest.size, "root": b64_encode(latest.root)}
        if kept is not None:
            proof: list[bytes] = []
            if kept.size < latest.size and kept.size > 0:
                query = urlencode({"old": kept.size, "new": latest.size})
                proof = parse_proof(self._get(f"/log/consistency?{query}", MAX_PROOF_BYTES))
            check_consistency(kept, latest, proof)
            report["consistent_with"] = kept.size
        self.save(latest, note)
        return latest, report
