"""The C2SP witness server (c2sp.org/tlog-witness): ``credshare witness serve``.

In-process tests drive the blueprint through Flask's test client on a real embedded store;
the slow ones start TWO witness processes on 127.0.0.1 (each in its own process group and
data directory) and POST real HTTP bodies built from a log made with the anchoring core
(a :class:`NoteSigner` and :func:`merkle.memory_subtree`): cosigning from size 0 and with a
consistency proof, every refusal, kill -9 and restart, concurrent conflicting submissions.
"""

from __future__ import annotations

import hashlib
import secrets
import stat
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import pytest
from click.testing import CliRunner

from credshare.anchoring import merkle
from credshare.anchoring.cosignature import Cosigner, cosignatures
from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.note import COSIGNATURE_V1_ALG, Checkpoint, NoteSigner, NoteVerifier, open_checkpoint
from credshare.anchoring.witness import MAX_REQUEST_BYTES, SIZE_CONTENT_TYPE, AddCheckpoint, parse_cosignature_lines
from credshare.cli_witness import witness_group
from credshare.foundation.b64 import b64_decode, b64_encode
from credshare.foundation.clock import ManualClock
from credshare.storage import open_store
from credshare.storage.store import Collection
from credshare.witness_app import WITNESS_KEY_FILE, WitnessSettings, create_witness_app, load_cosigner, load_logs
from credshare.witnessing import service as witness_service
from credshare.witnessing.service import WitnessService, origin_hash
from tests.conftest import free_port
from tests.helpers import WitnessProcess

ORIGIN = "credshare.test/log/7e57"
T = TypeVar("T")


class Log:
    """A log as the anchoring core makes one: leaves, signed checkpoints, add-checkpoint bodies."""

    def __init__(self, origin: str = ORIGIN, seed: bytes | None = None, leaves: list[bytes] | None = None) -> None:
        self.signer = NoteSigner.from_seed(origin, seed or secrets.token_bytes(32))
        self.leaves = list(leaves or [])

    @property
    def key(self) -> NoteVerifier:
        return self.signer.verifier

    def grow(self, size: int, tag: bytes = b"") -> Log:
        while len(self.leaves) < size:
            self.leaves.append(merkle.leaf_hash(b"credential %d %s" % (len(self.leaves), tag)))
        return self

    def fork(self, at: int) -> Log:
        """The same key and origin and the first ``at`` leaves: grown with another tag, a fork."""
        return Log(self.signer.name, bytes(self.signer.signing_key), self.leaves[:at])

    def note(self, size: int) -> str:
        root = merkle.root_of(self.leaves[:size])
        return self.signer.sign(Checkpoint(self.signer.name, size, root).text())

    def body(self, old: int, size: int, proof: list[bytes] | None = None) -> bytes:
        if proof is None:
            proof = merkle.consistency_proof(old, size, merkle.memory_subtree(self.leaves))
        return AddCheckpoint(old, tuple(proof), self.note(size)).body()


def policy_text(*logs: Log) -> str:
    return "".join(f"log {log.key.encode()}\n" for log in logs) + "quorum none\n"


def cosigned_by(note: str, lines: bytes | str, key: NoteVerifier) -> list[int]:
    """The timestamps of ``key``'s valid cosignatures on ``note`` once ``lines`` are added."""
    text = lines.decode() if isinstance(lines, bytes) else lines
    return [c.timestamp for c in cosignatures(note + "".join(parse_cosignature_lines(text.encode())), [key])]


# -- in process: the blueprint and the service ------------------------------------------------


@pytest.fixture
def log() -> Log:
    return Log().grow(8)


@pytest.fixture
def witness(tmp_path: Path, log: Log) -> Iterator[tuple[Any, WitnessService, ManualClock]]:
    (tmp_path / "logs.policy").write_text(policy_text(log))
    settings = WitnessSettings(tmp_path / "w", "witness.test/w1", tmp_path / "logs.policy")
    store = open_store(None, settings.data_dir)
    clock = ManualClock()
    service = WitnessService(store, load_cosigner(settings.data_dir, settings.name), load_logs(settings.logs_file), clock)
    app = create_witness_app(settings, service)
    yield app.test_client(), service, clock
    store.close()


def test_the_first_checkpoint_from_size_0_is_cosigned_and_the_cosignature_verifies(witness, log: Log) -> None:
    client, service, clock = witness
    answer = client.post("/add-checkpoint", data=log.body(0, 3))
    assert answer.status_code == 200, answer.data
    assert answer.content_type.startswith("text/plain")
    assert cosigned_by(log.note(3), answer.data, service.key) == [clock.seconds()]
    with pytest.raises(AnchoringError) as other:  # it signs that checkpoint, not another
        cosigned_by(log.note(4), answer.data, service.key)
    assert other.value.code == "witness_signature_invalid"


def test_the_next_checkpoint_needs_a_consistency_proof_from_the_last_one(witness, log: Log) -> None:
    client, service, _ = witness
    assert client.post("/add-checkpoint", data=log.body(0, 3)).status_code == 200
    answer = client.post("/add-checkpoint", data=log.body(3, 7))
    assert answer.status_code == 200, answer.data
    assert cosigned_by(log.note(7), answer.data, service.key)
    assert client.post("/add-checkpoint", data=log.body(7, 7)).status_code == 200  # the same again: same tree


def test_refusals_have_the_status_and_the_code_the_protocol_gives(witness, log: Log) -> None:
    client, _, _ = witness
    assert client.post("/add-checkpoint", data=log.body(0, 5)).status_code == 200
    fork = log.fork(3).grow(8, b"other")

    def post(body: bytes) -> tuple[int, str, str]:
        answer = client.post("/add-checkpoint", data=body)
        return answer.status_code, answer.content_type, answer.get_data(as_text=True)

    def refused(body: bytes) -> tuple[int, str]:
        status, kind, text = post(body)
        assert kind == "text/plain; charset=utf-8" and text.count("\n") == 1 and text.endswith("\n"), (kind, text)
        return status, text.split(":")[0]

    assert post(log.body(3, 4)) == (409, SIZE_CONTENT_TYPE, "5\n")  # a smaller tree, from a stale old size
    assert refused(fork.body(5, 5, proof=[])) == (422, "witness_proof_invalid")  # another root at size 5
    assert post(fork.body(3, 5)) == (409, SIZE_CONTENT_TYPE, "5\n")  # the fork, from a stale old size
    honest = merkle.consistency_proof(5, 8, merkle.memory_subtree(log.leaves))
    assert refused(fork.body(5, 8, proof=honest)) == (422, "witness_proof_invalid")  # the log's proof, the fork's root
    bad = list(honest)
    bad[0] = bytes(32)
    assert refused(log.body(5, 8, proof=bad)) == (422, "witness_proof_invalid")
    assert refused(log.body(5, 8, proof=[])) == (422, "witness_proof_invalid")
    assert refused(log.body(5, 8, proof=honest[:-1])) == (422, "witness_proof_invalid")
    assert refused(Log(ORIGIN).grow(8).body(5, 8)) == (403, "witness_log_signature_invalid")  # the origin, another key
    assert refused(Log("elsewhere.test/log").grow(2).body(0, 2)) == (404, "witness_log_unknown")
    for malformed in (b"", b"old 05\n\n" + log.note(8).encode(), b"old 5\n" + log.note(8).encode(),
                      b"old 5\nnot base64\n\n" + log.note(8).encode(), b"old 9\n\n" + log.note(8).encode(),
                      b"\xff\xfe", b"old 5\n\nnot a note\n"):
        assert refused(malformed) == (400, "witness_request_malformed"), malformed
    assert post(log.body(5, 8))[0] == 200  # and the honest next one still goes in


def test_a_note_with_a_bad_line_by_the_log_key_is_refused_even_beside_a_good_one(witness, log: Log) -> None:
    """tlog-witness: 403 when a line's key name and ID match a trusted key but its signature
    does not verify (signed-note calls such a note malformed), whichever line comes first."""
    client, _, _ = witness
    note = log.note(3)
    text, _, line = note.partition("\n\n")
    name, _, tag = line.rstrip("\n").partition(" ")[2].partition(" ")
    raw = bytearray(b64_decode(tag))
    raw[-1] ^= 1
    bad = f"\u2014 {name} {b64_encode(bytes(raw))}\n"
    for lines in (line + bad, bad + line):
        answer = client.post("/add-checkpoint", data=AddCheckpoint(0, (), f"{text}\n\n{lines}").body())
        assert answer.status_code == 403, (lines, answer.data)
    assert client.post("/add-checkpoint", data=AddCheckpoint(0, (), note).body()).status_code == 200


def test_a_body_over_the_bound_is_refused_before_it_is_read(witness) -> None:
    client, _, _ = witness
    answer = client.post("/add-checkpoint", data=b"x" * (MAX_REQUEST_BYTES + 1))
    assert (answer.status_code, answer.get_data(as_text=True).split(":")[0]) == (413, "request_too_large")
    assert client.get("/add-checkpoint").status_code == 405
    assert client.get("/nothing").get_data(as_text=True).startswith("not_found: ")


def test_the_monitoring_endpoint_serves_the_latest_cosigned_checkpoint(witness, log: Log) -> None:
    client, service, _ = witness
    path = f"/{origin_hash(ORIGIN)}/checkpoint"
    assert client.get(path).status_code == 404
    assert client.post("/add-checkpoint", data=log.body(0, 4)).status_code == 200
    served = client.get(path).get_data(as_text=True)
    assert open_checkpoint(served, log.key).size == 4
    assert cosignatures(served, [service.key])
    assert client.get(f"/{origin_hash('elsewhere.test/log')}/checkpoint").status_code == 404
    assert client.get(f"/{origin_hash(ORIGIN).upper()}/checkpoint").status_code == 404


def test_the_stored_note_keeps_the_log_signature_and_drops_lines_by_unknown_keys(witness, log: Log) -> None:
    client, service, _ = witness
    other = Cosigner.from_seed("someone.else/w", secrets.token_bytes(32))
    note = log.note(2)
    submitted = note + other.cosign(note.partition("\n\n")[0] + "\n", 1_700_000_000)
    assert client.post("/add-checkpoint", data=AddCheckpoint(0, (), submitted).body()).status_code == 200
    served = service.latest_checkpoint(origin_hash(ORIGIN))
    assert served is not None and "someone.else/w" not in served
    assert open_checkpoint(served, log.key).size == 2 and cosignatures(served, [service.key])


def _racing(monkeypatch: pytest.MonkeyPatch, service: WitnessService, rival: bytes) -> list[str]:
    """Let ``rival`` be submitted between the first request's decision and its write."""
    decide = witness_service.check_add_checkpoint
    rival_lines: list[str] = []
    pending = [rival]

    def decide_then_lose(*args: Any) -> Any:
        decided = decide(*args)
        if pending:
            rival_lines.append(service.add_checkpoint(pending.pop()))
        return decided

    monkeypatch.setattr(witness_service, "check_add_checkpoint", decide_then_lose)
    return rival_lines


@pytest.mark.parametrize("first", [True, False], ids=["first-checkpoint-insert", "later-compare-and-set"])
def test_a_request_that_loses_the_race_decides_again_on_what_won(witness, log: Log, monkeypatch, first: bool) -> None:
    client, service, _ = witness
    old = 0 if first else 2
    if not first:
        assert client.post("/add-checkpoint", data=log.body(0, 2)).status_code == 200
    fork = log.fork(old).grow(6, b"rival")
    assert merkle.root_of(fork.leaves) != merkle.root_of(log.leaves[:6])
    rival_lines = _racing(monkeypatch, service, fork.body(old, 6))
    answer = client.post("/add-checkpoint", data=log.body(old, 6))
    assert (answer.status_code, answer.data) == (409, b"6\n")  # decided against the old state: lost, told the size
    assert cosigned_by(fork.note(6), rival_lines[0], service.key)
    served = service.latest_checkpoint(origin_hash(ORIGIN))
    assert served is not None and open_checkpoint(served, log.key).root == merkle.root_of(fork.leaves[:6])


def at_once(submit: Callable[[bytes], T], bodies: list[bytes]) -> list[T]:
    """``submit`` each body in its own thread, all released together; the answers in any order."""
    barrier = threading.Barrier(len(bodies))
    answers: list[T] = []

    def run(body: bytes) -> None:
        barrier.wait(timeout=60)
        answers.append(submit(body))

    threads = [threading.Thread(target=run, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(answers) == len(bodies)
    return answers


def test_concurrent_conflicting_submissions_in_threads_give_one_cosignature(witness, log: Log) -> None:
    _, service, _ = witness

    def submit(body: bytes) -> int:
        try:
            service.add_checkpoint(body)
            return 200
        except witness_service.WitnessRefused as exc:
            return exc.http_status

    statuses = at_once(submit, [log.fork(0).grow(4, b"thread %d" % i).body(0, 4) for i in range(6)])
    assert sorted(statuses) == [200, 409, 409, 409, 409, 409]


class Crash(BaseException):
    """The process dies here (nothing after it runs)."""


def test_a_crash_between_the_write_and_the_cosigned_note_still_serves_a_cosigned_checkpoint(witness, log: Log,
                                                                                            monkeypatch) -> None:
    client, service, _ = witness

    def crash(*_args: Any, **_kwargs: Any) -> None:
        raise Crash

    monkeypatch.setattr(Collection, "update_one", crash)
    with pytest.raises(Crash):
        service.add_checkpoint(log.body(0, 3))  # the state is written, the answer never left
    monkeypatch.undo()
    served = service.latest_checkpoint(origin_hash(ORIGIN))
    assert served is not None and cosignatures(served, [service.key]) and open_checkpoint(served, log.key).size == 3
    assert client.post("/add-checkpoint", data=log.body(0, 3)).data == b"3\n"  # and it stands by that state


def test_witness_key_makes_the_key_once_and_prints_the_same_vkey(tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(witness_group, ["key", "--data-dir", str(tmp_path / "w"), "--name", "board.test/w"])
    again = runner.invoke(witness_group, ["key", "--data-dir", str(tmp_path / "w"), "--name", "board.test/w"])
    assert first.exit_code == 0 and first.output == again.output
    key = NoteVerifier.decode(first.output, alg=COSIGNATURE_V1_ALG)
    assert key.name == "board.test/w"
    assert stat.S_IMODE((tmp_path / "w" / WITNESS_KEY_FILE).stat().st_mode) == 0o600
    bad = runner.invoke(witness_group, ["key", "--data-dir", str(tmp_path / "w"), "--name", "has space"])
    assert bad.exit_code == 1 and '"error": "config_invalid"' in bad.output
    too_long = runner.invoke(witness_group, ["key", "--data-dir", str(tmp_path / "w"), "--name", "w" * 256])
    assert too_long.exit_code == 2


def test_serve_refuses_a_logs_file_without_logs_before_starting(tmp_path: Path) -> None:
    (tmp_path / "empty.policy").write_text("quorum none\n")
    (tmp_path / "bad.policy").write_text("log not-a-key\nquorum none\n")
    runner = CliRunner()
    for name in ("empty.policy", "bad.policy", "missing.policy"):
        done = runner.invoke(witness_group, ["serve", "--data-dir", str(tmp_path / "w"), "--name", "w.test/w",
                                             "--logs", str(tmp_path / name), "--port", str(free_port())])
        assert done.exit_code == 1 and '"error": "config_invalid"' in done.output, (name, done.output)


def test_the_credshare_command_line_has_the_witness_group_and_the_log_group_lost_it() -> None:
    from credshare import cli, cli_log

    assert cli.cli.commands["witness"] is witness_group
    assert set(witness_group.commands) == {"key", "serve"}
    assert not hasattr(cli_log, "witness_group")


# -- two witness processes ---------------------------------------------------------------------


@pytest.fixture
def two_witnesses(tmp_path: Path) -> Iterator[tuple[Log, WitnessProcess, WitnessProcess]]:
    log = Log().grow(12)
    logs_file = tmp_path / "logs.policy"
    logs_file.write_text("# the logs this witness watches\n" + policy_text(log, Log("other.test/log")))
    started: list[WitnessProcess] = []
    try:
        started.append(WitnessProcess(tmp_path / "w1", "board.test/w1", logs_file))
        started.append(WitnessProcess(tmp_path / "w2", "fcvs.test/w2", logs_file, "--workers", "2", "--threads", "4"))
        yield log, started[0], started[1]
    finally:
        for proc in started:
            proc.stop()


def _key_of(witness: WitnessProcess) -> NoteVerifier:
    """The vkey of the one line ``witness <NAME> <vkey> listening on http://HOST:PORT``."""
    words = witness.banner.split(" ")
    assert len(words) == 6 and words[:2] == ["witness", witness.name], witness.banner
    assert words[3:] == ["listening", "on", f"http://127.0.0.1:{witness.port}"], witness.banner
    return NoteVerifier.decode(words[2], alg=COSIGNATURE_V1_ALG)


@pytest.mark.slow
def test_two_witness_processes_cosign_refuse_and_survive_kill_9(two_witnesses) -> None:
    log, w1, w2 = two_witnesses
    keys = {w: _key_of(w) for w in (w1, w2)}
    runner = CliRunner()
    printed = runner.invoke(witness_group, ["key", "--data-dir", str(w1.data_dir), "--name", w1.name]).output.strip()
    assert printed == keys[w1].encode()  # what `witness key` prints is what serves
    for witness in (w1, w2):  # a new batch, cosigned by both
        status, kind, body = witness.post(log.body(0, 5))
        assert (status, kind.split(";")[0]) == (200, "text/plain"), body
        assert cosigned_by(log.note(5), body, keys[witness])
        assert witness.post(log.body(5, 8))[0] == 200
    both = cosignatures(w1.get(f"/{origin_hash(ORIGIN)}/checkpoint")[1].decode()
                        + "".join(w2.get(f"/{origin_hash(ORIGIN)}/checkpoint")[1].decode().partition("\n\n")[2]),
                        list(keys.values()))
    assert {c.witness for c in both} == set(keys.values())

    fork = log.fork(5).grow(12, b"fork")
    full = merkle.memory_subtree(log.leaves)

    def refusals(witness: WitnessProcess) -> dict[str, tuple[int, bytes]]:
        bad = merkle.consistency_proof(8, 10, full)
        bad[-1] = hashlib.sha256(bad[-1]).digest()
        out = {"rollback": witness.post(log.body(5, 6)), "fork": witness.post(fork.body(8, 8, proof=[])),
               "stale fork": witness.post(fork.body(5, 8)), "bad proof": witness.post(log.body(8, 10, proof=bad)),
               "wrong key": witness.post(Log(ORIGIN).grow(10).body(8, 10)),
               "unknown": witness.post(Log("nobody.test/log").grow(1).body(0, 1)),
               "malformed": witness.post(b"old 8\n" + log.note(10).encode())}
        return {name: (status, body.split(b":")[0]) for name, (status, _, body) in out.items()}

    expected = {"rollback": (409, b"8\n"), "fork": (422, b"witness_proof_invalid"), "stale fork": (409, b"8\n"),
                "bad proof": (422, b"witness_proof_invalid"), "wrong key": (403, b"witness_log_signature_invalid"),
                "unknown": (404, b"witness_log_unknown"), "malformed": (400, b"witness_request_malformed")}
    assert refusals(w1) == expected
    assert refusals(w2) == expected

    w1.kill_9()  # as an OOM killer or a power cut would
    w1.start()
    assert _key_of(w1) == keys[w1]
    assert refusals(w1) == expected  # it still knows size 8 and its root
    status, _, body = w1.post(log.body(8, 10))
    assert status == 200 and cosigned_by(log.note(10), body, keys[w1])
    status, _, body = w1.post(log.body(8, 11))
    assert (status, body) == (409, b"10\n")


@pytest.mark.slow
def test_concurrent_conflicting_submissions_to_two_workers_give_exactly_one_cosignature(two_witnesses) -> None:
    log, _, w2 = two_witnesses  # w2 runs two gunicorn worker processes
    key = _key_of(w2)
    assert w2.post(log.body(0, 2))[0] == 200
    old = 2
    for round_no in range(4):
        forks = [log.fork(old).grow(old + 2, b"round %d racer %d" % (round_no, i)) for i in range(4)]
        results = at_once(lambda body: w2.post(body)[::2], [fork.body(old, old + 2) for fork in forks])
        assert sorted(status for status, _ in results) == [200, 409, 409, 409], results
        assert all(answer == f"{old + 2}\n".encode() for status, answer in results if status == 409)
        checkpoint = open_checkpoint(w2.get(f"/{origin_hash(ORIGIN)}/checkpoint")[1].decode(), log.key)
        (winner,) = [f for f in forks if merkle.root_of(f.leaves) == checkpoint.root]
        (line,) = [answer for status, answer in results if status == 200]
        assert cosigned_by(winner.note(old + 2), line, key)  # the one cosignature is for the tree it stored
        log, old = winner, old + 2  # the log goes on from the fork that got in
