"""Every JSON document read from outside is depth-bounded (issue 10, item 1), and no library
changes the interpreter's recursion limit behind our back.

A body such as ``{"a": [[[[...]]]]}`` 100,000 levels deep used to overflow the C stack of a
gunicorn worker (py_ecc raises the recursion limit to 100,000 on import, so the JSON decoder
recursed until SIGSEGV). Each way in now answers ``json_too_deep`` and stores nothing.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from credshare.disclosure.errors import SDJWTError
from credshare.foundation import strict_json
from credshare.foundation.b64 import b64_encode
from credshare.foundation.errors import InputError
from credshare.webapp import create_app
from tests.conftest import ROOT
from tests.helpers import OWNER, csrf_from, issue_to, owner_client

DEEP = 100_000


def deep_array(depth: int = DEEP) -> str:
    return "[" * depth + "]" * depth


def deep_body(depth: int = DEEP) -> bytes:
    return ('{"a":' + deep_array(depth) + "}").encode()


# -- the parser itself ----------------------------------------------------------------------

def test_depth_is_counted_outside_strings_only() -> None:
    assert strict_json.nesting_depth('{"a": [1, {"b": []}]}') == 4
    assert strict_json.nesting_depth('"[[[[" ') == 0
    assert strict_json.nesting_depth(r'["\"[[[", {"x": "]]]"}]') == 2
    assert strict_json.nesting_depth("[" * 70) == 70  # never closed: every opening counts
    assert strict_json.nesting_depth('[[{"a": "cut short [[[[[[') == 3  # a parser stops at the string


@pytest.mark.parametrize("depth", [strict_json.MAX_DEPTH, strict_json.MAX_DEPTH + 1, DEEP, 5 * DEEP])
def test_loads_takes_the_limit_and_refuses_one_more(depth: int) -> None:
    text = deep_array(depth)
    if depth <= strict_json.MAX_DEPTH:
        assert strict_json.loads(text) is not None
        return
    with pytest.raises(InputError) as caught:
        strict_json.loads(text)
    assert caught.value.code == "json_too_deep"
    with pytest.raises(InputError) as unclosed:  # never closed: still refused before parsing
        strict_json.loads("[" * depth)
    assert unclosed.value.code == "json_too_deep"


def test_loads_is_strict_otherwise() -> None:
    for bad, code in (('{"a":1,"a":2}', "json_duplicate_member"), ("[NaN]", "json_invalid"),
                      ("[1] x", "json_invalid"), (b"\xff", "json_invalid"), ("", "json_invalid")):
        with pytest.raises(InputError) as caught:
            strict_json.loads(bad)
        assert caught.value.code == code, bad


def test_the_sd_jwt_parser_refuses_deep_payloads_with_its_own_error_type() -> None:
    from credshare.disclosure.encoding import json_loads

    with pytest.raises(SDJWTError) as caught:
        json_loads(deep_array())
    assert caught.value.code == "json_too_deep"


@pytest.mark.slow
def test_no_import_or_start_up_changes_the_recursion_limit(tmp_path: Path) -> None:
    """What ``credshare serve`` does before forking its workers (the log and witness keys are
    made, which loads the cosignature and policy code) must leave the limit where the
    interpreter had it."""
    script = (
        "import sys; before = sys.getrecursionlimit()\n"
        "from credshare.webapp import create_app\n"
        f"svc = create_app({{'CREDSHARE_DATA_DIR': {str(tmp_path / 'd')!r}}}).extensions['credshare']\n"
        "svc.log.status()\n"
        "import credshare.anchoring.cosignature, credshare.anchoring.policy\n"
        "import credshare.cli, credshare.verifier.bundle\n"
        "print(before, sys.getrecursionlimit())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    before, after = out.stdout.split()
    assert after == before


# -- every way in over HTTP -----------------------------------------------------------------

@pytest.fixture
def app(tmp_path: Path):
    return create_app({"CREDSHARE_DATA_DIR": str(tmp_path / "data"), "CREDSHARE_ARGON2_PROFILE": "test",
                       "CREDSHARE_PUBLIC_URL": "http://localhost", "TESTING": True})


def test_a_deep_sign_in_body_is_refused_without_signing_in(app) -> None:
    client = app.test_client()
    csrf = client.get("/api/v1/session").get_json()["csrf_token"]  # anyone may have one
    response = client.post("/api/v1/session", data=deep_body(), content_type="application/json",
                           headers={"X-CSRF-Token": csrf})
    assert response.status_code == 400
    assert response.get_json() == {"error": "json_too_deep", "detail": response.get_json()["detail"]}


def test_issuer_api_bodies_deep_or_not_objects(app) -> None:
    svc = app.extensions["credshare"]
    _, token = svc.issuers.create("deep-med", "Deep Medical School")
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    size = svc.log.status()["tree_size"]
    deep = client.post("/api/v1/issuers/deep-med/batches", data=deep_body(), content_type="application/json", headers=auth)
    assert (deep.status_code, deep.get_json()["error"]) == (400, "json_too_deep")
    row = {"type": "medical-degree", "rows": [{"legal_name": json.loads(deep_array(200))}]}
    nested_row = client.post("/api/v1/issuers/deep-med/batches", json=row, headers=auth)
    assert (nested_row.status_code, nested_row.get_json()["error"]) == (400, "json_too_deep")
    # item 16: a status body that is not an object is a 400 with a code, not a 500
    for body in ([1], "revoked", 3):
        answer = client.post("/api/v1/issuers/deep-med/credentials/x/status", json=body, headers=auth)
        assert answer.status_code == 400, (body, answer.get_data(as_text=True))
        assert answer.get_json()["error"] == "json_body_invalid"
    assert svc.log.status()["tree_size"] == size  # nothing was issued


def _jwt_with_deep_payload() -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"EdDSA","typ":"dc+sd-jwt"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(deep_body(50_000)).rstrip(b"=").decode()  # within the upload size
    return f"{header}.{payload}.{'A' * 86}~"


def test_a_deep_upload_is_refused_and_stores_nothing(app) -> None:
    svc = app.extensions["credshare"]
    svc.issuers.create("example-med", "Example University School of Medicine")
    owner = owner_client(app, OWNER)
    issue_to(svc, OWNER)
    before = owner.get("/api/v1/wallet/credentials").get_json()["credentials"]
    for status, text in ((422, _jwt_with_deep_payload() + "\n" + json.dumps({"proof": 1})),
                         (400, json.dumps({"sd_jwt": "a~b~", "anchor_proof": 1})[:-1] + "," + '"x":' + deep_array() + "}")):
        response = owner.post("/api/v1/wallet/credentials", headers={"X-CSRF-Token": csrf_from(owner, "/wallet")},
                        data=text, content_type="text/plain")
        assert response.status_code == status, response.get_data(as_text=True)[:300]
        assert response.get_json()["error"] == "json_too_deep"
    assert owner.get("/api/v1/wallet/credentials").get_json()["credentials"] == before


def test_a_deep_backup_file_is_refused(app) -> None:
    owner = owner_client(app, OWNER)
    response = owner.post("/account/restore", data={
        "backup": (io.BytesIO(deep_body()), "backup.json"), "passphrase": "a long backup passphrase",
        "csrf_token": csrf_from(owner, "/account")}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "json_too_deep" in response.get_data(as_text=True)


@pytest.mark.slow
def test_credshare_verify_refuses_a_deep_bundle_without_a_traceback(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(deep_body())
    exe = Path(sys.executable).parent / "credshare"
    out = subprocess.run([str(exe), "verify", str(bundle)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["error"] == "json_too_deep"


@pytest.mark.parametrize("depth", [20, DEEP])
def test_a_roster_file_row_that_nests_too_deep_is_refused(tmp_path: Path, depth: int) -> None:
    from credshare.issuing.roster import RosterError, read_roster

    roster = tmp_path / "roster.jsonl"
    roster.write_text('{"legal_name": "A"}\n{"legal_name": ' + deep_array(depth) + "}\n")
    with pytest.raises(RosterError) as caught:
        list(read_roster(roster))
    assert caught.value.code == "json_too_deep"
    # a deep row further on, past the first read: refused before the decoder reaches it
    roster.write_text('{"legal_name": "' + "x" * 70_000 + '"}\n' + '{"a": ' + deep_array(depth) + "}\n")
    with pytest.raises(RosterError) as later:
        list(read_roster(roster))
    assert later.value.code == "json_too_deep" and "line 1 or a later one" in later.value.detail


def test_roster_rows_cut_by_the_read_size_and_strings_with_brackets_still_read(tmp_path: Path) -> None:
    from credshare.issuing.roster import read_roster

    roster = tmp_path / "roster.json"
    rows = [{"legal_name": "[" * 40 + str(i) + "{" * 40, "n": [[i]]} for i in range(3000)]
    roster.write_text(json.dumps(rows, indent=1))
    assert [row for _, row in read_roster(roster)] == rows


def test_claim_paths_from_a_form_or_the_command_line_are_depth_bounded() -> None:
    from credshare.disclosure.paths import parse_claim_path
    from credshare.sharing.display import parse_paths

    # a form value is never parsed deeper than the limit: refused as "not a claim path" by the service
    assert parse_paths(['["legal_name"]', deep_array(400), deep_array()]) == [["legal_name"], None, None]
    with pytest.raises(SDJWTError) as cli:
        parse_claim_path(deep_array())
    assert cli.value.code == "json_too_deep"


def _backup_sealing(holder: bytes, entries: list[bytes]) -> str:
    """A well-formed backup that an attacker sealed under a passphrase of their own."""
    from credshare.holding import vault
    from credshare.holding.accounts import BACKUP_TYPE, AccountService

    data_key, salt, params = vault.new_data_key(), vault.new_salt(), vault.profile_params("test")
    _, wrap = vault.derive_wrap_key("attacker passphrase 1", salt, params.ops, params.mem)
    doc = {"type": BACKUP_TYPE, "email": "x@example.org", "created_at": "2026-01-01T00:00:00+00:00",
           "kdf": {"salt": b64_encode(salt), "ops": params.ops, "mem": params.mem},
           "wrapped_key": vault.seal(wrap, data_key), "holder": vault.seal(data_key, holder),
           "entries": [{"id": f"e{i}", "sealed": vault.seal(data_key, e)} for i, e in enumerate(entries)]}
    doc["mac"] = AccountService._backup_mac(data_key, doc)
    return json.dumps(doc)


def test_json_sealed_inside_a_backup_is_depth_bounded_too(app) -> None:
    from credshare.disclosure.jws import Signer

    deep = deep_array(5000).encode()
    holder = json.dumps(Signer.generate("EdDSA").private_jwk).encode()
    for backup in (_backup_sealing(deep, []), _backup_sealing(holder, [deep])):
        owner = owner_client(app, f"r{len(backup)}@example.org")
        response = owner.post("/account/restore", data={
            "backup": (io.BytesIO(backup.encode()), "backup.json"), "passphrase": "attacker passphrase 1",
            "csrf_token": csrf_from(owner, "/account")}, content_type="multipart/form-data", follow_redirects=True)
        assert response.status_code in (200, 400), response.status_code
        assert owner.get("/api/v1/wallet/credentials").get_json()["credentials"] == []
