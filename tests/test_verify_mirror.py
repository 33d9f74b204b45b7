"""verifier/mirror.py, the inclusion_mirror check of ``credshare verify --mirror``: the
credential's inclusion at the mirror's tree size and its checkpoint's consistency with the
mirror's, both computed from the mirror's tiles; passed only when both verify."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from credshare.anchoring.merkle import document_leaf
from credshare.disclosure.jws import Signer
from credshare.disclosure.presentation import KeyBindingRequest, present
from credshare.verifier.bundle import TrustedLog, verify_bundle
from credshare.verifier.credential import SHARE_CLAIM
from credshare.webapp import create_app
from tests.helpers import TYPES, ListSink, degree_row, independently_witnessed, statuses, trusting, witness_policy_text

AUD, NONCE = "link-1", "nonce-1"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("verify-mirror")
    app = create_app({"CREDSHARE_DATA_DIR": str(tmp / "data"), "CREDSHARE_LOCAL_WITNESSES": "2",
                      "CREDSHARE_WITNESS_QUORUM": "2"})
    svc = app.extensions["credshare"]
    svc.issuers.create("example-med", "Example University School of Medicine")
    holder = Signer.generate("EdDSA")
    sink = ListSink()
    svc.batches.issue("example-med", TYPES["medical-degree"],
                      [(i + 2, degree_row(i, email="", holder_jwk=json.dumps(holder.public_jwk))) for i in range(3)], sink)
    credential = sink.items[1]
    kb = KeyBindingRequest(holder, AUD, NONCE, int(time.time()), {SHARE_CLAIM: {"history": False, "withheld": 0}})
    bundle = svc.evidence.bundle(present(credential["sd_jwt"], [("legal_name",)], kb), credential["anchor_proof"],
                                 audience=AUD, nonce=NONCE, not_before=int(time.time()) - 5,
                                 share={"history": False, "withheld": 0})
    svc.batches.issue("example-med", TYPES["medical-degree"],  # the log grows past the bundle's checkpoint
                      [(i + 2, degree_row(i + 3, email="")) for i in range(5)], ListSink())
    return app, svc, json.loads(json.dumps(bundle))


def _fetch(app, corrupt: str | None = None):
    client = app.test_client()

    def fetch(path: str) -> bytes | None:
        answer = client.get(f"/log/{path}")
        if answer.status_code == 404:
            return None
        data = answer.get_data()
        return bytes([data[0] ^ 1]) + data[1:] if path == corrupt else data

    return fetch


def _trusted(app) -> list[TrustedLog]:
    return [TrustedLog.from_text(app.test_client().get("/log/trust").get_data())]


def _mirror_check(report) -> dict[str, Any]:
    return next(c.to_json() for c in report.checks if c.name == "inclusion_mirror")


def test_a_bundle_is_included_in_the_mirrors_larger_tree(world) -> None:
    app, svc, bundle = world
    report = verify_bundle(bundle, trusted=trusting(bundle, *_trusted(app)), now=int(time.time()), mirror=_fetch(app))
    check = _mirror_check(report)
    assert check["status"] == "passed", check
    size = svc.log.head()[0]
    assert f"tree of {size}" in check["detail"] and bundle["anchor_proof"]["tree_size"] < size
    assert statuses(report)["inclusion"] == "passed"
    assert "inclusion_mirror" not in statuses(verify_bundle(bundle,
                                                            trusted=trusting(bundle, *_trusted(app)), now=int(time.time())))


def test_a_corrupted_tile_or_another_document_fails(world) -> None:
    from credshare.verifier.mirror import check_mirror

    app, svc, bundle = world
    edge = "tile/0/000.p/%d" % svc.log.head()[0]  # the level-0 tile holding the leaf
    report = verify_bundle(bundle, trusted=trusting(bundle, *_trusted(app)), now=int(time.time()), mirror=_fetch(app, edge))
    assert _mirror_check(report)["status"] == "failed" and report.outcome == "not_verified"
    assert "do not hash" in _mirror_check(report)["detail"]
    trust = _trusted(app)[0].trust(bundle["log"]["key"])
    jwt = bundle["presentation"].split("~")[0].encode()
    assert check_mirror(jwt, bundle["anchor_proof"], trust, _fetch(app)).status == "passed"
    assert check_mirror(b"another jwt", bundle["anchor_proof"], trust, _fetch(app)).status == "failed"
    assert document_leaf(b"another jwt") != document_leaf(jwt)


def test_an_unreadable_behind_or_unwitnessed_mirror_leaves_it_unchecked(world) -> None:
    app, svc, bundle = world
    now = int(time.time())
    gone = verify_bundle(bundle, trusted=trusting(bundle, *_trusted(app)), now=now, mirror=lambda path: None)
    assert _mirror_check(gone)["status"] == "unchecked"
    older = [doc["note"] for doc in svc.log.checkpoints() if doc["size"] < bundle["anchor_proof"]["tree_size"]]
    assert older
    served = _fetch(app)

    def behind(path: str) -> bytes | None:  # a mirror still at an older checkpoint than the bundle's
        return older[0].encode() if path == "checkpoint" else served(path)

    assert "behind" in _mirror_check(verify_bundle(bundle,
                                                   trusted=trusting(bundle, *_trusted(app)), now=now, mirror=behind))["detail"]
    strict = [TrustedLog.from_text(witness_policy_text(bundle["log"]["key"]))]  # a witness the log never asked
    witnessed = independently_witnessed(bundle)
    report = verify_bundle(witnessed,
                           trusted=trusting(witnessed, *strict), now=now, mirror=_fetch(app))
    assert _mirror_check(report)["status"] == "unchecked" and "witnessed" in _mirror_check(report)["detail"]


def test_the_bundle_carries_its_proof_as_c2sp_tlog_proof_text(world) -> None:
    from credshare.anchoring.tlog_proof import parse_tlog_proof
    from credshare.foundation.b64 import b64_decode
    from tests.independent import policy as ref_policy, tlog_proof as ref_tlog_proof

    app, _, bundle = world
    proof, anchor = parse_tlog_proof(bundle["tlog_proof"]), bundle["anchor_proof"]
    assert (proof.index, proof.note) == (anchor["leaf_index"], anchor["checkpoint"])
    assert list(proof.proof) == [b64_decode(h) for h in anchor["inclusion_proof"]]
    leaf = document_leaf(bundle["presentation"].split("~")[0].encode())
    policy = ref_policy.parse(app.test_client().get("/log/trust").get_data())
    assert ref_tlog_proof.verify(bundle["tlog_proof"], leaf, policy)  # the independent reference accepts it
    assert not ref_tlog_proof.verify(bundle["tlog_proof"], document_leaf(b"another jwt"), policy)


def _copied_mirror(app, root) -> None:
    """The files a mirror of the app's log holds for the check, as `credshare log mirror` lays them out."""
    fetch = _fetch(app)

    def copying(path: str) -> bytes | None:
        data = fetch(path)
        if data is not None:
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(data)
        return data

    return copying


def test_the_cli_checks_a_mirror_kept_on_disk_or_the_ones_the_trust_list_names(world, tmp_path) -> None:
    import http.server
    import threading
    from functools import partial

    from click.testing import CliRunner

    from credshare.cli import cli

    app, svc, bundle = world
    mirror = tmp_path / "mirror"
    report = verify_bundle(bundle, trusted=trusting(bundle, *_trusted(app)), now=int(time.time()),
                           mirror=_copied_mirror(app, mirror))
    assert _mirror_check(report)["status"] == "passed"
    (tmp_path / "bundle.json").write_text(json.dumps(bundle))
    policy = app.test_client().get("/log/trust").get_data(as_text=True)
    trust = tmp_path / "trust.toml"
    trust.write_text(f'format = "credshare-trust-list/v1"\n[[log]]\npolicy = """\n{policy}"""\n')
    result = CliRunner().invoke(cli, ["verify", str(tmp_path / "bundle.json"), "--trust", str(trust),
                                      "--mirror", str(mirror)])
    body = json.loads(result.stdout)
    assert statuses_of(body)["inclusion_mirror"] == "passed", body["checks"]
    (mirror / "checkpoint").write_text("not a checkpoint\n")
    result = CliRunner().invoke(cli, ["verify", str(tmp_path / "bundle.json"), "--trust", str(trust),
                                      "--mirror", str(mirror)])
    assert statuses_of(json.loads(result.stdout))["inclusion_mirror"] != "passed"
    _copied_mirror(app, mirror)("checkpoint")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(http.server.SimpleHTTPRequestHandler,
                                                                        directory=str(mirror)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        trust.write_text(trust.read_text().replace('[[log]]\n', '[[log]]\nmirrors = ["http://127.0.0.1:%d"]\n'
                                                   % server.server_address[1]))
        result = CliRunner().invoke(cli, ["verify", str(tmp_path / "bundle.json"), "--trust", str(trust),
                                          "--listed-mirrors"])
        assert statuses_of(json.loads(result.stdout))["inclusion_mirror"] == "passed", result.stdout
        result = CliRunner().invoke(cli, ["verify", str(tmp_path / "bundle.json"), "--trust", str(trust)])
        assert "inclusion_mirror" not in statuses_of(json.loads(result.stdout))  # no network unless asked
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def statuses_of(body: dict[str, Any]) -> dict[str, str]:
    return {c["check"]: c["status"] for c in body["checks"]}
