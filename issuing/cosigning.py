"""The log asks its remote witnesses to cosign each new checkpoint: the client side of C2SP
tlog-witness ``add-checkpoint`` (c2sp.org/tlog-witness), cosignatures of type cosignature/v1
(c2sp.org/tlog-cosignature), the quorum of a tlog-policy (c2sp.org/tlog-policy).

After an append, :meth:`WitnessRequests.cosign` sends every witness of the configured policy,
concurrently (one thread each; connect 2 s, 5 s in all per witness; answers bounded), the
body ``old <size>``, the consistency proof from that size, and the checkpoint note. ``old``
is the size that witness last cosigned, kept per (origin, witness) in ``witness_requests``
(this service's collection). A 409 answer names the witness's own size: below ours, the
request is sent once more with a proof from it; above what this log ever committed, the
witness has seen another tree of this origin, a fork alarm, logged and recorded. The lines
the witnesses answer are verified and added to the stored note
(:meth:`~storage.tlog.TransparencyLog.add_cosignature_lines`), and the checkpoint records
``witnessed: {"quorum_met", "asked", "cosigned", "refused": {name: code}}``, where the quorum
is the policy's over the remote witnesses whose cosignatures are on the note (the log's own
development witnesses never count). A witness down or refusing never fails issuance.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Sequence

from credshare.anchoring.cosignature import cosignatures, is_development_witness
from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.note import Checkpoint, NoteVerifier, split_note
from credshare.anchoring.policy import Policy
from credshare.anchoring.witness import MAX_RESPONSE_BYTES, AddCheckpoint, parse_cosignature_lines, parse_size
from credshare.foundation import http_client
from credshare.foundation.clock import SYSTEM_CLOCK, Clock
from credshare.foundation.errors import CredshareError, DuplicateKeyError
from credshare.storage import Store
from credshare.storage.tlog import TransparencyLog

STATE = "witness_requests"  # one document per (origin, witness): the size it last cosigned
REFUSAL_CODES = {400: "witness_request_malformed", 403: "witness_log_signature_invalid", 404: "witness_log_unknown",
                 409: "witness_conflict", 422: "witness_proof_invalid"}
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RemoteWitness:
    name: str  # its name in the policy
    key: NoteVerifier  # its cosignature/v1 key
    url: str  # its submission prefix

    @property
    def add_checkpoint_url(self) -> str:
        return self.url.rstrip("/") + "/add-checkpoint"


@dataclass
class _Outcome:
    lines: list[str] = field(default_factory=list)
    refused: str | None = None  # the refusal's code


class WitnessRequests:
    """Asks the remote witnesses of ``policy`` (each with its submission URL) to cosign the
    checkpoints of ``log``. Without a policy, or one without witnesses, it asks no one."""

    def __init__(self, store: Store, log: TransparencyLog, policy: Policy | None, *,
                 connect_seconds: float = http_client.CONNECT_SECONDS, total_seconds: float = http_client.TOTAL_SECONDS,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self._log = log
        self._policy = policy
        self._state = store.collection(STATE)
        self._connect = connect_seconds
        self._total = total_seconds
        self._clock = clock
        self.witnesses = [] if policy is None else [
            RemoteWitness(name, key, policy.witness_urls[name]) for name, key in policy.witnesses.items()]

    def cosign(self, size: int | None = None) -> dict[str, Any] | None:
        """Ask every witness to cosign checkpoint ``size`` (default: the latest); store what they
        answered and return the checkpoint's ``witnessed`` record (``None``: no witnesses)."""
        if not self.witnesses or self._policy is None:
            return None
        doc = self._log.checkpoint(size)
        note: str = doc["note"]
        checkpoint = Checkpoint.parse(split_note(note)[0])
        with ThreadPoolExecutor(max_workers=len(self.witnesses), thread_name_prefix="witness") as pool:
            outcomes = list(pool.map(lambda w: self._ask(w, note, checkpoint), self.witnesses))
        lines = [line for outcome in outcomes for line in outcome.lines]
        self._log.add_cosignature_lines(checkpoint.size, lines)
        stored = self._log.checkpoint(checkpoint.size)["note"]
        on_note = self._policy.names_of([c.witness for c in cosignatures(stored, [w.key for w in self.witnesses])])
        witnessed = {
            "quorum_met": self._policy.satisfied(on_note), "asked": len(self.witnesses), "cosigned": sorted(on_note),
            "refused": {w.name: o.refused for w, o in zip(self.witnesses, outcomes, strict=True)
                        if o.refused and w.name not in on_note},
        }
        self._log.add_cosignature_lines(checkpoint.size, [], witnessed)
        if not witnessed["quorum_met"]:
            _log.warning("checkpoint %d of %s is short of its witness quorum (%s): cosigned by %s, refused %s",
                         checkpoint.size, checkpoint.origin, self._policy.describe_quorum(),
                         witnessed["cosigned"] or "none", witnessed["refused"])
        return witnessed

    def ask(self, size: int) -> None:
        """Have the witnesses cosign checkpoint ``size``, just made by an append (a batch's, an
        issuer's key history's, a status list's: every checkpoint the log signs), unless there
        are none or they were asked already; whatever they answer, or fail to, the caller goes on."""
        if not self.witnesses or "witnessed" in self._log.checkpoint(size):
            return
        try:
            self.cosign(size)
        except CredshareError as exc:  # the store or a stored note refused: the checkpoint stands without them
            _log.warning("the witnesses' cosignatures of checkpoint %d were not recorded: %s", size, exc.detail)

    def _ask(self, witness: RemoteWitness, note: str, checkpoint: Checkpoint) -> _Outcome:
        deadline = time.monotonic() + self._total
        old = self._last_cosigned(witness)
        if old > checkpoint.size:  # it cosigned a later checkpoint of ours already
            return _Outcome(refused="witness_conflict")
        try:
            for attempt in range(2):
                answer = self._post(witness, AddCheckpoint(old, self._proof(old, checkpoint.size), note), deadline)
                if answer.status == 200:
                    return self._accepted(witness, answer.body, note, checkpoint)
                if answer.status == 409 and answer.content_type == "text/x.tlog.size":
                    theirs = parse_size(answer.body)
                    committed = self._log.head()[0]
                    if theirs > committed:
                        _log.error("FORK ALARM: witness %s (%s) last cosigned size %d of %s, but this log has only "
                                   "ever committed %d: it has seen another tree of this origin",
                                   witness.name, witness.url, theirs, checkpoint.origin, committed)
                        return _Outcome(refused="witness_fork_alarm")
                    if theirs > checkpoint.size:  # a later checkpoint reached it first
                        self._remember(witness, theirs)
                        return _Outcome(refused="witness_conflict")
                    if attempt == 0 and theirs != old:
                        old = theirs
                        continue
                code = REFUSAL_CODES.get(answer.status, "witness_unavailable")
                _log.warning("witness %s refused checkpoint %d of %s: HTTP %d (%s)", witness.name, checkpoint.size,
                             checkpoint.origin, answer.status, answer.body[:200].decode("utf-8", "replace").strip())
                return _Outcome(refused=code)
        except http_client.RemoteError as exc:
            _log.warning("witness %s could not be asked: %s", witness.name, exc.detail)
            return _Outcome(refused="witness_unavailable")
        except AnchoringError as exc:
            _log.warning("witness %s answered something unusable: %s", witness.name, exc.detail)
            return _Outcome(refused=exc.code)
        return _Outcome(refused="witness_conflict")

    def _post(self, witness: RemoteWitness, body: AddCheckpoint, deadline: float) -> http_client.Answer:
        return http_client.request("POST", witness.add_checkpoint_url, body=body.body(), content_type="text/plain",
                                   max_bytes=MAX_RESPONSE_BYTES, connect_seconds=self._connect,
                                   total_seconds=max(0.001, deadline - time.monotonic()))

    def _proof(self, old: int, size: int) -> tuple[bytes, ...]:
        return tuple(self._log.consistency_proof(old, size)) if 0 < old < size else ()

    def _accepted(self, witness: RemoteWitness, body: bytes, note: str, checkpoint: Checkpoint) -> _Outcome:
        text = split_note(note)[0]
        mine = []
        for line in parse_cosignature_lines(body):
            if line.count("\n") == 1 and cosignatures(f"{text}\n{line}", [witness.key]):  # others' keys: ignored
                mine.append(line)
        if not mine:
            raise AnchoringError(f"{witness.name} answered no cosignature by its key", code="witness_signature_invalid")
        self._remember(witness, checkpoint.size)
        return _Outcome(lines=mine)

    def _state_id(self, witness: RemoteWitness) -> str:
        return f"{self._log.origin}|{witness.key.encode()}"

    def _last_cosigned(self, witness: RemoteWitness) -> int:
        doc = self._state.find_one({"_id": self._state_id(witness)})
        return int(doc["size"]) if doc else 0

    def _remember(self, witness: RemoteWitness, size: int) -> None:
        """Record that ``witness`` cosigned ``size`` (a record only ever grows)."""
        key = self._state_id(witness)
        fields = {"size": size, "origin": self._log.origin, "witness": witness.name, "updated_at": self._clock.utcnow()}
        if self._state.update_one({"_id": key, "size": {"$lt": size}}, {"$set": fields}).matched:
            return
        try:
            self._state.insert_one({"_id": key, **fields})
        except DuplicateKeyError:
            pass  # it exists at this size or a larger one


def witness_summary(policy: Policy, also: Sequence[NoteVerifier] = ()) -> dict[str, Any]:
    """The witnesses of a trust policy as shown to people and programs (``GET /log``, ``GET
    /log/witnesses``, ``credshare log status``): each labelled ``development_only`` when it is
    one of the log's own development witnesses, the quorum in words, and whether that quorum
    can be met by independent witnesses alone (never by the log's own keys). ``also``: other
    witness keys whose cosignatures the log's notes carry (its development witnesses when a
    remote policy is configured), listed after the policy's with ``in_policy: false``."""
    independent = {name for name, key in policy.witnesses.items() if not is_development_witness(key.name)}
    listed = [{"name": name, "key": key.encode(), "url": policy.witness_urls.get(name),
               "development_only": is_development_witness(key.name), "in_policy": True}
              for name, key in policy.witnesses.items()]
    known = set(policy.witnesses.values())
    listed += [{"name": key.name, "key": key.encode(), "url": None, "development_only": is_development_witness(key.name),
                "in_policy": False} for key in also if key not in known]
    return {
        "witnesses": listed,
        "quorum": policy.describe_quorum(),
        "quorum_independent": policy.quorum != "none" and policy.satisfied(independent),
    }
