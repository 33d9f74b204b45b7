"""An SD-JWT VC issued by an independent library (the OpenWallet Foundation's
``@sd-jwt/sd-jwt-vc``, tests/sdjwt_vc_issuer.mjs), its JWT VC Issuer Metadata and status list
served by a small test site on 127.0.0.1 in its own process group (tests/metadata_server.py):

* refused by the wallet ("issuer not recognised") while the trust list does not name the issuer;
* accepted once it names it with ``keys = metadata`` (the bare SD-JWT, no anchor proof), its
  fields shown by their claim names;
* a share link of it opens ``incomplete`` (never ``verified``) with ``issuer_keys`` passed;
* revoked by the issuer: the link shows it revoked;
* the issuer's site stopped and the kept keys too old: "could not be checked", never a pass.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from credshare.holding.accounts import OwnerDirectory
from tests.conftest import ROOT, free_port, stop_process_group, wait_for_port
from tests.helpers import create_link, owner_client, post

pytestmark = pytest.mark.slow

ISSUER_SCRIPT = ROOT / "tests" / "sdjwt_vc_issuer.mjs"
SITE_SCRIPT = ROOT / "tests" / "metadata_server.py"
VCT = "https://school.example/credentials/acls-course"
EMAIL = "dr.quinn@example.org"
EMPTY_TRUST_LIST = 'format = "credshare-trust-list/v1"\n'
METADATA_MEDIA = "application/json"
STATUS_MEDIA = "application/statuslist+jwt"


class IssuerSite:
    """The independent issuer: its signing key (made by the node library), and its web site."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.iss = f"http://127.0.0.1:{self.port}/issuers/school"
        self.status_uri = f"http://127.0.0.1:{self.port}/status/1"
        self.routes = root / "routes.json"
        self.routes.write_text("{}")
        self._log = open(root / "site.log", "ab")
        self.proc = subprocess.Popen([sys.executable, str(SITE_SCRIPT), str(self.routes), str(self.port)], cwd=ROOT,
                                     stdout=subprocess.DEVNULL, stderr=self._log, start_new_session=True)
        wait_for_port(self.port, self.proc, timeout=30)

    def node(self, mode: str, request: dict[str, Any]) -> dict[str, Any]:
        path = self.root / f"{mode}-request.json"
        path.write_text(json.dumps({"key_file": str(self.root / "issuer-key.json"), **request}))
        done = subprocess.run(["node", str(ISSUER_SCRIPT), mode, str(path)], cwd=ROOT, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    def serve(self, path: str, media: str, body: str) -> None:
        file = self.root / path.strip("/").replace("/", "_")
        file.write_text(body)
        routes = json.loads(self.routes.read_text())
        routes[path] = [media, str(file)]
        self.routes.write_text(json.dumps(routes))

    def issue(self, holder_jwk: dict[str, Any]) -> str:
        issued = self.node("issue", {"iss": self.iss, "vct": VCT, "holder_jwk": holder_jwk,
                                     "claims": {"given_name": "Avery", "family_name": "Quinn", "course_name": "ACLS"},
                                     "disclosable": ["given_name", "family_name", "course_name"],
                                     "status_uri": self.status_uri, "status_idx": 3})
        self.serve("/.well-known/jwt-vc-issuer/issuers/school", METADATA_MEDIA,
                   json.dumps({"issuer": self.iss, "jwks": issued["jwks"]}))
        self.publish_status(revoked=[])
        credential: str = issued["credential"]
        return credential

    def publish_status(self, revoked: list[int]) -> None:
        token = self.node("status", {"uri": self.status_uri, "size": 16, "revoked": revoked})["token"]
        self.serve("/status/1", STATUS_MEDIA, token)

    def stop(self) -> None:
        stop_process_group(self.proc)
        self._log.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[IssuerSite]:
    if shutil.which("node") is None or not (ROOT / "node_modules" / "@sd-jwt" / "sd-jwt-vc").is_dir():
        pytest.fail("node and the pinned @sd-jwt/sd-jwt-vc (npm ci) are needed for this test")
    root = tmp_path / "issuer-site"
    root.mkdir()
    found = IssuerSite(root)
    yield found
    found.stop()


def upload(client, credential: str):
    return post(client, "/wallet/upload", {"credential": credential})


def test_an_independent_sd_jwt_vc_is_taken_only_when_trusted_and_shares_as_incomplete(site, listed_wallet, clock) -> None:
    app, trust = listed_wallet
    svc = app.extensions["credshare"]
    client = owner_client(app, EMAIL)
    holder_jwk = OwnerDirectory(svc.store).wallet_keys([EMAIL])[EMAIL]
    credential = site.issue(holder_jwk)
    assert credential.count("~") == 4 and credential.endswith("~")  # jwt~d1~d2~d3~, no anchor proof

    refused = upload(client, credential)
    assert refused.status_code == 422 and "issuer not recognised" in refused.get_data(as_text=True)

    trust.write_text(EMPTY_TRUST_LIST + f'\n[[issuer]]\nid = "{site.iss}"\nname = "Example School of Resuscitation"\n'
                     f'accreditation = "AHA training site"\ntypes = ["{VCT}"]\n')
    accepted = upload(client, credential)
    assert accepted.status_code == 302, accepted.get_data(as_text=True)
    entry_id = accepted.headers["Location"].rsplit("/", 1)[1]
    page = client.get(f"/wallet/{entry_id}").get_data(as_text=True)
    assert "Given name" in page and "Course name" in page and "Avery" in page and "data-no-log" in page
    assert "Example School of Resuscitation" in page
    assert "Credential of a type this site does not describe" in page and f"The issuer names its type <code>{VCT}</code>" in page

    _, token = create_link(client, entry_id, paths=[["given_name"]])
    api = app.test_client()
    body = api.get(f"/api/v1/shares/{token}").get_json()
    checks = {c["check"]: c for c in body["verification"]["checks"]}
    assert body["verification"]["outcome"] == "incomplete", checks
    assert checks["issuer_keys"]["status"] == "passed" and site.iss.split("/issuers")[0] in checks["issuer_keys"]["detail"]
    assert checks["issuer_trust"]["status"] == "passed" and "key_history" not in checks
    assert checks["inclusion"]["status"] == "unchecked" and "no transparency log" in checks["inclusion"]["detail"]
    assert checks["issuer_signature"]["status"] == checks["key_binding"]["status"] == "passed"
    assert checks["status"]["status"] == "passed" and "no log proves" in checks["status"]["detail"]
    assert [f["path"] for f in body["fields"]] == [["given_name"]]
    assert api.get(f"/api/v1/shares/{token}/bundle").status_code == 404  # no offline bundle without a log

    site.publish_status(revoked=[3])
    body = api.get(f"/api/v1/shares/{token}").get_json()
    assert body["verification"]["outcome"] == "not_verified" and body["verification"]["credential"]["status"] == "revoked"

    site.stop()
    clock.advance(3601)  # the kept keys are now too old to be used, and the issuer cannot be asked
    body = api.get(f"/api/v1/shares/{token}").get_json()
    checks = {c["check"]: c for c in body["verification"]["checks"]}
    assert checks["issuer_keys"]["status"] == "unchecked" and "could not be checked" in checks["issuer_keys"]["detail"]
    assert body["verification"]["outcome"] == "incomplete"
    assert all(checks[n]["status"] != "passed" for n in ("issuer_signature", "disclosures", "status"))
