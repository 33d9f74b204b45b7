"""An issuer's identifier and its status-list URIs are fixed when it is created (issue 10,
item 3). The same data directory served under another port or public URL keeps verifying
every credential, link and bundle; the status token's ``sub`` stays the credential's
``status.status_list.uri`` (Token Status List draft, section 5.1) and its ``iss`` the
credential's ``iss``; moving to a new URL is an explicit step (``credshare issuer move``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from credshare.disclosure.encoding import b64url_decode
from credshare.foundation.clock import ManualClock
from credshare.verifier.bundle import TrustedLog, verify_bundle
from credshare.webapp import create_app
from tests.conftest import services_on
from tests.helpers import OWNER, accept_delivery, create_link, issue_to, only_dev_witnessed, owner_client, trusting

FIRST, SECOND, THIRD = "http://localhost", "http://127.0.0.1:9911", "https://credentials.example.org"


def make_app(data: Path, public_url: str, clock: ManualClock | None = None):
    config = {"CREDSHARE_DATA_DIR": str(data), "CREDSHARE_ARGON2_PROFILE": "test", "CREDSHARE_PUBLIC_URL": public_url}
    return create_app({**config, "TESTING": True}, services=services_on(config, clock) if clock else None)


def jwt_payload(jwt: str) -> dict:
    return json.loads(b64url_decode(jwt.split(".")[1]))


def credential_claims(item: dict) -> dict:
    return jwt_payload(item["sd_jwt"].split("~", 1)[0])


def status_token_of(app, claims: dict) -> dict:
    uri = claims["status"]["status_list"]["uri"]
    path = "/" + uri.split("/", 3)[3]
    answer = app.test_client().get(path)
    assert answer.status_code == 200, (uri, answer.status_code)
    return jwt_payload(answer.get_data(as_text=True))


def test_a_new_public_url_keeps_every_credential_link_and_bundle_verifying(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = make_app(data, FIRST)
    svc = first.extensions["credshare"]
    svc.issuers.create("example-med", "Example University School of Medicine")
    owner = owner_client(first, OWNER)
    issued = issue_to(svc, OWNER)
    claims = credential_claims(issued)
    assert claims["iss"] == f"{FIRST}/issuers/example-med"
    entry_id = accept_delivery(owner)
    _, token = create_link(owner, entry_id)
    cookies = {c.key: c.value for c in owner._cookies.values()}  # the owner stays signed in

    second = make_app(data, SECOND)  # restarted on another port and public URL
    svc2 = second.extensions["credshare"]
    assert svc2.issuers.get("example-med")["iss"] == f"{FIRST}/issuers/example-med"
    # the owner's wallet
    owner2 = second.test_client()
    for name, value in cookies.items():
        owner2.set_cookie(name, value)
    listed = owner2.get("/api/v1/wallet/credentials").get_json()["credentials"]
    assert [c["outcome"] for c in listed] == ["incomplete"], listed  # its log's own witnesses only
    # the share link and its bundle, checked against the second server's trust
    api = second.test_client()
    body = api.get(f"/api/v1/shares/{token}").get_json()
    assert only_dev_witnessed(body["verification"]), body["verification"]
    bundle = api.get(f"/api/v1/shares/{token}/bundle").get_json()
    trust = TrustedLog.from_text(api.get("/log/trust").get_data())
    assert only_dev_witnessed(verify_bundle(bundle, trusted=trusting(bundle, trust), now=int(time.time())))
    # the status token still names the credential's own uri and issuer
    token_claims = status_token_of(second, claims)
    assert token_claims["sub"] == claims["status"]["status_list"]["uri"]
    assert token_claims["iss"] == claims["iss"]
    # issuer metadata and new credentials keep the identifier the issuer was created with
    meta = api.get("/.well-known/jwt-vc-issuer/issuers/example-med").get_json()
    assert meta["issuer"] == claims["iss"]
    again = credential_claims(issue_to(svc2, "other@example.org"))
    assert again["iss"] == claims["iss"]
    assert again["status"]["status_list"]["uri"].startswith(f"{FIRST}/status/example-med/")


def test_issuer_move_is_explicit_and_old_credentials_stay_valid_and_revocable(tmp_path: Path, clock) -> None:
    data = tmp_path / "data"
    first = make_app(data, FIRST, clock)
    svc = first.extensions["credshare"]
    _, api_token = svc.issuers.create("example-med", "Example University School of Medicine")
    owner = owner_client(first, OWNER)
    old = issue_to(svc, OWNER)
    entry_id = accept_delivery(owner)
    _, share = create_link(owner, entry_id)

    third = make_app(data, THIRD, clock)
    svc3 = third.extensions["credshare"]
    moved = svc3.issuers.move("example-med", THIRD)
    assert moved["iss"] == f"{THIRD}/issuers/example-med"
    assert moved["identifiers"] == [f"{FIRST}/issuers/example-med", f"{THIRD}/issuers/example-med"]
    new = issue_to(svc3, "other@example.org")
    new_claims = credential_claims(new)
    assert new_claims["iss"] == f"{THIRD}/issuers/example-med"
    assert new_claims["status"]["status_list"]["uri"].startswith(f"{THIRD}/status/example-med/")
    assert status_token_of(third, new_claims)["iss"] == new_claims["iss"]
    # both verify on the moved server
    for item in (old, new):
        report = svc3.evidence.verify(item["sd_jwt"], item["anchor_proof"])
        assert only_dev_witnessed(report), [c for c in report.checks if c.status != "passed"]
    # a key change after the move reaches credentials under the old identifier too
    clock.advance(1)  # rotated a second after the old credential was anchored
    svc3.issuers.rotate("example-med")
    assert len({d["iss"] for d in svc3.store.collection("key_histories").find({"issuer": "example-med"})}) == 2
    assert only_dev_witnessed(svc3.evidence.verify(old["sd_jwt"], old["anchor_proof"]))
    # revoking the old credential through the API of the moved server
    api = third.test_client()
    answer = api.post(f"/api/v1/issuers/example-med/credentials/{old['credential_id']}/status",
                      json={"status": "revoked"}, headers={"Authorization": f"Bearer {api_token}"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert svc3.evidence.verify(old["sd_jwt"], old["anchor_proof"]).credential_status == "revoked"
    assert api.get(f"/api/v1/shares/{share}").get_json()["verification"]["credential"]["status"] == "revoked"
    token_claims = status_token_of(third, credential_claims(old))
    assert token_claims["sub"] == credential_claims(old)["status"]["status_list"]["uri"]
    assert token_claims["iss"] == f"{FIRST}/issuers/example-med"


def test_move_refuses_a_bad_or_unchanged_url(tmp_path: Path) -> None:
    from credshare.issuing.issuers import IssuerError

    svc = make_app(tmp_path / "data", FIRST).extensions["credshare"]
    svc.issuers.create("example-med", "Example University School of Medicine")
    for bad in ("ftp://x.example", "http://x.example/?a", FIRST):
        with pytest.raises(IssuerError):
            svc.issuers.move("example-med", bad)


@pytest.mark.slow
def test_the_cli_warns_when_its_public_url_is_not_the_running_servers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    served = make_app(data, SECOND).extensions["credshare"]
    served.deployment.record_public_url(SECOND)  # what `credshare serve` records at start
    served.store.close()
    exe = Path(sys.executable).parent / "credshare"
    env = {**os.environ, "CREDSHARE_DATA_DIR": str(data), "CREDSHARE_ARGON2_PROFILE": "test"}
    env.pop("CREDSHARE_PUBLIC_URL", None)
    env.pop("MONGODB_URI", None)
    out = subprocess.run([str(exe), "issuer", "create", "cli-med", "--name", "CLI Medical School"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "warning" in out.stderr.lower() and SECOND in out.stderr and "http://127.0.0.1:8080" in out.stderr
    same = subprocess.run([str(exe), "issuer", "list"], capture_output=True, text=True, timeout=120,
                          env={**env, "CREDSHARE_PUBLIC_URL": SECOND})
    assert same.returncode == 0 and "warning" not in same.stderr.lower()
