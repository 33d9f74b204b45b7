"""The 35 shared SD-JWT conformance vectors (../shared/vectors/sdjwt): each must verify to
exactly its expected processed payload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from credshare.disclosure.jws import PublicKey
from credshare.disclosure.verification import KeyBindingPolicy, jwks_resolver, verify_presentation
from tests.conftest import ROOT

CASES_DIR = ROOT.parent / "shared" / "vectors" / "sdjwt" / "cases"
CASES = sorted(CASES_DIR.glob("*.json"))


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def policy_for(case: dict) -> KeyBindingPolicy:
    if not case["key_binding_required"]:
        return KeyBindingPolicy()
    return KeyBindingPolicy(required=True, audience=case["kb_expected"]["aud"], nonce=case["kb_expected"]["nonce"])


def test_all_35_vectors_are_present() -> None:
    assert len(CASES) == 35, f"expected 35 vectors in {CASES_DIR}"


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_vector_verifies_to_its_exact_payload(path: Path) -> None:
    case = load(path)
    assert case["expect"] == "accept"
    keys = [PublicKey.from_jwk(jwk) for jwk in case["issuer_public_jwks"]]
    result = verify_presentation(
        case["presentation"],
        issuer_keys=jwks_resolver(keys),
        now=case["verify_at"],
        serialization=case["serialization"],
        key_binding=policy_for(case),
        expected_typ=case["expected_typ"],
    )
    assert result.claims == case["expected_verified_claims"]
    assert (result.key_binding is not None) == case["key_binding_required"]
