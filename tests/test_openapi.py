"""docs/openapi.yaml against the real verifier API.

The document must be valid OpenAPI 3.1, name every JSON route of the verifier, and describe
every response exactly: each real answer (driven through Flask's test client on the browser-facing
instance of tests/conftest.py) is validated against the schema documented for its path and
status with JSON Schema Draft 2020-12, and altered answers must fail, so a field, a check or an
error code cannot be added or renamed in the code without the document following."""

from __future__ import annotations

import copy
import json
import time
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from openapi_spec_validator import validate as validate_openapi
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from credshare.anchoring.note import NoteSigner
from credshare.disclosure.jws import PublicKey, parse_compact
from credshare.holding.shares import _GONE
from credshare.issuing.issuers import ISSUERS
from credshare.verifier.bundle import BUNDLE_TYPE, TrustedLog, verify_bundle
from credshare.verifier.receipt import read_receipt
from credshare.verifier.report import CHECK_LABELS, Outcome, Report, Status
from tests.helpers import (
    BLOCKCERTS_FIXTURES,
    OWNER,
    accept_delivery,
    create_link,
    independently_witnessed,
    issue_to,
    only_dev_witnessed,
    owner_client,
    post,
    trusting,
    witness_policy_text,
)

SPEC_PATH = Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"
SPEC_URI = "urn:credshare:docs:openapi"
PASSCODE_TEXT = "juniper-3307"
PASSCODE = {"X-Share-Passcode": PASSCODE_TEXT}
WRONG = {"X-Share-Passcode": "not-the-passcode"}
SHOW, BUNDLE, RECEIPT = "/api/v1/shares/{token}", "/api/v1/shares/{token}/bundle", "/api/v1/shares/{token}/receipt"
KEYS = "/.well-known/credshare-receipt-keys"
SHARE_PATHS = (SHOW, BUNDLE, RECEIPT)


@pytest.fixture
def app(web_app):
    """This module's app is the browser-facing one of tests/conftest.py."""
    return web_app


@pytest.fixture
def svc(web_svc):
    return web_svc


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


@pytest.fixture
def shared(app, svc):
    """As tests/test_wallet_shares.py's fixture of that name: an owner who accepted an issuer's
    delivery and shared 3 fields with a passcode and 3 attempts (the passcode is this file's)."""
    owner = owner_client(app, OWNER)
    issue_to(svc, OWNER)
    entry_id = accept_delivery(owner)
    link_id, token = create_link(owner, entry_id, recipient="St. Mary's Medical Staff Office", passcode=PASSCODE_TEXT,
                                 attempts="3")
    return owner, entry_id, link_id, token


def _pointer(*parts: str) -> str:
    return "/".join(quote(p.replace("~", "~0").replace("/", "~1"), safe="~") for p in parts)


def schema_ref(spec: dict[str, Any], path: str, status: int, method: str = "get") -> str:
    """The URI of the schema documented for ``GET path`` (or ``method``) answering ``status``
    (exactly that status: a response that only ``default`` would cover is a test failure)."""
    responses = spec["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} does not document status {status}"
    location: tuple[str, ...] = ("paths", path, method, "responses", str(status))
    response = responses[str(status)]
    if "$ref" in response:
        prefix = "#/components/responses/"
        assert response["$ref"].startswith(prefix), response["$ref"]
        name = response["$ref"][len(prefix):]
        location, response = ("components", "responses", name), spec["components"]["responses"][name]
    assert "application/json" in response["content"], f"GET {path} {status} documents no JSON body"
    return f"{SPEC_URI}#/{_pointer(*location, 'content', 'application/json', 'schema')}"


def component_ref(name: str) -> str:
    return f"{SPEC_URI}#/components/schemas/{name}"


def validator(spec: dict[str, Any], ref: str) -> Draft202012Validator:
    registry = Registry().with_resource(SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": ref}, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)


def check_response(spec: dict[str, Any], path: str, response: Any, status: int, method: str = "get") -> Any:
    """Assert the status, that the body is JSON, and that it matches the documented schema."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    assert response.mimetype == "application/json"
    body = response.get_json()
    errors = sorted(validator(spec, schema_ref(spec, path, status, method)).iter_errors(body),
                    key=lambda e: list(e.path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
    return body


def refused(spec: dict[str, Any], ref: str, body: Any) -> bool:
    try:
        validator(spec, ref).validate(body)
    except ValidationError:
        return True
    return False


# -- the document itself ----------------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1(spec) -> None:
    assert spec["openapi"].startswith("3.1.")
    assert spec["jsonSchemaDialect"] == "https://json-schema.org/draft/2020-12/schema"
    validate_openapi(spec)
    Draft202012Validator.check_schema({"$defs": spec["components"]["schemas"]})
    broken = copy.deepcopy(spec)  # the validator does find a broken document
    del broken["paths"][SHOW]["get"]["responses"]["200"]["description"]
    with pytest.raises(OpenAPIValidationError, match="description"):
        validate_openapi(broken)
    broken = copy.deepcopy(spec)
    broken["components"]["parameters"]["SharePasscode"]["in"] = "body"
    with pytest.raises(OpenAPIValidationError):
        validate_openapi(broken)


def test_every_json_route_of_the_verifier_is_documented_with_its_parameters(app, spec) -> None:
    routes = {rule.rule.replace("<token>", "{token}").replace("<sub_id>", "{id}") for rule in app.url_map.iter_rules()
              if rule.endpoint.startswith(("verify.", "check.", "subscribe."))
              and rule.rule.startswith(("/api/", "/.well-known/"))}
    assert routes == set(spec["paths"])
    params = spec["components"]["parameters"]
    assert params["SharePasscode"]["in"] == "header" and params["SharePasscode"]["name"] == "X-Share-Passcode"
    assert params["ShareToken"]["in"] == "path" and params["ShareToken"]["required"] is True
    assert params["ShareGrant"]["in"] == "header" and params["ShareGrant"]["name"] == "X-Share-Grant"
    for path in SHARE_PATHS:
        refs = {p["$ref"] for p in spec["paths"][path]["parameters"]}
        names = ("ShareToken", "SharePasscode", "ShareGrant") + (("VerifiedByName", "VerifiedByOrg") if path == RECEIPT else ())
        assert refs == {f"#/components/parameters/{name}" for name in names}, path
        responses = spec["paths"][path]["get"]["responses"]
        assert {"200", "401", "404", "410"} <= set(responses), path
        assert responses["200"]["headers"]["X-Share-Grant"] == {"$ref": "#/components/headers/ShareGrant"}, path
    assert "count" in spec["paths"][SHOW]["get"]["summary"].lower() + spec["info"]["description"].lower()


def test_check_names_in_the_schema_are_exactly_the_reports_checks_each_described(spec) -> None:
    check_name = spec["components"]["schemas"]["CheckName"]
    assert set(check_name["enum"]) == set(CHECK_LABELS)
    assert len(check_name["enum"]) == len(CHECK_LABELS)
    undocumented = [name for name in CHECK_LABELS if f"* `{name}`:" not in check_name["description"]]
    assert not undocumented


def test_enums_follow_the_code(spec) -> None:
    schemas = spec["components"]["schemas"]
    assert set(schemas["Outcome"]["enum"]) == set(typing.get_args(Outcome))
    assert set(schemas["CheckStatus"]["enum"]) == set(typing.get_args(Status))
    credential_status = typing.get_type_hints(Report)["credential_status"]
    assert set(schemas["CredentialStatus"]["enum"]) == set(typing.get_args(credential_status))
    for name in ("Outcome", "CheckStatus", "CredentialStatus"):
        assert all(f"* `{value}`:" in schemas[name]["description"] for value in schemas[name]["enum"]), name
    assert set(schemas["ShareGoneError"]["properties"]["error"]["enum"]) == {code for code, _ in _GONE.values()}
    assert schemas["Bundle"]["properties"]["type"]["const"] == BUNDLE_TYPE


# -- real answers -----------------------------------------------------------------------------


def grant_of(spec: dict[str, Any], response: Any) -> str:
    """The X-Share-Grant header of a successful answer, checked against its documented schema."""
    grant = response.headers["X-Share-Grant"]
    assert not refused(spec, f"{SPEC_URI}#/components/headers/ShareGrant/schema", grant), grant
    assert refused(spec, f"{SPEC_URI}#/components/headers/ShareGrant/schema", grant + "0")
    return grant


@pytest.mark.slow
def test_a_verified_share_its_bundle_receipt_and_keys_match_the_schema(app, svc, shared, spec) -> None:
    _, _, link_id, token = shared
    api = app.test_client()
    opened = api.get(f"/api/v1/shares/{token}", headers=PASSCODE)
    body = check_response(spec, SHOW, opened, 200)
    assert only_dev_witnessed(body["verification"]) and body["link"]["id"] == link_id
    assert body["link"]["views"] == 1  # this GET counted as a view
    assert body["verification"]["holder_statement"] == {"history": False, "withheld": body["fields_withheld"]}
    grant = {"X-Share-Grant": grant_of(spec, opened)}

    # with the grant: no passcode, and neither the bundle nor the receipt counts as a view
    bundle = check_response(spec, BUNDLE, api.get(f"/api/v1/shares/{token}/bundle", headers=grant), 200)
    receipt = check_response(spec, RECEIPT, api.get(f"/api/v1/shares/{token}/receipt", headers=grant), 200)
    keys = check_response(spec, KEYS, api.get(KEYS), 200)
    assert bundle["share"]["views"] == 1 and receipt["receipt"]["link"]["views"] == 1
    # without it the bundle is a view (with the passcode); with it, the share is seen again uncounted
    counted = api.get(f"/api/v1/shares/{token}/bundle", headers=PASSCODE)
    assert check_response(spec, BUNDLE, counted, 200)["share"]["views"] == 2
    grant_of(spec, counted)
    again = check_response(spec, SHOW, api.get(f"/api/v1/shares/{token}", headers=grant), 200)
    assert again["link"]["views"] == 2

    payload = read_receipt(receipt["jws"], [PublicKey.from_jwk(k) for k in keys["keys"]])
    assert payload == receipt["receipt"]
    assert not refused(spec, component_ref("Receipt"), payload)
    header = parse_compact(receipt["jws"]).header
    assert header["typ"] == "credshare-receipt+jwt" and header["kid"] == receipt["kid"] == keys["keys"][0]["kid"]
    assert receipt["keys"] == "http://localhost" + KEYS

    # the offline report (credshare verify) has the same shape, with trust_anchor first; trust
    # comes from the verifier (a tlog-policy, or a log key alone), never from the bundle. The
    # server's own suggestion (GET /log/trust) names its development witnesses: never passed
    own = TrustedLog.from_text(api.get("/log/trust").get_data())
    pinned = TrustedLog.from_text(witness_policy_text(svc.log.signer.verifier.encode()))
    key_alone = TrustedLog.from_key(svc.log.signer.verifier.encode())
    other = TrustedLog.from_key(NoteSigner.from_seed("another.example/log", bytes(32)).verifier.encode())
    now = int(time.time())
    own_report = verify_bundle(bundle, trusted=trusting(bundle, own), now=now).to_json()
    assert not refused(spec, component_ref("VerificationReport"), own_report) and only_dev_witnessed(own_report)
    bundle = independently_witnessed(bundle)  # as a log with an independent witness hands it out
    for trusted, outcome, anchor, quorum in (([pinned], "verified", "passed", "passed"),
                                             ([key_alone], "incomplete", "passed", "unchecked"),
                                             ([], "incomplete", "unchecked", "unchecked"),
                                             ([other], "not_verified", "failed", "unchecked")):
        report = verify_bundle(bundle, trusted=trusting(bundle, *trusted), now=now).to_json()
        assert not refused(spec, component_ref("VerificationReport"), report), trusted
        statuses = {c["check"]: c["status"] for c in report["checks"]}
        assert report["outcome"] == outcome and report["checks"][0]["check"] == "trust_anchor", trusted
        assert statuses["trust_anchor"] == anchor and statuses["witness_quorum"] == quorum, trusted
        assert "link" not in statuses and report["checks"][0]["label"] == CHECK_LABELS["trust_anchor"]


def test_passcode_errors_match_the_schema_on_every_share_path(app, shared, spec) -> None:
    _, _, _, token = shared
    api = app.test_client()
    need = check_response(spec, SHOW, api.get(f"/api/v1/shares/{token}"), 401)
    assert need["error"] == "passcode_required" and need["attempts_left"] == 3
    for path, left in ((SHOW, 2), (BUNDLE, 1)):
        wrong = check_response(spec, path, api.get(path.replace("{token}", token), headers=WRONG), 401)
        assert wrong["error"] == "passcode_wrong" and wrong["attempts_left"] == left
    need = check_response(spec, RECEIPT, api.get(f"/api/v1/shares/{token}/receipt"), 401)
    assert need == {"error": "passcode_required", "detail": need["detail"], "attempts_left": 1}
    locked = check_response(spec, RECEIPT, api.get(f"/api/v1/shares/{token}/receipt", headers=WRONG), 410)
    assert locked["error"] == "share_locked"
    locked = check_response(spec, SHOW, api.get(f"/api/v1/shares/{token}", headers=PASSCODE), 410)
    assert locked["error"] == "share_locked"


def test_unknown_and_revoked_links_match_the_schema_on_every_share_path(app, shared, spec) -> None:
    owner, _, link_id, token = shared
    api = app.test_client()
    for path in SHARE_PATHS:
        unknown = check_response(spec, path, api.get(path.replace("{token}", "A" * 43), headers=PASSCODE), 404)
        assert unknown["error"] == "share_unknown"
    assert post(owner, f"/shares/{link_id}/revoke", {"confirm": "yes"}).status_code == 302
    for path in SHARE_PATHS:
        gone = check_response(spec, path, api.get(path.replace("{token}", token), headers=PASSCODE), 410)
        assert gone["error"] == "share_revoked"


def test_a_used_up_link_matches_the_schema(app, svc, spec) -> None:
    owner = owner_client(app, OWNER)
    issue_to(svc, OWNER)
    _, token = create_link(owner, accept_delivery(owner), max_views="1")
    api = app.test_client()
    first = check_response(spec, SHOW, api.get(f"/api/v1/shares/{token}"), 200)
    assert first["link"]["max_views"] == 1 and first["link"]["views"] == 1 and first["link"]["recipient"] is None
    for path in SHARE_PATHS:  # without a grant, the bundle and receipt would be a second view
        gone = check_response(spec, path, api.get(path.replace("{token}", token)), 410)
        assert gone["error"] == "share_used_up"


@pytest.mark.slow
def test_a_revoked_credential_gives_a_not_verified_report_that_matches_the_schema(app, svc, shared, spec) -> None:
    _, _, _, token = shared
    record = svc.store.collection("credentials").find_one({})
    svc.status.set_status("example-med", record["status_list"], record["status_idx"], "revoked")
    api = app.test_client()
    body = check_response(spec, SHOW, api.get(f"/api/v1/shares/{token}", headers=PASSCODE), 200)
    report = body["verification"]
    assert report["outcome"] == "not_verified" and report["credential"]["status"] == "revoked"
    assert {c["check"]: c["status"] for c in report["checks"]}["status"] == "failed"
    receipt = check_response(spec, RECEIPT, api.get(f"/api/v1/shares/{token}/receipt", headers=PASSCODE), 200)
    assert receipt["receipt"]["outcome"] == "not_verified" and receipt["receipt"]["credential"]["status"] == "revoked"


@pytest.mark.slow
def test_a_history_share_gives_its_own_outcome_that_matches_the_schema(app, svc, spec) -> None:
    """An expired credential shared as history: the validity check `history` (never `passed`)
    in the answer, the receipt and the bundle's offline report; `verified_as_history` offline
    under an independent witness (the server's own development witnesses make it incomplete)."""
    from tests.helpers import OWNER as ADA, issue_license

    owner = owner_client(app, ADA)
    issue_license(svc, ADA, "2020-12-31")
    entry_id = accept_delivery(owner)
    _, token = create_link(owner, entry_id, paths=[["license_number"]], history="yes")
    api = app.test_client()
    opened = api.get(f"/api/v1/shares/{token}")
    report = check_response(spec, SHOW, opened, 200)["verification"]
    assert only_dev_witnessed(report, history=True) and report["credential"]["expires_at"] == 1609459199
    assert {c["check"]: c["status"] for c in report["checks"]}["credential_validity"] == "history"
    grant = {"X-Share-Grant": grant_of(spec, opened)}
    receipt = check_response(spec, RECEIPT, api.get(f"/api/v1/shares/{token}/receipt", headers=grant), 200)
    assert only_dev_witnessed(receipt["receipt"], history=True)
    bundle = check_response(spec, BUNDLE, api.get(f"/api/v1/shares/{token}/bundle", headers=grant), 200)
    trust = TrustedLog.from_text(witness_policy_text(svc.log.signer.verifier.encode()))
    witnessed = independently_witnessed(bundle)
    offline = verify_bundle(witnessed,
                            trusted=trusting(witnessed, trust), now=int(time.time())).to_json()
    assert not refused(spec, component_ref("VerificationReport"), offline)
    assert offline["outcome"] == "verified_as_history"


@pytest.mark.slow
def test_an_issuer_unknown_here_gives_a_not_verified_report_and_no_bundle(app, svc, shared, spec) -> None:
    _, _, _, token = shared
    assert svc.store.collection(ISSUERS).delete_many({}) >= 1
    api = app.test_client()
    report = check_response(spec, SHOW, api.get(f"/api/v1/shares/{token}", headers=PASSCODE), 200)["verification"]
    statuses = {c["check"]: c["status"] for c in report["checks"]}
    assert report["outcome"] == "not_verified" and report["issuer"] == {"id": None, "name": None, "vouched_for": None}
    assert statuses["key_history"] == "failed" and statuses["issuer_signature"] == "unchecked"
    assert report["claims"] == {} and report["credential"]["status"] == "unknown"
    error = check_response(spec, BUNDLE, api.get(f"/api/v1/shares/{token}/bundle", headers=PASSCODE), 404)
    assert error["error"] == "issuer_unknown"


# -- strictness ---------------------------------------------------------------------------------


def _set(path: tuple[Any, ...], value: Any) -> Callable[[Any], None]:
    def change(doc: Any) -> None:
        for key in path[:-1]:
            doc = doc[key]
        doc[path[-1]] = value
    return change


def _delete(path: tuple[Any, ...]) -> Callable[[Any], None]:
    def change(doc: Any) -> None:
        for key in path[:-1]:
            doc = doc[key]
        del doc[path[-1]]
    return change


@pytest.mark.slow
def test_the_schema_refuses_altered_answers(app, shared, spec) -> None:
    _, _, _, token = shared
    api = app.test_client()
    show = api.get(f"/api/v1/shares/{token}", headers=PASSCODE).get_json()
    bundle = api.get(f"/api/v1/shares/{token}/bundle", headers=PASSCODE).get_json()
    receipt = api.get(f"/api/v1/shares/{token}/receipt", headers=PASSCODE).get_json()
    keys = api.get(KEYS).get_json()
    wrong = api.get(f"/api/v1/shares/{token}", headers={"X-Share-Passcode": "0000"}).get_json()
    unknown = api.get("/api/v1/shares/" + "A" * 43).get_json()
    answers = {"show": (SHOW, 200, show), "bundle": (BUNDLE, 200, bundle), "receipt": (RECEIPT, 200, receipt),
               "keys": (KEYS, 200, keys), "401": (SHOW, 401, wrong), "404": (SHOW, 404, unknown)}
    for name, (path, status, body) in answers.items():  # the real answers pass, so each refusal below is the change's
        assert not refused(spec, schema_ref(spec, path, status), body), name

    changes: list[tuple[str, Callable[[Any], None]]] = [
        ("show", _set(("extra",), 1)),
        ("show", _set(("verification", "holder_statement", "passcode"), PASSCODE_TEXT)),
        ("show", _set(("verification", "holder_statement", "history"), "yes")),
        ("show", _delete(("verification", "holder_statement"))),
        ("show", _set(("link", "token"), token)),
        ("show", _set(("verification", "checks", 0, "extra"), "")),
        ("show", _set(("verification", "outcome"), "ok")),
        ("show", _set(("verification", "outcome"), "verified as history")),
        ("show", _set(("verification", "checks", 0, "check"), "made_up_check")),
        ("show", _set(("verification", "checks", 0, "status"), "skipped")),
        ("show", _set(("verification", "credential", "status"), "expired")),
        ("show", _set(("verification", "issuer", "extra"), None)),
        ("show", _set(("verification", "checked_at"), "yesterday")),
        ("show", _set(("link", "views"), -1)),
        ("show", _set(("fields", 0, "value"), 7)),
        ("show", _delete(("fields_withheld",))),
        ("show", _delete(("verification", "checks", 0, "detail"))),
        ("bundle", _set(("extra",), {})),
        ("bundle", _set(("type",), "credshare-verification-bundle/v2")),
        ("bundle", _set(("share", "passcode"), "4812")),
        ("bundle", _set(("key_binding", "extra"), 1)),
        ("bundle", _set(("anchor_proof", "extra"), 1)),
        ("bundle", _set(("issuer", "key_history", "anchor_proof", "type"), "other")),
        ("bundle", _set(("status", "token"), 5)),
        ("bundle", _delete(("status", "anchor_proof"))),
        ("bundle", _set(("status", "anchor_proof", "type"), "other")),
        ("bundle", _set(("log", "secret_key"), "x")),
        ("bundle", _delete(("share",))),
        ("receipt", _set(("receipt", "outcome"), "valid")),
        ("receipt", _set(("receipt", "source", "extra"), 1)),
        ("receipt", _set(("receipt", "checks", 0, "status"), "ok")),
        ("receipt", _set(("jws",), "not a jws")),
        ("receipt", _delete(("receipt", "jti"))),
        ("keys", _set(("keys", 0, "d"), "private")),
        ("keys", _set(("keys", 0, "kty"), "RSA")),
        ("keys", _set(("keys",), [])),
        ("401", _set(("error",), "share_unknown")),
        ("401", _delete(("attempts_left",))),
        ("401", _set(("attempts_left",), 0)),
        ("404", _set(("error",), "share_revoked")),
        ("404", _set(("attempts_left",), 1)),
    ]
    accepted = []
    for name, change in changes:
        path, status, body = answers[name]
        altered = copy.deepcopy(body)
        change(altered)
        if not refused(spec, schema_ref(spec, path, status), altered):
            accepted.append((name, json.dumps(altered)[:200]))
    assert not accepted
    # a 410 body with a passcode error code is refused too
    assert refused(spec, schema_ref(spec, SHOW, 410), {"error": "passcode_wrong", "detail": ""})
    assert not refused(spec, schema_ref(spec, SHOW, 410), {"error": "share_expired", "detail": ""})


SUBSCRIBE, SUBSCRIPTION = "/api/v1/shares/{token}/subscriptions", "/api/v1/subscriptions/{id}"


def test_a_status_subscription_and_its_event_match_the_schema(app, svc, shared, spec) -> None:
    import json as json_module

    _, _, link_id, token = shared
    api = app.test_client()
    path = f"/api/v1/shares/{token}/subscriptions"
    check_response(spec, SUBSCRIBE, api.post(path, json={"webhook": "https://a.example/h"}), 401, "post")
    made = check_response(spec, SUBSCRIBE, api.post(path, json={"webhook": "http://127.0.0.1:9/hook"}, headers=PASSCODE),
                          201, "post")
    assert made["link"] == link_id and made["subscription"]["state"] == "active"
    grant = {"X-Share-Grant": made and api.get(f"/api/v1/shares/{token}", headers=PASSCODE).headers["X-Share-Grant"]}
    check_response(spec, SUBSCRIBE, api.post(path, json={"email": "x"}, headers=grant), 400, "post")
    secret = {"X-Subscription-Secret": made["secret"]}
    one = f"/api/v1/subscriptions/{made['id']}"
    assert check_response(spec, SUBSCRIPTION, api.get(one, headers=secret), 200)["status"] == "valid"
    check_response(spec, SUBSCRIPTION, api.get(one, headers={"X-Subscription-Secret": "no"}), 404)
    record = svc.store.collection("credentials").find_one({})
    svc.status.set_status("example-med", record["status_list"], record["status_idx"], "revoked")
    svc.clock.advance(61)
    assert (made["id"], "revoked") in svc.subscriptions.run_once()  # (the physician's own watch too)
    queued = svc.store.collection("notify_deliveries").find_one({"kind": "webhook"})
    event = parse_compact(json_module.loads(svc.deliveries._sealer.open(queued["sealed"]))["body"]).payload
    assert not refused(spec, component_ref("StatusEvent"), event) and event["status"] == "revoked"
    assert refused(spec, component_ref("StatusEvent"), {**event, "token": token})
    ended = check_response(spec, SUBSCRIPTION, api.delete(one, headers=secret), 200, "delete")
    assert ended["state"] == "unsubscribed" and ended["status"] == "revoked"


def test_a_shared_blockcerts_record_its_bundle_and_receipt_match_the_schema(blockcerts_wallet, spec) -> None:
    """A Blockcerts record shared by link (tests/test_blockcerts_wallet.py): the report with its
    Blockcerts checks and their codes, the Blockcerts bundle and the receipt, as documented."""
    app, _ = blockcerts_wallet
    owner = owner_client(app, OWNER)
    token = owner.get("/api/v1/session").get_json()["csrf_token"]
    record = (BLOCKCERTS_FIXTURES / "v3-doctor-of-medicine.json").read_text()
    added = owner.post("/api/v1/wallet/credentials", data=record, headers={"X-CSRF-Token": token})
    assert added.status_code == 201, added.get_json()
    link = owner.post(f"/api/v1/wallet/credentials/{added.get_json()['id']}/links", json={"passcode": PASSCODE_TEXT},
                      headers={"X-CSRF-Token": token})
    share = link.get_json()["url"].rsplit("/", 1)[1]
    api = app.test_client()
    opened = api.get(f"/api/v1/shares/{share}", headers=PASSCODE)
    body = check_response(spec, SHOW, opened, 200)
    report = body["verification"]
    assert report["format"] == "blockcerts" and report["outcome"] == "incomplete" and body["fields_withheld"] == 0
    anchor = next(c for c in report["checks"] if c["check"] == "blockchain_anchor")
    assert anchor["status"] == "unchecked" and anchor["code"] == "blockcerts_test_anchor"
    grant = {"X-Share-Grant": grant_of(spec, opened)}
    bundle = check_response(spec, BUNDLE, api.get(f"/api/v1/shares/{share}/bundle", headers=grant), 200)
    assert bundle["format"] == "blockcerts" and bundle["blockcerts"]["issuer_profile"] is not None
    assert refused(spec, component_ref("BlockcertsBundle"), {**bundle, "format": "sd-jwt-vc"})
    assert refused(spec, component_ref("Bundle"), bundle)  # never taken for an SD-JWT bundle
    receipt = check_response(spec, RECEIPT, api.get(f"/api/v1/shares/{share}/receipt", headers=grant), 200)
    assert receipt["receipt"]["credential"]["type_name"] == "Doctor of Medicine"
    assert receipt["receipt"]["credential"]["format"] == "blockcerts"
