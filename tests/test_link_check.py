"""A verifier-only server checks a share link made on another server (federation/link_check.py,
sharing/check_pages.py): it fetches the link's bundle over HTTP and judges it by its own trust
list, never by what the wallet server says. The wallet server runs on 127.0.0.1 (werkzeug, in a
thread); tests/test_many_organisations.py runs every organisation as its own process."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import pytest

from credshare.federation.link_check import LinkCheckError, bundle_url
from credshare.foundation.errors import InputError
from credshare.webapp import create_app
from tests.conftest import free_port
from tests.helpers import ServedApp, create_link, csrf_from, issue_to, owner_client, post, statuses

EMAIL = "dr.lee@example.org"


@pytest.fixture(scope="module")
def wallet(tmp_path_factory) -> Iterator[tuple[Any, ServedApp, Any]]:
    """The physician's wallet server (hosting the school as an issuer too), with one credential."""
    app = create_app({"CREDSHARE_DATA_DIR": str(tmp_path_factory.mktemp("wallet") / "data"),
                      "CREDSHARE_ARGON2_PROFILE": "test", "CREDSHARE_PUBLIC_URL": "http://localhost", "TESTING": True})
    svc = app.extensions["credshare"]
    svc.issuers.create("example-med", "Example University School of Medicine")
    client = owner_client(app, EMAIL)
    issue_to(svc, EMAIL)
    page = client.get("/wallet").get_data(as_text=True)
    offer = re.search(r'data-offer="([^"]+)"', page).group(1)
    post(client, f"/wallet/offers/{offer}/accept")
    served = ServedApp(app)
    yield app, served, client
    served.close()


def _entry(client) -> str:
    return re.search(r'href="/wallet/([0-9a-f]{16,})"', client.get("/wallet").get_data(as_text=True)).group(1)


def _trust_list(wallet_app: Any, path: Path, *, listed: bool = True) -> Path:
    svc = wallet_app.extensions["credshare"]
    policy = wallet_app.test_client().get("/log/trust").get_data(as_text=True)
    iss = svc.issuers.issuer_url("example-med") if listed else "https://other-school.example/issuers/som"
    issuer = (f'\n[[issuer]]\nid = "{iss}"\nname = "Example School of Medicine"\naccreditation = '
              f'"LCME-accredited school"\ntypes = ["urn:credshare:vct:medical-degree:1"]\nlog = "{svc.log.origin}"\n')
    path.write_text(f'format = "credshare-trust-list/v1"\n\n[[log]]\npolicy = """\n{policy}"""\n'
                    + issuer)
    return path


def _verifier(tmp_path: Path, trust: Path, *, allow_local: bool = True) -> Any:
    """A verifier-only server; the wallet server of these tests is on this machine, allowed by name
    (a link a visitor pastes is otherwise asked only at a public address)."""
    return create_app({"CREDSHARE_DATA_DIR": str(tmp_path / "verifier"), "CREDSHARE_TRUST_LIST": str(trust),
                       **({"CREDSHARE_FETCH_ALLOW_HOSTS": "127.0.0.1"} if allow_local else {})})


def _check(verifier: Any, link: str, passcode: str | None = None) -> tuple[int, str]:
    client = verifier.test_client()
    data = {"link": link, "csrf_token": csrf_from(client, "/check")}
    if passcode is not None:
        data["passcode"] = passcode
    response = client.post("/check", data=data)
    return response.status_code, response.get_data(as_text=True)


def test_a_verifier_only_server_checks_a_link_by_its_own_trust_list(wallet, tmp_path: Path) -> None:
    app, served, client = wallet
    _, token = create_link(client, _entry(client), paths=[["degree"]], recipient="Mercy Hospital MSO")
    verifier = _verifier(tmp_path, _trust_list(app, tmp_path / "trust.toml"))
    status, page = _check(verifier, f"{served.base}/s/{token}")
    assert status == 200, page
    assert 'data-outcome="incomplete"' in page  # the wallet's log has development witnesses only
    assert re.search(r'id="issuer-trust" data-status="passed">LCME-accredited school, for this type of credential',
                     page), page
    assert 'data-check="issuer_trust" data-status="passed"' in page and "Example School of Medicine" in page
    assert 'data-path="degree"' in page and 'data-path="legal_name"' not in page  # only the shared field
    assert "prepared for <strong>Mercy Hospital MSO</strong>" in page
    api = verifier.test_client()
    body = api.post("/api/v1/checks", json={"link": f"{served.base}/s/{token}"},
                    headers={"X-CSRF-Token": csrf_from(api, "/check")})
    report = body.get_json()["verification"]
    assert body.status_code == 200 and report["issuer"]["vouched_for"]["name"] == "Example School of Medicine"
    assert {c["check"]: c["status"] for c in report["checks"]}["witness_quorum"] == "unchecked"
    # the verifier reads the status list itself from the issuer's status URI (here http://localhost,
    # where nothing answers), never taking the wallet's snapshot in the bundle, which says valid
    status_check = next(c for c in report["checks"] if c["check"] == "status")
    assert status_check["status"] == "unchecked" and "localhost" in status_check["detail"], status_check
    assert {c["check"] for c in report["checks"] if c["status"] == "failed"} == set()


def test_an_issuer_the_verifier_does_not_list_is_not_recognised(wallet, tmp_path: Path) -> None:
    app, served, client = wallet
    _, token = create_link(client, _entry(client), paths=[["degree"]])
    verifier = _verifier(tmp_path, _trust_list(app, tmp_path / "trust.toml", listed=False))
    checked = verifier.extensions["credshare"].link_checker.check(f"{served.base}/s/{token}")
    assert checked.report.outcome == "not_verified" and statuses(checked.report)["issuer_trust"] == "failed"
    status, page = _check(verifier, f"{served.base}/s/{token}")
    assert 'data-outcome="not_verified"' in page and "<strong>not recognised</strong>: issuer not recognised" in page
    # the verdict in words, the reason first, on the page and in the JSON alike
    assert re.search(r'<h1 id="verdict-heading"><span class="symbol" aria-hidden="true">✗</span> Not verified: '
                     r'Medical degree</h1>\s*<p class="reason" id="verdict-reason">Issuer not recognised: ', page), page
    assert re.search(r'data-question="issuer" data-answer="no">\s*<dt>Is the issuer recognised\?</dt>', page)
    api = verifier.test_client()
    body = api.post("/api/v1/checks", json={"link": f"{served.base}/s/{token}"},
                    headers={"X-CSRF-Token": csrf_from(api, "/check")}).get_json()["verification"]["verdict"]
    assert body["state"] == "not_verified" and body["reason"].startswith("Issuer not recognised: ")
    assert body["answers"][0] == {**body["answers"][0], "question": "issuer", "answer": "no"}


def test_passcodes_and_gone_links_are_told_plainly(wallet, tmp_path: Path) -> None:
    app, served, client = wallet
    verifier = _verifier(tmp_path, _trust_list(app, tmp_path / "trust.toml"))
    checker = verifier.extensions["credshare"].link_checker
    link_id, token = create_link(client, _entry(client), paths=[["degree"]], passcode="tulip-4812", attempts="5")
    for passcode, code in ((None, "passcode_required"), ("wrong-one", "passcode_wrong")):
        with pytest.raises(LinkCheckError) as err:
            checker.check(f"{served.base}/s/{token}", passcode)
        assert err.value.code == code
    assert checker.check(f"{served.base}/s/{token}", "tulip-4812").report.outcome == "incomplete"
    post(client, f"/shares/{link_id}/revoke", {"confirm": "yes"})
    status, page = _check(verifier, f"{served.base}/s/{token}", "tulip-4812")
    assert status == 422 and 'data-code="share_revoked"' in page
    assert "The physician revoked this link. Ask them for a new link" in page


@pytest.mark.parametrize(("link", "code"), [
    ("https://wallet.example/wallet/abc", "link_invalid"),
    ("http://wallet.example/s/abcdefghijklmnopqrstuvwxyz", "link_invalid"),  # plain http off this machine
    ("https://wallet.example/s/abcdefghijklmnopqrstuvwxyz?x=1", "link_invalid"),
    ("javascript:alert(1)", "link_invalid"),
])
def test_only_share_links_are_fetched(link: str, code: str) -> None:
    with pytest.raises(InputError) as err:
        bundle_url(link)
    assert err.value.code == code


def test_the_bundle_url_keeps_the_wallets_path_prefix() -> None:
    assert bundle_url("https://h.example/wallet/s/abcdefghijklmnopqrstuv") == (
        "https://h.example/wallet", "https://h.example/wallet/api/v1/shares/abcdefghijklmnopqrstuv/bundle")


def test_a_wallet_server_that_does_not_answer_is_said_so(tmp_path: Path) -> None:
    trust = tmp_path / "trust.toml"
    trust.write_text('format = "credshare-trust-list/v1"\n')
    verifier = _verifier(tmp_path, trust)
    status, page = _check(verifier, f"http://127.0.0.1:{free_port()}/s/abcdefghijklmnopqrstuvwxyz")
    assert status == 422 and 'data-code="wallet_unreachable"' in page


def test_the_check_api_answers_match_the_schema(wallet, tmp_path: Path) -> None:
    import jsonschema
    import yaml
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    spec = yaml.safe_load((Path(__file__).parent.parent / "docs" / "openapi.yaml").read_text())
    app, served, client = wallet
    _, token = create_link(client, _entry(client), paths=[["degree"]])
    verifier = _verifier(tmp_path, _trust_list(app, tmp_path / "trust.toml"))
    api = verifier.test_client()
    csrf = {"X-CSRF-Token": csrf_from(api, "/check")}
    registry = Registry().with_resource("urn:spec", Resource.from_contents(spec, default_specification=DRAFT202012))

    def valid(status: str, body: Any) -> None:
        ref = f"urn:spec#/paths/~1api~1v1~1checks/post/responses/{status}/content/application~1json/schema"
        jsonschema.Draft202012Validator({"$ref": ref}, registry=registry).validate(body)

    good = api.post("/api/v1/checks", json={"link": f"{served.base}/s/{token}"}, headers=csrf)
    valid("200", good.get_json())
    bad = api.post("/api/v1/checks", json={"link": "https://x.example/nope"}, headers=csrf)
    assert bad.status_code == 422 and bad.get_json()["error"] == "link_invalid"
    valid("422", bad.get_json())
    malformed = api.post("/api/v1/checks", json=["not", "an object"], headers=csrf)
    assert malformed.status_code == 400 and malformed.get_json()["error"] == "request_invalid"
    valid("400", malformed.get_json())
    with pytest.raises(jsonschema.ValidationError):
        valid("200", {**good.get_json(), "extra": 1})


def test_a_blockcerts_record_shared_elsewhere_is_checked_in_the_same_verdict_style(blockcerts_wallet,
                                                                                   tmp_path: Path) -> None:
    """A Blockcerts record shared from another wallet server (tests/test_blockcerts_wallet.py):
    its bundle judged by this server's trust list, shown as the link's own page shows it."""
    from tests.helpers import BLOCKCERTS_FIXTURES, BLOCKCERTS_TRUST_LIST

    app, _ = blockcerts_wallet
    client = owner_client(app, EMAIL)
    added = post(client, "/wallet/upload", {"credential": (BLOCKCERTS_FIXTURES / "v3-doctor-of-medicine.json").read_text()})
    entry_id = added.headers["Location"].rsplit("/", 1)[1]
    made = post(client, f"/wallet/{entry_id}/shares", {"days": "30", "passcode": "tulip-4812"})
    link_page = client.get(made.headers["Location"]).get_data(as_text=True)
    token = re.search(r'value="http://localhost/s/([A-Za-z0-9_-]+)"', link_page).group(1)
    served = ServedApp(app)
    try:
        trust = tmp_path / "trust.toml"
        trust.write_text(BLOCKCERTS_TRUST_LIST)
        status, page = _check(_verifier(tmp_path, trust), f"{served.base}/s/{token}", "tulip-4812")
    finally:
        served.close()
    assert status == 200, page
    assert 'data-outcome="incomplete"' in page and "Could not be fully checked: Doctor of Medicine" in page
    assert "Test anchor (mockchain)" in page and "Blockcerts record (shared whole)" in page
    assert 'data-check="document_hash" data-status="passed"' in page
    assert 'data-check="issuer_trust" data-status="passed"' in page and "Northfield School of Medicine" in page
    assert 'id="physician">Dr. Amara Okafor<' in page


def test_a_pasted_link_to_this_machine_is_never_asked_unless_the_operator_allows_it(wallet, tmp_path: Path) -> None:
    """Server-side request forgery: a visitor's link naming a local or private address would make
    the verifier ask its own network. Refused before anything is sent: the link's views are untouched."""
    app, served, client = wallet
    link_id, token = create_link(client, _entry(client), paths=[["degree"]])
    verifier = _verifier(tmp_path, _trust_list(app, tmp_path / "trust.toml"), allow_local=False)
    api = verifier.test_client()
    body = api.post("/api/v1/checks", json={"link": f"{served.base}/s/{token}"},
                    headers={"X-CSRF-Token": csrf_from(api, "/check")})
    assert body.status_code == 422 and body.get_json()["error"] == "wallet_unreachable"
    assert "private or local address" in body.get_json()["detail"]
    assert client.get(f"/api/v1/links/{link_id}").get_json()["views"] == 0
