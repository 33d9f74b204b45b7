"""Issuer key history and the rule that decides whether a key may vouch for a credential.

A credential is valid only if the ``kid`` that signed it was valid when its log checkpoint
was signed (the checkpoint's signing time): a key retired later leaves earlier credentials
valid; a key revoked for compromise invalidates what was anchored at or after the
compromise date, whenever the revocation itself was recorded. Pure: records in, verdicts out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

HISTORY_TYP = "key-history+jwt"


@dataclass(frozen=True)
class KeyRecord:
    kid: str
    alg: str
    jwk: dict[str, Any]
    created_at: int
    retired_at: int | None = None
    revoked_at: int | None = None
    compromised_at: int | None = None
    reason: str | None = None

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "retired" if self.retired_at is not None else "active"

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> KeyRecord:
        return cls(**{k: obj.get(k) for k in cls.__dataclass_fields__})  # type: ignore[arg-type]


def key_valid_at(records: Sequence[KeyRecord], kid: str | None, anchored_at: int) -> tuple[bool, str]:
    """Was ``kid`` good for a credential whose checkpoint was signed at ``anchored_at``?"""
    record = next((r for r in records if r.kid == kid), None)
    if record is None:
        return False, f"key {kid!r} is not in the issuer's key history"
    if anchored_at < record.created_at:
        return False, f"key {kid} did not exist yet when the credential was anchored"
    if record.compromised_at is not None and anchored_at >= record.compromised_at:
        return False, f"key {kid} was compromised before the credential was anchored ({record.reason or 'no reason given'})"
    ended = min((t for t in (record.retired_at, record.revoked_at) if t is not None), default=None)
    if ended is not None and anchored_at >= ended:
        return False, f"key {kid} was no longer in use when the credential was anchored"
    return True, f"key {kid} was valid when the credential was anchored"


def history_payload(issuer: str, version: int, records: Sequence[KeyRecord], iat: int, name: str) -> dict[str, Any]:
    """The signed key-history document (a JWT payload): the issuer's display name and every key
    it ever had."""
    return {"iss": issuer, "name": name, "version": version, "iat": iat, "keys": [r.to_json() for r in records]}
