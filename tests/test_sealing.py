"""Sealing at rest: per-purpose keys from the data-dir secret; tampering and wrong keys fail."""

from __future__ import annotations

import pytest

from credshare.foundation.sealing import Sealer, SealError

SECRET = "s" * 48


def test_round_trip_and_random_nonces() -> None:
    sealer = Sealer.for_purpose(SECRET, "wallet-offers/v1")
    first, second = sealer.seal(b"credential"), sealer.seal(b"credential")
    assert first != second and b"credential" not in first.encode()
    assert sealer.open(first) == sealer.open(second) == b"credential"


@pytest.mark.parametrize("other", [
    Sealer.for_purpose(SECRET, "issuer-keys/v1"),            # another purpose
    Sealer.for_purpose("t" * 48, "wallet-offers/v1"),        # another secret
])
def test_other_keys_cannot_open(other: Sealer) -> None:
    sealed = Sealer.for_purpose(SECRET, "wallet-offers/v1").seal(b"x")
    with pytest.raises(SealError) as err:
        other.open(sealed)
    assert err.value.code == "sealed_data_unreadable"


def test_tampering_is_detected() -> None:
    sealer = Sealer.for_purpose(SECRET, "p")
    sealed = sealer.seal(b"payload")
    flipped = sealed[:10] + ("A" if sealed[10] != "A" else "B") + sealed[11:]
    with pytest.raises(SealError):
        sealer.open(flipped)
