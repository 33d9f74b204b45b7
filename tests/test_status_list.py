"""Token Status List: the shared vectors, round trips, bounds and signed tokens."""

from __future__ import annotations

import json
import zlib

import pytest

from credshare.disclosure.encoding import b64url_encode
from credshare.disclosure.errors import SDJWTError
from credshare.disclosure.jws import PublicKey, Signer, parse_compact
from credshare.disclosure.status_list import (
    INVALID,
    SUSPENDED,
    StatusList,
    read_status_list,
    sign_status_list,
    status_reference,
)
from tests.conftest import ROOT

VECTORS = json.loads((ROOT.parent / "shared" / "vectors" / "status_list" / "vectors.json").read_text())
KEY = Signer.generate("ES256", kid="sl-1")
URI = "https://issuer.example/status/1"


def _vector(vector: dict):
    """A vector as a test parameter; the four lists of 2**20 statuses, read one by one, are slow."""
    big = StatusList.from_json(vector["status_list"]).size > 10_000
    return pytest.param(vector, id=vector["name"], marks=[pytest.mark.slow] if big else [])


@pytest.mark.parametrize("vector", [_vector(v) for v in VECTORS["vectors"]])
def test_shared_vectors_decode_to_expected_values(vector: dict) -> None:
    status_list = StatusList.from_json(vector["status_list"])
    expected = {int(i): v for i, v in vector["expected"].items()}
    for index in range(status_list.size):
        assert status_list.get(index) == expected.get(index, 0), index
    assert status_list.size >= max(expected) + 1
    again = StatusList.from_json(status_list.to_json())
    assert again.data == status_list.data


def test_draft_token_example_parses() -> None:
    example = VECTORS["status_list_token_jwt_example"]
    jws = parse_compact(example["compact"])
    assert jws.header["typ"] == "statuslist+jwt"
    assert jws.payload == example["decoded_payload"]
    assert StatusList.from_json(jws.payload["status_list"]).get(0) == 1


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_set_get_round_trip_every_width(bits: int) -> None:
    status_list = StatusList.empty(1000, bits)
    top = (1 << bits) - 1
    for index in range(0, 1000, 7):
        status_list.set(index, index % (top + 1))
    decoded = StatusList.from_json(status_list.to_json())
    assert [decoded.get(i) for i in range(1000)] == [i % (top + 1) if i % 7 == 0 else 0 for i in range(1000)]
    with pytest.raises(SDJWTError) as err:
        status_list.set(3, top + 1)
    assert err.value.code == "status_value_invalid"


@pytest.mark.parametrize("index", [-1, 1000, 10**9, True, "3"])
def test_out_of_range_index_is_an_error(index) -> None:
    status_list = StatusList.empty(1000, 1)
    with pytest.raises(SDJWTError) as err:
        status_list.get(index)
    assert err.value.code == "status_index_out_of_range"


@pytest.mark.parametrize("obj, code", [
    ({"bits": 3, "lst": "eNrbuRgAAhcBXQ"}, "status_bits_invalid"),
    ({"bits": 1, "lst": "not-zlib"}, "status_list_malformed"),
    ({"bits": 1}, "status_list_malformed"),
    ({"bits": 1, "lst": b64url_encode(zlib.compress(b"\x00" * 100)[:-3])}, "status_list_malformed"),
])
def test_malformed_lists_are_refused(obj, code) -> None:
    with pytest.raises(SDJWTError) as err:
        StatusList.from_json(obj)
    assert err.value.code == code


def test_zlib_bomb_is_refused() -> None:
    bomb = {"bits": 1, "lst": b64url_encode(zlib.compress(b"\x00" * (17 * 1024 * 1024)))}
    with pytest.raises(SDJWTError) as err:
        StatusList.from_json(bomb)
    assert err.value.code == "status_list_malformed"


def test_signed_token_round_trip_and_checks() -> None:
    status_list = StatusList.empty(10_000, 2)
    status_list.set(42, INVALID)
    status_list.set(43, SUSPENDED)
    token = sign_status_list(status_list, uri=URI, signer=KEY, iat=1000, exp=5000, ttl=300)
    keys = [PublicKey.from_jwk(KEY.public_jwk)]
    read = read_status_list(token, keys=keys, uri=URI, now=2000)
    assert (read.status_list.get(42), read.status_list.get(43), read.status_list.get(44)) == (1, 2, 0)
    assert (read.iat, read.exp, read.ttl) == (1000, 5000, 300)
    for kwargs, code in [
        ({"uri": URI + "x", "now": 2000}, "status_list_sub_mismatch"),
        ({"uri": URI, "now": 6000}, "status_list_expired"),
    ]:
        with pytest.raises(SDJWTError) as err:
            read_status_list(token, keys=keys, **kwargs)
        assert err.value.code == code
    with pytest.raises(SDJWTError) as err:
        read_status_list(token, keys=[PublicKey.from_jwk(Signer.generate("ES256", kid="sl-1").public_jwk)], uri=URI, now=2000)
    assert err.value.code == "signature_invalid"


def test_status_reference() -> None:
    assert status_reference({"status": {"status_list": {"idx": 7, "uri": URI}}}) == (7, URI)
    assert status_reference({}) is None
    with pytest.raises(SDJWTError):
        status_reference({"status": {"status_list": {"idx": -1, "uri": URI}}})
