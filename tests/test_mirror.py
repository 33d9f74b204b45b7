"""Issue 12 item 5, end to end with real processes: a credential's bundle verifies against a
mirror of its log after the log's server is gone. The app (in process, on the embedded store)
issues and makes a share's bundle; ``credshare serve`` serves the log; ``credshare log mirror``
copies it; the server is stopped and its data directory deleted; ``python -m http.server``
serves the mirror directory, and ``credshare verify BUNDLE --trust POLICY --mirror URL`` checks
the credential against the mirror's tree (``inclusion_mirror``), and fails once a tile of the
mirror is corrupted."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from credshare.anchoring.cosignature import with_signature_lines
from credshare.anchoring.note import Checkpoint
from credshare.anchoring.tiles import edge
from credshare.disclosure.jws import Signer
from credshare.disclosure.presentation import KeyBindingRequest, present
from credshare.verifier.credential import SHARE_CLAIM
from credshare.webapp import create_app
from tests.conftest import ROOT, free_port, stop_process_group, wait_for_port
from tests.e2e.conftest import CREDSHARE, LiveServer
from tests.helpers import (
    INDEPENDENT_WITNESS,
    TYPES,
    ListSink,
    degree_row,
    independently_witnessed,
    trust_list_file,
    witness_policy_text,
)

pytestmark = pytest.mark.slow
AUD, NONCE = "link-1", "nonce-1"


def _issue_and_bundle(data_dir: Path) -> dict:
    app = create_app({"CREDSHARE_DATA_DIR": str(data_dir), "CREDSHARE_ARGON2_PROFILE": "test"})
    svc = app.extensions["credshare"]
    try:
        svc.issuers.create("example-med", "Example University School of Medicine")
        holder = Signer.generate("EdDSA")
        sink = ListSink()
        svc.batches.issue("example-med", TYPES["medical-degree"],
                          [(i + 2, degree_row(i, email="", holder_jwk=json.dumps(holder.public_jwk))) for i in range(4)],
                          sink)
        credential = sink.items[2]
        kb = KeyBindingRequest(holder, AUD, NONCE, int(time.time()), {SHARE_CLAIM: {"history": False, "withheld": 0}})
        bundle = svc.evidence.bundle(present(credential["sd_jwt"], [("legal_name",)], kb), credential["anchor_proof"],
                                     audience=AUD, nonce=NONCE, not_before=int(time.time()) - 5,
                                     share={"history": False, "withheld": 0})
        svc.batches.issue("example-med", TYPES["medical-degree"],  # the log grows past the bundle's checkpoint
                          [(i + 2, degree_row(i + 4, email="")) for i in range(300)], ListSink())
        return json.loads(json.dumps(bundle))
    finally:
        svc.store.close()


def _verify(bundle: Path, trust: Path, mirror_url: str) -> tuple[int, dict, str]:
    done = subprocess.run([str(CREDSHARE), "verify", str(bundle), "--trust", str(trust), "--mirror", mirror_url],
                          capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    return done.returncode, json.loads(done.stdout), done.stderr


def _checks(report: dict) -> dict[str, str]:
    return {c["check"]: c["status"] for c in report["checks"]}


def test_a_bundle_verifies_from_a_mirror_after_the_log_is_gone(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(_issue_and_bundle(data_dir)))
    server = LiveServer(data_dir)
    server.start()
    try:
        trust = tmp_path / "log.policy"  # the log's own suggestion: its development witnesses
        trust.write_bytes(server.get("/log/trust").body)
        log_key = server.get("/log/key").body.decode().strip()
        out = tmp_path / "mirror"
        done = subprocess.run([str(CREDSHARE), "log", "mirror", server.url, str(out), "--policy", str(trust)],
                              cwd=ROOT, env=server.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        mirrored = json.loads(done.stdout)
        again = subprocess.run([str(CREDSHARE), "log", "mirror", server.url, str(out), "--policy", str(trust)],
                               cwd=ROOT, env=server.env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0 and json.loads(again.stdout)["fetched"] < mirrored["fetched"], again.stdout
    finally:
        server.stop()
    shutil.rmtree(data_dir)
    size = mirrored["size"]
    assert size > json.loads(bundle.read_text())["anchor_proof"]["tree_size"]

    port = free_port()
    static = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port),
                               "--directory", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        wait_for_port(port, static)
        url = f"http://127.0.0.1:{port}"
        listed = trust_list_file(tmp_path / "trust.toml", json.loads(bundle.read_text()), trust.read_text())
        status, report, err = _verify(bundle, listed, url)
        checks = _checks(report)
        assert checks["inclusion_mirror"] == "passed", err
        assert report["outcome"] == "incomplete" and checks["witness_quorum"] == "unchecked"  # dev witnesses only
        assert status == 1 and all(s == "passed" for n, s in checks.items() if n not in ("witness_quorum",
                                                                                           "chain_anchor")), err

        # a verifier's own policy with an independent witness, whose cosignatures the bundle and
        # the mirror's checkpoint carry (added here, as a log with such a witness hands them out)
        bundle.write_text(json.dumps(independently_witnessed(json.loads(bundle.read_text()))))
        own = trust_list_file(tmp_path / "own.toml", json.loads(bundle.read_text()), witness_policy_text(log_key))
        note = (out / "checkpoint").read_text()
        text = note.partition("\n\n")[0] + "\n"
        line = INDEPENDENT_WITNESS.cosign(text, Checkpoint.parse(text).signed_at or 1_700_000_000)
        (out / "checkpoint").write_text(with_signature_lines(note, [line]))
        status, report, err = _verify(bundle, own, url)
        assert status == 0 and report["outcome"] == "verified" and _checks(report)["inclusion_mirror"] == "passed", err

        tile = out / edge(size)[0].path()  # the level-0 partial tile: right edge of the tree
        data = bytearray(tile.read_bytes())
        data[5] ^= 0x40
        tile.write_bytes(bytes(data))
        status, report, err = _verify(bundle, own, url)
        assert status == 1 and report["outcome"] == "not_verified", err
        assert _checks(report)["inclusion_mirror"] == "failed" and _checks(report)["inclusion"] == "passed"
    finally:
        stop_process_group(static)
