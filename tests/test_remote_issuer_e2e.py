"""A wallet on one credshare server holding a credential issued on another (issue 13, item 2:
credshare issuers on other servers; federation/remote.py).

Two ``credshare serve`` processes on 127.0.0.1, each in its own process group with its own data
directory, public URL and store, each stopped by its own pid: issuer server A (its issuers, its
log with development witnesses) and wallet server B, whose ``CREDSHARE_TRUST_LIST`` names A's log
(its tlog-policy, as A's ``GET /log/trust`` serves it) and one of A's issuers. Only the real
interfaces are used: A's issuer API, B's owner API, B's verifier JSON and page, and the
``credshare trust`` / ``credshare verify`` commands.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import CREDSHARE, LiveServer, run_cli
from tests.helpers import THREE, TYPES, Browser, degree_row, only_dev_witnessed, register_and_confirm

pytestmark = pytest.mark.slow

EMAIL = "dr.remote@example.org"
SCHOOL, OTHER = "school", "other-school"
STATUS_MAX_AGE = 2  # seconds B uses a status list fetched from A (CREDSHARE_REMOTE_STATUS_MAX_AGE)


def credshare(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CREDSHARE), *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def opened(server: LiveServer, token: str) -> tuple[dict[str, Any], dict[str, str], str]:
    """A verifier opens the link on the JSON API and on the page: the report, each check's
    status on the page, and the page's outcome."""
    status, shown = Browser(server.url).json("GET", f"/api/v1/shares/{token}")
    assert status == 200, shown
    status, html = Browser(server.url).form(f"/s/{token}", {})
    assert status == 200, html[:2000]
    outcome = re.search(r'id="verdict" data-outcome="([a-z_]+)"', html)
    checks = dict(re.findall(r'<tr data-check="([a-z_]+)" data-status="([a-z_]+)"', html))
    assert outcome and checks, html[:3000]
    return shown["verification"], checks, outcome.group(1)


def by_name(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["check"]: (c["status"], c["detail"]) for c in report["checks"]}


def test_a_wallet_on_another_server_holds_shares_and_verifies_a_credential_from_a_trusted_issuer(
        tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    a = LiveServer(tmp_path / "a" / "instance")
    b = LiveServer(tmp_path / "b" / "instance")
    try:
        a.start()
        token_a = run_cli(a, "issuer", "create", SCHOOL, "--name", "Example School of Medicine")["api_token"]
        token_other = run_cli(a, "issuer", "create", OTHER, "--name", "Not on the list")["api_token"]
        iss = f"{a.url}/issuers/{SCHOOL}"

        # B's operator: a trust list naming A's log (its tlog-policy, from GET /log/trust) and the school
        policy = a.get("/log/trust")
        assert policy.status == 200, policy
        (tmp_path / "a.policy").write_bytes(policy.body)
        log_origin = policy.body.decode().split("\n", 1)[0].split()[1].split("+", 1)[0]
        trust_list = tmp_path / "trust.toml"
        vct = TYPES["medical-degree"].vct
        for args in (("init", str(trust_list)), ("add-log", str(trust_list), str(tmp_path / "a.policy")),
                     ("add-issuer", str(trust_list), "--id", iss, "--name", "Example School (trusted)",
                      "--accreditation", "LCME-accredited school", "--type", vct, "--log", log_origin)):
            done = credshare(b.env, "trust", *args)
            assert done.returncode == 0, done.stdout + done.stderr
        b.env.update(CREDSHARE_TRUST_LIST=str(trust_list), CREDSHARE_REMOTE_STATUS_MAX_AGE=str(STATUS_MAX_AGE))
        b.start()

        owner = Browser(b.url)
        register_and_confirm(owner, b.data_dir, EMAIL)
        status, key = owner.json("GET", "/api/v1/wallet/holder-key")
        assert status == 200 and key["jwk"]["kty"], key

        def issue(issuer: str, token: str, n: int) -> list[dict[str, Any]]:
            doc = {"type": "medical-degree", "rows": [degree_row(i, email="", holder_jwk=key["jwk"]) for i in range(n)]}
            status, answer = Browser(a.url).json("POST", f"/api/v1/issuers/{issuer}/batches", doc,
                                                {"Authorization": f"Bearer {token}"})
            assert status == 201, (answer, a.log()[-3000:])
            return answer["credentials"]

        first, second = issue(SCHOOL, token_a, 2)
        (untrusted,) = issue(OTHER, token_other, 1)

        def share(credential: dict[str, Any]) -> str:
            upload = {"sd_jwt": credential["sd_jwt"], "anchor_proof": credential["anchor_proof"]}
            status, added = owner.json("POST", "/api/v1/wallet/credentials", upload, {"X-CSRF-Token": owner.csrf()})
            assert status == 201, (json.dumps(added, indent=1), b.log()[-3000:])
            status, link = owner.json("POST", f"/api/v1/wallet/credentials/{added['id']}/links",
                                      {"fields": THREE[:1], "days": 7}, {"X-CSRF-Token": owner.csrf()})
            assert status == 201, link
            return link["url"].rsplit("/", 1)[1]

        # 1. the school's credential, uploaded to B, shared (one field) and opened on B
        link1, link2 = share(first), share(second)
        report, page, page_outcome = opened(b, link1)
        assert only_dev_witnessed(report), json.dumps(report, indent=1)
        assert page_outcome == report["outcome"] == "incomplete" and page["issuer_trust"] == "passed", page
        checks = by_name(report)
        assert "Example School (trusted) (LCME-accredited school)" in checks["issuer_trust"][1], checks
        assert "fetched" in checks["key_history"][1] and f"{iss}/key-history" in checks["key_history"][1], checks
        status_url = report["credential"]["status_from"]
        assert status_url.startswith(f"{a.url}/status/{SCHOOL}/") and status_url.endswith("/proof"), report
        assert report["credential"]["status"] == "valid" and report["credential"]["status_fetched_at"], report
        assert report["issuer"]["vouched_for"]["log"] == log_origin, report

        # the offline bundle carries A's log and verifies with B's trust list, no server asked
        status, bundle = Browser(b.url).json("GET", f"/api/v1/shares/{link1}/bundle")
        assert status == 200, bundle
        assert bundle["log"]["key"].split("+", 1)[0] == log_origin and bundle["log"]["policy"] == policy.body.decode()
        (tmp_path / "bundle.json").write_text(json.dumps(bundle))
        done = credshare(b.env, "verify", "--trust", str(trust_list), str(tmp_path / "bundle.json"))
        offline = json.loads(done.stdout)
        assert only_dev_witnessed(offline), done.stdout + done.stderr
        assert by_name(offline)["trust_anchor"][0] == "passed" and by_name(offline)["issuer_trust"][0] == "passed"

        # 2. an issuer of A that is not on B's list: refused at upload, "issuer not recognised"
        status, refused = owner.json("POST", "/api/v1/wallet/credentials",
                                     {"sd_jwt": untrusted["sd_jwt"], "anchor_proof": untrusted["anchor_proof"]},
                                     {"X-CSRF-Token": owner.csrf()})
        assert (status, refused["error"]) == (422, "credential_refused"), refused
        trust_check = [c for c in refused["checks"] if c["check"] == "issuer_trust"]
        assert [c["status"] for c in trust_check] == ["failed"], refused
        assert "issuer not recognised" in trust_check[0]["detail"], trust_check

        # 3. A revokes the first: B shows it revoked once its copy of the list is older than its ttl
        before, _, _ = opened(b, link1)
        fetched = before["credential"]["status_fetched_at"]
        status, answer = Browser(a.url).json("POST", f"/api/v1/issuers/{SCHOOL}/credentials/"
                                            f"{first['credential_id']}/status", {"status": "revoked"},
                                            {"Authorization": f"Bearer {token_a}"})
        assert status == 200, answer
        report, page, _ = opened(b, link1)
        if report["credential"]["status_fetched_at"] == fetched:  # the copy fetched before, still within its ttl
            assert report["credential"]["status"] == "valid", report
        else:  # fetched again: at least its max age after the copy before it
            assert report["credential"]["status_fetched_at"] >= fetched + STATUS_MAX_AGE, report
        deadline = time.monotonic() + 30
        while report["credential"]["status"] != "revoked" and time.monotonic() < deadline:
            time.sleep(0.5)
            report, page, _ = opened(b, link1)
        assert report["credential"]["status"] == "revoked", report
        assert report["outcome"] == "not_verified" and page["status"] == "failed", (report, page)
        assert "revoked" in by_name(report)["status"][1]

        # 4. A stops: the second link's status could not be checked, never verified
        report, _, _ = opened(b, link2)  # fetched while A is up
        assert report["credential"]["status"] == "valid", report
        a.stop()
        time.sleep(STATUS_MAX_AGE + 0.5)
        report, page, page_outcome = opened(b, link2)
        status_check = by_name(report)["status"]
        assert status_check[0] == "unchecked" and "could not be checked: 127.0.0.1" in status_check[1], status_check
        assert report["outcome"] == page_outcome == "incomplete" and page["status"] == "unchecked", (report, page)
        assert report["credential"]["status"] == "unknown" and report["credential"]["status_from"] is None, report
        assert by_name(report)["key_history"][0] == "passed"  # the copy fetched earlier: signed and logged
        assert "fetched" in by_name(report)["key_history"][1]
    finally:
        b.stop()
        a.stop()
