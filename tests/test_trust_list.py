"""The trust list (verifier/trust_list.py), `credshare trust`, the server's TrustService
(federation/trust.py) and the bounded fetch every request to another organisation goes through
(foundation/http_client.py): who is recognised, and every way of not being recognised."""

from __future__ import annotations

import datetime
import http.server
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from credshare.cli import cli
from credshare.disclosure.jws import Signer, parse_compact
from credshare.disclosure.presentation import KeyBindingRequest, present
from credshare.federation.trust import HOSTED_HERE, TrustService
from credshare.foundation import http_client
from credshare.foundation.errors import ConfigError
from credshare.verifier.bundle import verify_bundle
from credshare.verifier.credential import SHARE_CLAIM
from credshare.verifier.trust_list import (
    MAX_TRUST_LIST_BYTES,
    TrustedIssuer,
    TrustedLog,
    TrustList,
    TrustListError,
)
from credshare.webapp import create_app
from tests.helpers import TYPES, ListSink, degree_row, independently_witnessed, statuses, witness_policy_text

ISS = "https://school.example/issuers/som"
VCT = "urn:credshare:vct:medical-degree:1"
AUD, NONCE = "link-1", "nonce-1"


def _root_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Board Root")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _policy(origin: str = "school.example/log") -> str:
    from credshare.anchoring.note import NoteSigner

    return witness_policy_text(NoteSigner.from_seed(origin, bytes(32)).verifier.encode())


def _toml_string(text: str) -> str:
    return '"""\n' + text + '"""'


def trust_text(*issuers: str, logs: tuple[str, ...] = ("school.example/log",)) -> str:
    parts = ['format = "credshare-trust-list/v1"\n']
    parts += [f"[[log]]\npolicy = {_toml_string(_policy(o))}\n" for o in logs]
    return "\n".join(parts + list(issuers))


SCHOOL = f'''[[issuer]]
id = "{ISS}"
name = "Example School of Medicine"
accreditation = "LCME-accredited school"
types = ["{VCT}"]
log = "school.example/log"
'''


# -- the file ---------------------------------------------------------------------------

def test_a_trust_list_names_logs_and_issuers_with_where_their_keys_are_proven() -> None:
    root = _root_pem()
    board = f'''[[issuer]]
id = "https://board.example"
name = "State Medical Board"
accreditation = "state medical board"
types = ["urn:example:license"]
x5c_roots = [{_toml_string(root)}]
'''
    other = '''[[issuer]]
id = "https://wallet-vendor.example/issuer"
name = "Some SD-JWT VC issuer"
types = ["urn:example:other"]
'''
    listed = TrustList.from_text(trust_text(SCHOOL, board, other))
    school = listed.issuer(ISS)
    assert school is not None and school.keys == "log" and school.accreditation == "LCME-accredited school"
    assert listed.issuer("https://board.example").keys == "x5c"
    assert listed.issuer("https://board.example").x5c_roots[0] == x509.load_pem_x509_certificate(
        root.encode()).public_bytes(serialization.Encoding.DER)
    metadata = listed.issuer("https://wallet-vendor.example/issuer")
    assert metadata.keys == "metadata"
    assert metadata.metadata_url == "https://wallet-vendor.example/.well-known/jwt-vc-issuer/issuer"  # SD-JWT VC §5
    assert listed.origins() == ("school.example/log",)
    found = listed.log_for_origin("school.example/log")
    assert found is not None and listed.log_for_key(found[1]) is found[0]
    assert found[0].policy is not None and found[0].policy.describe_quorum() == "witness.test/independent"


def test_a_bare_tlog_policy_is_a_trust_list_of_one_log_and_no_issuers() -> None:
    listed = TrustList.from_text(_policy())
    assert len(listed.logs) == 1 and not listed.issuers
    assert listed.check_issuer(ISS, VCT, "school.example/log").status == "unchecked"


@pytest.mark.parametrize(("text", "code", "says"), [
    ('{"log_key": "x"}', "trust_file_json_unsupported", "JSON trust file"),
    ('format = "credshare-trust-list/v2"\n', "trust_file_invalid", "begins with format"),
    ('format = "credshare-trust-list/v1"\nextra = 1\n', "trust_file_invalid", "unknown trust list entries: extra"),
    (trust_text() + "\nextra = 1\n", "trust_file_invalid", "log 1: unknown keys extra"),
    (trust_text(SCHOOL, SCHOOL), "trust_file_invalid", "listed twice"),
    (trust_text(SCHOOL.replace(f'types = ["{VCT}"]', "types = []")), "trust_file_invalid", "types lists"),
    (trust_text(SCHOOL.replace('name = "Example School of Medicine"', 'name = "A\\u0007B"')), "trust_file_invalid",
     "a line of text"),
    (trust_text(SCHOOL + 'metadata = "ftp://school.example/x"\n'), "trust_file_invalid", "http(s) URL"),
    (trust_text(SCHOOL + 'x5c_roots = ["not a certificate"]\n'), "trust_file_invalid", "one PEM certificate"),
    (trust_text(SCHOOL + 'colour = "blue"\n'), "trust_file_invalid", "unknown keys colour"),
    (trust_text(logs=("school.example/log", "school.example/log")), "trust_file_invalid", "same origin"),
    ('format = "credshare-trust-list/v1"\n[[log]]\npolicy = "quorum none\\n"\n', "trust_file_invalid", "lists no log"),
    ("log nonsense\nquorum none\n", "trust_file_invalid", "neither a trust list"),
])
def test_a_trust_list_that_does_not_read_is_refused_whole(text: str, code: str, says: str) -> None:
    with pytest.raises(TrustListError) as err:
        TrustList.from_text(text)
    assert err.value.code == code and says in err.value.detail, err.value.detail


def test_a_trust_list_is_bounded() -> None:
    with pytest.raises(TrustListError, match="at most"):
        TrustList.from_text(b"#" * (MAX_TRUST_LIST_BYTES + 1))
    many = "".join(SCHOOL.replace(ISS, f"{ISS}{i}") for i in range(2049))
    with pytest.raises(TrustListError, match="at most 2048"):
        TrustList.from_text(trust_text(many))


def test_check_issuer_recognises_only_what_the_list_says() -> None:
    listed = TrustList.from_text(trust_text(SCHOOL))
    passed = listed.check_issuer(ISS, VCT, "school.example/log")
    assert passed.status == "passed" and passed.detail == ("Example School of Medicine (LCME-accredited school), "
                                                           "on your trust list")
    stranger = listed.check_issuer("https://diploma-mill.example/issuers/x", VCT, "school.example/log")
    assert stranger.status == "failed" and stranger.detail.startswith("issuer not recognised")
    wrong_type = listed.check_issuer(ISS, "urn:credshare:vct:medical-license:1", "school.example/log")
    assert wrong_type.status == "failed" and "not for credentials of type urn:credshare:vct:medical-license:1" in \
        wrong_type.detail
    other_log = listed.check_issuer(ISS, VCT, "elsewhere.example/log")
    assert other_log.status == "failed" and "anchored in the log elsewhere.example/log" in other_log.detail
    assert listed.check_issuer(ISS, VCT, None).status == "failed"
    assert listed.check_issuer(None, VCT, "school.example/log").status == "failed"


def test_what_the_operator_wrote_wins_over_an_added_entry() -> None:
    listed = TrustList.from_text(trust_text(SCHOOL))
    added = listed.with_issuers([TrustedIssuer(id=ISS, name="Self-described", accreditation="", types=("x",))])
    assert added.issuer(ISS).name == "Example School of Medicine"


# -- bundles judged by the verifier's own list -------------------------------------------

@pytest.fixture(scope="module")
def issued(tmp_path_factory) -> tuple[Any, Signer, list[dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("trust")
    app = create_app({"CREDSHARE_DATA_DIR": str(tmp / "data"), "CREDSHARE_PUBLIC_URL": "https://school.test"})
    svc = app.extensions["credshare"]
    svc.issuers.create("som", "School of Medicine (as it names itself)")
    holder = Signer.generate("EdDSA")
    sink = ListSink()
    svc.batches.issue("som", TYPES["medical-degree"], [(2, degree_row(0, email="", holder_jwk=json.dumps(
        holder.public_jwk)))], sink)
    return svc, holder, sink.items


def _bundle(issued) -> dict[str, Any]:
    svc, holder, items = issued
    kb = KeyBindingRequest(holder, AUD, NONCE, int(time.time()), {SHARE_CLAIM: {"history": False}})
    presentation = present(items[0]["sd_jwt"], [("legal_name",)], kb)
    return json.loads(json.dumps(independently_witnessed(svc.evidence.bundle(
        presentation, items[0]["anchor_proof"], audience=AUD, nonce=NONCE, not_before=int(time.time()) - 5,
        share={}))))


def _verifier_list(bundle: dict[str, Any], **issuer: Any) -> TrustList:
    payload = parse_compact(bundle["presentation"].split("~", 1)[0]).payload
    origin = bundle["log"]["key"].split("+", 1)[0]
    entry = {"id": payload["iss"], "name": "Example School of Medicine", "accreditation": "LCME-accredited school",
             "types": (payload["vct"],), "log": origin, **issuer}
    return TrustList.of([TrustedLog.from_text(witness_policy_text(bundle["log"]["key"]))], [TrustedIssuer(**entry)])


def test_a_bundle_verifies_only_for_an_issuer_on_the_verifiers_list(issued) -> None:
    bundle = _bundle(issued)
    now = int(time.time())
    report = verify_bundle(bundle, trusted=_verifier_list(bundle), now=now)
    assert report.outcome == "verified", [c for c in report.checks if c.status != "passed"]
    assert report.issuer_name == "Example School of Medicine"  # the list's name, not the one it gives itself
    body = report.to_json()
    assert body["issuer"]["vouched_for"]["accreditation"] == "LCME-accredited school"
    assert [c.name for c in report.checks][:3] == ["trust_anchor", "key_history", "issuer_trust"]

    stranger = verify_bundle(bundle, trusted=_verifier_list(bundle, id="https://someone.else/issuers/x"), now=now)
    assert statuses(stranger)["issuer_trust"] == "failed" and stranger.outcome == "not_verified"
    assert "issuer not recognised" in next(c.detail for c in stranger.checks if c.name == "issuer_trust")
    assert stranger.issuer_name == "School of Medicine (as it names itself)" and stranger.issuer_trust is None
    wrong_type = verify_bundle(bundle, trusted=_verifier_list(bundle, types=("urn:example:license",)), now=now)
    assert statuses(wrong_type)["issuer_trust"] == "failed" and wrong_type.outcome == "not_verified"
    other_log = verify_bundle(bundle, trusted=_verifier_list(bundle, log="another.example/log"), now=now)
    assert statuses(other_log)["issuer_trust"] == "failed"
    no_issuers = verify_bundle(bundle, trusted=TrustList(_verifier_list(bundle).logs), now=now)
    assert statuses(no_issuers)["issuer_trust"] == "unchecked" and no_issuers.outcome == "incomplete"


def test_a_tampered_credential_is_not_judged_for_trust(issued) -> None:
    bundle = _bundle(issued)
    jwt, rest = bundle["presentation"].split("~", 1)
    bundle["presentation"] = jwt[:-4] + ("AAAA" if not jwt.endswith("AAAA") else "BBBB") + "~" + rest
    report = verify_bundle(bundle, trusted=_verifier_list(bundle), now=int(time.time()))
    assert statuses(report)["issuer_trust"] == "unchecked" and report.outcome == "not_verified"


# -- credshare trust ---------------------------------------------------------------------

def _run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["trust", *args])


def test_credshare_trust_edits_the_list_keeping_comments_and_refuses_bad_edits(tmp_path: Path) -> None:
    path, policy = tmp_path / "trust.toml", tmp_path / "school.policy"
    policy.write_text(_policy())
    assert _run("init", str(path)).exit_code == 0
    again = _run("init", str(path))
    assert again.exit_code == 1 and json.loads(again.stdout)["error"] == "file_exists"
    path.write_text(path.read_text() + "# reviewed by the credentials committee, 2026-11\n")
    assert _run("add-log", str(path), str(policy), "--mirror", "https://mirror.example/school").exit_code == 0
    twice = _run("add-log", str(path), str(policy))
    assert twice.exit_code == 1 and json.loads(twice.stdout)["error"] == "trust_entry_exists"
    made = _run("add-issuer", str(path), "--id", ISS, "--name", "Example School of Medicine", "--accreditation",
                "LCME-accredited school", "--type", VCT, "--log", "school.example/log")
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["issuers"][0]["accreditation"] == "LCME-accredited school"
    before = path.read_bytes()
    for args, code in ((("--id", ISS, "--name", "Again", "--type", VCT, "--log", "school.example/log"),
                        "trust_entry_exists"),
                       (("--id", "https://x.example/i", "--name", "X", "--type"), "usage"),
                       (("--id", "https://x.example/i", "--name", "X", "--type", VCT, "--log", "school.example/log",
                         "--metadata", "https://x.example/m"), "request_invalid")):
        refused = _run("add-issuer", str(path), *args)
        if code == "usage":
            assert refused.exit_code == 2
        else:
            assert refused.exit_code == 1 and json.loads(refused.stdout)["error"] == code, refused.output
        assert path.read_bytes() == before  # nothing written
    assert "# reviewed by the credentials committee" in path.read_text()
    listed = TrustList.from_text(path.read_bytes())
    assert listed.issuer(ISS).name == "Example School of Medicine" and listed.logs[0].mirrors == (
        "https://mirror.example/school",)
    shown = _run("show", str(path))
    assert shown.exit_code == 0 and json.loads(shown.stdout)["logs"][0]["mirrors"] == ["https://mirror.example/school"]
    assert json.loads(shown.stdout)["warnings"] == []
    elsewhere = _run("add-issuer", str(path), "--id", "https://x.example/i", "--name", "X", "--type", VCT,
                     "--log", "nowhere.example/log")  # a log trusted elsewhere (a server's own): said, not refused
    assert elsewhere.exit_code == 0 and "nowhere.example/log" in json.loads(elsewhere.stdout)["warnings"][0]
    assert _run("remove-issuer", str(path), "https://x.example/i").exit_code == 0
    assert _run("remove-issuer", str(path), ISS).exit_code == 0
    assert not TrustList.from_text(path.read_bytes()).issuers
    gone = _run("remove-issuer", str(path), ISS)
    assert gone.exit_code == 1 and json.loads(gone.stdout)["error"] == "trust_entry_unknown"
    path.write_text("not = [a trust list")
    broken = _run("show", str(path))
    assert broken.exit_code == 1 and json.loads(broken.stdout)["error"] == "trust_file_invalid"


# -- the server's trust ----------------------------------------------------------------

def _own_log() -> TrustedLog:
    return TrustedLog.from_text(_policy("wallet.example/log"))


def test_the_server_reads_its_trust_list_again_when_it_changes_and_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "trust.toml"
    path.write_text(trust_text(SCHOOL))
    trusting = TrustService(path, _own_log(), [VCT])
    assert trusting.for_issuer(ISS, None).issuer(ISS) is not None and trusting.problem() == ""
    assert trusting.trust_list().origins() == ("school.example/log", "wallet.example/log")
    board = SCHOOL.replace(ISS, "https://board.example/issuers/b").replace("Example School of Medicine", "Board")
    path.write_text(trust_text(SCHOOL, board))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # a new mtime even on a coarse clock
    assert trusting.trust_list().issuer("https://board.example/issuers/b").name == "Board"
    path.write_text(trust_text(SCHOOL, board) + "\n[[issuer]]\nbroken = \n")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    assert trusting.trust_list().issuer(ISS) is None  # none of a broken file is trusted, not the last good copy
    assert "cannot be read" in trusting.problem()
    assert trusting.trust_list().origins() == ("wallet.example/log",)  # its own log still is
    path.write_text(trust_text(SCHOOL))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 3 * 10**9))
    assert trusting.trust_list().issuer(ISS) is not None and trusting.problem() == ""


def test_issuers_hosted_here_are_recognised_unless_the_list_names_them(tmp_path: Path) -> None:
    trusting = TrustService(None, _own_log(), [VCT])
    hosted = trusting.for_issuer("https://wallet.example/issuers/local", "Local School").issuer(
        "https://wallet.example/issuers/local")
    assert hosted is not None and hosted.vouched_by == HOSTED_HERE and hosted.log == "wallet.example/log"
    assert trusting.for_issuer("https://wallet.example/issuers/local", None).issuer(
        "https://wallet.example/issuers/local") is None


def test_a_server_with_a_broken_trust_list_does_not_start(tmp_path: Path) -> None:
    path = tmp_path / "trust.toml"
    path.write_text("format = 'nope'\n")
    app = create_app({"CREDSHARE_DATA_DIR": str(tmp_path / "d"), "CREDSHARE_TRUST_LIST": str(path)})
    with pytest.raises(ConfigError, match="CREDSHARE_TRUST_LIST"):
        _ = app.extensions["credshare"].trusting


def test_the_servers_own_issuer_is_named_as_the_operators_list_names_it(tmp_path: Path) -> None:
    base = {"CREDSHARE_DATA_DIR": str(tmp_path / "d"), "CREDSHARE_PUBLIC_URL": "https://school.test"}
    svc = create_app(base).extensions["credshare"]
    svc.issuers.create("som", "som (self-named)")
    holder = Signer.generate("EdDSA")
    sink = ListSink()
    svc.batches.issue("som", TYPES["medical-degree"], [(2, degree_row(0, email="", holder_jwk=json.dumps(
        holder.public_jwk)))], sink)
    item = sink.items[0]
    first = svc.evidence.verify(item["sd_jwt"], item["anchor_proof"], allow_expired=True)
    check = next(c for c in first.checks if c.name == "issuer_trust")
    assert check.status == "passed" and check.detail == f"som (self-named), on {HOSTED_HERE}"
    listed = tmp_path / "trust.toml"
    listed.write_text(trust_text(SCHOOL.replace(ISS, "https://school.test/issuers/som").replace(
        "school.example/log", svc.log.origin), logs=()))
    svc = create_app({**base, "CREDSHARE_TRUST_LIST": str(listed)}).extensions["credshare"]
    report = svc.evidence.verify(item["sd_jwt"], item["anchor_proof"], allow_expired=True)
    assert report.issuer_name == "Example School of Medicine"
    assert report.issuer_trust["accreditation"] == "LCME-accredited school"


# -- asking another organisation's server ----------------------------------------------

@pytest.mark.parametrize(("url", "ok"), [
    ("https://school.example/x", True), ("http://127.0.0.1:8080/x", True), ("http://localhost/x", True),
    ("http://[::1]:9/x", True), ("http://school.example/x", False), ("https://user:pw@school.example/x", False),
    ("ftp://school.example/x", False), ("https:///x", False), ("https://school.example/" + "a" * 2100, False),
])
def test_only_https_or_loopback_http_urls_are_asked(url: str, ok: bool) -> None:
    if ok:
        assert http_client.check_remote_url(url) == url
    else:
        with pytest.raises(http_client.RemoteError) as err:
            http_client.check_remote_url(url)
        assert err.value.code == "remote_url_refused"


class _Answers(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "https://elsewhere.example/")
            self.end_headers()
            return
        body = b'{"ok": true}'
        self.send_response(404 if self.path == "/missing" else 200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_fetch_takes_a_200_of_the_expected_type_and_never_follows_a_redirect() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        answer = http_client.fetch(f"{base}/doc", max_bytes=100, media_types=("application/json",))
        assert answer.body == b'{"ok": true}' and answer.content_type == "application/json"
        for path, says in (("/moved", "not followed"), ("/missing", "answered 404")):
            with pytest.raises(http_client.RemoteError, match=says):
                http_client.fetch(base + path, max_bytes=100)
        with pytest.raises(http_client.RemoteError, match="not text/plain"):
            http_client.fetch(f"{base}/doc", max_bytes=100, media_types=("text/plain",))
        with pytest.raises(http_client.RemoteError, match="more than 5"):
            http_client.fetch(f"{base}/doc", max_bytes=5)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_trust_add_issuer_lists_a_blockcerts_issuer_by_its_profile(tmp_path: Path) -> None:
    path = tmp_path / "trust.toml"
    assert _run("init", str(path)).exit_code == 0
    profile = "https://northfield-med.example/blockcerts/issuer.json"
    before = path.read_bytes()
    for args in (("--type", VCT, "--blockcerts"), ("--address", "15LKgztu9j1zTMinA9yraxyXWbydgtVxxt"), ()):
        refused = _run("add-issuer", str(path), "--id", profile, "--name", "Northfield", *args)
        assert refused.exit_code == 1 and json.loads(refused.stdout)["error"] == "request_invalid", args
        assert path.read_bytes() == before
    made = _run("add-issuer", str(path), "--id", profile, "--name", "Northfield School of Medicine", "--blockcerts",
                "--address", "15LKgztu9j1zTMinA9yraxyXWbydgtVxxt")
    assert made.exit_code == 0, made.output
    entry = TrustList.from_text(path.read_bytes()).issuer(profile)
    assert entry.keys == "blockcerts" and entry.addresses == ("15LKgztu9j1zTMinA9yraxyXWbydgtVxxt",)
    assert json.loads(made.stdout)["issuers"][0]["keys"] == "blockcerts"


def test_a_url_from_outside_is_never_asked_at_a_local_or_private_address() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        for host in ("127.0.0.1", "localhost"):
            with pytest.raises(http_client.RemoteError) as caught:
                http_client.fetch(f"http://{host}:{port}/doc", max_bytes=100, public_only=True)
            assert caught.value.code == "remote_address_refused"
        allowed = http_client.fetch(f"http://127.0.0.1:{port}/doc", max_bytes=100, public_only=True,
                                    allowed_hosts=frozenset({"127.0.0.1"}))  # a test rig, allowed by the operator by name
        assert allowed.body == b'{"ok": true}'
        assert http_client.fetch(f"http://127.0.0.1:{port}/doc", max_bytes=100).status == 200  # the operator's own URLs
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    for address in ("10.1.2.3", "192.168.0.10", "169.254.169.254", "100.64.0.1", "::1", "fd00::1", "0.0.0.0"):
        with pytest.raises(http_client.RemoteError) as caught:
            http_client.public_address(address, 443)
        assert caught.value.code == "remote_address_refused", address
    assert http_client.public_address("93.184.215.14", 443) == "93.184.215.14"
