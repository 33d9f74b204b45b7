"""The log asks its witnesses, and anyone can check its consistency (issue 12 items 2 and 4).

Witnesses here are small WSGI apps built on ``anchoring.witness.check_add_checkpoint`` (the
C2SP tlog-witness decision), each served by a werkzeug server thread on 127.0.0.1 and keeping
its state in memory; the multi-process version, with real ``credshare witness serve``
processes, lives in tests/test_witness_e2e.py. Shown: both witnesses cosign a new batch and
its credentials' anchor proofs carry both cosignatures; one down -> issuance succeeds and the
2-of-2 quorum is marked not met, until ``credshare log cosign`` asks again; a witness that
answers 409 with a smaller size is sent a proof from that size; a 409 with a size above the
log's is a recorded fork alarm. Then ``GET /log/consistency``, ``credshare log
verify-consistency`` and ``credshare log monitor``, which catches a fork (two data dirs with
the same log key serving different trees) and a rollback.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from credshare.anchoring import merkle
from credshare.anchoring.cosignature import Cosigner, cosignatures
from credshare.anchoring.note import Checkpoint, NoteVerifier, split_note
from credshare.anchoring.policy import parse_policy
from credshare.anchoring.witness import SIZE_CONTENT_TYPE, WitnessRefused, check_add_checkpoint, parse_add_checkpoint
from credshare.cli import cli
from credshare.compose import AppServices
from credshare.foundation.b64 import b64_decode
from credshare.foundation.errors import CredshareError
from credshare.issuing.batch import DirectorySink
from credshare.issuing.roster import read_roster
from credshare.webapp import create_app
from tests.conftest import services_on
from tests.helpers import TYPES, degree_row, write_csv

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Any]


class Served:
    """A WSGI app on 127.0.0.1 in a werkzeug server thread; ``app`` may be swapped while it runs."""

    def __init__(self, app: WSGIApp, port: int = 0) -> None:
        self.app = app
        self._server = make_server("127.0.0.1", port, self._dispatch, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _dispatch(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return self.app(environ, start_response)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class Witness:
    """A tlog-witness add-checkpoint endpoint: its latest (size, root) per origin in memory."""

    def __init__(self, name: str, seed: bytes) -> None:
        self.cosigner = Cosigner.from_seed(name, seed)
        self.log_keys: list[NoteVerifier] = []
        self.latest: dict[str, tuple[int, bytes]] = {}
        self.requests: list[int] = []  # the old size of each request
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        try:
            if request.method != "POST" or request.path != "/add-checkpoint":
                raise WitnessRefused("no such endpoint", code="witness_request_malformed", http_status=404)
            body = parse_add_checkpoint(request.get_data())
            self.requests.append(body.old_size)
            origin = Checkpoint.parse(split_note(body.note)[0]).origin
            keys = [k for k in self.log_keys if k.name == origin] or None
            with self._lock:
                checkpoint = check_add_checkpoint(body, keys, self.latest.get(origin))
                self.latest[origin] = (checkpoint.size, checkpoint.root)
            response = Response(self.cosigner.cosign(checkpoint.text(), int(time.time())), mimetype="text/plain")
        except WitnessRefused as refused:
            if refused.http_status == 409:
                response = Response(f"{refused.latest_size}\n", status=409, content_type=SIZE_CONTENT_TYPE)
            else:
                response = Response(refused.code + "\n", status=refused.http_status, mimetype="text/plain")
        return response(environ, start_response)


@pytest.fixture
def witnesses() -> Iterator[tuple[list[Witness], list[Served]]]:
    made = [Witness(f"witness{i}.example/w", bytes([40 + i]) * 32) for i in (1, 2)]
    served = [Served(w) for w in made]
    yield made, served
    for server in served:
        server.stop()


def _policy_file(tmp_path: Path, witnesses: list[Witness], served: list[Served]) -> Path:
    lines = [f"witness w{i} {w.cosigner.key.encode()} {s.url}" for i, (w, s) in enumerate(zip(witnesses, served, strict=True), 1)]
    path = tmp_path / "witnesses.policy"
    path.write_text("# the log's remote witnesses\n" + "\n".join(lines) + "\ngroup both all w1 w2\nquorum both\n")
    return path


@pytest.fixture
def svc(tmp_path: Path, clock, witnesses) -> Iterator[AppServices]:
    made, served = witnesses
    env = {"CREDSHARE_DATA_DIR": str(tmp_path / "data"), "CREDSHARE_PUBLIC_URL": "https://credshare.test",
           "CREDSHARE_LOCAL_WITNESSES": "1", "CREDSHARE_WITNESS_POLICY": str(_policy_file(tmp_path, made, served))}
    services = services_on(env, clock)
    for witness in made:
        witness.log_keys = [services.log.signer.verifier]
    yield services
    services.store.close()


def _issue(svc: AppServices, out: Path, count: int, start: int = 0) -> Any:
    try:
        svc.issuers.get("example-med")
    except CredshareError:
        svc.issuers.create("example-med", "Example University School of Medicine")
    roster = write_csv(out.with_suffix(".csv"), [degree_row(i, email="") for i in range(start, start + count)])
    out.mkdir()
    return svc.batches.issue("example-med", TYPES["medical-degree"], read_roster(roster), DirectorySink(out),
                             expected_rows=count)


def _cosigners(note: str, witnesses: list[Witness]) -> list[str]:
    return sorted(c.witness.name for c in cosignatures(note, [w.cosigner.key for w in witnesses]))


def test_both_witnesses_cosign_a_new_batch_and_its_anchor_proofs_carry_them(tmp_path: Path, svc, witnesses) -> None:
    made, _ = witnesses
    result = _issue(svc, tmp_path / "out", 5)
    doc = svc.log.checkpoint(result.tree_size)
    assert doc["witnessed"] == {"quorum_met": True, "asked": 2, "cosigned": ["w1", "w2"], "refused": {}}
    assert _cosigners(doc["note"], made) == ["witness1.example/w", "witness2.example/w"]
    assert result.checkpoint == doc["note"]
    for path in (tmp_path / "out").glob("*.json"):
        note = json.loads(path.read_text())["anchor_proof"]["checkpoint"]
        assert note == doc["note"] and _cosigners(note, made) == ["witness1.example/w", "witness2.example/w"]
    # the issuer's key history was logged (and sent) first, from size 0; the batch from its size
    assert all(w.requests == [0, result.first_log_index] for w in made)
    # the next batch is sent with a consistency proof from the size each witness cosigned
    second = _issue(svc, tmp_path / "out2", 3, start=5)
    assert all(w.requests == [0, result.first_log_index, result.tree_size] for w in made)
    assert svc.log.checkpoint(second.tree_size)["witnessed"]["quorum_met"] is True
    # the log's own development witness is on the note too, and never counts
    assert any("/dev-witness/1 " in line for line in doc["note"].splitlines())


def test_a_witness_down_never_stops_issuance_and_the_quorum_is_marked_not_met(tmp_path: Path, svc, witnesses) -> None:
    made, served = witnesses
    first = _issue(svc, tmp_path / "out", 2)
    served[1].stop()
    result = _issue(svc, tmp_path / "out2", 3, start=2)
    assert result.count == 3 and len(list((tmp_path / "out2").glob("*.json"))) == 3
    witnessed = svc.log.checkpoint(result.tree_size)["witnessed"]
    assert witnessed == {"quorum_met": False, "asked": 2, "cosigned": ["w1"], "refused": {"w2": "witness_unavailable"}}
    assert _cosigners(result.checkpoint, made) == ["witness1.example/w"]
    client = create_app(services=svc).test_client()
    assert client.get("/log").get_json()["latest_witnessed"]["quorum_met"] is False
    # the witness comes back on its port; asked again, it cosigns from the size it had cosigned
    served[1] = Served(made[1], served[1].port)
    again = svc.cosigning.cosign()
    assert again == {"quorum_met": True, "asked": 2, "cosigned": ["w1", "w2"], "refused": {}}
    assert made[1].requests == [0, first.first_log_index, first.tree_size]
    assert _cosigners(svc.log.checkpoint()["note"], made) == ["witness1.example/w", "witness2.example/w"]


def test_every_checkpoint_is_sent_to_the_witnesses_key_histories_and_status_lists_too(tmp_path: Path, svc,
                                                                                      witnesses) -> None:
    """A verifier judges a credential's key history and status list by their own anchor proofs:
    the checkpoints that logged them (an issuer's key history, a status list's token signed when
    a verifier first asks) are sent to the witnesses like a batch's, and carry both cosignatures."""
    made, _ = witnesses
    _issue(svc, tmp_path / "out", 2)
    sd_jwt = json.loads(next((tmp_path / "out").glob("*.json")).read_text())["sd_jwt"]
    history, status = svc.evidence.gather(sd_jwt, svc.clock.seconds())
    assert history is not None and status is not None and status.anchor_proof is not None
    both = ["witness1.example/w", "witness2.example/w"]
    assert _cosigners(status.anchor_proof["checkpoint"], made) == both
    assert _cosigners(history.anchor_proof["checkpoint"], made) == both
    first = svc.log.checkpoint(1)  # the issuer's first key history, logged when it was created
    assert _cosigners(first["note"], made) == both and first["witnessed"]["quorum_met"] is True


def test_a_delivered_proof_gets_the_cosignatures_its_checkpoint_gathered_later(tmp_path: Path, svc, witnesses) -> None:
    """Credentials delivered while a witness was down carry a note short of its quorum; once
    ``credshare log cosign`` completes that checkpoint, the log hands out the cosignatures it
    gathered with their proofs (never another checkpoint's lines)."""
    made, served = witnesses
    _issue(svc, tmp_path / "out", 2)
    served[1].stop()
    result = _issue(svc, tmp_path / "out2", 3, start=2)
    proof = json.loads(next((tmp_path / "out2").glob("*.json")).read_text())["anchor_proof"]
    assert _cosigners(proof["checkpoint"], made) == ["witness1.example/w"]
    assert svc.evidence.with_log_anchors(proof) == proof  # nothing gathered since
    served[1] = Served(made[1], served[1].port)
    assert svc.cosigning.cosign(result.tree_size)["quorum_met"] is True
    seen = svc.evidence.with_log_anchors(proof)
    assert _cosigners(seen["checkpoint"], made) == ["witness1.example/w", "witness2.example/w"]
    assert seen["checkpoint"].startswith(proof["checkpoint"]) and seen["inclusion_proof"] == proof["inclusion_proof"]
    fork = svc.log.signer.sign(Checkpoint(svc.log.origin, result.tree_size, merkle.leaf_hash(b"other")).text())
    assert svc.evidence.with_log_anchors({**proof, "checkpoint": fork})["checkpoint"] == fork


def test_log_cosign_command_asks_again_and_exits_by_the_quorum(tmp_path: Path, witnesses, clock) -> None:
    made, served = witnesses
    env = {"CREDSHARE_DATA_DIR": str(tmp_path / "data"), "CREDSHARE_LOCAL_WITNESSES": "0",
           "CREDSHARE_WITNESS_POLICY": str(_policy_file(tmp_path, made, served))}
    svc = services_on(env, clock)
    for witness in made:
        witness.log_keys = [svc.log.signer.verifier]
    svc.log.append([b"a", b"b"])  # appended, never asked
    svc.store.close()
    runner = CliRunner(env=env)
    served[0].stop()
    short = runner.invoke(cli, ["log", "cosign"])
    assert short.exit_code == 1, short.output
    assert json.loads(short.stdout) == {"quorum_met": False, "asked": 2, "cosigned": ["w2"],
                                        "refused": {"w1": "witness_unavailable"}}
    served[0] = Served(made[0], served[0].port)
    met = runner.invoke(cli, ["log", "cosign"])
    assert met.exit_code == 0, met.output
    assert json.loads(met.stdout)["cosigned"] == ["w1", "w2"]
    none = CliRunner(env={**env, "CREDSHARE_WITNESS_POLICY": ""}).invoke(cli, ["log", "cosign"])
    assert none.exit_code == 1 and json.loads(none.stdout)["error"] == "config_invalid"


def test_a_409_with_a_smaller_size_gets_a_proof_from_that_size(tmp_path: Path, svc, witnesses) -> None:
    made, _ = witnesses
    svc.log.append([b"a", b"b", b"c"])
    assert svc.cosigning.cosign()["quorum_met"] is True
    svc.store.collection("witness_requests").delete_many({})  # the log forgot what they cosigned
    svc.log.append([b"d", b"e"])
    witnessed = svc.cosigning.cosign()
    assert witnessed["quorum_met"] is True and witnessed["refused"] == {}
    assert all(w.requests == [0, 0, 3] for w in made)  # old 0 -> 409 "3" -> old 3 with a proof


def test_a_409_with_a_larger_size_is_a_recorded_fork_alarm(tmp_path: Path, svc, witnesses, caplog) -> None:
    made, _ = witnesses
    svc.log.append([b"a", b"b"])
    made[1].latest[svc.log.origin] = (1000, bytes(32))  # it has cosigned a tree of 1000 for this origin
    with caplog.at_level("ERROR"):
        witnessed = svc.cosigning.cosign()
    assert witnessed == {"quorum_met": False, "asked": 2, "cosigned": ["w1"], "refused": {"w2": "witness_fork_alarm"}}
    assert "FORK ALARM" in caplog.text and "1000" in caplog.text
    assert svc.log.checkpoint()["witnessed"]["refused"] == {"w2": "witness_fork_alarm"}


def test_the_trust_policy_and_witness_listings_label_development_witnesses(tmp_path: Path, svc, clock) -> None:
    client = create_app(services=svc).test_client()
    served = client.get("/log/trust")
    assert served.mimetype == "text/plain"
    policy = parse_policy(served.get_data())
    assert policy.logs == (svc.log.signer.verifier,) and sorted(policy.witnesses) == ["w1", "w2"]
    assert policy.satisfied({"w1", "w2"}) and not policy.satisfied({"w1"})
    listed = client.get("/log/witnesses").get_json()
    assert [(w["development_only"], w["in_policy"]) for w in listed["witnesses"]] == [(False, True), (False, True),
                                                                                    (True, False)]
    assert listed["quorum_independent"] and listed["quorum"] == "2 of (w1, w2)"
    status = client.get("/log").get_json()
    assert {w["name"]: w["development_only"] for w in status["witnesses"]} == {
        "w1": False, "w2": False, f"{svc.log.origin}/dev-witness/1": True}  # its own: on the notes, never counted
    # without a witness policy: the development witnesses, labelled, never an independent quorum
    dev = services_on({"CREDSHARE_DATA_DIR": str(tmp_path / "dev"), "CREDSHARE_LOCAL_WITNESSES": "3"}, clock)
    client = create_app(services=dev).test_client()
    policy = parse_policy(client.get("/log/trust").get_data())
    assert len(policy.witnesses) == 3 and policy.describe_quorum().startswith("2 of")
    listed = client.get("/log/witnesses").get_json()
    assert all(w["development_only"] for w in listed["witnesses"]) and listed["quorum_independent"] is False
    assert all("/dev-witness/" in w["key"] for w in client.get("/log").get_json()["witnesses"])
    dev.store.close()


# -- consistency for everyone -------------------------------------------------------------------


def _log_app(tmp_path: Path, name: str, clock, leaves: list[bytes], seed_from: Path | None = None) -> AppServices:
    """A log in its own data dir (the same log key as ``seed_from``'s when given) holding ``leaves``."""
    data = tmp_path / name
    if seed_from is not None:
        data.mkdir(mode=0o700)
        shutil.copy2(seed_from / "log_ed25519.seed", data / "log_ed25519.seed")
    svc = services_on({"CREDSHARE_DATA_DIR": str(data), "CREDSHARE_LOCAL_WITNESSES": "0"}, clock)
    for i in range(0, len(leaves), 3):
        svc.log.append(leaves[i:i + 3])
    return svc


def test_consistency_endpoint_and_offline_check(tmp_path: Path, clock) -> None:
    svc = _log_app(tmp_path, "a", clock, [f"leaf-{i}".encode() for i in range(10)])
    client = create_app(services=svc).test_client()
    answer = client.get("/log/consistency?old=3&new=10")
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    proof = [b64_decode(line) for line in answer.get_data(as_text=True).splitlines()]
    old, new = svc.log.checkpoint(3), svc.log.checkpoint(10)
    assert merkle.verify_consistency(3, 10, b64_decode(old["root"]), b64_decode(new["root"]), proof)
    assert client.get("/log/consistency?old=0&new=10").get_data() == b""
    for bad in ("old=5&new=3", "old=1&new=11", "old=-1&new=3", "old=01&new=3", "new=3", "old=x&new=3"):
        refused = client.get(f"/log/consistency?{bad}")
        assert refused.status_code == 400 and refused.get_json()["error"] == "proof_unavailable", bad
    (tmp_path / "old").write_text(old["note"])
    (tmp_path / "new").write_text(new["note"])
    (tmp_path / "proof").write_text(answer.get_data(as_text=True))
    (tmp_path / "log.key").write_text(svc.log.signer.verifier.encode())
    runner = CliRunner()
    args = ["log", "verify-consistency", str(tmp_path / "old"), str(tmp_path / "new"), str(tmp_path / "proof"),
            "--log-key", str(tmp_path / "log.key")]
    ok = runner.invoke(cli, args)
    assert ok.exit_code == 0 and json.loads(ok.stdout)["consistent"] is True, ok.output
    (tmp_path / "proof").write_text(client.get("/log/consistency?old=4&new=10").get_data(as_text=True))
    forked = runner.invoke(cli, args)
    assert forked.exit_code == 1 and json.loads(forked.stdout)["error"] == "log_fork"
    backwards = runner.invoke(cli, [*args[:2], str(tmp_path / "new"), str(tmp_path / "old"), *args[4:]])
    assert backwards.exit_code == 1 and json.loads(backwards.stdout)["error"] == "log_rollback"
    (tmp_path / "other.key").write_text(services_on({"CREDSHARE_DATA_DIR": str(tmp_path / "b"),
                                                     "CREDSHARE_LOCAL_WITNESSES": "0"}, clock).log.signer.verifier.encode())
    unsigned = runner.invoke(cli, [*args[:-1], str(tmp_path / "other.key")])
    assert unsigned.exit_code == 1 and json.loads(unsigned.stdout)["error"] in ("note_signature_invalid",
                                                                                "checkpoint_origin_mismatch")
    svc.store.close()


def test_monitor_follows_the_log_and_catches_a_fork_and_a_rollback(tmp_path: Path, clock) -> None:
    honest = _log_app(tmp_path, "honest", clock, [f"leaf-{i}".encode() for i in range(6)])
    server = Served(create_app(services=honest).wsgi_app)
    try:
        (tmp_path / "log.key").write_text(honest.log.signer.verifier.encode())
        runner = CliRunner()
        state = tmp_path / "monitor.json"
        args = ["log", "monitor", server.url, "--log-key", str(tmp_path / "log.key"), "--state", str(state), "--once"]
        first = runner.invoke(cli, args)
        assert first.exit_code == 0, first.output
        assert json.loads(first.stdout)["size"] == 6 and json.loads(state.read_text())["size"] == 6
        honest.log.append([b"leaf-6", b"leaf-7"])
        grown = runner.invoke(cli, args)
        assert grown.exit_code == 0, grown.output
        assert json.loads(grown.stdout) | {"root": ""} == {"origin": honest.log.origin, "size": 8, "root": "",
                                                           "consistent_with": 6}
        # the same key signs another tree in another data dir: a fork
        seed_dir = tmp_path / "honest"
        forked = _log_app(tmp_path, "forked", clock, [f"other-{i}".encode() for i in range(9)], seed_from=seed_dir)
        assert forked.log.signer.verifier == honest.log.signer.verifier
        server.app = create_app(services=forked).wsgi_app
        caught = runner.invoke(cli, args)
        assert caught.exit_code == 2, caught.output
        assert json.loads(caught.stdout)["error"] == "log_fork" and "fork" in caught.stderr
        assert json.loads(state.read_text())["size"] == 8  # the state stays at the last good checkpoint
        # and a tree smaller than one it signed: a rollback
        rolled = _log_app(tmp_path, "rolled", clock, [f"leaf-{i}".encode() for i in range(6)], seed_from=seed_dir)
        server.app = create_app(services=rolled).wsgi_app
        back = runner.invoke(cli, args)
        assert back.exit_code == 2 and json.loads(back.stdout)["error"] == "log_rollback"
        # the same size with another root is a fork too
        same = _log_app(tmp_path, "same", clock, [f"x-{i}".encode() for i in range(8)], seed_from=seed_dir)
        server.app = create_app(services=same).wsgi_app
        assert json.loads(runner.invoke(cli, args).stdout)["error"] == "log_fork"
        server.app = create_app(services=honest).wsgi_app
        assert runner.invoke(cli, args).exit_code == 0
        for other in (forked, rolled, same):
            other.store.close()
    finally:
        server.stop()
        honest.store.close()


def test_monitor_bounds_what_it_reads(tmp_path: Path, clock) -> None:
    """A server that answers an endless checkpoint, or never answers, is an error, not a hang."""
    def endless(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return iter(lambda: b"x" * 65536, None)

    def silent(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        time.sleep(8)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b""]

    server = Served(endless)
    try:
        key = NoteVerifier.decode(services_on({"CREDSHARE_DATA_DIR": str(tmp_path / "d"), "CREDSHARE_LOCAL_WITNESSES": "0"},
                                              clock).log.signer.verifier.encode())
        (tmp_path / "log.key").write_text(key.encode())
        args = ["log", "monitor", server.url, "--log-key", str(tmp_path / "log.key"), "--once"]
        out = CliRunner().invoke(cli, args)
        assert out.exit_code == 1 and json.loads(out.stdout)["error"] == "remote_unavailable"
        assert "more than" in json.loads(out.stdout)["detail"]
        server.app = silent
        started = time.monotonic()
        out = CliRunner().invoke(cli, args)
        assert out.exit_code == 1 and "timed out" in json.loads(out.stdout)["detail"]
        assert time.monotonic() - started < 7
    finally:
        server.stop()


def test_a_key_history_is_proven_at_the_newest_checkpoint_that_met_its_quorum(tmp_path: Path, svc, witnesses) -> None:
    """A witness down after a credential was delivered must not break the shares of it: the
    issuer's key history is proven at the newest checkpoint its witnesses completed, never at a
    newer one still short of its quorum (whose proof would fail ``witness_quorum``)."""
    made, served = witnesses
    first = _issue(svc, tmp_path / "out", 2)
    sd_jwt = json.loads(next((tmp_path / "out").glob("*.json")).read_text())["sd_jwt"]
    served[1].stop()
    short = _issue(svc, tmp_path / "out2", 3, start=2)  # the head is now short of its 2-of-2 quorum
    assert svc.log.checkpoint(short.tree_size)["witnessed"]["quorum_met"] is False
    history, _ = svc.evidence.gather(sd_jwt, svc.clock.seconds())
    assert history is not None
    proven_at = history.anchor_proof["tree_size"]
    assert proven_at == first.tree_size and svc.log.checkpoint(proven_at)["witnessed"]["quorum_met"] is True
    assert _cosigners(history.anchor_proof["checkpoint"], made) == ["witness1.example/w", "witness2.example/w"]
    # once the witness is back and has cosigned the head, the history is proven at the head again
    served[1] = Served(made[1], served[1].port)
    assert svc.cosigning.cosign()["quorum_met"] is True
    history, _ = svc.evidence.gather(sd_jwt, svc.clock.seconds())
    assert history is not None and history.anchor_proof["tree_size"] == svc.log.read_head().size
