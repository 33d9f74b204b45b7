"""One key derivation (issue 11, item 3): HKDF-SHA256 with a purpose label per use, in
foundation/kdf.py, and no other derivation of keys from secrets anywhere in the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from credshare.foundation.kdf import derive_key
from tests.helpers import python_files, source_of


def test_a_purpose_per_key_and_the_same_key_each_time() -> None:
    secret = "s" * 48
    keys = {p: derive_key(secret, p) for p in ("seal/wallet-offers/v1", "seal/issuer-keys/v1", "csrf", "shares/grant")}
    assert len(set(keys.values())) == 4 and all(len(k) == 32 for k in keys.values())
    assert derive_key(secret, "csrf") == keys["csrf"] == derive_key(secret.encode(), "csrf")
    assert derive_key("t" * 48, "csrf") != keys["csrf"]
    assert len(derive_key(secret, "csrf", 64)) == 64
    with pytest.raises(ValueError):
        derive_key(secret, "")


def test_it_is_rfc_5869_hkdf_sha256() -> None:
    """RFC 5869 test case 1's key material and info, with credshare's fixed salt: our function
    gives what an independent HKDF-SHA256 gives."""
    ikm, info = bytes.fromhex("0b" * 22), bytes.fromhex("f0f1f2f3f4f5f6f7f8f9").decode("latin-1")
    expected = HKDF(algorithm=hashes.SHA256(), length=42, salt=b"credshare/hkdf/v1", info=info.encode("utf-8")).derive(ikm)
    assert derive_key(ikm, info, 42) == expected


DERIVATIONS = re.compile(r"HKDF\(|blake2b\([^)]*key=|sha256\(b\"credshare/|hmac\.new\(\s*(current_app\.)?secret_key")


def test_no_other_place_derives_keys_from_a_secret() -> None:
    found = []
    for rel in python_files():
        if rel == Path("foundation/kdf.py"):
            continue
        found += [f"{rel}:{n}" for n, line in enumerate(source_of(rel).splitlines(), 1)
                  if DERIVATIONS.search(line)]
    assert found == []
