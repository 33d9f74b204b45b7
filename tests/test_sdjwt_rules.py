"""Every verification rule (RFC 9901 §7.1, §7.3, SD-JWT VC), one failing input each, asserting
its error code through the library and through `credshare sdjwt verify`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from credshare.cli import cli
from credshare.disclosure.encoding import b64url_encode
from credshare.disclosure.errors import CODES, SDJWTError
from credshare.disclosure.jws import Signer, sign_compact
from tests.sdjwt_helpers import (
    HOLDER,
    ISSUER,
    NOW,
    base_claims,
    compact,
    disclosure,
    kb_jwt,
    signed,
    verify,
)

OTHER_ES256 = Signer.generate("ES256")
ED_ISSUER = Signer.generate("EdDSA", kid="ed-1")
HOLDER_CNF = {"jwk": HOLDER.public_jwk}


@dataclass
class Case:
    name: str
    code: str
    presentation: str
    require_kb: bool = False
    typ: str | None = None
    serialization: str = "compact"
    now: int = NOW
    keys: list[Signer] = field(default_factory=lambda: [ISSUER])


def raw_jwt(header: dict | str, payload: dict | str, signature: bytes = b"\x00" * 64) -> str:
    enc = lambda v: b64url_encode((v if isinstance(v, str) else json.dumps(v)).encode())  # noqa: E731
    return f"{enc(header)}.{enc(payload)}.{b64url_encode(signature)}"


def with_kb(jwt: str, *disclosures: str, **kb_overrides) -> str:
    without = compact(jwt, *disclosures)
    return without + kb_jwt(without, **kb_overrides)


def cases() -> list[Case]:
    given, given_d = disclosure("salt1", "given_name", "Ada")
    family, family_d = disclosure("salt2", "family_name", "Lovelace")
    elem, elem_d = disclosure("salt3", "US")
    out: list[Case] = []
    add = lambda *a, **k: out.append(Case(*a, **k))  # noqa: E731

    # structure
    add("no_tilde", "sdjwt_malformed", signed(base_claims()))
    add("empty_component", "sdjwt_malformed", signed(base_claims(_sd=[given_d])) + "~~" + given + "~")
    add("jwt_two_parts", "jws_malformed", "abc.def~")
    add("header_not_json", "jws_malformed", raw_jwt("not json", base_claims()) + "~")
    add("payload_array", "jws_malformed", raw_jwt({"alg": "ES256"}, "[1,2]") + "~")
    add("padded_base64", "jws_malformed", signed(base_claims()).replace(".", "=.", 1) + "~")
    add("duplicate_member", "json_duplicate_member",
        raw_jwt({"alg": "ES256"}, '{"iss":"a","iss":"b"}') + "~")
    add("json_missing_payload", "sdjwt_malformed", json.dumps({"protected": "x", "signature": "y"}),
        serialization="json")
    jwt_parts = signed(base_claims(_sd=[given_d])).split(".")
    add("json_general_disclosures_in_second_signature", "sdjwt_malformed", json.dumps({
        "payload": jwt_parts[1],
        "signatures": [{"protected": jwt_parts[0], "signature": jwt_parts[2]},
                       {"protected": jwt_parts[0], "signature": jwt_parts[2], "header": {"disclosures": [given]}}],
    }), serialization="json")
    # issuer signature and algorithm (§7.1 step 2)
    add("alg_none", "alg_not_allowed", raw_jwt({"alg": "none", "typ": "dc+sd-jwt"}, base_claims(), b"") + "~")
    add("alg_hs256", "alg_not_allowed", raw_jwt({"alg": "HS256", "typ": "dc+sd-jwt"}, base_claims()) + "~")
    add("alg_not_fitting_key", "alg_not_allowed", signed(base_claims(), signer=ED_ISSUER, header={"kid": None}) + "~")
    add("kid_unknown", "issuer_key_unknown", signed(base_claims(), header={"kid": "someone-else"}) + "~")
    add("signed_by_other_key", "signature_invalid", signed(base_claims(), header={"kid": "issuer-1"}, signer=OTHER_ES256) + "~")
    tampered = signed(base_claims()).split(".")
    tampered[1] = b64url_encode(json.dumps(base_claims(iss="https://evil.example")).encode())
    add("payload_tampered", "signature_invalid", ".".join(tampered) + "~")
    add("typ_mismatch", "typ_mismatch", signed(base_claims(), header={"typ": "JWT"}) + "~", typ="dc+sd-jwt")
    add("sd_alg_truncated", "sd_alg_unsupported", signed(base_claims(_sd_alg="sha-256-128")) + "~")
    add("sd_alg_unknown", "sd_alg_unsupported", signed(base_claims(_sd_alg="md5")) + "~")
    add("sd_alg_not_string", "sd_alg_unsupported", signed(base_claims(_sd_alg=256)) + "~")
    # disclosures (§7.1 step 3)
    add("disclosure_not_base64", "disclosure_malformed", compact(signed(base_claims()), "%%%"))
    bad_json, bad_json_d = disclosure(raw="[not json")
    add("disclosure_not_json", "disclosure_malformed", compact(signed(base_claims(_sd=[bad_json_d])), bad_json))
    obj, obj_d = disclosure(raw='{"salt": "s", "name": "x"}')
    add("disclosure_not_array", "disclosure_malformed", compact(signed(base_claims(_sd=[obj_d])), obj))
    four, four_d = disclosure("s", "a", "b", "c")
    add("disclosure_four_elements", "disclosure_malformed", compact(signed(base_claims(_sd=[four_d])), four))
    one, one_d = disclosure("s")
    add("disclosure_one_element", "disclosure_malformed", compact(signed(base_claims(_sd=[one_d])), one))
    num_name, num_name_d = disclosure("s", 7, "v")
    add("disclosure_name_not_string", "disclosure_malformed", compact(signed(base_claims(_sd=[num_name_d])), num_name))
    num_salt, num_salt_d = disclosure(1, "x", "v")
    add("disclosure_salt_not_string", "disclosure_malformed", compact(signed(base_claims(_sd=[num_salt_d])), num_salt))
    add("array_disclosure_in_sd", "disclosure_shape", compact(signed(base_claims(_sd=[elem_d])), elem))
    add("object_disclosure_in_array", "disclosure_shape",
        compact(signed(base_claims(nationalities=[{"...": given_d}])), given))
    sd_name, sd_name_d = disclosure("s", "_sd", ["x"])
    add("disclosed_name_sd", "disclosure_name_reserved", compact(signed(base_claims(_sd=[sd_name_d])), sd_name))
    dots, dots_d = disclosure("s", "...", "x")
    add("disclosed_name_ellipsis", "disclosure_name_reserved", compact(signed(base_claims(_sd=[dots_d])), dots))
    add("name_collides_with_plain_claim", "claim_name_collision",
        compact(signed(base_claims(given_name="Eve", _sd=[given_d])), given))
    again, again_d = disclosure("salt9", "given_name", "Bob")
    add("two_disclosures_same_name", "claim_name_collision",
        compact(signed(base_claims(_sd=sorted([given_d, again_d]))), given, again))
    add("digest_twice_in_sd", "digest_duplicate", compact(signed(base_claims(_sd=[given_d, given_d])), given))
    add("digest_twice_across_levels", "digest_duplicate",
        compact(signed(base_claims(_sd=[given_d], address={"_sd": [given_d]})), given))
    inner, inner_d = disclosure("s4", "street", "Main St")
    outer, outer_d = disclosure("s5", "address", {"_sd": [inner_d, given_d]})
    add("digest_repeated_inside_disclosure", "digest_duplicate",
        compact(signed(base_claims(_sd=[outer_d, given_d])), outer, given, inner))
    add("same_disclosure_twice", "disclosure_duplicate", compact(signed(base_claims(_sd=[given_d])), given, given))
    add("disclosure_unreferenced", "disclosure_unreferenced", compact(signed(base_claims(_sd=[given_d])), given, family))
    hidden_outer, hidden_outer_d = disclosure("s6", "address", {"_sd": [inner_d]})
    add("nested_disclosure_without_parent", "disclosure_unreferenced",
        compact(signed(base_claims(_sd=[hidden_outer_d])), inner))
    add("sd_not_array", "sd_invalid", compact(signed(base_claims(_sd=given_d)), given))
    add("sd_digest_not_string", "sd_invalid", signed(base_claims(_sd=[5])) + "~")
    add("ellipsis_with_extra_member", "sd_invalid", compact(signed(base_claims(n=[{"...": elem_d, "x": 1}])), elem))
    add("sd_alg_nested", "sd_invalid", signed(base_claims(address={"_sd_alg": "sha-256"})) + "~")
    deep: dict = {}
    node = deep
    for _ in range(80):
        node["a"] = {}
        node = node["a"]
    add("nesting_too_deep", "nesting_too_deep", signed(base_claims(deep=deep)) + "~")
    # validity (§7.1 step 6)
    add("expired", "expired", signed(base_claims(exp=NOW - 3600)) + "~")
    add("not_yet_valid", "not_yet_valid", signed(base_claims(nbf=NOW + 3600)) + "~")
    add("iat_in_future", "iat_in_future", signed(base_claims(iat=NOW + 3600)) + "~")
    add("exp_not_number", "validity_claim_invalid", signed(base_claims(exp="2099-01-01")) + "~")
    exp_d_enc, exp_d = disclosure("s7", "exp", NOW - 3600)
    add("expired_through_disclosure", "expired",
        compact(signed(base_claims(_sd=[exp_d]), header={"typ": "example+sd-jwt"}), exp_d_enc))
    # SD-JWT VC profile
    add("vct_missing", "vct_missing", signed({k: v for k, v in base_claims().items() if k != "vct"}) + "~")
    iss_enc, iss_d = disclosure("s8", "iss", "https://issuer.example")
    add("iss_selectively_disclosed", "claim_not_disclosable",
        compact(signed({"vct": "urn:test", "_sd_alg": "sha-256", "_sd": [iss_d]}), iss_enc))
    # key binding (§7.3)
    bound = signed(base_claims(cnf=HOLDER_CNF, _sd=[given_d]))
    add("kb_required_but_absent", "kb_missing", compact(bound, given), require_kb=True)
    add("kb_without_holder_key", "kb_holder_key_missing", with_kb(signed(base_claims(_sd=[given_d])), given), require_kb=True)
    add("kb_wrong_typ", "kb_typ_invalid", with_kb(bound, given, typ="JWT"), require_kb=True)
    add("kb_signed_by_other_key", "kb_signature_invalid",
        with_kb(bound, given, signer=Signer.generate("EdDSA")), require_kb=True)
    add("kb_alg_not_fitting_holder_key", "alg_not_allowed", with_kb(bound, given, signer=OTHER_ES256), require_kb=True)
    add("kb_no_nonce", "kb_claims_missing", with_kb(bound, given, nonce=...), require_kb=True)
    add("kb_too_old", "kb_iat_invalid", with_kb(bound, given, iat=NOW - 3600), require_kb=True)
    add("kb_from_future", "kb_iat_invalid", with_kb(bound, given, iat=NOW + 3600), require_kb=True)
    add("kb_wrong_aud", "kb_aud_mismatch", with_kb(bound, given, aud="https://other.example"), require_kb=True)
    add("kb_wrong_nonce", "kb_nonce_mismatch", with_kb(bound, given, nonce="replayed"), require_kb=True)
    add("kb_sd_hash_over_other_disclosures", "kb_sd_hash_mismatch",
        compact(bound, given) + kb_jwt(compact(bound)), require_kb=True)
    add("kb_broken_even_when_not_required", "kb_sd_hash_mismatch", compact(bound, given) + kb_jwt(compact(bound)))
    add("kb_garbage_after_last_tilde", "jws_malformed", compact(bound, given) + "garbage")
    return out


CASES = cases()


def test_every_registered_verification_code_has_a_case() -> None:
    issuance_or_status = {c for c in CODES if c.startswith("status_")} | {
        "claims_invalid", "sd_path_unknown", "selection_unknown_path", "key_invalid",
    }
    covered = {case.code for case in CASES}
    assert set(CODES) - issuance_or_status - covered == set()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_rule_rejected_with_its_code(case: Case) -> None:
    with pytest.raises(SDJWTError) as err:
        verify(case.presentation, require_kb=case.require_kb, keys=case.keys, expected_typ=case.typ,
               serialization=case.serialization, now=case.now)
    assert err.value.code == case.code, err.value.detail


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_rule_rejected_with_its_code_through_the_cli(case: Case, tmp_path: Path) -> None:
    (tmp_path / "p").write_text(case.presentation)
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [s.public_jwk for s in case.keys]}))
    args = ["sdjwt", "verify", str(tmp_path / "p"), "--issuer-jwks", str(tmp_path / "jwks.json"),
            "--serialization", case.serialization, "--now", str(case.now)]
    if case.require_kb:
        args += ["--require-kb", "--aud", "https://verifier.example", "--nonce", "nonce-123"]
    if case.typ:
        args += ["--typ", case.typ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["error"] == case.code


def test_valid_key_bound_presentation_passes_library_and_cli(tmp_path: Path) -> None:
    given, given_d = disclosure("salt1", "given_name", "Ada")
    presentation = with_kb(signed(base_claims(cnf=HOLDER_CNF, _sd=[given_d])), given)
    result = verify(presentation, require_kb=True, expected_typ="dc+sd-jwt")
    assert result.claims["given_name"] == "Ada" and result.disclosed_paths == [("given_name",)]
    (tmp_path / "p").write_text(presentation)
    (tmp_path / "jwks.json").write_text(json.dumps([ISSUER.public_jwk]))
    out = CliRunner().invoke(cli, ["sdjwt", "verify", str(tmp_path / "p"), "--issuer-jwks", str(tmp_path / "jwks.json"),
                                   "--require-kb", "--aud", "https://verifier.example", "--nonce", "nonce-123",
                                   "--now", str(NOW), "--typ", "dc+sd-jwt"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["given_name"] == "Ada"


def test_kb_not_required_but_present_and_intact_is_accepted() -> None:
    given, given_d = disclosure("salt1", "given_name", "Ada")
    presentation = with_kb(signed(base_claims(cnf=HOLDER_CNF, _sd=[given_d])), given, aud="anyone", iat=NOW - 10**6)
    assert verify(presentation).key_binding["aud"] == "anyone"


def test_unsigned_private_key_in_jwks_is_refused(tmp_path: Path) -> None:
    (tmp_path / "p").write_text(signed(base_claims()) + "~")
    (tmp_path / "jwks.json").write_text(json.dumps([ISSUER.private_jwk]))
    out = CliRunner().invoke(cli, ["sdjwt", "verify", str(tmp_path / "p"), "--issuer-jwks", str(tmp_path / "jwks.json")])
    assert out.exit_code == 1 and json.loads(out.stdout)["error"] == "key_invalid"


def test_signature_bytes_of_wrong_length_are_rejected() -> None:
    parts = signed(base_claims()).split(".")
    short = ".".join(parts[:2] + [b64url_encode(b"\x01" * 63)])
    with pytest.raises(SDJWTError) as err:
        verify(short + "~")
    assert err.value.code == "signature_invalid"


def test_eddsa_issuer_verifies() -> None:
    jwt = sign_compact({"typ": "dc+sd-jwt"}, base_claims(), ED_ISSUER)
    assert verify(jwt + "~", keys=[ED_ISSUER]).claims["vct"] == "urn:test"
