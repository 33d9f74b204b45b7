"""Plain helpers the test modules share (pytest fixtures live in tests/conftest.py): roster rows
and files, the ``credshare`` CLI, a list sink for issued credentials, the check statuses of a
verification report (and the witnesses behind it: the test log's own development witnesses,
an independent test witness's cosignatures added to a bundle), an owner's steps in the browser
(register, confirm the address, accept a delivery, make and open a share link), a ``credshare
witness serve`` process, a static web site on 127.0.0.1 (:class:`StaticSite`), threads released
together, the package's modules, and a Blockcerts batch issued by cert-issuer on ganache."""

from __future__ import annotations

import ast
import csv
import email as email_parser
import functools
import http.client
import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from email import policy as email_policy
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from credshare.anchoring.cosignature import Cosigner, with_signature_lines
from credshare.anchoring.note import COSIGNATURE_V1_ALG, Checkpoint, NoteVerifier
from credshare.anchoring.policy import threshold_policy
from credshare.cli import cli
from credshare.disclosure.jws import parse_compact
from credshare.foundation.errors import CredshareError
from credshare.issuing.types import load_types
from credshare.verifier.trust_list import TrustedIssuer, TrustedLog, TrustList
from tests.conftest import ROOT, free_port, stop_process_group, wait_for_port

TYPES = load_types()
EMAIL = "Dr.Ada@Example.org"
PASSWORD = "correct horse battery staple"
PASSPHRASE = "backup passphrase for the safe"
OWNER = "ada@example.org"
THREE = [["legal_name"], ["degree"], ["conferral_date"]]
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


# -- rosters and the CLI ----------------------------------------------------------------------

def degree_row(i: int, **changes: Any) -> dict[str, Any]:
    row = {
        "legal_name": f"Avery {i} Quinn", "given_name": "Avery", "family_name": f"Quinn{i}", "date_of_birth": "1991-04-12",
        "former_names": "Avery Smith", "medical_school.name": "Example University School of Medicine",
        "medical_school.city": "Boston", "medical_school.country": "US", "medical_school.identifier": "F0001234",
        "degree": "MD", "program": "MD/PhD", "attendance_start": "2012-08-01", "attendance_end": "2018-05-20",
        "conferral_date": "2018-05-20", "accreditation": "LCME", "ecfmg_certificate_number": "",
        "npi": "1234567893", "diploma_number": f"D-{i:06d}", "honors": "", "email": f"avery{i}@example.org",
    }
    row.update(changes)
    return row


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(dict.fromkeys(k for row in rows for k in row)))
        writer.writeheader()
        writer.writerows(rows)
    return path


def run(env: dict[str, str], *args: str):
    return CliRunner(env=env).invoke(cli, list(args))


# -- issued credentials and verification reports ---------------------------------------------

class ListSink:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def write(self, credential: dict[str, Any]) -> None:
        self.items.append(credential)


def statuses(report) -> dict[str, str]:
    out: dict[str, str] = {}
    for check in report.checks:
        out[check.name] = "failed" if "failed" in (out.get(check.name), check.status) else check.status
    return out


# -- witnesses: the test server's log is cosigned by its own development witnesses only ------

INDEPENDENT_WITNESS = Cosigner.from_seed("witness.test/independent", bytes([7]) * 32)


def only_dev_witnessed(report, *, history: bool = False) -> bool:
    """Whether ``report`` is what this test server's log gives when everything holds: every
    check passed (an unchecked chain anchor aside; ``credential_validity`` ``history`` with
    ``history``) except the witness quorum, which the log's own development witnesses can
    never pass: ``unchecked``, saying so; so the outcome is ``incomplete``."""
    if isinstance(report, dict):  # the report's JSON (the API, a receipt's payload)
        outcome, checks = report["outcome"], [(c["check"], c["status"], c["detail"]) for c in report["checks"]]
    else:
        outcome, checks = report.outcome, [(c.name, c.status, c.detail) for c in report.checks]
    quorum = [(status, detail) for name, status, detail in checks if name == "witness_quorum"]
    rest = [status for name, status, _ in checks if name not in ("witness_quorum", "chain_anchor")]
    return (outcome == "incomplete" and len(quorum) == 1 and quorum[0][0] == "unchecked"
            and "development witnesses" in quorum[0][1]
            and all(status == "passed" or history and status == "history" for status in rest))


def cosign_proof(proof: dict[str, Any], witness: Cosigner = INDEPENDENT_WITNESS) -> dict[str, Any]:
    """``proof`` (an anchor proof) with ``witness``'s cosignature/v1 line added to its
    checkpoint, as an independent witness that saw the checkpoint would have made it."""
    text = proof["checkpoint"].partition("\n\n")[0] + "\n"
    at = Checkpoint.parse(text).signed_at or 1_700_000_000
    return {**proof, "checkpoint": with_signature_lines(proof["checkpoint"], [witness.cosign(text, at)])}


def independently_witnessed(bundle: dict[str, Any], witness: Cosigner = INDEPENDENT_WITNESS) -> dict[str, Any]:
    """``bundle`` with ``witness``'s cosignature on the checkpoint of each of its anchor proofs
    (the credential's, the key history's and the status list's)."""
    out = json.loads(json.dumps(bundle))
    out["anchor_proof"] = cosign_proof(out["anchor_proof"], witness)
    history = out["issuer"]["key_history"]
    history["anchor_proof"] = cosign_proof(history["anchor_proof"], witness)
    if out.get("status") and out["status"].get("anchor_proof"):
        out["status"]["anchor_proof"] = cosign_proof(out["status"]["anchor_proof"], witness)
    return out


def witness_policy_text(log_key: str, *witnesses: Cosigner, k: int = 1) -> str:
    """A verifier's own tlog-policy: the log ``log_key`` and ``k`` of ``witnesses``
    (default: the independent test witness)."""
    chosen = witnesses or (INDEPENDENT_WITNESS,)
    return threshold_policy(NoteVerifier.decode(log_key), [(w.name, w.key, None) for w in chosen], k).to_text()


def trusting(bundle: dict[str, Any], *logs: TrustedLog) -> TrustList:
    """A verifier's trust list of ``logs`` that also recognises the issuer of ``bundle``'s
    credential, for its type, in the bundle's log: for tests whose subject is not whom to trust."""
    payload = parse_compact(bundle["presentation"].split("~", 1)[0]).payload
    origin = bundle["log"]["key"].split("+", 1)[0]
    return TrustList.of(logs, [TrustedIssuer(id=payload["iss"], name="Test issuer", accreditation="test",
                                             types=(payload["vct"],), log=origin)])


def trust_list_file(path: Path, bundle: dict[str, Any], policy_text: str) -> Path:
    """A verifier's trust list file: the log of ``policy_text`` and, as :func:`trusting` does,
    the issuer of ``bundle``'s credential for its type."""
    payload = parse_compact(bundle["presentation"].split("~", 1)[0]).payload
    origin = bundle["log"]["key"].split("+", 1)[0]
    path.write_text(f'format = "credshare-trust-list/v1"\n\n[[log]]\npolicy = """\n{policy_text}"""\n\n'
                    f'[[issuer]]\nid = "{payload["iss"]}"\nname = "Test issuer"\ntypes = ["{payload["vct"]}"]\n'
                    f'log = "{origin}"\n')
    return path


# -- a person's HTTP client, for the tests that run real server processes ------------------

class Browser:
    """One HTTP client with its own cookies (a person): plain requests, answers whatever the status."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        url = path if path.startswith("http") else self.base + path
        req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        try:
            with self.opener.open(req, timeout=60) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def json(self, method: str, path: str, doc: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        body = None if doc is None else json.dumps(doc).encode()
        status, raw = self.request(method, path, body, {"Content-Type": "application/json", **(headers or {})})
        return status, json.loads(raw)

    def form(self, path: str, fields: dict[str, str], page: str | None = None) -> tuple[int, str]:
        """POST ``fields`` with the CSRF token of the form on ``page`` (default: ``path``)."""
        status, html = self.request("GET", page or path)
        match = _CSRF.search(html.decode())
        assert status == 200 and match, (status, html[:500])
        body = urllib.parse.urlencode({**fields, "csrf_token": match.group(1)}).encode()
        status, html = self.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})
        return status, html.decode()

    def csrf(self) -> str:
        return self.json("GET", "/api/v1/session")[1]["csrf_token"]



def register_and_confirm(owner: Browser, data_dir: Path, email: str) -> None:
    """Register on ``owner``'s server, then confirm the address from the mail in the server's
    outbox (``data_dir``/outbox: no SMTP server configured), waiting at most 10 s for it."""
    status, _ = owner.form("/register", {"email": email, "password": PASSWORD, "password_confirm": PASSWORD})
    assert status == 200, status
    deadline = time.monotonic() + 10
    mails: list[Path] = []
    while not mails and time.monotonic() < deadline:
        mails = list((data_dir / "outbox").glob("*.eml"))
        time.sleep(0.1)
    assert mails, f"no confirmation mail in {data_dir / 'outbox'}"
    message = email_parser.message_from_bytes(mails[0].read_bytes(), policy=email_policy.default)
    link = re.search(r"http://\S+/confirm-email/[A-Za-z0-9_-]+", message.get_content()).group(0)
    status, html = owner.form(link, {})
    assert status == 200 and "is confirmed" in html, html[:2000]


# -- a witness server process -------------------------------------------------------------

class WitnessProcess:
    """``credshare witness serve`` on 127.0.0.1 in its own process group."""

    # the `credshare witness` group as its own program: the same click group `credshare` registers
    PROGRAM: tuple[str, ...] = (sys.executable, "-m", "credshare.cli_witness")

    def __init__(self, data_dir: Path, name: str, logs_file: Path, *extra: str) -> None:
        self.data_dir, self.name, self.logs_file, self.extra = data_dir, name, logs_file, extra
        self.port = free_port()
        self.start()

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
        self._log = open(self.data_dir.parent / f"{self.name.replace('/', '_')}-{self.port}.log", "ab")
        self.proc = subprocess.Popen(
            [*self.PROGRAM, "serve", "--data-dir", str(self.data_dir), "--name",
             self.name, "--logs", str(self.logs_file), "--port", str(self.port), *self.extra],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=self._log, text=True, start_new_session=True)
        self.banner = self._first_line(timeout=60)

    def _first_line(self, timeout: float) -> str:
        found: list[str] = []
        reader = threading.Thread(target=lambda: found.append(self.proc.stdout.readline()), daemon=True)  # type: ignore
        reader.start()
        reader.join(timeout)
        if not found:
            stop_process_group(self.proc)
            raise TimeoutError(f"no banner within {timeout}s")
        return found[0].strip()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def key(self) -> NoteVerifier:
        """The vkey its banner prints: ``witness <NAME> <vkey> listening on <URL>``."""
        words = self.banner.split(" ")
        assert words[:2] == ["witness", self.name] and words[3:] == ["listening", "on", self.url], self.banner
        return NoteVerifier.decode(words[2], alg=COSIGNATURE_V1_ALG)

    def post(self, body: bytes) -> tuple[int, str, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("POST", "/add-checkpoint", body=body)
            res = conn.getresponse()
            return res.status, res.getheader("Content-Type") or "", res.read()
        finally:
            conn.close()

    def get(self, path: str) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path)
            res = conn.getresponse()
            return res.status, res.read()
        finally:
            conn.close()

    def kill_9(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._log.close()

    def stop(self) -> None:
        stop_process_group(self.proc)
        self._log.close()


class StaticSite:
    """tests/metadata_server.py on 127.0.0.1 in its own process group: :meth:`serve` puts a
    body at a path (``GET``, and ``POST`` answered the same); :meth:`asked` lists the paths
    requested so far."""

    SCRIPT = ROOT / "tests" / "metadata_server.py"

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root, self.port = root, free_port()
        self.routes, self.requests = root / "routes.json", root / "requests.log"
        self.routes.write_text("{}")
        self.requests.write_text("")
        self._log = open(root / "site.log", "ab")
        self.proc = subprocess.Popen([sys.executable, str(self.SCRIPT), str(self.routes), str(self.port),
                                      str(self.requests)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=self._log,
                                     start_new_session=True)
        wait_for_port(self.port, self.proc, timeout=30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve(self, path: str, body: str | bytes, media: str = "application/json") -> str:
        """Serve ``body`` at ``path`` from now on; returns its URL."""
        file = self.root / ("body" + path.replace("/", "_"))
        file.write_bytes(body.encode() if isinstance(body, str) else body)
        routes = json.loads(self.routes.read_text())
        routes[path] = [media, str(file)]
        self.routes.write_text(json.dumps(routes))
        return self.url + path

    def forget(self, path: str) -> None:
        """Answer 404 at ``path`` from now on."""
        routes = json.loads(self.routes.read_text())
        routes.pop(path, None)
        self.routes.write_text(json.dumps(routes))

    def asked(self) -> list[str]:
        return self.requests.read_text().split()

    def stop(self) -> None:
        stop_process_group(self.proc)
        self._log.close()


# -- an owner in the browser (Flask's test client) ------------------------------------------

def csrf_from(client, path: str = "/sign-in") -> str:
    match = _CSRF.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def register(client, email: str = EMAIL, password: str = PASSWORD):
    return client.post("/register", data={"email": email, "password": password, "password_confirm": password,
                                          "csrf_token": csrf_from(client, "/register")})


def confirmation_link(app, email: str) -> str:
    """The newest confirmation link mailed to ``email`` (the outbox: no SMTP server configured)."""
    outbox = Path(app.extensions["credshare"].settings.data_dir) / "outbox"
    for path in sorted(outbox.glob("*.eml"), reverse=True):
        message = email_parser.message_from_bytes(path.read_bytes(), policy=email_policy.default)
        if message["To"] == email:
            return re.search(r"http://localhost(/confirm-email/[A-Za-z0-9_-]+)", message.get_content()).group(1)
    raise AssertionError(f"no mail to {email}")


def owner_client(app, email: str, confirm: bool = True):
    client = app.test_client()
    assert register(client, email=email, password=PASSWORD).status_code in (302, 303)
    if confirm:
        link = confirmation_link(app, email)
        assert client.post(link, data={"csrf_token": csrf_from(client, link)}).status_code == 302
    return client


def issue_to(svc, email: str, **row: Any) -> dict[str, Any]:
    sink = ListSink()
    svc.batches.issue("example-med", TYPES["medical-degree"], [(2, degree_row(0, email=email, **row))], sink)
    return sink.items[0]


def post(client, path: str, data: dict[str, Any] | None = None, **kwargs: Any):
    return client.post(path, data={**(data or {}), "csrf_token": csrf_from(client, "/wallet")}, **kwargs)


def accept_delivery(client) -> str:
    page = client.get("/wallet").get_data(as_text=True)
    offer = re.search(r'data-offer="([^"]+)"', page).group(1)
    response = post(client, f"/wallet/offers/{offer}/accept")
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"].rsplit("/", 1)[1]


def create_link(client, entry_id: str, paths=THREE, **form: Any) -> tuple[str, str]:
    data = {"field": [json.dumps(p) for p in paths], "days": "30", **form}
    response = post(client, f"/wallet/{entry_id}/shares", data)
    assert response.status_code == 302 and "/shares/" in response.headers["Location"], response.get_data(as_text=True)
    link_id = response.headers["Location"].rsplit("/", 1)[1]
    page = client.get(f"/shares/{link_id}").get_data(as_text=True)
    token = re.search(r'value="http://localhost/s/([A-Za-z0-9_-]+)"', page).group(1)
    return link_id, token


LICENSE_ROW = {"licensee_name": "Avery Quinn", "jurisdiction": "Demo State", "license_number": "MD-1",
               "license_type": "full", "license_status": "active", "issue_date": "2019-07-15",
               "disciplinary_actions": "no"}


def issue_license(svc, email: str, expiration: str) -> None:
    svc.batches.issue("example-med", TYPES["medical-license"], [(2, {**LICENSE_ROW, "expiration_date": expiration,
                                                                     "email": email})], ListSink())


def open_link(client, token: str, passcode: str | None = None):
    """What a verifier's browser does: the gate page, then its Open button (a POST)."""
    data = {"csrf_token": csrf_from(client, f"/s/{token}")}
    if passcode is not None:
        data["passcode"] = passcode
    return client.post(f"/s/{token}", data=data)


# -- concurrency ------------------------------------------------------------------------------

def race(n: int, attempt: Callable[[int], str], timeout: float = 120.0) -> Counter[str]:
    """Run ``attempt(i)`` on ``n`` real threads released together; the outcomes counted."""
    barrier = threading.Barrier(n, timeout=timeout)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        barrier.wait()
        try:
            outcome = attempt(i)
        except CredshareError as exc:
            outcome = exc.code
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "an attempt hung"
    assert len(outcomes) == n
    return Counter(outcomes)


# -- the package's modules (tests/test_layers.py, tests/test_clock.py) ------------------------

# each top-level folder of the package and its layer
FOLDERS = {"foundation": "foundation", "disclosure": "core", "anchoring": "core", "verifier": "core", "blockcerts": "core",
           "storage": "storage",
           "issuing": "service", "holding": "service", "witnessing": "service",
           "federation": "service", "sharing": "web"}


def modules() -> list[tuple[str, Path]]:
    out = [(f"credshare.{path.stem}", path) for path in (ROOT / "credshare").glob("*.py")]
    for folder in FOLDERS:
        out += [(f"credshare.{folder}.{path.stem}", path) for path in (ROOT / folder).glob("*.py")]
    return out


_NOT_OURS = {"node_modules", "build", "tests", "bench"}


@functools.cache
def python_files(*, with_tests: bool = False) -> tuple[Path, ...]:
    """The repository's own Python files, relative to its root: every folder of the product,
    ``app.py`` and ``scripts/``, and with ``with_tests`` also ``tests/`` and ``bench/``; never
    ``.venv``, ``node_modules`` or build output (which are not walked at all)."""
    skipped = _NOT_OURS - ({"tests", "bench"} if with_tests else set())
    found = [p.relative_to(ROOT) for p in ROOT.glob("*.py")]
    for folder in sorted(ROOT.iterdir()):
        if folder.is_dir() and not folder.name.startswith(".") and folder.name not in skipped \
                and not folder.name.endswith(".egg-info"):
            found += [p.relative_to(ROOT) for p in folder.rglob("*.py")]
    return tuple(sorted(found))


@functools.cache
def source_of(rel: Path) -> str:
    return (ROOT / rel).read_text(encoding="utf-8")


@functools.cache
def tree_of(rel: Path) -> ast.Module:
    """The parsed module (shared by the tests that read the code: parse once per run)."""
    return ast.parse(source_of(rel))


class ServedApp:
    """A WSGI app served on 127.0.0.1 by a werkzeug server in a thread (``url``: its base);
    ``close()`` stops it."""

    def __init__(self, app: Any) -> None:
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class WebhookReceiver(ServedApp):
    """A webhook endpoint answering ``status`` to every POST at ``url``; keeps (content type,
    body bytes) of each."""

    def __init__(self, status: int = 204, path: str = "/credshare-events") -> None:
        from werkzeug.wrappers import Request, Response

        self.status = status
        self.received: list[tuple[str, bytes]] = []

        @Request.application
        def app(req: Request) -> Response:
            self.received.append((req.content_type or "", req.get_data()))
            return Response("", status=self.status)

        super().__init__(app)
        self.url = self.base + path


# -- Blockcerts issuers' web servers (tests/fixtures/blockcerts) ---------------------------------

BLOCKCERTS_FIXTURES = ROOT / "tests" / "fixtures" / "blockcerts"
NORTHFIELD = "https://northfield-med.example/blockcerts/issuer.json"
NORTHFIELD_REVOCATION = "https://northfield-med.example/blockcerts/revocation-list.json"
LAKESIDE = "https://lakeside-residency.example/blockcerts/issuer.json"
LAKESIDE_REVOCATION = "https://lakeside-residency.example/blockcerts/revocation-list.json"
BLOCKCERTS_TRUST_LIST = f'''format = "credshare-trust-list/v1"

[[issuer]]
id = "{NORTHFIELD}"
name = "Northfield School of Medicine"
accreditation = "LCME-accredited school"
keys = "blockcerts"

[[issuer]]
id = "{LAKESIDE}"
name = "Lakeside Residency Program"
accreditation = "ACGME-accredited program"
keys = "blockcerts"
'''


def blockcerts_fixture(name: str) -> dict[str, Any]:
    return json.loads((BLOCKCERTS_FIXTURES / name).read_text(encoding="utf-8"))


class BlockcertsSites:
    """The Blockcerts issuers' servers as federation/blockcerts_sources.py's ``fetch`` reaches
    them: each URL answered with a fixture file (``serve``: which file, ``None``: 404), every
    URL asked kept in ``fetched``. The gathering code under test is the real one."""

    def __init__(self) -> None:
        self.serve: dict[str, str | None] = {
            NORTHFIELD: "issuer-profile.json", NORTHFIELD_REVOCATION: "revocation-list.json",
            LAKESIDE: "issuer-profile-v2.json", LAKESIDE_REVOCATION: "revocation-list-v2.json"}
        self.fetched: list[str] = []

    def __call__(self, url: str, *, max_bytes: int, media_types: tuple[str, ...] = (),
                 accept: str | None = None, public_only: bool = False, allowed_hosts: frozenset[str] = frozenset()) -> Any:
        from credshare.foundation.http_client import Answer, RemoteError

        assert public_only, "a URL a record names is asked only at a public address"
        self.fetched.append(url)
        name = self.serve.get(url)
        if name is None:
            raise RemoteError(f"{url}: answered 404")
        return Answer(200, "application/json", (BLOCKCERTS_FIXTURES / name).read_bytes()[:max_bytes])


# -- a Blockcerts batch anchored on a local chain -------------------------------------------------

# cert-issuer 3.13.1 signs Ethereum transactions with ``SignedTransaction.raw_transaction``
# (eth-account >= 0.13), but its own pins (eth-utils < 3, hence web3 6) install eth-account
# 0.11, whose attribute is ``rawTransaction``: run it with that one name aliased, nothing else
# changed (the venv itself is left as scripts/blockcerts_fixtures.py made it)
CERT_ISSUER_ETH_SHIM = """\
import sys
import eth_account.datastructures as signed
if not hasattr(signed.SignedTransaction, "raw_transaction"):
    signed.SignedTransaction.raw_transaction = property(lambda self: self.rawTransaction)
from cert_issuer.__main__ import cert_issuer_main
sys.argv[0] = "cert-issuer"
cert_issuer_main()
"""


def blockcerts_fixtures_script() -> Any:
    """scripts/blockcerts_fixtures.py as a module (its venv maker, unsigned records, profiles)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("blockcerts_fixtures", ROOT / "scripts" / "blockcerts_fixtures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def issue_on_ganache(rpc_url: str, private_key: str, address: str, records: dict[str, dict[str, Any]], *,
                     verification_method: str, workdir: Path) -> tuple[dict[str, dict[str, Any]], float]:
    """Blockcerts v3 records issued as one batch by cert-issuer 3.13.1 (the venv of
    scripts/blockcerts_fixtures.py, made on first use) on a ganache node posing as Ethereum Sepolia
    (chain id 11155111: ``chain = ethereum_sepolia``, ``sepolia_rpc_url`` the node), signed with
    the node's funded account (``private_key`` in the key file, ``address`` the issuing address).
    Returns the issued records by file name, and the seconds cert-issuer took."""
    fixtures = blockcerts_fixtures_script()
    venv = fixtures.ensure_venv(fixtures.DEFAULT_CACHE, "v3", fixtures.CERT_ISSUER_V3)
    for sub in ("unsigned", "signed", "blockchain", "work", "usb"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    key_file = workdir / "usb" / "pk.txt"
    key_file.write_text(private_key.removeprefix("0x") + "\n")
    key_file.chmod(0o600)
    for name, doc in records.items():
        (workdir / "unsigned" / name).write_text(json.dumps(doc, indent=2))
    (workdir / "conf.ini").write_text("\n".join([
        f"issuing_address = {address}", f"verification_method = {verification_method}",
        "unsigned_certificates_dir = unsigned", "signed_certificates_dir = signed",
        "blockchain_certificates_dir = blockchain", "work_dir = work", "usb_name = usb", "key_file = pk.txt",
        "chain = ethereum_sepolia", f"sepolia_rpc_url = {rpc_url}", "no_safe_mode"]) + "\n")
    started = time.monotonic()
    run = subprocess.run([str(venv / "bin" / "python"), "-c", CERT_ISSUER_ETH_SHIM, "-c", "conf.ini"], cwd=workdir,
                         capture_output=True, text=True, timeout=300)
    took = time.monotonic() - started
    assert run.returncode == 0, f"cert-issuer failed ({run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return {name: json.loads((workdir / "blockchain" / name).read_text()) for name in records}, took
