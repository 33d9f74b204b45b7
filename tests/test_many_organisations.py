"""Many organisations, each its own server (issue 13, "Real components and tests").

Seven processes on 127.0.0.1, each in its own process group with its own data directory and
store, each stopped by its own pid:

* two witnesses (``credshare witness serve``), run by a state board and by FCVS, cosigning both
  issuers' logs (quorum: both);
* the school's issuer server and the board's issuer server (``credshare serve``, their own public
  URLs and log origins, no development witnesses);
* the physician's wallet server, whose trust list names both logs and three issuers;
* a hospital medical staff office's verifier-only server, whose trust list (made with
  ``credshare trust``) names both logs, the school and the board, not the third issuer.

The physician receives a credential from each issuer over OpenID4VCI (the school's by the
e-mailed offer page, the board's and the third's by the offer code), shares one field of each,
and the verifier-only server checks each link by its own list: the school's and the board's are
verified (witnessed by both independent witnesses), the third issuer's is "not recognised". The
board revokes: the verifier sees it once the status list's cache age has passed. The school's
server stops: the link's status "could not be checked", never verified; its offline bundle,
saved before, still verifies with ``credshare verify`` and a static mirror of the school's log.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from credshare.issuing.types import load_types
from tests.e2e.conftest import CREDSHARE, LiveServer, run_cli
from tests.helpers import Browser, WitnessProcess, degree_row, register_and_confirm

pytestmark = pytest.mark.slow

EMAIL = "dr.okafor@example.org"
TYPES = load_types()
DEGREE, LICENSE = TYPES["medical-degree"], TYPES["medical-license"]
LICENSE_ROW = {"licensee_name": "Adaeze Okafor", "jurisdiction": "Demo State", "license_number": "MD-4471",
               "license_type": "full", "license_status": "active", "issue_date": "2024-07-15",
               "expiration_date": "2030-07-14", "disciplinary_actions": "no"}
STATUS_MAX_AGE = 2  # seconds the verifier keeps a fetched status list (CREDSHARE_REMOTE_STATUS_MAX_AGE)


class Witness(WitnessProcess):
    """``credshare witness serve``, the installed command itself."""

    PROGRAM = (str(CREDSHARE), "witness")


class Issuer:
    """An issuer's own server: its log, its issuer and its API token."""

    def __init__(self, root: Path, origin: str, issuer_id: str, name: str) -> None:
        root.mkdir(parents=True)
        self.server = LiveServer(root / "instance")
        self.server.env.update(CREDSHARE_LOCAL_WITNESSES="0", CREDSHARE_LOG_ORIGIN=origin)
        self.origin, self.issuer_id, self.name = origin, issuer_id, name
        self.log_key = run_cli(self.server, "log", "status")["log_key"]
        self.tokens = {issuer_id: self.create(issuer_id, name)}

    def create(self, issuer_id: str, name: str) -> str:
        made = subprocess.run([str(CREDSHARE), "issuer", "create", issuer_id, "--name", name], env=self.server.env,
                              capture_output=True, text=True, timeout=120, check=False)
        token = re.search(r"csi_[A-Za-z0-9_-]+", made.stdout + made.stderr)
        assert token, made.stdout + made.stderr
        return token.group(0)

    @property
    def url(self) -> str:
        return self.server.url

    def iss(self, issuer_id: str | None = None) -> str:
        return f"{self.url}/issuers/{issuer_id or self.issuer_id}"

    def offer(self, ctype: str, row: dict[str, Any], issuer_id: str | None = None) -> dict[str, Any]:
        issuer_id = issuer_id or self.issuer_id
        status, answer = Browser(self.url).json("POST", f"/api/v1/issuers/{issuer_id}/offers",
                                                {"type": ctype, "rows": [row]},
                                                {"Authorization": f"Bearer {self.tokens[issuer_id]}"})
        assert status in (200, 201), answer
        return answer["offers"][0]

    def offered_credential(self, offer_id: str) -> str:
        """The id of the credential an offer was redeemed for (the issuer's own record of it)."""
        status, answer = Browser(self.url).json("GET", f"/api/v1/issuers/{self.issuer_id}/offers/{offer_id}", None,
                                                {"Authorization": f"Bearer {self.tokens[self.issuer_id]}"})
        assert status == 200 and answer["state"] == "issued", answer
        return str(answer["credential_id"])

    def set_status(self, credential_id: str, value: str) -> None:
        status, answer = Browser(self.url).json("POST", f"/api/v1/issuers/{self.issuer_id}/credentials/"
                                                f"{credential_id}/status", {"status": value},
                                                {"Authorization": f"Bearer {self.tokens[self.issuer_id]}"})
        assert status == 200, answer


def trust_list(tmp: Path, name: str, issuers: list[tuple[Issuer, str, str, str, str]],
               policies: dict[str, Path]) -> Path:
    """A trust list made as an operator makes it: ``credshare trust`` with the logs' saved policies."""
    path = tmp / f"{name}-trust.toml"
    runner = LiveServer(tmp / f"{name}-cli")  # only its environment, to run the command
    run_cli(runner, "trust", "init", path)
    for policy in policies.values():
        run_cli(runner, "trust", "add-log", path, policy)
    for issuer, issuer_id, label, accreditation, vct in issuers:
        run_cli(runner, "trust", "add-issuer", path, "--id", issuer.iss(issuer_id), "--name", label,
                "--accreditation", accreditation, "--type", vct, "--log", issuer.origin)
    return path


def offer_page_from_mail(issuer: Issuer) -> str:
    """The offer page link of the newest offer e-mail in the issuer server's outbox."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        mails = sorted((issuer.server.data_dir / "outbox").glob("*.eml"))
        for mail in reversed(mails):
            message = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default)
            if message["To"] == EMAIL:
                return re.search(r"http://\S+/offer/[A-Za-z0-9_-]+", message.get_content()).group(0)
        time.sleep(0.1)
    raise AssertionError("no offer mail")


def offer_code(page_url: str) -> str:
    status, html = Browser(page_url).request("GET", page_url)
    assert status == 200
    return re.search(r'<textarea id="offer-code"[^>]*>([^<]+)</textarea>', html.decode()).group(1)


def receive(owner: Browser, code: str, tx_code: str) -> None:
    status, html = owner.form("/wallet/receive", {"offer": code, "tx_code": tx_code}, page="/wallet")
    assert "passed every check" in html, html[-3000:]


def share_one_field(owner: Browser, iss: str, field: str) -> str:
    """The owner shares one field of the wallet's credential from ``iss``: the link's URL."""
    status, listed = owner.json("GET", "/api/v1/wallet/credentials")
    assert status == 200, listed
    items = listed["credentials"] if isinstance(listed, dict) else listed
    entry = next(c for c in items if c["issuer"]["id"] == iss)
    status, link = owner.json("POST", f"/api/v1/wallet/credentials/{entry['id']}/links", {"fields": [[field]], "days": 7},
                              {"X-CSRF-Token": owner.csrf()})
    assert status == 201, link
    return link["url"]


def check(verifier: LiveServer, link: str) -> dict[str, Any]:
    """The medical staff office checks ``link`` on its own server (JSON API): the report."""
    cvo = Browser(verifier.url)
    status, html = cvo.request("GET", "/check")
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html.decode()).group(1)
    status, answer = cvo.json("POST", "/api/v1/checks", {"link": link}, {"X-CSRF-Token": csrf})
    assert status == 200, answer
    return answer["verification"]


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {c["check"]: c["status"] for c in report["checks"]}


def detail(report: dict[str, Any], name: str) -> str:
    return next(c["detail"] for c in report["checks"] if c["check"] == name)


@pytest.fixture
def started(tmp_path: Path) -> Iterator[dict[str, Any]]:
    running: list[Any] = []
    try:
        school = Issuer(tmp_path / "school", "school.test/log", "som", "School of Medicine (its own name)")
        board = Issuer(tmp_path / "board", "board.test/log", "medical-board", "State Medical Board")
        board.tokens["quick-degrees"] = board.create("quick-degrees", "Quick Degrees Online")
        watched = tmp_path / "witnessed-logs.policy"  # what each witness operator configures
        watched.write_text(f"log {school.log_key}\nlog {board.log_key}\nquorum none\n")
        witnesses = {}
        for name, key_name in (("board-w", "board.test/witness"), ("fcvs-w", "fcvs.test/witness")):
            (tmp_path / name).mkdir()
            witnesses[name] = Witness(tmp_path / name / "data", key_name, watched)
            running.append(witnesses[name])
        asked = tmp_path / "witnesses.policy"  # what each issuer's log operator configures
        asked.write_text("".join(f"witness {n} {w.key.encode()} {w.url}\n" for n, w in witnesses.items())
                         + "group both all board-w fcvs-w\nquorum both\n")
        policies = {}
        for issuer in (school, board):
            issuer.server.env["CREDSHARE_WITNESS_POLICY"] = str(asked)
            issuer.server.start()
            running.append(issuer.server)
            status, policy = Browser(issuer.url).request("GET", "/log/trust")
            assert status == 200 and b"quorum both" in policy, policy
            policies[issuer.origin] = tmp_path / f"{issuer.origin.split('.')[0]}.policy"
            policies[issuer.origin].write_bytes(policy)  # saved once, after checking its keys out of band
        wallet_trust = trust_list(tmp_path, "wallet", [
            (school, "som", "Example School of Medicine", "LCME-accredited school", DEGREE.vct),
            (board, "medical-board", "State Medical Board", "state medical board", LICENSE.vct),
            (board, "quick-degrees", "Quick Degrees Online", "unaccredited", DEGREE.vct)], policies)
        verifier_trust = trust_list(tmp_path, "verifier", [
            (school, "som", "Example School of Medicine", "LCME-accredited school", DEGREE.vct),
            (board, "medical-board", "State Medical Board", "state medical board", LICENSE.vct)], policies)
        (tmp_path / "wallet").mkdir()
        wallet = LiveServer(tmp_path / "wallet" / "instance")
        wallet.env.update(CREDSHARE_TRUST_LIST=str(wallet_trust), CREDSHARE_LOG_ORIGIN="wallet.test/log",
                          CREDSHARE_REMOTE_STATUS_MAX_AGE=str(STATUS_MAX_AGE))
        (tmp_path / "verifier").mkdir()
        verifier = LiveServer(tmp_path / "verifier" / "instance")
        verifier.env.update(CREDSHARE_TRUST_LIST=str(verifier_trust), CREDSHARE_LOG_ORIGIN="mso.test/log",
                            CREDSHARE_REMOTE_STATUS_MAX_AGE=str(STATUS_MAX_AGE))
        for server in (wallet, verifier):
            server.start()
            running.append(server)
        yield {"school": school, "board": board, "wallet": wallet, "verifier": verifier, "tmp": tmp_path,
               "verifier_trust": verifier_trust, "policies": policies}
    finally:
        for process in reversed(running):
            process.stop()


def test_a_physician_shares_credentials_of_two_issuers_that_a_verifier_checks_by_its_own_list(started) -> None:
    school, board, wallet, verifier = started["school"], started["board"], started["wallet"], started["verifier"]
    owner = Browser(wallet.url)
    register_and_confirm(owner, wallet.data_dir, EMAIL)

    # the school mails its offer; the board and the third issuer give the physician an offer code
    degree_offer = school.offer("medical-degree", degree_row(3, email=EMAIL))
    receive(owner, offer_code(offer_page_from_mail(school)), degree_offer["tx_code"])
    license_offer = board.offer("medical-license", {**LICENSE_ROW, "email": EMAIL})
    receive(owner, offer_code(license_offer["offer_page"]), license_offer["tx_code"])
    quick = board.offer("medical-degree", degree_row(4, email=EMAIL), issuer_id="quick-degrees")
    receive(owner, offer_code(quick["offer_page"]), quick["tx_code"])

    degree_link = share_one_field(owner, school.iss(), "degree")
    license_link = share_one_field(owner, board.iss(), "license_number")
    quick_link = share_one_field(owner, board.iss("quick-degrees"), "degree")

    for link, name, accreditation, field in ((degree_link, "Example School of Medicine", "LCME-accredited school",
                                              "degree"),
                                             (license_link, "State Medical Board", "state medical board",
                                              "license_number")):
        report = check(verifier, link)
        assert report["outcome"] == "verified", [c for c in report["checks"] if c["status"] != "passed"]
        assert report["issuer"]["name"] == name and report["issuer"]["vouched_for"]["accreditation"] == accreditation
        assert "your trust list" in detail(report, "issuer_trust")
        assert {w["name"] for w in report["witnesses"]} == {"board-w", "fcvs-w"}
        assert not any(w["development_only"] for w in report["witnesses"])
        assert set(report["claims"]) >= {field} and "legal_name" not in report["claims"]
        assert report["credential"]["status"] == "valid"
    page_status, page = Browser(verifier.url).form("/check", {"link": license_link})
    assert page_status == 200 and 'data-outcome="verified"' in page and "state medical board, for this type" in page

    stranger = check(verifier, quick_link)
    assert stranger["outcome"] == "not_verified" and statuses(stranger)["issuer_trust"] == "failed"
    assert detail(stranger, "issuer_trust").startswith("issuer not recognised")

    # the board revokes the license: the verifier sees it once its cached list is older than its age
    credential_id = board.offered_credential(license_offer["id"])
    board.set_status(credential_id, "revoked")
    deadline = time.monotonic() + 30
    report = check(verifier, license_link)
    while report["credential"]["status"] != "revoked" and time.monotonic() < deadline:
        time.sleep(0.5)
        report = check(verifier, license_link)
    assert report["credential"]["status"] == "revoked" and report["outcome"] == "not_verified"

    # the school's server goes away: its link's status cannot be checked; the saved bundle still verifies
    bundle_path = started["tmp"] / "degree-bundle.json"
    token = degree_link.rsplit("/", 1)[1]
    status, saved = Browser(wallet.url).json("GET", f"/api/v1/shares/{token}/bundle")
    assert status == 200, saved
    bundle_path.write_text(json.dumps(saved))
    mirror = started["tmp"] / "school-mirror"
    run_cli(wallet, "log", "mirror", school.url, mirror, "--policy", started["policies"][school.origin])
    school.server.stop()
    time.sleep(STATUS_MAX_AGE + 0.5)
    report = check(verifier, degree_link)
    assert statuses(report)["status"] == "unchecked" and "could not be checked" in detail(report, "status")
    assert report["outcome"] != "verified"
    status, shown = Browser(wallet.url).json("GET", f"/api/v1/shares/{token}")
    assert status == 200 and statuses(shown["verification"])["status"] == "unchecked"
    assert shown["verification"]["outcome"] != "verified"

    offline = subprocess.run([str(CREDSHARE), "verify", str(bundle_path), "--trust", str(started["verifier_trust"]),
                              "--mirror", str(mirror)], env=wallet.env, capture_output=True, text=True, timeout=120,
                             check=False)
    result = json.loads(offline.stdout)
    assert offline.returncode == 0 and result["outcome"] == "verified", offline.stdout + offline.stderr
    assert statuses(result)["inclusion_mirror"] == "passed" and statuses(result)["trust_anchor"] == "passed"
