"""foundation/b64.py: RFC 4648 §4 and §5 test vectors, the canonical-only decoding rules, and
that no other module encodes or decodes base64 by itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from credshare.foundation.b64 import b64_decode, b64_encode, b64url_decode, b64url_encode
from tests.helpers import python_files, source_of

# RFC 4648 §10
VECTORS = [(b"", ""), (b"f", "Zg=="), (b"fo", "Zm8="), (b"foo", "Zm9v"), (b"foob", "Zm9vYg=="),
           (b"fooba", "Zm9vYmE="), (b"foobar", "Zm9vYmFy")]


@pytest.mark.parametrize("data, text", VECTORS)
def test_rfc_4648_vectors_in_standard_base64(data: bytes, text: str) -> None:
    assert b64_encode(data) == text
    assert b64_decode(text) == data


@pytest.mark.parametrize("data, text", VECTORS)
def test_rfc_4648_vectors_in_unpadded_base64url(data: bytes, text: str) -> None:
    assert b64url_encode(data) == text.rstrip("=")
    assert b64url_decode(text.rstrip("=")) == data


def test_the_two_alphabets_differ_in_62_and_63() -> None:
    data = bytes([0xFB, 0xFF, 0xBF])
    assert b64_encode(data) == "+/+/"
    assert b64url_encode(data) == "-_-_"
    assert b64_decode("+/+/") == b64url_decode("-_-_") == data


@pytest.mark.parametrize("text", [
    "Zg", "Zm8",  # padding missing
    "Zg===", "Zm9v====", "Zm8==", "====", "Z===",  # excess or misplaced padding, a lone character
    "Zg==Zg==", "Zm=8", "=Zm8",  # padding inside
    "Zh==", "Zm9=",  # non-zero unused bits: the canonical spellings are Zg== and Zm8=
    "Zm9v\n", " Zm9v", "Zm 9v", "Zm9v\r\n",  # whitespace
    "-_-_", "Zm9v-A==",  # the base64url alphabet
    "Zm9v\u00e9A==", "Zm9v*A==",  # off the alphabet
])
def test_standard_decoding_refuses_every_other_spelling(text: str) -> None:
    with pytest.raises(ValueError):
        b64_decode(text)


@pytest.mark.parametrize("text", [
    "Zg==", "Zm8=", "Zg=", "=",  # padding
    "Z", "Zm9vY",  # a final group of one character
    "Zh", "Zm9",  # non-zero unused bits: the canonical spellings are Zg and Zm8
    "Zm9v\n", " Zm9v", "Zm 9v",  # whitespace
    "+/+/", "Zm9v+A",  # the standard alphabet
    "Zm9v\u00e9A", "Zm9v*A",  # off the alphabet
])
def test_base64url_decoding_refuses_every_other_spelling(text: str) -> None:
    with pytest.raises(ValueError):
        b64url_decode(text)


@pytest.mark.parametrize("decode", [b64_decode, b64url_decode])
def test_only_text_is_decoded(decode: object) -> None:
    for value in (b"Zm9v", None, 3, ["Zm9v"]):
        with pytest.raises(ValueError):
            decode(value)  # type: ignore[operator]


def test_every_byte_string_round_trips_in_one_spelling() -> None:
    for length in range(0, 7):
        for fill in (0x00, 0x5A, 0xFF):
            data = bytes([fill] * length)
            assert b64_decode(b64_encode(data)) == data
            assert b64url_decode(b64url_encode(data)) == data


BASE64_CALLS = re.compile(r"\bimport base64\b|\bfrom base64 import\b|\bbase64\.\w+\(|\b(a2b|b2a)_base64\(|Base64Encoder")


def test_no_other_module_encodes_or_decodes_base64() -> None:
    found = []
    for rel in python_files():
        if rel == Path("foundation/b64.py"):
            continue
        found += [f"{rel}:{n}" for n, line in enumerate(source_of(rel).splitlines(), 1)
                  if BASE64_CALLS.search(line)]
    assert found == []


def test_places_that_were_lenient_now_refuse_a_second_spelling() -> None:
    """Checkpoint notes, sealed values and stored salts used a decoder that took non-zero unused
    bits and excess padding; they now take the one canonical spelling only."""
    from credshare.anchoring.errors import AnchoringError
    from credshare.anchoring.note import Checkpoint
    from credshare.foundation.errors import VaultError
    from credshare.holding import vault

    root = b64_encode(bytes(32))
    assert root.endswith("A=")
    assert Checkpoint.parse(f"o\n1\n{root}\n").root == bytes(32)
    with pytest.raises(AnchoringError):
        Checkpoint.parse(f"o\n1\n{root[:-2]}B=\n")  # the same 32 bytes, one unused bit set
    key = vault.new_data_key()
    sealed = vault.seal(key, b"secret")
    assert vault.open_sealed(key, sealed) == b"secret"
    with pytest.raises(VaultError):
        vault.open_sealed(key, sealed + "====")
