"""federation/remote.py: key histories and status lists of issuers on other credshare servers,
fetched and cached with their freshness. The "other server" is a real credshare app (its own
services, store and log) answered through Flask's test client behind a fake ``fetch``, or, for
size limits, a tiny HTTP server on 127.0.0.1 in this process."""

from __future__ import annotations

import http.server
import json
import secrets
import threading
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest

from credshare.disclosure.jws import parse_compact
from credshare.federation.remote import MAX_HISTORY_BYTES, MAX_STATUS_BYTES, RemoteEvidence
from credshare.foundation.http_client import Answer, RemoteError
from credshare.holding.wallet import CredentialRefused
from credshare.storage import open_store
from credshare.verifier.credential import check_key_history
from credshare.verifier.trust_list import TrustedIssuer, TrustedLog
from credshare.webapp import create_app
from tests.conftest import services_on
from tests.helpers import TYPES, ListSink, degree_row, statuses

ISSUER = "example-med"


class FakeRemote:
    """``fetch`` answered by the issuer's real app; ``down`` / ``answers`` override it per URL."""

    def __init__(self, app: Any) -> None:
        self.client = app.test_client()
        self.calls: list[tuple[str, int]] = []
        self.down = False
        self.answers: dict[str, Answer] = {}

    def __call__(self, url: str, *, max_bytes: int, media_types: tuple[str, ...] = ()) -> Answer:
        self.calls.append((url, max_bytes))
        if self.down:
            raise RemoteError(f"{url}: ConnectionRefusedError")
        if url in self.answers:
            return self.answers[url]
        parts = urlsplit(url)
        res = self.client.get(parts.path)
        if res.status_code != 200:
            raise RemoteError(f"{url}: answered {res.status_code}")
        return Answer(200, res.mimetype, res.get_data())


@pytest.fixture
def issuer_side(clocked_services):
    svc = clocked_services
    svc.issuers.create(ISSUER, "Example University School of Medicine")
    sink = ListSink()
    svc.batches.issue(ISSUER, TYPES["medical-degree"], [(2, degree_row(1, email=""))], sink)
    return svc, sink.items[0]


@pytest.fixture
def world(issuer_side, clock) -> Iterator[dict[str, Any]]:
    svc, credential = issuer_side
    fake = FakeRemote(create_app({"TESTING": True}, services=svc))
    store = open_store(f"mongomock://localhost/t_{secrets.token_hex(6)}", None)
    remote = RemoteEvidence(store, fake, status_max_age=60, history_max_age=600, clock=clock)
    key = svc.log.signer.verifier.encode()
    trust = TrustedLog((key,), svc.trust_policy).trust(key)
    iss = svc.issuers.issuer_url(ISSUER)
    entry = TrustedIssuer(id=iss, name="Example school", accreditation="LCME", types=("x",), log=svc.log.origin)
    claims = json.loads(json.dumps(_claims(credential["sd_jwt"])))
    yield {"svc": svc, "fake": fake, "remote": remote, "trust": trust, "entry": entry, "uri": claims["status"][
        "status_list"]["uri"], "clock": clock, "credential": credential}
    store.close()


def _claims(sd_jwt: str) -> dict[str, Any]:
    return parse_compact(sd_jwt.split("~", 1)[0]).payload


def test_a_key_history_is_fetched_once_verified_and_kept_for_its_max_age(world) -> None:
    remote, fake, clock = world["remote"], world["fake"], world["clock"]
    history = remote.key_history(world["entry"], world["trust"])
    assert not history.problem and "fetched" in history.note and world["entry"].id + "/key-history" in history.note
    check, payload = check_key_history(history, world["trust"])
    assert check.status == "passed" and payload["iss"] == world["entry"].id
    assert [u for u, _ in fake.calls] == [world["entry"].id + "/key-history"]
    assert fake.calls[0][1] == MAX_HISTORY_BYTES
    remote.key_history(world["entry"], world["trust"])
    assert len(fake.calls) == 1  # from the store
    clock.advance(601)
    remote.key_history(world["entry"], world["trust"])
    assert len(fake.calls) == 2  # past its max age: asked again
    assert remote.highest_version(world["entry"].id) == 1


def test_the_first_fetch_that_fails_is_unchecked_with_the_host_and_a_kept_one_is_used_saying_when(world) -> None:
    remote, fake, clock = world["remote"], world["fake"], world["clock"]
    fake.down = True
    first = remote.key_history(world["entry"], world["trust"])
    assert first.problem.startswith("could not be checked: credshare.test") and "ConnectionRefused" in first.problem
    check, _ = check_key_history(first, world["trust"])
    assert check.status == "unchecked" and check.detail == first.problem
    fake.down = False
    remote.key_history(world["entry"], world["trust"])
    clock.advance(601)
    fake.down = True
    kept = remote.key_history(world["entry"], world["trust"])
    assert not kept.problem and "not fetched again now: could not be checked" in kept.note, kept.note
    check, _ = check_key_history(kept, world["trust"])
    assert check.status == "passed" and "fetched" in check.detail


def test_key_history_versions_only_move_forward(world) -> None:
    remote, fake, clock, svc = world["remote"], world["fake"], world["clock"], world["svc"]
    url = world["entry"].id + "/key-history"
    old = fake.client.get(urlsplit(url).path).get_data()
    svc.issuers.rotate(ISSUER)  # publishes version 2
    newer = remote.key_history(world["entry"], world["trust"])
    assert remote.highest_version(world["entry"].id) == 2
    clock.advance(601)
    fake.answers[url] = Answer(200, "application/json", old)  # the server now serves version 1 again
    refused = remote.key_history(world["entry"], world["trust"])
    assert "refused" in refused.note and "version 1, older than version 2" in refused.note, refused.note
    assert refused.jws == newer.jws  # the higher version is what is used, never the lower
    assert remote.highest_version(world["entry"].id) == 2


def test_a_key_history_that_does_not_verify_or_is_garbage_is_not_kept(world) -> None:
    remote, fake = world["remote"], world["fake"]
    url = world["entry"].id + "/key-history"
    for body in (b"not json", b"[]", json.dumps({"jws": "a.b.c", "anchor_proof": {}}).encode(), b"{" * 50 + b"}" * 50):
        fake.answers[url] = Answer(200, "application/json", body)
        got = remote.key_history(world["entry"], world["trust"])
        assert got.problem.startswith("could not be checked"), (body, got)
        assert remote.highest_version(world["entry"].id) is None
    good = json.loads(fake.client.get(urlsplit(url).path).get_data())
    forged = {**good, "anchor_proof": {**good["anchor_proof"], "leaf_index": good["anchor_proof"]["leaf_index"] + 1}}
    fake.answers[url] = Answer(200, "application/json", json.dumps(forged).encode())
    got = remote.key_history(world["entry"], world["trust"])
    assert "does not verify" in got.problem and remote.highest_version(world["entry"].id) is None


def test_a_status_list_is_kept_for_its_ttl_and_never_used_past_it(world) -> None:
    remote, fake, clock, svc = world["remote"], world["fake"], world["clock"], world["svc"]
    uri = world["uri"]
    got = remote.status(world["entry"], uri)
    assert got.evidence.token and got.evidence.anchor_proof and got.url == uri + "/proof"
    assert got.evidence.source == uri + "/proof" and got.fetched_at == clock.seconds()
    assert fake.calls[-1] == (uri + "/proof", MAX_STATUS_BYTES)
    clock.advance(30)
    again = remote.status(world["entry"], uri)
    assert len(fake.calls) == 1 and again.fetched_at == got.fetched_at and again.evidence.as_of == clock.seconds()
    clock.advance(31)  # past status_max_age (60, below the token's own ttl of 300)
    fake.down = True
    down = remote.status(world["entry"], uri)
    assert down.evidence.token is None and down.evidence.problem.startswith("credshare.test: ")
    fake.down = False
    fresh = remote.status(world["entry"], uri)
    assert fresh.evidence.token and fresh.fetched_at == clock.seconds()
    assert svc is not None


def test_a_status_list_older_than_one_fetched_before_is_refused(world) -> None:
    remote, fake, clock, svc = world["remote"], world["fake"], world["clock"], world["svc"]
    uri = world["uri"]
    proof_url = uri + "/proof"
    first = fake.client.get(urlsplit(proof_url).path).get_data()
    clock.advance(10)
    number = int(uri.rsplit("/", 1)[1])
    svc.status.publish(ISSUER, number)  # a newer token
    remote.status(world["entry"], uri)
    clock.advance(61)
    fake.answers[proof_url] = Answer(200, "application/json", first)
    old = remote.status(world["entry"], uri)
    assert old.evidence.token is None and "older than the one fetched before" in old.evidence.problem


def test_status_garbage_and_other_origins_are_unchecked(world) -> None:
    remote, fake = world["remote"], world["fake"]
    uri = world["uri"]
    proof_url = uri + "/proof"
    good = json.loads(fake.client.get(urlsplit(proof_url).path).get_data())
    other = json.loads(json.dumps(good))
    for body in (b"<html>", b"{}", json.dumps({"token": "x", "anchor_proof": {}}).encode(),
                 json.dumps({"token": good["token"], "anchor_proof": []}).encode()):
        fake.answers[proof_url] = Answer(200, "application/json", body)
        got = remote.status(world["entry"], uri)
        assert got.evidence.token is None and got.evidence.problem.startswith("credshare.test"), body
    fake.answers[proof_url] = Answer(200, "application/json", b" " * (MAX_STATUS_BYTES + 1))
    got = remote.status(world["entry"], uri)
    assert "more than" in got.evidence.problem
    # a token for another list than the credential names
    fake.answers[proof_url] = Answer(200, "application/json", json.dumps(other).encode())
    got = remote.status(world["entry"], uri.rsplit("/", 1)[0] + "/999")
    assert got.evidence.token is None
    calls = len(fake.calls)
    got = remote.status(world["entry"], "https://elsewhere.test/status/x/1")
    assert "not on the issuer's own server" in got.evidence.problem and len(fake.calls) == calls  # never asked
    got = remote.status(world["entry"], "http://credshare.test/status/x/1")  # another scheme: another origin
    assert got.evidence.token is None and len(fake.calls) == calls


class _Big(http.server.BaseHTTPRequestHandler):
    size = MAX_STATUS_BYTES + 10

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()  # no Content-Length: the client must count
        try:
            self.wfile.write(b" " * self.size)
        except OSError:
            pass

    def log_message(self, *args: Any) -> None:
        pass


class _Redirect(_Big):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(302)
        self.send_header("Location", "http://127.0.0.1:1/elsewhere")
        self.end_headers()


@pytest.mark.parametrize("handler", [_Big, _Redirect])
def test_a_real_answer_too_large_or_redirecting_is_unchecked(clock, handler) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    store = open_store(f"mongomock://localhost/t_{secrets.token_hex(6)}", None)
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        remote = RemoteEvidence(store, clock=clock)  # the real fetch
        entry = TrustedIssuer(id=f"{base}/issuers/x", name="X", accreditation="", types=("t",), log="o")
        got = remote.status(entry, f"{base}/status/x/1")
        assert got.evidence.token is None and got.evidence.problem.startswith("127.0.0.1")
        assert ("more than" if handler is _Big else "redirects elsewhere") in got.evidence.problem, got.evidence.problem
    finally:
        server.shutdown()
        server.server_close()
        store.close()


# -- EvidenceService: a credential issued on another server, judged under its issuer's log ----

@pytest.fixture
def wallet_side(issuer_side, clock, tmp_path):
    svc, credential = issuer_side
    svc.issuers.create("not-listed", "Not on the list")
    fake = FakeRemote(create_app({"TESTING": True}, services=svc))
    policy = tmp_path / "a.policy"
    policy.write_text(svc.trust_policy.to_text())
    listed = tmp_path / "trust.toml"
    listed.write_text('format = "credshare-trust-list/v1"\n[[log]]\npolicy = """' + svc.trust_policy.to_text()
                      + '"""\n[[issuer]]\n' + f'id = "{svc.issuers.issuer_url(ISSUER)}"\nname = "Trusted school"\n'
                      + f'types = ["{TYPES["medical-degree"].vct}"]\nlog = "{svc.log.origin}"\n')
    wallet = services_on({"CREDSHARE_DATA_DIR": str(tmp_path / "wallet"), "CREDSHARE_LOCAL_WITNESSES": "1",
                          "CREDSHARE_PUBLIC_URL": "https://wallet.test", "CREDSHARE_TRUST_LIST": str(listed)}, clock)
    wallet.__dict__["remote_evidence"] = RemoteEvidence(wallet.store, fake, clock=clock)  # before evidence is made
    yield svc, wallet, fake, credential
    wallet.store.close()


def test_a_remote_credential_verifies_under_its_issuers_log_with_fetched_evidence(wallet_side) -> None:
    svc, wallet, fake, credential = wallet_side
    report = wallet.evidence.verify(credential["sd_jwt"], credential["anchor_proof"])
    assert statuses(report)["key_history"] == "passed" and statuses(report)["issuer_trust"] == "passed", report.checks
    assert statuses(report)["status"] == "passed" and report.status_from.startswith("https://credshare.test/status/")
    assert report.issuer_name == "Trusted school"
    rest = {k: v for k, v in statuses(report).items() if k not in ("witness_quorum", "chain_anchor")}
    assert set(rest.values()) == {"passed"}, rest
    assert statuses(report)["witness_quorum"] == "unchecked"  # A's development witnesses only
    assert wallet.log.signer.verifier.encode() != svc.log.signer.verifier.encode()
    # the same credential's proof claiming another log: not this issuer's log, refused
    other = {**credential["anchor_proof"], "log_origin": wallet.log.origin}
    assert statuses(wallet.evidence.verify(credential["sd_jwt"], other))["checkpoint_signature"] == "failed"


def test_an_issuer_not_on_the_list_is_not_recognised_and_never_asked(wallet_side) -> None:
    svc, wallet, fake, _ = wallet_side
    sink = ListSink()
    svc.batches.issue("not-listed", TYPES["medical-degree"], [(2, degree_row(2, email=""))], sink)
    report = wallet.evidence.verify(sink.items[0]["sd_jwt"], sink.items[0]["anchor_proof"])
    trust = next(c for c in report.checks if c.name == "issuer_trust")
    assert trust.status == "failed" and "issuer not recognised" in trust.detail
    assert statuses(report)["key_history"] == "failed" and report.outcome == "not_verified"
    assert fake.calls == []


def test_a_remote_issuer_down_on_first_contact_is_unchecked_never_verified(wallet_side) -> None:
    _, wallet, fake, credential = wallet_side
    fake.down = True
    report = wallet.evidence.verify(credential["sd_jwt"], credential["anchor_proof"])
    history = next(c for c in report.checks if c.name == "key_history")
    assert history.status == "unchecked" and history.detail.startswith("could not be checked: credshare.test")
    assert "unknown here" not in history.detail and report.outcome == "incomplete"
    assert statuses(report)["issuer_trust"] == "unchecked"
    # ... and the wallet refuses it, rather than hold a credential whose signature was not checked
    with pytest.raises(CredentialRefused) as refused:
        wallet.wallet.check(None, credential["sd_jwt"], credential["anchor_proof"])  # type: ignore[arg-type]
    assert refused.value.code == "credential_unchecked" and "could not be checked" in refused.value.detail


def test_a_remote_status_list_that_cannot_be_read_says_so_once(wallet_side, clock) -> None:
    _, wallet, fake, credential = wallet_side
    assert statuses(wallet.evidence.verify(credential["sd_jwt"], credential["anchor_proof"]))["status"] == "passed"
    clock.advance(400)  # past the status list's kept age (300 s), within the key history's (3600 s)
    fake.down = True
    status = next(c for c in wallet.evidence.verify(credential["sd_jwt"], credential["anchor_proof"]).checks
                  if c.name == "status")
    assert status.status == "unchecked" and status.detail.startswith("status could not be checked: credshare.test")
    assert status.detail.count("could not be checked") == 1, status.detail
