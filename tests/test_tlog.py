"""The persistent transparency log on every backend: batches, proofs, signed checkpoints
cosigned by the local development witnesses (C2SP cosignature/v1) and by remote witnesses'
lines added afterwards, anchor proofs (library and CLI), concurrent appenders, and SIGKILL
crash safety."""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from credshare.anchoring import merkle
from credshare.anchoring.cosignature import Cosigner, cosignatures
from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.note import NoteSigner, open_checkpoint, split_note
from credshare.anchoring.proof import verify_anchor_proof
from credshare.cli import cli
from credshare.storage import Store, open_store
from credshare.storage.tlog import TransparencyLog
from tests.conftest import BACKENDS, ROOT

ALL = pytest.mark.parametrize("store_location", BACKENDS, indirect=True)
PERSISTENT = pytest.mark.parametrize("store_location", ["embedded", "mongodb"], indirect=True)
SEED = bytes(range(32))
SIGNER = NoteSigner.from_seed("test.example/log", SEED)


@pytest.fixture(scope="module")
def witnesses() -> list[Cosigner]:
    return [Cosigner.from_seed(f"test.example/log/dev-witness/{i + 1}", bytes([i + 1]) * 32) for i in range(3)]


def cosigned_by(note: str, witnesses: list[Cosigner]) -> list[str]:
    return sorted(c.witness.name for c in cosignatures(note, [w.key for w in witnesses]))


@ALL
def test_an_inclusion_proof_at_a_committed_size_is_computed_once(store: Store) -> None:
    """Nodes below a committed size never change, so a proof at that size is kept: the next
    request for it reads nothing from the store (each open of a share asks for two)."""
    log = TransparencyLog(store, SIGNER, [])
    log.append([f"cred-{i}".encode() for i in range(300)])
    log.append([b"later"])
    proof = log.inclusion_proof(17, 300)
    root = merkle.root_of([merkle.document_leaf(f"cred-{i}".encode()) for i in range(300)])
    assert merkle.verify_inclusion(merkle.document_leaf(b"cred-17"), 17, 300, proof, root)

    def no_reads(*_args, **_kwargs):
        raise AssertionError("the store was read")

    for collection in (log._hashes, log._heads):
        collection.find_one = no_reads  # type: ignore[method-assign]
    assert log.inclusion_proof(17, 300) == proof
    with pytest.raises(AssertionError, match="the store was read"):
        log.inclusion_proof(18, 300)  # another leaf is not in the cache


@ALL
def test_batches_roots_proofs_and_checkpoints(store: Store, witnesses) -> None:
    log = TransparencyLog(store, SIGNER, witnesses[:2])
    data: list[bytes] = []
    notes = []
    for batch in (1, 1, 2, 5, 250, 300, 7):
        leaves = [f"cred-{len(data) + i}".encode() for i in range(batch)]
        result = log.append(leaves)
        assert result.first_index == len(data)
        data += leaves
        hashes = [merkle.document_leaf(d) for d in data]
        assert result.root == merkle.root_of(hashes) and result.size == len(data)
        checkpoint = open_checkpoint(result.checkpoint, SIGNER.verifier, "test.example/log")
        assert (checkpoint.size, checkpoint.root) == (len(data), result.root)
        notes.append(checkpoint)
    n, root = log.head()
    assert n == len(data) == 566
    for index in [0, 1, 2, 255, 256, 511, 565]:
        assert merkle.verify_inclusion(hashes[index], index, n, log.inclusion_proof(index), root)
    for earlier in notes:
        assert merkle.verify_consistency(earlier.size, n, earlier.root, root, log.consistency_proof(earlier.size))
    assert [c["size"] for c in log.checkpoints()] == [c.size for c in notes]
    latest = log.checkpoint()
    assert latest["note"] == result.checkpoint and "witness_aggregate" not in latest and "cosignatures" not in latest
    assert cosigned_by(latest["note"], witnesses) == [w.name for w in witnesses[:2]]
    assert open_checkpoint(latest["note"], SIGNER.verifier) == notes[-1]  # the cosigned note is the signed note


@ALL
def test_anchor_proof_verifies_and_every_tampering_fails(store: Store, witnesses) -> None:
    log = TransparencyLog(store, SIGNER, witnesses)
    leaves = [f"jwt-{i}".encode() for i in range(37)]
    log.append(leaves)
    proof = log.anchor_proof(11)
    assert "witness_aggregate" not in proof or proof["witness_aggregate"] is None  # v2: the note carries them
    assert proof["checkpoint"] == log.checkpoint()["note"]
    assert cosigned_by(proof["checkpoint"], witnesses) == [w.name for w in witnesses]
    good = verify_anchor_proof(proof, leaves[11], log_key=SIGNER.verifier)
    assert good.verified, good.to_json()
    assert abs(good.anchored_at - time.time()) < 120

    def failed(p, leaf=leaves[11], **kw) -> set[str]:
        verdict = verify_anchor_proof(p, leaf, log_key=kw.pop("log_key", SIGNER.verifier))
        assert not verdict.verified
        return {c.name for c in verdict.checks if c.status == "failed"}

    assert failed(proof, leaf=leaves[12]) == {"inclusion"}
    assert failed({**proof, "leaf_index": 12}) == {"inclusion"}
    assert failed({**proof, "tree_size": 36}) == {"inclusion"}
    bad_path = list(proof["inclusion_proof"])
    bad_path[0] = base64.b64encode(bytes(32)).decode()
    assert failed({**proof, "inclusion_proof": bad_path}) == {"inclusion"}
    assert failed({**proof, "checkpoint": proof["checkpoint"].replace("\n37\n", "\n38\n")}) == {"checkpoint_signature"}
    assert failed(proof, log_key=NoteSigner.from_seed("test.example/log", bytes(32)).verifier) == {"checkpoint_signature"}
    assert failed({**proof, "type": "other"}) == {"proof_format"}
    # a witness's cosignature over another checkpoint does not verify on this one
    text, _ = split_note(proof["checkpoint"])
    forged = text + "\n" + witnesses[0].cosign(text.replace("\n37\n", "\n38\n"), 1_700_000_000)
    with pytest.raises(AnchoringError) as err:
        cosignatures(forged, [witnesses[0].key])
    assert err.value.code == "witness_signature_invalid"


@ALL
def test_remote_cosignature_lines_are_verified_before_they_are_stored(store: Store, witnesses) -> None:
    """add_cosignature_lines: a line by a configured witness is added to the stored note (and
    moves the head's revision, so readers see it); one by an unknown key is ignored, as
    tlog-witness says; one that does not verify is refused and nothing is stored."""
    remote = Cosigner.from_seed("witness.example/w1", bytes([9]) * 32)
    stranger = Cosigner.from_seed("stranger.example/w", bytes([8]) * 32)
    log = TransparencyLog(store, SIGNER, witnesses[:1], remote_witnesses=[remote.key])
    assert [w["development_only"] for w in log.status()["witnesses"]] == [True, False]
    log.append([b"a", b"b", b"c"])
    before = log.read_head()
    text, _ = split_note(log.checkpoint()["note"])
    line = remote.cosign(text, 1_700_000_123)
    assert log.add_cosignature_lines(3, [stranger.cosign(text, 5), line]) == [remote.key]
    stored = log.checkpoint()["note"]
    assert log.read_head().revision == before.revision + 1
    assert stored.endswith(line) and stranger.name not in stored
    assert [c.timestamp for c in cosignatures(stored, [remote.key])] == [1_700_000_123]
    assert log.anchor_proof(1)["checkpoint"] == stored
    assert log.add_cosignature_lines(3, [remote.cosign(text, 1_700_000_999)]) == []  # it has one: kept
    forged = remote.cosign(text.replace("\n3\n", "\n4\n"), 7)
    with pytest.raises(AnchoringError) as err:
        log.add_cosignature_lines(3, [forged])
    assert err.value.code == "witness_signature_invalid"
    assert log.checkpoint()["note"] == stored
    with pytest.raises(AnchoringError) as err:
        log.add_cosignature_lines(3, [line + line])
    assert err.value.code == "witness_malformed"
    log.add_cosignature_lines(3, [], {"quorum_met": True, "asked": 1, "cosigned": ["w1"], "refused": {}})
    assert log.checkpoint()["witnessed"]["quorum_met"] is True
    with pytest.raises(AnchoringError):
        log.add_cosignature_lines(4, [line])  # not committed


def test_local_development_witnesses_and_an_old_bls_key_file(tmp_path: Path, caplog) -> None:
    from credshare.storage.keys import load_local_witnesses

    made = load_local_witnesses(tmp_path, 2, "cvo.example/log")
    assert [w.name for w in made] == ["cvo.example/log/dev-witness/1", "cvo.example/log/dev-witness/2"]
    assert (tmp_path / "witnesses.json").stat().st_mode & 0o777 == 0o600
    again = load_local_witnesses(tmp_path, 2, "cvo.example/log")
    assert [w.key for w in again] == [w.key for w in made]
    (tmp_path / "witnesses.json").unlink()
    old = tmp_path / "witnesses.json"
    old.write_text(json.dumps([{"name": "local-witness-1", "secret_key": "0x1234", "public_key": "AA"}]))
    old.chmod(0o600)
    with caplog.at_level("WARNING"):
        fresh = load_local_witnesses(tmp_path, 2, "cvo.example/log")
    assert "BLS" in caplog.text and "replaced" in caplog.text
    assert len(fresh) == 2 and {w.key for w in fresh}.isdisjoint({w.key for w in made})
    assert "secret_key" not in old.read_text()
    assert load_local_witnesses(tmp_path, 0, "cvo.example/log") == []


@ALL
def test_an_append_that_outlives_its_lease_commits_nothing(store: Store) -> None:
    log = TransparencyLog(store, SIGNER, lease_seconds=0.000001)
    log_ok = TransparencyLog(store, SIGNER)
    log_ok.append([b"a"])
    with pytest.raises(AnchoringError) as err:
        log.append([b"b", b"c"])
    assert err.value.code == "log_lease_expired"
    assert log_ok.head()[0] == 1
    result = log_ok.append([b"d"])
    assert result.size == 2 and result.root == merkle.root_of([merkle.document_leaf(b"a"), merkle.document_leaf(b"d")])
    assert [c["size"] for c in log_ok.checkpoints()] == [1, 2]


@ALL
def test_bad_requests(store: Store) -> None:
    log = TransparencyLog(store, SIGNER)
    with pytest.raises(AnchoringError) as err:
        log.append([])
    assert err.value.code == "batch_empty"
    log.append([b"x"])
    for call in (lambda: log.inclusion_proof(1), lambda: log.inclusion_proof(0, 5), lambda: log.checkpoint(2)):
        with pytest.raises(AnchoringError):
            call()


_APPENDER = """
import sys
from pathlib import Path
from credshare.anchoring.cosignature import Cosigner
from credshare.anchoring.note import NoteSigner
from credshare.storage import open_store
from credshare.storage.tlog import TransparencyLog
uri, data_dir, tag, batches, size = sys.argv[1] or None, Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
witnesses = [Cosigner.from_seed("test.example/log/dev-witness/1", bytes.fromhex(sys.argv[6]))] if len(sys.argv) > 6 else []
log = TransparencyLog(open_store(uri, data_dir), NoteSigner.from_seed("test.example/log", bytes(range(32))), witnesses)
for b in range(batches):
    start = log.head()[0] if tag == "seq" else None
    leaves = [(f"leaf-{start + i}" if tag == "seq" else f"{tag}-{b}-{i}").encode() for i in range(size)]
    log.append(leaves, timeout=120)
    print(b, flush=True)
"""


@pytest.mark.slow
@PERSISTENT
def test_concurrent_appenders_serialize(store_location, store: Store) -> None:
    uri, data_dir = store_location
    TransparencyLog(store, SIGNER)
    procs = [subprocess.Popen([sys.executable, "-c", _APPENDER, uri or "", str(data_dir), tag, "12", "50"],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for tag in ("p", "q")]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()[-3000:]
    log = TransparencyLog(store, SIGNER)
    size, root = log.head()
    assert size == 1200
    stored = list(log.leaf_hashes(0, size))
    expected = {merkle.document_leaf(f"{t}-{b}-{i}".encode()) for t in "pq" for b in range(12) for i in range(50)}
    assert set(stored) == expected and len(stored) == 1200
    assert merkle.root_of(stored) == root
    checkpoints = log.checkpoints()
    assert [c["size"] for c in checkpoints] == list(range(50, 1201, 50))
    for c in checkpoints:
        cp = open_checkpoint(c["note"], SIGNER.verifier)
        assert cp.root == merkle.root_of(stored[: cp.size])


@pytest.mark.slow
def test_sigkill_during_batch_appends_never_corrupts_the_log(tmp_path: Path) -> None:
    """20 times: a writer appending 10,000-leaf batches (with a witness) is killed with SIGKILL
    at a random moment; the log must stay consistent and every checkpoint must verify."""
    rng = random.Random(20)
    witness = Cosigner.from_seed("test.example/log/dev-witness/1", bytes([7]) * 32)
    expected_hashes: list[bytes] = []
    frontier: list[tuple[int, bytes]] = []  # (height, hash) of the perfect subtrees on the right edge
    roots: dict[int, bytes] = {}
    batch = 10_000
    checked = 0  # checkpoints fully checked in earlier runs
    for run in range(20):
        proc = subprocess.Popen(
            [sys.executable, "-c", _APPENDER, "", str(tmp_path), "seq", "1000", str(batch), (bytes([7]) * 32).hex()],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
        time.sleep(rng.uniform(0.3, 2.5))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        store = open_store(None, tmp_path)
        try:
            log = TransparencyLog(store, SIGNER)
            size, root = log.head()
            assert size % batch == 0, f"run {run}: a partial batch is visible ({size})"
            while len(expected_hashes) < size:
                _extend(frontier, expected_hashes, merkle.document_leaf(f"leaf-{len(expected_hashes)}".encode()))
                if len(expected_hashes) % batch == 0:
                    roots[len(expected_hashes)] = _frontier_root(frontier)
            assert size == 0 or root == roots[size], f"run {run}: root differs from the leaves appended"
            checkpoints = log.checkpoints()
            sizes = [c["size"] for c in checkpoints]
            assert sizes == list(range(batch, size + 1, batch)), f"run {run}: checkpoints {sizes}"
            # new checkpoints in full, and a sample of the older ones (all of them on the last run)
            older = checkpoints[:checked] if run == 19 else rng.sample(checkpoints[:checked], min(5, checked))
            for c in checkpoints[checked:] + older:
                cp = open_checkpoint(c["note"], SIGNER.verifier, "test.example/log")
                assert cp.root == roots[cp.size]
                assert merkle.verify_consistency(cp.size, size, cp.root, root, log.consistency_proof(cp.size))
            checked = len(checkpoints)
            if size:
                index = rng.randrange(size)
                assert merkle.verify_inclusion(expected_hashes[index], index, size, log.inclusion_proof(index), root)
                latest = log.checkpoint()
                assert cosigned_by(latest["note"], [witness]) == [witness.name]
        finally:
            store.close()
    assert len(expected_hashes) > 0, "the writer never completed a batch"
    # after all the crashes, a clean append still works and removes what crashed batches left
    store = open_store(None, tmp_path)
    log = TransparencyLog(store, SIGNER)
    size, _ = log.head()
    assert log.append([b"after"]).size == size + 1
    store.close()


def _extend(frontier: list[tuple[int, bytes]], hashes: list[bytes], leaf: bytes) -> None:
    """Add a leaf to an RFC 9162 tree kept as its right edge of perfect subtrees."""
    hashes.append(leaf)
    height, node = 0, leaf
    while frontier and frontier[-1][0] == height:
        node = merkle.node_hash(frontier.pop()[1], node)
        height += 1
    frontier.append((height, node))


def _frontier_root(frontier: list[tuple[int, bytes]]) -> bytes:
    root = frontier[-1][1]
    for _, node in reversed(frontier[:-1]):
        root = merkle.node_hash(node, root)
    return root


def test_cli_verify_proof(tmp_path: Path, witnesses) -> None:
    store = open_store("mongomock://localhost/cli", tmp_path)
    log = TransparencyLog(store, SIGNER, witnesses)
    leaves = [f"jwt-{i}".encode() for i in range(5)]
    log.append(leaves)
    (tmp_path / "proof.json").write_text(json.dumps(log.anchor_proof(3)))
    (tmp_path / "leaf").write_bytes(leaves[3])
    (tmp_path / "other").write_bytes(leaves[2])
    (tmp_path / "log.key").write_text(SIGNER.verifier.encode() + "\n")
    runner = CliRunner()
    base = ["log", "verify-proof", str(tmp_path / "proof.json"), "--log-key", str(tmp_path / "log.key")]
    ok = runner.invoke(cli, [*base, "--leaf-file", str(tmp_path / "leaf")])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["verified"] is True
    bad = runner.invoke(cli, [*base, "--leaf-file", str(tmp_path / "other")])
    assert bad.exit_code == 1
    assert {c["check"]: c["status"] for c in json.loads(bad.stdout)["checks"]}["inclusion"] == "failed"
    garbage = runner.invoke(cli, [*base[:3], "--log-key", str(tmp_path / "leaf"), "--leaf-file", str(tmp_path / "leaf")])
    assert garbage.exit_code == 1 and json.loads(garbage.stdout)["error"] == "note_key_invalid"


@pytest.mark.slow  # starts ganache, a real Ethereum node
def test_ethereum_anchor_round_trip_through_the_log_and_the_cli(tmp_path: Path, ganache) -> None:
    """Append, anchor the checkpoint on ganache over HTTP with `credshare log anchor`, then
    check the anchor proof with `credshare log verify-proof --rpc`."""
    env = {"CREDSHARE_DATA_DIR": str(tmp_path / "data"), "CREDSHARE_LOCAL_WITNESSES": "0"}
    from credshare.webapp import create_app

    app = create_app(env)
    log = app.extensions["credshare"].log
    log.append([b"jwt-0", b"jwt-1"])
    (tmp_path / "eth.key").write_text(ganache.private_key)
    runner = CliRunner(env=env)
    anchored = runner.invoke(cli, ["log", "anchor", "--rpc", ganache.url, "--key-file", str(tmp_path / "eth.key")])
    assert anchored.exit_code == 0, anchored.output
    assert json.loads(anchored.stdout)["test_anchor"] is True
    proof = log.anchor_proof(1)
    assert len(proof["chain_anchors"]) == 1
    (tmp_path / "proof.json").write_text(json.dumps(proof))
    (tmp_path / "leaf").write_bytes(b"jwt-1")
    (tmp_path / "log.key").write_text(log.signer.verifier.encode())
    args = ["log", "verify-proof", str(tmp_path / "proof.json"), "--leaf-file", str(tmp_path / "leaf"),
            "--log-key", str(tmp_path / "log.key")]
    checked = runner.invoke(cli, [*args, "--rpc", ganache.url])
    assert checked.exit_code == 0, checked.output
    chain = [c for c in json.loads(checked.stdout)["checks"] if c["check"] == "chain_anchor"]
    assert chain[0]["status"] == "passed" and "test anchor" in chain[0]["detail"]
    unchecked = json.loads(runner.invoke(cli, args).stdout)["checks"]
    assert [c["status"] for c in unchecked if c["check"] == "chain_anchor"] == ["unchecked"]
    anchor = proof["chain_anchors"][0]
    forged = dict(proof, chain_anchors=[dict(anchor, block_number=anchor["block_number"] + 1)])
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    refused = runner.invoke(cli, ["log", "verify-proof", str(tmp_path / "forged.json"), *args[3:], "--rpc", ganache.url])
    assert refused.exit_code == 1



def test_cli_log_status(tmp_path: Path) -> None:
    env = {"CREDSHARE_DATA_DIR": str(tmp_path), "CREDSHARE_LOCAL_WITNESSES": "1", "CREDSHARE_LOG_ORIGIN": "cvo.example/log"}
    out = CliRunner(env=env).invoke(cli, ["log", "status"])
    assert out.exit_code == 0, out.output
    status = json.loads(out.stdout)
    seen = (status["origin"], status["tree_size"], status["store"], status["quorum"], status["quorum_independent"])
    assert seen == ("cvo.example/log", 0, "embedded", "cvo.example/log/dev-witness/1", False)
    assert status["log_key"].startswith("cvo.example/log+") and len(status["witnesses"]) == 1
    assert status["witnesses"][0]["development_only"] is True
    bad = CliRunner(env={**env, "CREDSHARE_WITNESS_QUORUM": "5"}).invoke(cli, ["log", "status"])
    assert bad.exit_code == 1 and json.loads(bad.stdout)["error"] == "config_invalid"


@ALL
def test_checkpoint_sizes_and_lease_owners(store: Store) -> None:
    """What a batch asks of the log after a crash: where the appends since a size ended, and
    whether the process holding a lease is gone (only a process of this host known dead is)."""
    import socket

    log = TransparencyLog(store, SIGNER)
    for batch in (1, 3, 2, 4):
        log.append([f"leaf-{batch}-{i}".encode() for i in range(batch)])
    assert log.checkpoint_sizes(0, 10) == [1, 4, 6, 10]
    assert log.checkpoint_sizes(1, 6) == [4, 6] and log.checkpoint_sizes(10, 10) == []
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    from credshare.storage.tlog import lease_owner, lease_owner_gone

    assert lease_owner_gone(f"{socket.gethostname()}:{gone.pid}:1:ab")
    assert not lease_owner_gone(lease_owner())  # this process
    assert not lease_owner_gone(f"another-host.invalid:{gone.pid}:1:ab")  # cannot be told from here
