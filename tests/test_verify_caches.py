"""What the verification path keeps in memory (issue 11, item 5) never outlives what it was
read from: a credential revoked or suspended, a link revoked, an issuer key revoked or a chain
anchor recorded shows on the very next open; a failed check is never kept as a pass; every
cache is bounded; and a warm open reads the store only a few times."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from credshare.anchoring import note as note_module, proof as proof_module
from credshare.anchoring.cosignature import Cosigner
from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.note import NoteSigner, open_checkpoint
from credshare.anchoring.policy import Policy, threshold_policy
from credshare.compose import AppServices, build_services
from credshare.disclosure import jws as jws_module, status_list
from credshare.disclosure.status_list import StatusList
from credshare.foundation.cache import BoundedCache
from credshare.foundation.config import load_settings
from credshare.holding.accounts import SessionInfo
from credshare.holding.shares import ShareGone
from credshare.verifier import credential as credential_module
from credshare.verifier.credential import KeyHistoryEvidence, LogTrust
from credshare.verifier.report import Report
from tests.helpers import TYPES, ListSink, degree_row, only_dev_witnessed
from tests.store_counter import StoreCounter

EMAIL, PASSWORD = "ada@example.org", "correct horse battery staple"
THREE = [["legal_name"], ["degree"], ["conferral_date"]]
CLIENT = ("203.0.113.9", "pytest")


@dataclass
class World:
    svc: AppServices
    info: SessionInfo
    link_id: str
    token: str
    record: dict[str, Any]

    def open(self) -> Any:
        opened, _ = self.svc.shares.open(self.token, CLIENT)
        return opened.report

    def set_status(self, name: str) -> None:
        self.svc.status.set_status("example-med", self.record["status_list"], self.record["status_idx"], name)


@pytest.fixture
def world(tmp_path: Path) -> World:
    svc = build_services(load_settings({"CREDSHARE_DATA_DIR": str(tmp_path / "data"), "CREDSHARE_ARGON2_PROFILE": "test",
                                        "CREDSHARE_PUBLIC_URL": "http://localhost", "CREDSHARE_LOCAL_WITNESSES": "3"}))
    svc.issuers.create("example-med", "Example University School of Medicine")
    info = svc.accounts.register(EMAIL, PASSWORD).info
    svc.accounts.mark_email_confirmed(info.account_id)
    info = replace(info, email_verified=True)
    svc.batches.issue("example-med", TYPES["medical-degree"], [(2, degree_row(0, email=EMAIL))], ListSink())
    for offer in svc.wallet.offers(info):
        svc.wallet.accept_offer(info, offer["id"])
    entry = svc.wallet.entries(info)[0]
    link = svc.shares.create(info, entry, THREE, holder=svc.accounts.holder_signer(info), days=7)
    world = World(svc, info, link.link_id, link.token, svc.store.collection("credentials").find_one({}) or {})
    assert only_dev_witnessed(world.open())  # everything that can be kept is kept from here on
    return world


def test_a_warm_open_reads_the_store_four_times(world: World) -> None:
    world.open()
    with StoreCounter() as ops:
        assert only_dev_witnessed(world.open())
    # the link, the log head, the issuer and the status list's versions; the view and its access-log line
    assert ops.reads == 4, dict(ops.calls)
    assert ops.writes == 2 and ops.calls[("share_access", "insert_one")] == 1, dict(ops.calls)


def test_the_gate_reads_the_link_only(world: World) -> None:
    with StoreCounter() as ops:
        gate = world.svc.shares.gate(world.token, CLIENT)
    assert gate.link_id == world.link_id and dict(ops.calls) == {("shares", "find_one"): 1}


@pytest.mark.parametrize("name", ["revoked", "suspended"])
def test_a_revocation_or_suspension_shows_on_the_very_next_open(world: World, name: str) -> None:
    world.set_status(name)
    report = world.open()
    assert report.credential_status == name and report.outcome == "not_verified"
    world.set_status("valid")
    report = world.open()
    assert report.credential_status == "valid" and only_dev_witnessed(report)


def test_a_revocation_made_by_another_process_shows_on_the_very_next_open(world: World, tmp_path: Path) -> None:
    """Another process (the CLI, another worker) has caches of its own and shares only the store."""
    other = build_services(world.svc.settings)
    other.status.set_status("example-med", world.record["status_list"], world.record["status_idx"], "revoked")
    assert world.open().credential_status == "revoked"


def test_a_revoked_link_is_refused_on_the_very_next_open(world: World) -> None:
    world.svc.shares.revoke(world.info, world.link_id)
    with pytest.raises(ShareGone):
        world.open()


def test_a_deleted_status_list_reads_as_unknown_on_the_very_next_open(world: World) -> None:
    world.svc.store.collection("status_lists").delete_many({})
    report = world.open()
    assert report.credential_status == "unknown" and {c.name: c.status for c in report.checks}["status"] != "passed"


def test_an_issuer_gone_from_the_store_is_unknown_on_the_very_next_open(world: World) -> None:
    world.svc.store.collection("issuers").delete_many({})
    report = world.open()
    assert {c.name: c.status for c in report.checks}["key_history"] == "failed" and report.outcome == "not_verified"


def test_an_issuer_key_revocation_shows_on_the_very_next_open(world: World) -> None:
    kid = world.svc.issuers.records("example-med")[0].kid
    anchored = world.open().anchored_at
    world.svc.issuers.revoke("example-med", kid, "key leaked", compromised_at=anchored - 60)
    report = world.open()
    assert {c.name: c.status for c in report.checks}["issuer_key_valid"] == "failed"
    assert report.outcome == "not_verified"


def test_a_chain_anchor_recorded_later_shows_on_the_very_next_open(world: World) -> None:
    size = world.svc.shares.open(world.token, CLIENT)[0].anchor_proof["tree_size"]
    assert "chain_anchor" not in {c.name for c in world.open().checks}
    world.svc.log.add_chain_anchor(size, {"tx_hash": "0x" + "ab" * 32, "chain_id": 1337, "test_anchor": True})
    assert "chain_anchor" in {c.name for c in world.open().checks}


def test_a_checkpoint_is_kept_per_key_and_a_failure_is_never_kept() -> None:
    signer, other = NoteSigner.from_seed("log.example/a", bytes(32)), NoteSigner.from_seed("log.example/a", bytes([1]) * 32)
    note = signer.sign("log.example/a\n3\n" + "A" * 43 + "=\n")
    assert open_checkpoint(note, signer.verifier).size == 3
    with pytest.raises(AnchoringError):  # the same note under another key: its own verdict
        open_checkpoint(note, other.verifier)
    forged = note.replace("\n3\n", "\n4\n")
    for _ in range(2):  # a failure is not kept: it fails again, each time
        with pytest.raises(AnchoringError):
            open_checkpoint(forged, signer.verifier)
    assert note_module._opened.cache_info().maxsize == note_module.OPENED_CHECKPOINTS


def test_bounded_cache_drops_the_least_recently_used() -> None:
    cache: BoundedCache[int] = BoundedCache(3)
    for i in range(3):
        cache.put(i, i)
    assert cache.get(0) == 0  # 0 is now the most recently used
    for i in range(3, 10):
        cache.put(i, i)
        assert len(cache) <= 3
    assert cache.get(0) is None and cache.get(9) == 9 and len(cache) == 3
    with pytest.raises(ValueError):
        BoundedCache(0)


def test_the_caches_of_the_verification_path_are_bounded(world: World) -> None:
    svc = world.svc
    for cache in (svc.evidence._kept, svc.log._checkpoint_docs, svc.status._tokens, status_list._decoded):
        assert isinstance(cache, BoundedCache) and 0 < len(cache) <= cache.limit
    # decoded status lists: many different ones never hold more than the limit, and a large
    # one is decoded but not kept
    for i in range(status_list.DECODED_LISTS + 5):
        one = StatusList.empty(64, 8)
        one.set(i % 64, 1)
        one.data[-1] = i % 256
        StatusList.from_json(one.to_json())
    assert len(status_list._decoded) <= status_list.DECODED_LISTS
    small, big = StatusList.empty(64, 8).to_json(), StatusList(8, bytes(status_list.KEPT_LIST_BYTES + 1)).to_json()
    assert StatusList.from_json(small).size == 64 and StatusList.from_json(big).size == status_list.KEPT_LIST_BYTES + 1
    assert status_list._decoded.get(hashlib.sha256(small["lst"].encode()).digest()) is not None
    assert status_list._decoded.get(hashlib.sha256(big["lst"].encode()).digest()) is None


class Calls:
    """Counts the calls of a function (or method) it replaces, and runs it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> None:
        self.n, real = 0, getattr(owner, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.n += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)


def _flip(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1:]


def test_a_valid_signature_is_verified_once_and_a_failure_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    signer, other = jws_module.Signer.generate("EdDSA"), jws_module.Signer.generate("EdDSA")
    token = jws_module.sign_compact({"typ": "test"}, {"n": 1}, signer)
    key, other_key = (jws_module.PublicKey.from_jwk(s.public_jwk) for s in (signer, other))
    checked = Calls(monkeypatch, jws_module.PublicKey, "_verify")  # (unbound: called with the key first)
    parsed = jws_module.parse_compact(token)
    assert parsed.verify_with([key]) and parsed.verify_with([key]) and checked.n == 1  # kept
    assert not parsed.verify_with([other_key]) and checked.n == 2  # another key: checked, not kept
    assert not parsed.verify_with([other_key]) and checked.n == 3
    changed = jws_module.parse_compact(jws_module.sign_compact({"typ": "test"}, {"n": 2}, other))
    forged = jws_module.CompactJWS(parsed.header, parsed.payload, changed.signing_input, parsed.signature, token)
    for n in (4, 5):  # other signed bytes under the kept signature: checked again, each time
        assert not forged.verify_with([key]) and checked.n == n
    bad = jws_module.CompactJWS(parsed.header, parsed.payload, parsed.signing_input, bytes(64), token)
    assert not bad.verify_with([key]) and not bad.verify_with([key]) and checked.n == 7
    assert 0 < len(jws_module._verified) <= jws_module._verified.limit == jws_module.VERIFIED_SIGNATURES


def _with_quorum(policy: Policy, k: int) -> Policy:
    """``policy``'s logs and witnesses with a quorum of ``k`` of them (another policy text)."""
    return threshold_policy(policy.logs[0], [(name, key, None) for name, key in policy.witnesses.items()], k)


def _proof_inputs(world: World) -> tuple[dict[str, Any], bytes, LogTrust]:
    opened, _ = world.svc.shares.open(world.token, CLIENT)
    return opened.anchor_proof, opened.presentation.split("~", 1)[0].encode(), world.svc.evidence.trust()


def test_an_anchor_proof_is_checked_once_per_input_and_a_failure_each_time(world: World,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    proof, leaf, trust = _proof_inputs(world)
    opened = Calls(monkeypatch, proof_module, "open_checkpoint")
    anchors: list[str] = []

    def chain_check(anchor: dict[str, Any], _checkpoint: Any) -> tuple[Any, str]:
        anchors.append(anchor["tx_hash"])
        return "passed", "looked up"

    def verify(p: dict[str, Any], data: bytes = leaf, t: LogTrust = trust) -> proof_module.Verdict:
        return proof_module.verify_anchor_proof(p, data, log_key=t.log_key, policy=t.policy, chain_check=chain_check)

    first = verify(proof)
    assert first.verified and verify(proof).to_json() == first.to_json()
    assert opened.n <= 1  # (none when an open already kept it)
    seen = opened.n
    anchored = {**proof, "chain_anchors": [{"tx_hash": "0x01", "chain_id": 1}]}
    assert verify(anchored).verified and verify(anchored).verified and anchors == ["0x01", "0x01"]  # looked up each time
    assert opened.n == seen  # chain anchors are not part of what is kept
    for n in (1, 2):  # another leaf: checked, fails, and the failure is not kept
        assert not verify(proof, leaf + b"x").verified and opened.n == seen + n
    path = list(proof["inclusion_proof"])
    path[0] = _flip(path[0], 0)
    for n in (3, 4):
        assert not verify({**proof, "inclusion_proof": path}).verified and opened.n == seen + n
    text, _, lines = proof["checkpoint"].partition("\n\n")
    log_line, witness_line, *rest = lines.splitlines(keepends=True)
    bad_line = witness_line[:-10] + _flip(witness_line[-10:-3], 2) + witness_line[-3:]  # a witness's signature byte
    assert not verify({**proof, "checkpoint": f"{text}\n\n{log_line}{bad_line}{''.join(rest)}"}).verified
    assert opened.n == seen + 5
    assert trust.policy is not None
    fewer = LogTrust(trust.log_key, _with_quorum(trust.policy, 1))  # other trust: its own check
    assert verify(proof, t=fewer).verified and opened.n == seen + 6
    assert verify(proof, t=fewer).verified and opened.n == seen + 6
    absent = Cosigner.from_seed("witness.test/absent", bytes([8]) * 32)
    untrusted = LogTrust(trust.log_key, threshold_policy(trust.log_key, [(absent.name, absent.key, None)], 1))
    for n in (7, 8):  # a quorum not met fails, and the failure is not kept
        assert not verify(proof, t=untrusted).verified and opened.n == seen + n
    assert 0 < len(proof_module._proven) <= proof_module._proven.limit == proof_module.PROVEN_LEAVES


def test_a_key_history_is_verified_once_per_input_and_a_failure_each_time(world: World,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    opened, _ = world.svc.shares.open(world.token, CLIENT)
    iss = jws_module.parse_compact(opened.presentation.split("~", 1)[0]).payload["iss"]
    evidence, trust = world.svc.evidence.key_history(iss), world.svc.evidence.trust()
    assert evidence is not None
    checked = Calls(monkeypatch, credential_module, "_verified_history")

    def check(e: KeyHistoryEvidence, t: LogTrust = trust) -> tuple[Any, Report]:
        report = Report(checked_at=0)
        return credential_module._key_history(e, t, report), report

    first, report = check(evidence)
    again, report_again = check(evidence)
    assert first is not None and again == first and report_again.checks == report.checks
    assert report.checks[-1].status == "passed" and checked.n <= 1
    seen = checked.n
    forged = KeyHistoryEvidence(_flip(evidence.jws, len(evidence.jws) - 3), evidence.anchor_proof)  # its signature
    for n in (1, 2):
        found, report = check(forged)
        assert found is None and report.checks[-1].status == "failed" and checked.n == seen + n
    moved = KeyHistoryEvidence(evidence.jws, {**evidence.anchor_proof, "leaf_index": evidence.anchor_proof["leaf_index"] + 1})
    assert check(moved)[0] is None and checked.n == seen + 3
    assert trust.policy is not None
    other = LogTrust(trust.log_key, _with_quorum(trust.policy, 1))
    assert check(evidence, other)[0] == first and checked.n == seen + 4
    assert check(evidence, LogTrust(trust.log_key, None))[0] == first and checked.n == seen + 5
    assert 0 < len(credential_module._trusted_histories) <= credential_module.TRUSTED_HISTORIES
