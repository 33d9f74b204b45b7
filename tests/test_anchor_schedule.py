"""Chain anchors without a person (issue 12, item 6): issuing/anchor_schedule.py, its settings,
`credshare log anchor --due`, and what the verifier says of the endpoints it read.

The schedule's logic runs first against a publisher the test controls (fails on demand, blocks
on demand), then against ganache 7: a real node over HTTP on 127.0.0.1, one of them in its own
process group so it can be stopped (node down) and started again on the same chain. Time is a
ManualClock the tests move; nothing sleeps to wait for a schedule.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from credshare.anchoring.chain import AnchorPublishError, ChainAnchor
from credshare.anchoring.note import NoteSigner
from credshare.compose import AppServices
from credshare.foundation.clock import ManualClock
from credshare.foundation.config import load_settings
from credshare.foundation.errors import ConfigError
from credshare.foundation.periodic import BACKOFF_MAX, backoff
from credshare.issuing.anchor_schedule import STATE, AnchorSchedule, AnchorThread
from credshare.storage import Store, open_store
from credshare.storage.tlog import TransparencyLog
from tests.conftest import GANACHE, Ganache, _await_chain_id, _rpc, free_port, services_on, stop_process_group
from tests.helpers import TYPES, ListSink, degree_row

ORIGIN = "credshare.test/log"
SIGNER = NoteSigner.from_seed(ORIGIN, bytes(range(32)))


class FakeChain:
    """A publisher that records what it anchored; ``down`` makes it fail like an unreachable node,
    ``hold`` makes it wait (inside publish) until released."""

    def __init__(self) -> None:
        self.published: list[tuple[str, int, bytes]] = []
        self.down = False
        self.hold: threading.Event | None = None
        self.entered = threading.Event()

    def publish(self, origin: str, size: int, root: bytes) -> ChainAnchor:
        self.entered.set()
        if self.hold is not None:
            assert self.hold.wait(60), "the test never released the publisher"
        if self.down:
            raise AnchorPublishError("http://127.0.0.1:9 could not be reached")
        self.published.append((origin, size, root))
        tx = "0x" + hashlib.sha256(b"%d" % len(self.published)).hexdigest()
        return ChainAnchor(1337, tx, 100 + len(self.published), 1_800_000_000, origin, size, root)


@pytest.fixture
def tlog(tmp_path: Path) -> Iterator[TransparencyLog]:
    store = open_store(None, tmp_path / "data")
    yield TransparencyLog(store, SIGNER)
    store.close()


def schedule_on(log: TransparencyLog, chain: FakeChain, clock: ManualClock, store: Store | None = None,
                **every: int) -> AnchorSchedule:
    return AnchorSchedule(store or log._store, log, chain.publish, clock=clock, **every)


def checkpoint(log: TransparencyLog) -> int:
    """Publish one more checkpoint (one leaf); its size."""
    return log.append([os.urandom(16)]).size


# -- the schedule ----------------------------------------------------------------------------


def test_every_nth_checkpoint_is_anchored(tlog: TransparencyLog, clock: ManualClock) -> None:
    chain = FakeChain()
    schedule = schedule_on(tlog, chain, clock, every_checkpoints=3)
    results = []
    for _ in range(7):
        checkpoint(tlog)
        results.append(schedule.run_once().result)
    assert results == ["not_due", "not_due", "anchored", "not_due", "not_due", "anchored", "not_due"]
    assert [size for _, size, _ in chain.published] == [3, 6]
    doc = tlog.checkpoint(6)
    (anchor,) = doc["anchors"].values()
    assert anchor["tree_size"] == 6 and anchor["root_hash"] == doc["root"] and anchor["origin"] == ORIGIN
    assert tlog.anchor_proof(0, 6)["chain_anchors"] == [anchor]
    state = schedule.status()
    assert (state["anchored_size"], state["last_tx"], state["attempts"], state["last_error"]) == (
        6, anchor["tx_hash"], 0, None)


def test_t_minutes_after_the_last_anchor(tlog: TransparencyLog, clock: ManualClock) -> None:
    chain = FakeChain()
    schedule = schedule_on(tlog, chain, clock, every_minutes=10)
    assert schedule.run_once().reason == "no checkpoint since the last anchor"  # the schedule starts counting
    checkpoint(tlog)
    clock.advance(9 * 60 + 59)
    assert not schedule.due() and schedule.run_once().result == "not_due"
    clock.advance(1)
    assert schedule.due()
    assert schedule.run_once().result == "anchored" and [s for _, s, _ in chain.published] == [1]
    clock.advance(3600)
    assert schedule.run_once().reason == "no checkpoint since the last anchor"  # nothing new: no anchor
    checkpoint(tlog)
    checkpoint(tlog)
    assert schedule.run_once().result == "anchored"  # the last anchor is more than T minutes old
    assert [s for _, s, _ in chain.published] == [1, 3]
    checkpoint(tlog)
    clock.advance(10 * 60 - 1)
    assert schedule.run_once().result == "not_due"


def test_either_trigger_anchors(tlog: TransparencyLog, clock: ManualClock) -> None:
    chain = FakeChain()
    schedule = schedule_on(tlog, chain, clock, every_checkpoints=2, every_minutes=5)
    checkpoint(tlog)
    assert schedule.run_once().result == "not_due"
    checkpoint(tlog)
    assert schedule.run_once().result == "anchored"  # by count
    checkpoint(tlog)
    clock.advance(300)
    assert schedule.run_once().result == "anchored"  # by time
    assert [s for _, s, _ in chain.published] == [2, 3]


def test_back_off_is_exponential_and_bounded() -> None:
    assert [backoff(n) for n in range(8)] == [0, 30, 60, 120, 240, 480, 960, 1800]
    assert backoff(9) == backoff(500) == BACKOFF_MAX == 1800


def test_a_failure_is_recorded_and_retried_after_the_back_off(tlog: TransparencyLog, clock: ManualClock) -> None:
    chain = FakeChain()
    schedule = schedule_on(tlog, chain, clock, every_checkpoints=1)
    checkpoint(tlog)
    chain.down = True
    start = clock.now()
    first = schedule.run_once()
    assert (first.result, first.error, first.next_try) == ("failed", "anchor_publish_failed", start + 30)
    state = schedule.status()
    assert state["attempts"] == 1 and state["next_try"] == start + 30
    assert state["last_error"] == {"code": "anchor_publish_failed", "detail": "http://127.0.0.1:9 could not be reached",
                                   "at": start}
    checkpoint(tlog)  # issuance goes on meanwhile
    clock.advance(29)
    assert not schedule.due() and schedule.run_once().result == "not_due"
    clock.advance(1)
    assert schedule.run_once().next_try == clock.now() + 60  # the second failure waits twice as long
    clock.advance(60)
    chain.down = False  # the node is back
    done = schedule.run_once()
    assert done.result == "anchored" and done.tree_size == 2
    state = schedule.status()
    assert (state["attempts"], state["next_try"], state["last_error"], state["anchored_size"]) == (0, None, None, 2)
    assert list(tlog.checkpoint(2)["anchors"]) == [done.anchor["tx_hash"]]  # type: ignore[index]


def test_an_unexpected_error_is_recorded_never_raised(tlog: TransparencyLog, clock: ManualClock) -> None:
    def broken(origin: str, size: int, root: bytes) -> ChainAnchor:
        raise RuntimeError("boom")

    schedule = AnchorSchedule(tlog._store, tlog, broken, every_checkpoints=1, clock=clock)
    checkpoint(tlog)
    outcome = schedule.run_once()
    assert (outcome.result, outcome.error) == ("failed", "anchor_publish_failed")
    assert schedule.status()["attempts"] == 1


def test_an_anchor_made_by_hand_counts(tlog: TransparencyLog, clock: ManualClock) -> None:
    """`credshare log anchor` anchored the latest checkpoint already: the schedule records it
    and publishes nothing more for it."""
    chain = FakeChain()
    schedule = schedule_on(tlog, chain, clock, every_checkpoints=1)
    size = checkpoint(tlog)
    by_hand = FakeChain().publish(ORIGIN, size, tlog.head()[1])
    tlog.add_chain_anchor(size, by_hand.to_json())
    outcome = schedule.run_once()
    assert outcome.result == "anchored" and outcome.anchor == by_hand.to_json()
    assert chain.published == [] and schedule.status()["anchored_size"] == size


def test_racing_threads_anchor_once(tmp_path: Path, clock: ManualClock) -> None:
    """Two schedules over two connections to one store (as two workers have): while one holds
    the lease and publishes, the other is told it is busy; afterwards it finds nothing due."""
    stores = [open_store(None, tmp_path / "data") for _ in range(2)]
    try:
        logs = [TransparencyLog(store, SIGNER) for store in stores]
        checkpoint(logs[0])
        chain = FakeChain()
        chain.hold = threading.Event()
        first, second = (schedule_on(log, chain, clock, store, every_checkpoints=1)
                         for log, store in zip(logs, stores, strict=True))
        outcomes: list[str] = []
        worker = threading.Thread(target=lambda: outcomes.append(first.run_once().result))
        worker.start()
        assert chain.entered.wait(30)
        assert second.run_once().result == "busy"
        chain.hold.set()
        worker.join(30)
        assert outcomes == ["anchored"]
        assert second.run_once().reason == "no checkpoint since the last anchor"
        assert len(chain.published) == 1 and len(logs[1].checkpoint(1)["anchors"]) == 1
    finally:
        for store in stores:
            store.close()


def test_many_racing_threads_anchor_once(tlog: TransparencyLog, clock: ManualClock) -> None:
    from tests.helpers import race

    chain = FakeChain()
    schedule = schedule_on(tlog, chain, clock, every_checkpoints=1)
    checkpoint(tlog)
    outcomes = race(6, lambda _: schedule.run_once().result)
    assert outcomes["anchored"] == 1 and sum(outcomes.values()) == 6
    assert set(outcomes) <= {"anchored", "busy", "not_due"}
    assert len(chain.published) == 1


def test_a_lease_of_a_dead_process_is_taken_over(tlog: TransparencyLog, clock: ManualClock) -> None:
    chain = FakeChain()
    schedule = schedule_on(tlog, chain, clock, every_checkpoints=1)
    checkpoint(tlog)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    state = tlog._store.collection(STATE)
    schedule.state()
    state.update_one({"_id": ORIGIN}, {"$set": {"owner": f"{socket.gethostname()}:{gone.pid}:1:ab",
                                                "lease_until": clock.now() + 900}})
    assert schedule.run_once().result == "anchored"
    # a live holder (this process, another thread) is respected until its lease runs out
    checkpoint(tlog)
    state.update_one({"_id": ORIGIN}, {"$set": {"owner": f"{socket.gethostname()}:{os.getpid()}:1:cd",
                                                "lease_until": clock.now() + 900}})
    assert schedule.run_once().result == "busy"
    clock.advance(901)
    assert schedule.run_once().result == "anchored"
    assert [s for _, s, _ in chain.published] == [1, 2]


def test_the_thread_runs_the_schedule_and_stops(tlog: TransparencyLog, clock: ManualClock) -> None:
    chain = FakeChain()
    schedule = schedule_on(tlog, chain, clock, every_checkpoints=1)
    checkpoint(tlog)
    thread = AnchorThread(schedule, interval=0.01).start()
    try:
        assert chain.entered.wait(30), "the thread never ran the schedule"
    finally:
        thread.stop(timeout=30)
    assert not thread.alive
    assert schedule.status()["anchored_size"] == 1


# -- settings --------------------------------------------------------------------------------


def key_file(tmp_path: Path, key: str = "0x" + "11" * 32, mode: int = 0o600) -> Path:
    path = tmp_path / "anchor.key"
    path.write_text(key + "\n")
    path.chmod(mode)
    return path


def anchor_env(tmp_path: Path, rpc: str, key: Path, **extra: str) -> dict[str, str]:
    return {"CREDSHARE_DATA_DIR": str(tmp_path / "data"), "CREDSHARE_LOCAL_WITNESSES": "2",
            "CREDSHARE_PUBLIC_URL": "https://credshare.test", "CREDSHARE_ARGON2_PROFILE": "test",
            "CREDSHARE_ANCHOR_RPC": rpc, "CREDSHARE_ANCHOR_KEY_FILE": str(key), **extra}


def test_settings_of_the_schedule(tmp_path: Path) -> None:
    base = {"CREDSHARE_DATA_DIR": str(tmp_path / "data")}
    off = load_settings(base)
    assert not off.anchor_schedule_on and off.anchor_rpc is None and off.anchor_key_file is None
    key = key_file(tmp_path)
    on = load_settings({**base, "CREDSHARE_ANCHOR_RPC": "https://node.example/v3/SECRET",
                        "CREDSHARE_ANCHOR_KEY_FILE": str(key), "CREDSHARE_ANCHOR_EVERY_CHECKPOINTS": "4",
                        "CREDSHARE_ANCHOR_EVERY_MINUTES": "60"})
    assert (on.anchor_every_checkpoints, on.anchor_every_minutes, on.anchor_key_file) == (4, 60, key)
    assert on.anchor_schedule_on and "SECRET" not in repr(on)


@pytest.mark.parametrize(("change", "words"), [
    ({"CREDSHARE_ANCHOR_RPC": ""}, "need CREDSHARE_ANCHOR_RPC"),
    ({"CREDSHARE_ANCHOR_KEY_FILE": ""}, "need CREDSHARE_ANCHOR_RPC and CREDSHARE_ANCHOR_KEY_FILE"),
    ({"CREDSHARE_ANCHOR_RPC": "ws://node.example/SECRET"}, "http(s) JSON-RPC URL"),
    ({"CREDSHARE_ANCHOR_KEY_FILE": "/nonexistent/key"}, "names no readable file"),
    ({"CREDSHARE_ANCHOR_EVERY_CHECKPOINTS": "-1"}, "whole number"),
    ({"CREDSHARE_ANCHOR_EVERY_MINUTES": "soon"}, "whole number"),
])
def test_bad_schedule_settings_are_refused(tmp_path: Path, change: dict[str, str], words: str) -> None:
    env = {"CREDSHARE_DATA_DIR": str(tmp_path / "data"), "CREDSHARE_ANCHOR_RPC": "http://127.0.0.1:8545",
           "CREDSHARE_ANCHOR_KEY_FILE": str(key_file(tmp_path)), "CREDSHARE_ANCHOR_EVERY_CHECKPOINTS": "1", **change}
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert words in info.value.detail and "SECRET" not in info.value.detail


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    env = {"CREDSHARE_DATA_DIR": str(tmp_path / "data"), "CREDSHARE_ANCHOR_RPC": "http://127.0.0.1:8545",
           "CREDSHARE_ANCHOR_KEY_FILE": str(key_file(tmp_path, mode=0o640))}
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert "readable by other users" in info.value.detail and "chmod 600" in info.value.detail
    key_file(tmp_path, mode=0o400)
    assert load_settings(env).anchor_key_file is not None


def test_services_have_a_schedule_only_when_configured(tmp_path: Path, clock: ManualClock) -> None:
    key = key_file(tmp_path)
    off = services_on(anchor_env(tmp_path, "http://127.0.0.1:9", key), clock)
    try:
        assert off.anchor_schedule is None
    finally:
        off.store.close()
    on = services_on(anchor_env(tmp_path, "http://127.0.0.1:9", key, CREDSHARE_ANCHOR_EVERY_MINUTES="15"), clock)
    try:
        schedule = on.anchor_schedule
        assert schedule is not None and (schedule.every_checkpoints, schedule.every_minutes) == (0, 15)
    finally:
        on.store.close()


# -- on ganache ------------------------------------------------------------------------------


class Node:
    """ganache 7 in its own process group on a fixed port and database, so it can be stopped
    (the node is down) and started again on the same chain."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.key = ""

    def start(self) -> None:
        keys = self.workdir / "keys.json"
        log_path = self.workdir / "ganache.log"
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(GANACHE), "--server.host", "127.0.0.1", "--server.port", str(self.port), "--server.ws", "false",
                 "--wallet.deterministic", "--wallet.accountKeysPath", str(keys), "--chain.chainId", "1337",
                 "--database.dbPath", str(self.workdir / "db"), "--logging.quiet"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.workdir,
                start_new_session=True)
        _await_chain_id(self.url, self.port, self.proc, log_path)
        first = _rpc(self.url, "eth_accounts")[0]
        self.key = json.loads(keys.read_text())["private_keys"][first.lower()]

    def stop(self) -> None:
        if self.proc is not None:
            stop_process_group(self.proc)
            self.proc = None


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    if not os.access(GANACHE, os.X_OK):
        pytest.fail(f"{GANACHE} is missing: run `npm ci` to install ganache")
    workdir = tmp_path / "ganache"
    workdir.mkdir()
    started = Node(workdir)
    started.start()
    try:
        yield started
    finally:
        started.stop()


def issue_one(svc: AppServices, holder_jwk: str = "") -> dict[str, Any]:
    sink = ListSink()
    svc.batches.issue("example-med", TYPES["medical-degree"], [(2, degree_row(0, email="", holder_jwk=holder_jwk))],
                      sink)
    (credential,) = sink.items
    return credential


@pytest.mark.slow  # ganache, stopped and started again
def test_on_ganache_every_nth_checkpoint_node_down_and_back(tmp_path: Path, clock: ManualClock, node: Node) -> None:
    """Every 2nd checkpoint is anchored on a real node; the node goes down: issuing goes on, the
    attempt fails and is recorded, the retry before the back-off is not made, the one after it,
    with the node back, anchors; every anchor verifies on the node."""
    from credshare.anchoring.ethereum import chain_checker
    from credshare.anchoring.proof import verify_anchor_proof

    svc = services_on(anchor_env(tmp_path, node.url, key_file(tmp_path, node.key),
                                 CREDSHARE_ANCHOR_EVERY_CHECKPOINTS="2"), clock)
    try:
        schedule = svc.anchor_schedule
        assert schedule is not None
        svc.issuers.create("example-med", "Example University School of Medicine")  # logs its key history
        assert len(svc.log.checkpoints()) == 1 and schedule.run_once().result == "not_due"
        issue_one(svc)
        assert len(svc.log.checkpoints()) == 2
        done = schedule.run_once()
        assert done.result == "anchored", done
        size = svc.log.head()[0]
        assert done.tree_size == size and done.anchor is not None and done.anchor["test_anchor"] is True
        proof = svc.log.anchor_proof(size - 1, size)
        verdict = verify_anchor_proof(proof, b"", log_key=svc.log.signer.verifier, chain_check=chain_checker([node.url]))
        (chain,) = [c for c in verdict.checks if c.name == "chain_anchor"]
        assert chain.status == "passed", chain.detail

        node.stop()
        issue_one(svc)
        credential = issue_one(svc)  # issuance does not wait for the chain
        assert credential["anchor_proof"]["tree_size"] == svc.log.head()[0]
        failed = schedule.run_once()
        assert (failed.result, failed.error) == ("failed", "anchor_publish_failed"), failed
        state = schedule.status()
        assert state["attempts"] == 1 and state["last_error"]["code"] == "anchor_publish_failed"
        assert state["next_try"] == clock.now() + 30 and state["anchored_size"] == size

        node.start()
        assert schedule.run_once().result == "not_due"  # still backing off
        clock.advance(30)
        again = schedule.run_once()
        assert again.result == "anchored", again
        head = svc.log.head()[0]
        assert again.tree_size == head > size
        assert schedule.status()["attempts"] == 0 and schedule.status()["last_error"] is None
        later = svc.log.anchor_proof(head - 1, head)
        verdict = verify_anchor_proof(later, b"", log_key=svc.log.signer.verifier, chain_check=chain_checker([node.url]))
        assert [c.status for c in verdict.checks if c.name == "chain_anchor"] == ["passed"]
    finally:
        svc.store.close()


@pytest.mark.slow  # ganache
def test_on_ganache_after_t_minutes_and_the_report_names_the_endpoints(
        tmp_path: Path, clock: ManualClock, ganache: Ganache) -> None:
    """T minutes pass on the clock: the latest checkpoint is anchored on ganache. The server's
    verification report then says what it read, from how many endpoints, and whether they agree;
    an endpoint it could not read is named."""
    from credshare.disclosure.jws import Signer
    from credshare.disclosure.presentation import KeyBindingRequest, present
    from credshare.disclosure.verification import KeyBindingPolicy

    dead = f"http://127.0.0.1:{free_port()}"
    env = anchor_env(tmp_path, ganache.url, key_file(tmp_path, ganache.private_key), CREDSHARE_ANCHOR_EVERY_MINUTES="30",
                     CREDSHARE_ETH_RPC=f"{ganache.url},{ganache.url}/")
    svc = services_on(env, clock)
    try:
        schedule = svc.anchor_schedule
        assert schedule is not None
        svc.issuers.create("example-med", "Example University School of Medicine")
        holder = Signer.generate("EdDSA")
        credential = issue_one(svc, json.dumps(holder.public_jwk))
        assert schedule.run_once().result == "not_due"
        clock.advance(30 * 60)
        done = schedule.run_once()
        assert done.result == "anchored", done
        anchor = done.anchor
        assert anchor is not None

        presentation = present(credential["sd_jwt"], [("legal_name",)],
                               KeyBindingRequest(holder, "link-1", "n-1", clock.seconds()))
        kb = KeyBindingPolicy(required=True, audience="link-1", nonce="n-1")
        report = svc.evidence.verify(presentation, credential["anchor_proof"], key_binding=kb)
        (chain,) = [c for c in report.checks if c.name == "chain_anchor"]
        assert chain.status == "passed", chain.detail
        assert chain.detail.startswith(f"anchored on chain 1337, tx {anchor['tx_hash']} in block "
                                       f"{anchor['block_number']} at ")
        assert "read from 2 of 2 endpoints, all agree" in chain.detail and "test anchor" in chain.detail

        one_down = services_on({**env, "CREDSHARE_ETH_RPC": f"{ganache.url},{dead}"}, clock)
        try:
            report = one_down.evidence.verify(presentation, credential["anchor_proof"], key_binding=kb)
        finally:
            one_down.store.close()
        (chain,) = [c for c in report.checks if c.name == "chain_anchor"]
        assert chain.status == "unchecked", chain.detail
        assert "read from 1 of 2 endpoints, which confirms it, none contradicts it" in chain.detail
        assert f"could not read endpoint 1 ({dead}): could not be reached" in chain.detail
    finally:
        svc.store.close()


@pytest.mark.slow  # two processes importing web3, and ganache
def test_two_processes_racing_anchor_due_anchor_once(tmp_path: Path, ganache: Ganache) -> None:
    """`credshare log anchor --due` (the cron form) started twice at once on one data dir: one
    anchor on the chain and in the log; the other process finds it busy or already done."""
    env = {**os.environ, **anchor_env(tmp_path, ganache.url, key_file(tmp_path, ganache.private_key),
                                      CREDSHARE_ANCHOR_EVERY_CHECKPOINTS="1")}
    store = open_store(None, tmp_path / "data")
    try:
        from credshare.compose import build_services

        svc = build_services(load_settings(env))
        svc.log.append([b"leaf-0", b"leaf-1"])
        command = [sys.executable, "-m", "credshare", "log", "anchor", "--due"]
        procs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  start_new_session=True) for _ in range(2)]
        answers = []
        for proc in procs:
            out, err = proc.communicate(timeout=240)
            assert proc.returncode == 0, (out, err)
            answers.append(json.loads(out))
        results = sorted(a["result"] for a in answers)
        assert results[0] == "anchored" and results[1] in ("busy", "not_due"), answers
        assert len(svc.log.checkpoint(2)["anchors"]) == 1
        assert answers[0]["schedule"]["every_checkpoints"] == 1
        again = subprocess.run(command, env=env, capture_output=True, timeout=240, check=False)
        assert again.returncode == 0 and json.loads(again.stdout)["result"] == "not_due"
        svc.store.close()
    finally:
        store.close()
        for proc in procs if "procs" in locals() else []:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)


def test_a_serve_worker_runs_the_schedule_thread_and_stops_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`credshare serve`'s app factory starts the schedule's daemon thread in its worker (when a
    schedule is configured) and registers its stop for the worker's exit."""
    import atexit

    from credshare.cli import worker_app

    env = anchor_env(tmp_path, "http://127.0.0.1:9", key_file(tmp_path), CREDSHARE_ANCHOR_EVERY_MINUTES="5")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    at_exit: list[Any] = []
    monkeypatch.setattr(atexit, "register", at_exit.append)
    app = worker_app()
    try:
        (stop,) = [f for f in at_exit if type(f.__self__).__name__ == "AnchorThread"]
        running = [t for t in threading.enumerate() if t.name == "credshare-anchor-schedule"]
        assert len(running) == 1 and running[0].daemon and running[0].is_alive()
        stop()
        assert not running[0].is_alive()
    finally:
        for registered in at_exit:
            registered()  # the notification thread too, before its store closes
        app.extensions["credshare"].store.close()
    monkeypatch.delenv("CREDSHARE_ANCHOR_EVERY_MINUTES")
    at_exit.clear()
    plain = worker_app()
    for registered in at_exit:
        registered()
    plain.extensions["credshare"].store.close()
    assert [type(f.__self__).__name__ for f in at_exit] == ["DeliveryThread"]  # no schedule, no anchor thread


@pytest.mark.slow  # `credshare serve` with two workers, and ganache
def test_serve_anchors_every_checkpoint_by_itself_exactly_once(tmp_path: Path, ganache: Ganache) -> None:
    """A real server with two gunicorn workers, each with its schedule thread: a checkpoint
    appended (by another process on the same store) is anchored on ganache with no one asking,
    once; the next one too; SIGTERM stops the server and its threads."""
    import shutil
    import time

    from credshare.compose import build_services
    from tests.conftest import ROOT

    env = anchor_env(tmp_path, ganache.url, key_file(tmp_path, ganache.private_key),
                     CREDSHARE_ANCHOR_EVERY_CHECKPOINTS="1")
    exe = shutil.which("credshare", path=str(Path(sys.executable).parent))
    assert exe, "credshare console script missing: pip install -e ."
    server_env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as stderr:
        server = subprocess.Popen([exe, "serve", "--port", str(free_port()), "--workers", "2"], cwd=ROOT,
                                  env={**server_env, **env}, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                  start_new_session=True)
    svc = build_services(load_settings({**os.environ, **env}))
    try:
        assert server.stdout is not None
        assert "credshare is running" in server.stdout.readline()
        assert server.stdout.readline().startswith("chain anchors: every 1 checkpoint(s)")
        for expected in (1, 2):
            size = svc.log.append([f"leaf-{expected}".encode()]).size
            deadline = time.monotonic() + 120
            while not svc.log.checkpoint(size).get("anchors") and time.monotonic() < deadline:
                time.sleep(0.5)
            anchors = svc.log.checkpoint(size).get("anchors")
            assert anchors, f"checkpoint {size} was not anchored; server log:\n{log_path.read_text()[-3000:]}"
            assert len(anchors) == 1
        assert svc.store.collection(STATE).find_one({"_id": svc.log.origin})["anchored_size"] == 2
    finally:
        stop_process_group(server)
        svc.store.close()
    assert server.returncode == 0
    log = log_path.read_text()
    assert log.count(" anchored in 0x") == 2, log[-3000:]
