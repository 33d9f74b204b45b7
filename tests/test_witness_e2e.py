"""The log and its witnesses as separate organisations, end to end (issue 12, "Real components
and tests"; c2sp.org/tlog-witness, tlog-cosignature, tlog-checkpoint, tlog-policy; RFC 9162).

Three kinds of process, all on 127.0.0.1, each in its own process group with its own data
directory and store, each stopped by its own pid: two ``credshare witness serve`` (a board and
a credentials verification service, each with its own cosignature/v1 key) and ``credshare
serve``, the log and credential server, whose ``CREDSHARE_WITNESS_POLICY`` (a tlog-policy file)
lists both witnesses with their vkeys and submission URLs under a quorum of both. Only the
real interfaces are used: the issuer API, the owner API, the verifier's JSON API and page,
``/log``, ``/log/checkpoint``, ``/log/trust``, ``/log/consistency``, and the ``credshare``
commands against the server's data directory. Cosignatures are checked twice: with the
independent reference written from the C2SP text (tests/independent) and with ours.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from credshare.anchoring import merkle
from credshare.anchoring.cosignature import cosignatures
from credshare.anchoring.note import Checkpoint, NoteSigner, NoteVerifier, open_checkpoint
from credshare.anchoring.witness import SIZE_CONTENT_TYPE, AddCheckpoint
from credshare.foundation.b64 import b64_decode
from credshare.storage.keys import LOG_KEY_FILE
from credshare.witnessing.service import origin_hash
from tests.e2e.conftest import CREDSHARE, LiveServer, run_cli
from tests.helpers import THREE, Browser, WitnessProcess, degree_row, register_and_confirm
from tests.independent import cosignature as ref_cosignature, note as ref_note, policy as ref_policy

pytestmark = pytest.mark.slow

EMAIL = "dr.quinn@example.org"
ISSUER = "example-med"
BOARD, FCVS = "board", "fcvs"  # the witnesses' names in the log's policy (tlog-policy names are opaque)
KEY_NAMES = {BOARD: "board.test/witness", FCVS: "fcvs.test/witness"}
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


class Witness(WitnessProcess):
    """``credshare witness serve``, the installed command itself."""

    PROGRAM = (str(CREDSHARE), "witness")


@dataclass
class World:
    tmp: Path
    log: LiveServer
    witnesses: dict[str, Witness]  # by policy name
    policy_file: Path
    log_key: NoteVerifier
    api_token: str
    owner: Browser

    def with_server(self, server: LiveServer) -> None:
        server.env["CREDSHARE_WITNESS_POLICY"] = str(self.policy_file)
        server.start()

    def issue(self, rows: int = 1, server: LiveServer | None = None, tag: int = 0) -> list[dict[str, Any]]:
        """A batch of ``rows`` credentials through the issuer API; the first is the owner's."""
        server = server or self.log
        doc = {"type": "medical-degree",
               "rows": [degree_row(tag * 100 + i, email=EMAIL if i == 0 else "") for i in range(rows)]}
        status, answer = Browser(server.url).json("POST", f"/api/v1/issuers/{ISSUER}/batches", doc,
                                                  {"Authorization": f"Bearer {self.api_token}"})
        assert status == 201, (answer, server.log()[-3000:])
        return answer["credentials"]

    def add(self, credential: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The owner adds ``credential`` to the wallet (owner API): the answer, whatever its status."""
        return self.owner.json("POST", "/api/v1/wallet/credentials", credential, {"X-CSRF-Token": self.owner.csrf()})

    def share(self, credential: dict[str, Any]) -> str:
        """The owner adds ``credential`` to the wallet and shares three fields (owner API): the token."""
        status, added = self.add(credential)
        assert status == 201, json.dumps(added, indent=1)
        status, link = self.owner.json("POST", f"/api/v1/wallet/credentials/{added['id']}/links",
                                       {"fields": THREE, "days": 7}, {"X-CSRF-Token": self.owner.csrf()})
        assert status == 201, link
        return link["url"].rsplit("/", 1)[1]

    def checkpoint(self, server: LiveServer | None = None) -> tuple[str, Checkpoint]:
        answer = (server or self.log).get("/log/checkpoint")
        assert answer.status == 200 and answer.headers["content-type"].startswith("text/plain"), answer
        note = answer.body.decode()
        return note, open_checkpoint(note, self.log_key)

    def status(self, server: LiveServer | None = None) -> dict[str, Any]:
        answer = (server or self.log).get("/log")
        assert answer.status == 200, answer
        return answer.json()


def verification_of(server: LiveServer, token: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """A verifier opens the share twice, on the JSON API and on the page (HTML): the outcome and
    each check's status, from the JSON, the same from the page, and the quorum check's detail."""
    status, shown = Browser(server.url).json("GET", f"/api/v1/shares/{token}")
    assert status == 200, shown
    report = shown["verification"]
    checks = {c["check"]: c["status"] for c in report["checks"]}
    detail = {c["check"]: c["detail"] for c in report["checks"]}
    status, html = Browser(server.url).form(f"/s/{token}", {})
    assert status == 200, html[:2000]
    page_outcome = re.search(r'id="verdict" data-outcome="([a-z_]+)"', html)
    page_checks = dict(re.findall(r'<tr data-check="([a-z_]+)" data-status="([a-z_]+)"', html))
    assert page_outcome and page_checks, html[:3000]
    return report["outcome"], checks, {"page_outcome": page_outcome.group(1), **{
        f"page_{k}": v for k, v in page_checks.items()}, "quorum_detail": detail.get("witness_quorum", ""),
        "details": detail}


def ref_vkey(key: NoteVerifier) -> ref_note.Vkey:
    return ref_note.parse_vkey(key.encode())


def cosigned_by(note: str, world: World) -> tuple[set[str], set[str]]:
    """The policy names of the remote witnesses whose cosignature/v1 lines on ``note`` verify:
    by the independent reference, and by ours."""
    keys = {name: w.key for name, w in world.witnesses.items()}
    theirs = ref_cosignature.verify_cosignatures(note, [ref_vkey(k) for k in keys.values()])
    ours = {c.witness for c in cosignatures(note, list(keys.values()))}
    return ({name for name, k in keys.items() if ref_vkey(k) in theirs},
            {name for name, k in keys.items() if k in ours})


def lines_by(note: str, key_name: str) -> int:
    return sum(1 for line in note.partition("\n\n")[2].splitlines() if line.startswith(f"\u2014 {key_name} "))


def credshare(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CREDSHARE), *args], env=server.env, capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    log = LiveServer(tmp_path / "log" / "instance")
    log_key = NoteVerifier.decode(run_cli(log, "log", "status")["log_key"])  # makes the log's key, as `serve` would
    watched = tmp_path / "witnessed-logs.policy"  # what each witness operator configures: the log's vkey
    watched.write_text(f"log {log_key.encode()}\nquorum none\n")
    started: dict[str, Witness] = {}
    try:
        for name in (BOARD, FCVS):
            (tmp_path / name).mkdir()
            started[name] = Witness(tmp_path / name / "data", KEY_NAMES[name], watched)
        policy_file = tmp_path / "log-witnesses.policy"  # what the log operator configures
        policy_file.write_text("".join(f"witness {name} {w.key.encode()} {w.url}\n" for name, w in started.items())
                               + f"group both all {BOARD} {FCVS}\nquorum both\n")
        world = World(tmp_path, log, started, policy_file, log_key, "", Browser(log.url))
        world.with_server(log)
        world.api_token = run_cli(log, "issuer", "create", ISSUER, "--name", "Example University School of Medicine")[
            "api_token"]
        register_and_confirm(world.owner, log.data_dir, EMAIL)
        yield world
    finally:
        log.stop()
        for witness in started.values():
            witness.stop()


def test_both_witnesses_cosign_one_killed_is_short_of_quorum_restarted_it_cosigns_and_refuses_rollback_and_fork(
        world: World) -> None:
    fcvs = world.witnesses[FCVS]
    trust = world.log.get("/log/trust")
    assert trust.status == 200 and trust.headers["content-type"].startswith("text/plain")
    trust_policy = ref_policy.parse(trust.body)  # the log's suggestion, read by the reference

    # 1. a new batch is cosigned by both witnesses
    (first,) = world.issue()
    note1, cp1 = world.checkpoint()
    assert {name: lines_by(note1, KEY_NAMES[name]) for name in world.witnesses} == {BOARD: 1, FCVS: 1}, note1
    by_reference, by_us = cosigned_by(note1, world)
    assert by_reference == {BOARD, FCVS}, note1
    assert by_us == {BOARD, FCVS}, note1
    assert ref_policy.checkpoint_valid(trust_policy, note1)
    status = world.status()
    assert status["latest_witnessed"] == {"quorum_met": True, "asked": 2, "cosigned": [BOARD, FCVS], "refused": {}}
    assert status["quorum_independent"] is True
    token1 = world.share(first)
    outcome, checks, page = verification_of(world.log, token1)
    assert checks["witness_quorum"] == "passed", (checks, page)
    assert page["page_witness_quorum"] == "passed", page
    assert "development" not in page["quorum_detail"], page
    assert outcome == "verified", checks

    # 2. witness B dies (kill -9); the next batch is still issued, short of its quorum
    fcvs.kill_9()
    (second,) = world.issue(tag=1)
    note2, cp2 = world.checkpoint()
    assert cp2.size > cp1.size
    assert cosigned_by(note2, world) == ({BOARD}, {BOARD}), note2
    assert not ref_policy.checkpoint_valid(trust_policy, note2)
    assert world.status()["latest_witnessed"] == {"quorum_met": False, "asked": 2, "cosigned": [BOARD],
                                                  "refused": {FCVS: "witness_unavailable"}}
    # the owner's wallet checks that credential: its witness quorum failed (never passed), refused
    status_code, refused = world.add(second)
    assert (status_code, refused["error"]) == (422, "credential_refused"), refused
    quorum = [c for c in refused["checks"] if c["check"] == "witness_quorum"]
    assert [c["status"] for c in quorum] == ["failed"], refused
    assert "not met" in quorum[0]["detail"] and "cosigned only by board" in quorum[0]["detail"], quorum
    # a verifier opening the share made in step 1 meanwhile (JSON API and page): everything it
    # rests on was witnessed before B died (the key history is proven at the newest checkpoint
    # that met its quorum, not at the short head), so it still verifies, and no check says "not met"
    outcome, checks, page = verification_of(world.log, token1)
    assert outcome == "verified" and page["page_outcome"] == outcome, (outcome, checks, page)
    assert checks["witness_quorum"] == "passed" and checks["key_history"] == "passed", checks
    assert not [name for name, detail in page["details"].items() if "not met" in detail], page

    # 3. B restarts on the same data directory; `credshare log cosign` gets its cosignature
    fcvs.start()
    assert fcvs.key == world.witnesses[FCVS].key
    done = credshare(world.log, "log", "cosign")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["quorum_met"] is True
    note2b, cp2b = world.checkpoint()
    assert (cp2b.size, cp2b.root) == (cp2.size, cp2.root)
    assert cosigned_by(note2b, world) == ({BOARD, FCVS}, {BOARD, FCVS}), note2b
    assert ref_policy.checkpoint_valid(trust_policy, note2b)
    assert world.status()["latest_witnessed"]["quorum_met"] is True
    # the credential of that batch, delivered with B's cosignature missing, now verifies: the log
    # hands out the cosignatures its checkpoint gathered since
    token2 = world.share(second)
    outcome, checks, page = verification_of(world.log, token2)
    assert checks["witness_quorum"] == "passed" and page["page_witness_quorum"] == "passed", (checks, page)
    assert (outcome, page["page_outcome"]) == ("verified", "verified"), (checks, page)
    outcome, checks, page = verification_of(world.log, token1)
    assert (outcome, page["page_outcome"]) == ("verified", "verified"), (checks, page)

    # ... and B, after its kill -9, still refuses a rollback and a fork
    status_code, kind, body = fcvs.post(AddCheckpoint(0, (), note1).body())  # the first checkpoint again
    assert (status_code, kind, body) == (409, SIZE_CONTENT_TYPE, f"{cp2.size}\n".encode())
    seed = b64_decode((world.log.data_dir / LOG_KEY_FILE).read_text().strip())
    signer = NoteSigner.from_seed(cp2.origin, seed)
    assert signer.verifier == world.log_key
    forged = signer.sign(Checkpoint(cp2.origin, cp2.size, merkle.leaf_hash(b"another tree")).text())
    status_code, _, body = fcvs.post(AddCheckpoint(cp2.size, (), forged).body())  # another root, a cosigned size
    assert (status_code, body.split(b":")[0]) == (422, b"witness_proof_invalid"), body
    status_code, _, body = fcvs.post(AddCheckpoint(cp1.size, (), forged).body())  # the fork, from an old size
    assert (status_code, body) == (409, f"{cp2.size}\n".encode())
    assert open_checkpoint(fcvs.get(f"/{origin_hash(cp2.origin)}/checkpoint")[1].decode(), world.log_key).root \
        == cp2.root  # what it serves is still the log's real tree


def test_a_forked_copy_of_the_log_is_refused_by_both_witnesses_and_a_monitor_exits_with_the_fork_code(
        world: World) -> None:
    world.issue()
    _, cp1 = world.checkpoint()
    assert world.status()["latest_witnessed"]["quorum_met"] is True

    # the operator (or an intruder) copies the log's data directory: the same key, the same history
    world.log.stop()
    copy = LiveServer(world.tmp / "copy" / "instance")
    shutil.copytree(world.log.data_dir, copy.data_dir)
    world.with_server(world.log)
    try:
        world.with_server(copy)
        world.issue(tag=1)  # the original goes on, cosigned by both
        note2, cp2 = world.checkpoint()
        assert world.status()["latest_witnessed"]["quorum_met"] is True
        key_file = world.tmp / "log.vkey"
        key_file.write_text(world.log_key.encode() + "\n")
        state = world.tmp / "monitor.json"
        followed = credshare(world.log, "log", "monitor", world.log.url, "--log-key", str(key_file),
                             "--state", str(state), "--once")
        assert followed.returncode == 0, followed.stdout + followed.stderr

        world.issue(rows=3, server=copy, tag=2)  # the copy issues a different batch: another tree
        fork_note, fork = world.checkpoint(copy)
        assert fork.origin == cp2.origin and fork.size > cp2.size, (fork, cp2)
        assert cosigned_by(fork_note, world) == (set(), set()), fork_note
        witnessed = world.status(copy)["latest_witnessed"]
        assert witnessed["quorum_met"] is False and witnessed["cosigned"] == [], witnessed
        # each answered 409 with its size (the original's, above the copy's old size), and the
        # copy's proof from that size did not verify: 422
        assert witnessed["refused"] == {BOARD: "witness_proof_invalid", FCVS: "witness_proof_invalid"}, witnessed
        # what each witness answers the copy's checkpoint from the size the copy last had cosigned
        proof = consistency_proof(copy, cp1.size, fork.size)
        for witness in world.witnesses.values():
            status_code, kind, body = witness.post(AddCheckpoint(cp1.size, proof, fork_note).body())
            assert (status_code, kind, body) == (409, SIZE_CONTENT_TYPE, f"{cp2.size}\n".encode()), witness.name
            from_theirs = consistency_proof(copy, cp2.size, fork.size)
            status_code, _, body = witness.post(AddCheckpoint(cp2.size, from_theirs, fork_note).body())
            assert (status_code, body.split(b":")[0]) == (422, b"witness_proof_invalid"), witness.name

        # a monitor that followed the original, pointed at the copy
        forked = credshare(world.log, "log", "monitor", copy.url, "--log-key", str(key_file),
                           "--state", str(state), "--once")
        assert forked.returncode == 2, forked.stdout + forked.stderr
        assert json.loads(forked.stdout)["error"] == "log_fork", forked.stdout
    finally:
        copy.stop()


def consistency_proof(server: LiveServer, old: int, new: int) -> tuple[bytes, ...]:
    answer = server.get(f"/log/consistency?old={old}&new={new}")
    assert answer.status == 200, answer
    return tuple(b64_decode(line) for line in answer.body.decode().split("\n") if line)
