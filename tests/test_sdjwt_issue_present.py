"""Issuing and presenting: structure, decoys, selection rules, key binding, the CLI round trip,
interoperability with the reference implementation (PyPI sd-jwt), and property tests."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from credshare.disclosure.encoding import b64url_decode
from credshare.disclosure.errors import SDJWTError
from credshare.disclosure.format import SD_KEY
from credshare.disclosure.issuance import issue
from credshare.disclosure.jws import PublicKey, Signer, parse_compact
from credshare.disclosure.paths import parse_claim_path
from credshare.disclosure.presentation import KeyBindingRequest, open_sd_jwt, present
from credshare.disclosure.verification import KeyBindingPolicy, jwks_resolver, verify_presentation
from tests.conftest import ROOT

ISSUER = Signer.generate("ES256", kid="iss-1")
HOLDER = Signer.generate("ES256", kid="holder")
NOW = 1_800_000_000
TRUST = jwks_resolver([PublicKey.from_jwk(ISSUER.public_jwk)])

DEGREE = {
    "iss": "https://med.example.edu",
    "vct": "https://credshare.example/vct/medical-degree",
    "iat": NOW - 1000,
    "exp": NOW + 10**8,
    "legal_name": "Ada Q. Lovelace",
    "date_of_birth": "1990-12-10",
    "degree": "MD",
    "school": {"name": "Example School of Medicine", "city": "Boston", "country": "US"},
    "former_names": ["Ada Byron", "Ada King"],
}
SD = [("legal_name",), ("date_of_birth",), ("degree",), ("school",), ("school", "city"), ("former_names", None)]


def issued(**kw: Any):
    return issue(DEGREE, signer=ISSUER, disclosable=kw.pop("disclosable", SD), holder_jwk=HOLDER.public_jwk, **kw)


def verify(presentation: str, now: int = NOW, **kw: Any):
    return verify_presentation(presentation, issuer_keys=TRUST, now=now, expected_typ="dc+sd-jwt", **kw)


def test_issued_payload_hides_every_disclosable_claim_and_pads_with_decoys() -> None:
    sd = issued()
    jws = parse_compact(sd.jwt)
    assert jws.header == {"typ": "dc+sd-jwt", "alg": "ES256", "kid": "iss-1"}
    body = jws.payload
    for hidden in ("legal_name", "date_of_birth", "degree", "school"):
        assert hidden not in body
    assert body["_sd_alg"] == "sha-256" and body["iss"] == DEGREE["iss"] and body["vct"] == DEGREE["vct"]
    assert len(body[SD_KEY]) == 8 and body[SD_KEY] == sorted(body[SD_KEY])  # 4 real + 4 decoys
    assert all(set(e) == {"..."} for e in body["former_names"])
    assert body["cnf"] == {"jwk": HOLDER.public_jwk}
    assert len(sd.disclosures) == 7
    for d in sd.disclosures:
        assert len(b64url_decode(d.salt)) == 18  # 144-bit salts (at least 128, §9.3)


def test_fixed_sd_array_size_hides_the_claim_count() -> None:
    small = issue({**DEGREE}, signer=ISSUER, disclosable=[("degree",)], sd_array_size=20)
    large = issue({**DEGREE}, signer=ISSUER, disclosable=[("degree",), ("legal_name",), ("school",)], sd_array_size=20)
    assert len(parse_compact(small.jwt).payload[SD_KEY]) == len(parse_compact(large.jwt).payload[SD_KEY]) == 20


def test_salts_never_repeat_and_issuing_twice_differs() -> None:
    first, second = issued(), issued()
    assert {d.salt for d in first.disclosures}.isdisjoint({d.salt for d in second.disclosures})
    assert first.jwt != second.jwt


def test_a_forked_child_never_reuses_its_parents_salts() -> None:
    import os

    from credshare.disclosure.format import Disclosure

    Disclosure.create("warm", "up")  # the parent now holds buffered salts and random bytes
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report its next salts and leave at once
        os.write(write_end, json.dumps([Disclosure.create("n", i).salt for i in range(50)]).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as fh:
        child = set(json.load(fh))
    os.waitpid(pid, 0)
    parent = {Disclosure.create("n", i).salt for i in range(50)}
    assert len(child) == 50 and child.isdisjoint(parent)


@pytest.mark.parametrize("name, value", [
    ("legal_name", "Avery Quinn"), ("n\u00e9e \"q\"\\", "line\nbreak \u2028 \U0001f600 </script>"), (None, "x"),
    ("age", 42), ("ok", True), ("none", None), ("pi", 3.25), ("list", ["a", {"b": [1, None]}]), (None, {"k": "v"}),
])
def test_disclosure_json_is_exactly_the_compact_encoding(name, value) -> None:
    from credshare.disclosure.encoding import json_dumps
    from credshare.disclosure.format import Disclosure

    made = Disclosure.create(name, value)
    expected = [made.salt, value] if name is None else [made.salt, name, value]
    assert b64url_decode(made.encoded) == json_dumps(expected)
    assert Disclosure.decode(made.encoded, "sha-256") == made


@pytest.mark.parametrize("claim", ["iss", "exp", "nbf", "cnf", "vct", "status"])
def test_registered_claims_are_never_selectively_disclosable(claim: str) -> None:
    with pytest.raises(SDJWTError) as err:
        issue({**DEGREE, "nbf": 1, "status": {"x": 1}}, signer=ISSUER, disclosable=[(claim,)])
    assert err.value.code == "claim_not_disclosable"


@pytest.mark.parametrize("claims, paths, code", [
    ({**DEGREE, "_sd": []}, [], "claims_invalid"),
    ({**DEGREE, "x": float("nan")}, [], "claims_invalid"),
    ({**DEGREE, "x": b"bytes"}, [], "claims_invalid"),
    ({k: v for k, v in DEGREE.items() if k != "vct"}, [], "vct_missing"),
    (DEGREE, [("no_such_claim",)], "sd_path_unknown"),
    (DEGREE, [("school", "zip")], "sd_path_unknown"),
])
def test_bad_issuance_input(claims, paths, code) -> None:
    with pytest.raises(SDJWTError) as err:
        issue(claims, signer=ISSUER, disclosable=paths)
    assert err.value.code == code


def test_holder_sees_everything() -> None:
    view = open_sd_jwt(issued().serialize())
    assert {k: v for k, v in view.claims.items() if k != "cnf"} == DEGREE


def test_nested_selection_adds_parents_only() -> None:
    result = verify(present(issued().serialize(), [("school", "city")]))
    assert result.claims["school"] == {"name": "Example School of Medicine", "city": "Boston", "country": "US"}
    assert "legal_name" not in result.claims and "former_names" in result.claims
    assert result.claims["former_names"] == []
    assert sorted(result.disclosed_paths) == [("school",), ("school", "city")]


def test_parent_selection_reveals_its_contents_and_sibling_stays_hidden() -> None:
    sd = issue({**DEGREE, "school": {"name": "S", "city": "C", "country": "US"}}, signer=ISSUER,
               disclosable=[("school",), ("school", "city"), ("school", "country"), ("legal_name",)])
    result = verify(present(sd.serialize(), [("school",)]))
    assert result.claims["school"] == {"name": "S", "city": "C", "country": "US"}
    assert "legal_name" not in result.claims


def test_array_element_selection() -> None:
    result = verify(present(issued().serialize(), [("former_names", 1)]))
    assert result.claims["former_names"] == ["Ada King"]


@pytest.mark.parametrize("path", [("nope",), ("school", "zip"), ("former_names", 5), ()])
def test_impossible_selection_is_an_error(path) -> None:
    with pytest.raises(SDJWTError) as err:
        present(issued().serialize(), [path])
    assert err.value.code == "selection_unknown_path"


def test_key_binding_round_trip_and_wrong_holder_key() -> None:
    sd = issued().serialize()
    kb = KeyBindingRequest(HOLDER, "https://cvo.example", "n-1", NOW)
    result = verify(present(sd, [("degree",)], kb), key_binding=KeyBindingPolicy(True, "https://cvo.example", "n-1"))
    assert result.claims["degree"] == "MD" and result.key_binding["nonce"] == "n-1"
    with pytest.raises(SDJWTError) as err:
        present(sd, [("degree",)], KeyBindingRequest(Signer.generate("ES256"), "a", "n", NOW))
    assert err.value.code == "key_invalid"


@pytest.mark.parametrize("text, path", [
    ("school.city", ("school", "city")),
    ("former_names.*", ("former_names", None)),
    ("former_names.1", ("former_names", 1)),
    ('["school", "city"]', ("school", "city")),
    ('["former_names", null]', ("former_names", None)),
])
def test_claim_path_syntax(text: str, path) -> None:
    assert parse_claim_path(text) == path


@pytest.mark.slow
def test_cli_keygen_issue_present_verify(tmp_path: Path) -> None:
    def run(*args: str, stdin: str | None = None) -> str:
        out = subprocess.run([sys.executable, "-m", "credshare", "sdjwt", *args], cwd=ROOT, input=stdin,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    (tmp_path / "issuer.jwk").write_text(run("keygen", "--alg", "ES256", "--kid", "k1"))
    holder = json.loads(run("keygen"))
    (tmp_path / "holder.jwk").write_text(json.dumps(holder))
    (tmp_path / "holder.pub").write_text(json.dumps({k: v for k, v in holder.items() if k != "d"}))
    (tmp_path / "claims.json").write_text(json.dumps({**DEGREE, "iat": int(time.time()) - 5}))
    (tmp_path / "cred").write_text(run("issue", "--claims", str(tmp_path / "claims.json"), "--key", str(tmp_path / "issuer.jwk"),
                                       "--sd", "legal_name", "--sd", "degree", "--sd", "school.city",
                                       "--holder-jwk", str(tmp_path / "holder.pub")))
    (tmp_path / "pres").write_text(run("present", str(tmp_path / "cred"), "--disclose", "degree",
                                       "--holder-key", str(tmp_path / "holder.jwk"), "--aud", "cvo", "--nonce", "n1"))
    issuer_pub = {k: v for k, v in json.loads((tmp_path / "issuer.jwk").read_text()).items() if k != "d"}
    (tmp_path / "jwks").write_text(json.dumps({"keys": [issuer_pub]}))
    claims = json.loads(run("verify", str(tmp_path / "pres"), "--issuer-jwks", str(tmp_path / "jwks"),
                            "--require-kb", "--aud", "cvo", "--nonce", "n1", "--typ", "dc+sd-jwt"))
    assert claims["degree"] == "MD" and "legal_name" not in claims and claims["school"]["name"]
    failed = subprocess.run([sys.executable, "-m", "credshare", "sdjwt", "verify", str(tmp_path / "pres"),
                             "--issuer-jwks", str(tmp_path / "jwks"), "--require-kb", "--aud", "cvo", "--nonce", "other"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1 and json.loads(failed.stdout)["error"] == "kb_nonce_mismatch"


# -- interoperability with the reference implementation --------------------------------------

def test_reference_verifies_what_we_issue() -> None:
    from jwcrypto.jwk import JWK
    from sd_jwt.verifier import SDJWTVerifier

    sd = issued().serialize()
    kb = KeyBindingRequest(HOLDER, "https://cvo.example", "nonce-9", NOW)
    presentation = present(sd, [("degree",), ("school", "city"), ("former_names", 0)], kb)
    issuer_key = JWK(**ISSUER.public_jwk)
    reference = SDJWTVerifier(presentation, lambda iss, header: issuer_key,
                              expected_aud="https://cvo.example", expected_nonce="nonce-9")
    assert reference.get_verified_payload() == verify(presentation).claims


def test_we_verify_what_the_reference_issues() -> None:
    from jwcrypto.jwk import JWK
    from sd_jwt.common import SDObj
    from sd_jwt.holder import SDJWTHolder
    from sd_jwt.issuer import SDJWTIssuer

    issuer_key = JWK(**ISSUER.private_jwk)
    holder_key = JWK(**HOLDER.private_jwk)
    user_claims = {
        "iss": "https://med.example.edu", "vct": "urn:x", "iat": int(time.time()),
        SDObj("degree"): "MD", SDObj("legal_name"): "Ada", "school": {SDObj("city"): "Boston", "name": "S"},
        "former_names": [SDObj("Ada Byron"), "Ada King"],
    }
    ref_issued = SDJWTIssuer(user_claims, issuer_key, holder_key, add_decoy_claims=True,
                             extra_header_parameters={"typ": "dc+sd-jwt"})
    holder = SDJWTHolder(ref_issued.sd_jwt_issuance)
    holder.create_presentation({"degree": True, "school": {"city": True}, "former_names": [True]},
                               "nonce-7", "https://cvo.example", holder_key)
    result = verify(holder.sd_jwt_presentation, now=int(time.time()),
                    key_binding=KeyBindingPolicy(True, "https://cvo.example", "nonce-7"))
    assert result.claims["degree"] == "MD" and result.claims["school"] == {"city": "Boston", "name": "S"}
    assert result.claims["former_names"] == ["Ada Byron", "Ada King"] and "legal_name" not in result.claims


# -- property tests -------------------------------------------------------------------------

NAMES = st.text(alphabet="abcdefghij_", min_size=1, max_size=6).filter(
    lambda s: s not in ("_sd", "_sd_alg", "iss", "exp", "nbf", "cnf", "vct", "status", "iat"))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=8))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(NAMES, inner, max_size=3)), max_leaves=10)
CLAIMS = st.dictionaries(NAMES, VALUES, min_size=1, max_size=5)


def all_paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = []
    if isinstance(value, dict):
        for k, v in value.items():
            out.append(prefix + (k,))
            out += all_paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.append(prefix + (i,))
            out += all_paths(v, prefix + (i,))
    return out


def expected_view(value: Any, sd: set, chosen: list, prefix: tuple = ()) -> Any:
    """An independent model of what a verifier sees: a node is visible when every selectively
    disclosable node on its path is chosen, inside a chosen node, or above a chosen node."""
    def included(p: tuple) -> bool:
        return p not in sd or any(c[: len(p)] == p or p[: len(c)] == c for c in chosen)

    if isinstance(value, dict):
        return {k: expected_view(v, sd, chosen, prefix + (k,)) for k, v in value.items() if included(prefix + (k,))}
    if isinstance(value, list):
        return [expected_view(v, sd, chosen, prefix + (i,)) for i, v in enumerate(value) if included(prefix + (i,))]
    return value


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_claims_any_selection_verifies_to_exactly_the_selection(data) -> None:
    user = data.draw(CLAIMS)
    paths = all_paths(user)
    sd = set(data.draw(st.lists(st.sampled_from(paths), unique=True))) if paths else set()
    chosen = data.draw(st.lists(st.sampled_from(paths), unique=True, max_size=4)) if paths else []
    claims = {"iss": "https://i.example", "vct": "urn:t", **user}
    presentation = present(issue(claims, signer=ISSUER, disclosable=sd).serialize(), chosen)
    result = verify(presentation)
    assert result.claims == {"iss": "https://i.example", "vct": "urn:t", **expected_view(user, sd, chosen)}


TAMPER_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~."


@settings(max_examples=300, deadline=None)
@given(position=st.floats(0, 1, exclude_max=True), replacement=st.sampled_from(TAMPER_ALPHABET))
def test_flipping_any_character_is_rejected(position: float, replacement: str) -> None:
    presentation = _TAMPER_BASE
    index = int(position * len(presentation))
    if presentation[index] == replacement:
        replacement = "A" if replacement != "A" else "B"
    tampered = presentation[:index] + replacement + presentation[index + 1:]
    with pytest.raises(SDJWTError):
        verify(tampered, key_binding=KeyBindingPolicy(True, "https://cvo.example", "n-1"))


_TAMPER_BASE = present(
    issue(DEGREE, signer=ISSUER, disclosable=SD, holder_jwk=HOLDER.public_jwk).serialize(),
    [("degree",), ("school", "city"), ("former_names", 1)],
    KeyBindingRequest(HOLDER, "https://cvo.example", "n-1", NOW),
)


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "ES384"])
def test_our_jws_and_jwcrypto_verify_each_other(alg: str) -> None:
    from jwcrypto.jwk import JWK
    from jwcrypto.jws import JWS

    from credshare.disclosure.jws import sign_compact

    signer = Signer.generate(alg, kid="x")
    token = sign_compact({"typ": "JWT"}, {"sub": "a"}, signer)
    theirs = JWS()
    theirs.deserialize(token)
    theirs.verify(JWK(**signer.public_jwk), alg=alg)
    assert json.loads(theirs.payload) == {"sub": "a"}

    made = JWS(payload=json.dumps({"sub": "b"}))
    made.add_signature(JWK(**signer.private_jwk), alg=alg, protected=json.dumps({"alg": alg, "kid": "x"}))
    parsed = parse_compact(made.serialize(compact=True))
    assert parsed.verify_with([PublicKey.from_jwk(signer.public_jwk)]) and parsed.payload == {"sub": "b"}


@pytest.mark.parametrize("sd_alg", ["md5", ["sha-256"], {"a": 1}, 256, None])
def test_a_holder_opening_an_unknown_sd_alg_gets_a_typed_error(sd_alg: Any) -> None:
    """An upload with such an ``_sd_alg`` answered 500 (KeyError/TypeError in the holder path)."""
    from credshare.disclosure.encoding import b64url_encode
    from credshare.disclosure.jws import sign_compact

    jwt = sign_compact({"typ": "dc+sd-jwt"}, {"iss": "https://i.example", "vct": "urn:t", "_sd_alg": sd_alg, "_sd": []},
                       ISSUER)
    disclosure = b64url_encode(json.dumps(["salt", "given_name", "Ada"]).encode())
    with pytest.raises(SDJWTError) as caught:
        open_sd_jwt(f"{jwt}~{disclosure}~")
    assert caught.value.code == "sd_alg_unsupported"


@pytest.mark.slow
@pytest.mark.parametrize("args", [
    ["sdjwt", "present", "/nonexistent/credential.sdjwt", "--disclose", "given_name"],
    ["sdjwt", "verify", "/nonexistent/p.sdjwt", "--issuer-jwks", "/nonexistent/jwks.json"],
    ["log", "verify-proof", "/nonexistent/p.json", "--leaf-file", "/nonexistent/leaf", "--log-key", "/nonexistent/key"],
])
def test_a_missing_input_file_is_a_clean_error_not_a_traceback(args: list[str]) -> None:
    exe = Path(sys.executable).parent / "credshare"
    out = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=60)
    assert "Traceback" not in out.stderr, out.stderr[-1500:]
    assert out.returncode != 0
    assert json.loads(out.stdout.strip().splitlines()[-1])["error"] == "file_unreadable"
