"""A wallet takes credentials of an SD-JWT VC issuer known by X.509 roots (issue 13 item 5, the
wallet side; holding/evidence.py, holding/wallet.py). A root CA, an intermediate and the
issuer's signing certificate are made here with ``cryptography``; the issuer's status list
token (with the same ``x5c``) is served by a small site on 127.0.0.1 in its own process group
(tests/metadata_server.py, which records the paths it was asked for):

* the issuer not on the wallet's trust list: the bare SD-JWT is refused ("issuer not
  recognised"), and nothing is asked of the issuer's site;
* on the list with another root: refused (the chain leads to no root on the list), and the
  status list, whose address only the credential names, is never fetched;
* on the list with its root: accepted; a share link opens ``incomplete`` (not logged) with
  ``issuer_certificate`` and ``issuer_trust`` passed and the status read from the site; no
  offline bundle;
* revoked in the served list: the link shows it revoked.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from jwcrypto import jwk as jwcrypto_jwk

from credshare.disclosure.issuance import issue
from credshare.disclosure.jws import Signer
from credshare.disclosure.status_list import INVALID, StatusList, sign_status_list
from credshare.foundation.b64 import b64_encode
from tests.conftest import ROOT, free_port, stop_process_group, wait_for_port
from tests.helpers import create_link, csrf_from, open_link, owner_client, post

pytestmark = pytest.mark.slow

SITE_SCRIPT = ROOT / "tests" / "metadata_server.py"
VCT = "https://board.example/credentials/medical-license"
EMAIL = "dr.x5c@example.org"
TRUST_HEAD = 'format = "credshare-trust-list/v1"\n'
STATUS_MEDIA = "application/statuslist+jwt"
DAY = dt.timedelta(days=1)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test Board PKI"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, public: Any, issuer: str, issuer_key: Any, *, ca: bool, path_length: int | None = None,
          uri: str | None = None) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer)).public_key(public)
               .serial_number(x509.random_serial_number()).not_valid_before(now - 30 * DAY)
               .not_valid_after(now + 365 * DAY)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=not ca, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=ca,
                                            crl_sign=ca, encipher_only=False, decipher_only=False), critical=True))
    if subject != issuer:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                        critical=False)
    if uri is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]),
                                        critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


class BoardPKI:
    """A root, an intermediate under it, and the signing certificate naming ``iss`` (URI SAN)."""

    def __init__(self, iss: str, root_name: str = "Board Root CA") -> None:
        root_key, inter_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
        self.root = _cert(root_name, root_key.public_key(), root_name, root_key, ca=True, path_length=1)
        inter = _cert("Board Issuing CA", inter_key.public_key(), root_name, root_key, ca=True, path_length=0)
        leaf = _cert("State Board credential signer", leaf_key.public_key(), "Board Issuing CA", inter_key,
                     ca=False, uri=iss)
        self.signer = Signer.from_jwk(json.loads(jwcrypto_jwk.JWK.from_pyca(leaf_key).export_private()), "ES256")
        self.chain = [b64_encode(c.public_bytes(Encoding.DER)) for c in (leaf, inter)]

    @property
    def root_pem(self) -> str:
        return self.root.public_bytes(Encoding.PEM).decode("ascii")


class BoardSite:
    """The issuer's web site: serves its status list token; ``asked()`` lists the paths requested."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.iss = f"http://127.0.0.1:{self.port}/issuers/state-board"
        self.status_uri = f"http://127.0.0.1:{self.port}/status/1"
        self.routes, self.requests = root / "routes.json", root / "requests.log"
        self.routes.write_text("{}")
        self.requests.write_text("")
        self._log = open(root / "site.log", "ab")
        self.proc = subprocess.Popen([sys.executable, str(SITE_SCRIPT), str(self.routes), str(self.port),
                                      str(self.requests)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=self._log,
                                     start_new_session=True)
        wait_for_port(self.port, self.proc, timeout=30)
        self.pki = BoardPKI(self.iss)

    def publish_status(self, revoked: list[int]) -> None:
        lst = StatusList.empty(16)
        for index in revoked:
            lst.set(index, INVALID)
        now = int(time.time())
        token = sign_status_list(lst, uri=self.status_uri, signer=self.pki.signer, iat=now - 5, exp=now + 86400,
                                 header={"x5c": self.pki.chain})
        file = self.root / "status_1"
        file.write_text(token)
        self.routes.write_text(json.dumps({"/status/1": [STATUS_MEDIA, str(file)]}))

    def issue(self, holder_jwk: dict[str, Any]) -> str:
        claims = {"iss": self.iss, "vct": VCT, "iat": int(time.time()) - 60, "given_name": "Avery",
                  "license_number": "MD-0042", "status": {"status_list": {"idx": 3, "uri": self.status_uri}}}
        issued = issue(claims, signer=self.pki.signer, disclosable=[("given_name",), ("license_number",)],
                       holder_jwk=holder_jwk, header={"x5c": self.pki.chain})
        return issued.serialize()

    def asked(self) -> list[str]:
        return self.requests.read_text().split()

    def stop(self) -> None:
        stop_process_group(self.proc)
        self._log.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[BoardSite]:
    root = tmp_path / "board-site"
    root.mkdir()
    found = BoardSite(root)
    yield found
    found.stop()


def trust_entry(site: BoardSite, root_pem: str) -> str:
    return (TRUST_HEAD + f'\n[[issuer]]\nid = "{site.iss}"\nname = "State Medical Board"\n'
            f'accreditation = "state medical board"\ntypes = ["{VCT}"]\nx5c_roots = [\'\'\'\n{root_pem}\'\'\']\n')


def upload(client, credential: str):
    return post(client, "/wallet/upload", {"credential": credential})


def test_a_wallet_takes_a_credential_of_a_trusted_x5c_issuer_and_its_link_is_incomplete(site, listed_wallet) -> None:
    app, trust = listed_wallet
    client = owner_client(app, EMAIL)
    holder = client.get("/api/v1/wallet/holder-key")
    assert holder.status_code == 200, holder.get_data(as_text=True)
    site.publish_status(revoked=[])
    credential = site.issue(holder.get_json()["jwk"])
    assert credential.count("~") == 3 and credential.endswith("~")  # jwt~d1~d2~: no anchor proof

    # not on the trust list: not recognised, and the issuer's site is never asked
    refused = upload(client, credential)
    assert refused.status_code == 422 and "issuer not recognised" in refused.get_data(as_text=True)
    api_refused = client.post("/api/v1/wallet/credentials", data=credential, content_type="text/plain",
                              headers={"X-CSRF-Token": csrf_from(client, "/wallet")})
    assert api_refused.status_code == 422 and api_refused.get_json()["error"] == "issuer_not_recognised"
    assert site.asked() == []

    # on the list, but with another root: the chain leads to no listed root; the status list is not fetched
    trust.write_text(trust_entry(site, BoardPKI(site.iss, root_name="Other Root CA").root_pem))
    refused = upload(client, credential)
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "not a root on your trust list" in text, text
    assert "x5c_untrusted" in text and site.asked() == []
    assert client.get("/api/v1/wallet/credentials").get_json()["credentials"] == []

    # on the list with its root: taken in, its status read from the issuer's site
    trust.write_text(trust_entry(site, site.pki.root_pem))
    accepted = upload(client, credential)
    assert accepted.status_code == 302, accepted.get_data(as_text=True)
    assert site.asked() == ["/status/1"]
    entry_id = accepted.headers["Location"].rsplit("/", 1)[1]
    page = client.get(f"/wallet/{entry_id}").get_data(as_text=True)
    assert "data-no-log" in page and "State Medical Board" in page and "Avery" in page
    assert 'data-state="valid"' in page

    _, token = create_link(client, entry_id, paths=[["given_name"]])
    api = app.test_client()
    body = api.get(f"/api/v1/shares/{token}").get_json()
    checks = {c["check"]: c for c in body["verification"]["checks"]}
    assert body["verification"]["outcome"] == "incomplete", checks
    assert checks["issuer_certificate"]["status"] == "passed" and "Board Root CA" in checks["issuer_certificate"]["detail"]
    assert checks["issuer_trust"]["status"] == "passed" and "State Medical Board" in checks["issuer_trust"]["detail"]
    assert checks["inclusion"]["status"] == "unchecked" and "not logged" in checks["inclusion"]["detail"]
    assert "key_history" not in checks and "issuer_keys" not in checks
    assert checks["issuer_signature"]["status"] == checks["key_binding"]["status"] == "passed"
    assert checks["status"]["status"] == "passed" and body["verification"]["credential"]["status"] == "valid"
    assert body["verification"]["issuer"]["vouched_for"]["keys"] == "x5c"
    assert [f["path"] for f in body["fields"]] == [["given_name"]]
    bundle = api.get(f"/api/v1/shares/{token}/bundle")
    assert bundle.status_code == 404 and bundle.get_json()["error"] == "bundle_unavailable"
    shown = open_link(app.test_client(), token).get_data(as_text=True)
    assert "Avery" in shown and "MD-0042" not in shown and "State Medical Board" in shown

    # revoked by the issuer: the link shows it revoked
    site.publish_status(revoked=[3])
    body = api.get(f"/api/v1/shares/{token}").get_json()
    checks = {c["check"]: c for c in body["verification"]["checks"]}
    assert body["verification"]["outcome"] == "not_verified" and body["verification"]["credential"]["status"] == "revoked"
    assert checks["status"]["status"] == "failed" and "revoked" in checks["status"]["detail"]
    assert checks["issuer_certificate"]["status"] == "passed"
    shown = open_link(app.test_client(), token).get_data(as_text=True)
    assert "revoked" in shown.lower()
