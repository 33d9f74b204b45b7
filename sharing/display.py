"""Turning credential claims into what people read: labelled field rows (labels from the
SD-JWT VC type metadata, ``display`` per claim), dates, and claim paths in form fields."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from credshare.foundation import strict_json
from credshare.issuing.types import CredentialType

# Claims every SD-JWT VC carries for machines, not for people.
TECHNICAL_CLAIMS = frozenset({"iss", "iat", "vct", "status", "cnf", "_sd_alg", "exp", "nbf", "sub"})


@dataclass(frozen=True)
class FieldRow:
    path: tuple[str | int, ...]
    label: str
    value: str
    disclosable: bool = False

    @property
    def key(self) -> str:
        """The path as a form value (JSON)."""
        return json.dumps(list(self.path))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "; ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items())
    return "" if value is None else str(value)


def field_rows(claims: dict[str, Any], ctype: CredentialType | None,
               disclosable: set[tuple[str | int, ...]] | None = None) -> list[FieldRow]:
    """One row per leaf claim (objects are opened, lists shown whole), in the type's order."""
    rows: list[FieldRow] = []

    def walk(node: dict[str, Any], prefix: tuple[str | int, ...]) -> None:
        for name, value in node.items():
            path = prefix + (name,)
            if not prefix and name in TECHNICAL_CLAIMS:
                continue
            if isinstance(value, dict):
                walk(value, path)
                continue
            label = ctype.label(path) if ctype else " / ".join(map(str, path))
            rows.append(FieldRow(path, label, _text(value), bool(disclosable and path in disclosable)))

    walk(claims, ())
    if ctype is not None:
        order: dict[tuple[str | int, ...], int] = {claim.path: i for i, claim in enumerate(ctype.claims)}
        rows.sort(key=lambda r: order.get(tuple(r.path), len(order)))
    return rows


MAX_PATH_FORM_CHARS = 1000


def parse_paths(values: list[str]) -> list[Any]:
    """Claim paths posted by a form, each a JSON array of names and indices, decoded (a value
    longer than any claim path is refused before it is parsed); the share service checks them."""
    paths = []
    for raw in values:
        try:
            paths.append(strict_json.loads(raw) if len(raw) <= MAX_PATH_FORM_CHARS else None)
        except strict_json.JsonInputError:
            paths.append(None)  # not JSON: refused by the service as not a claim path
    return paths


def when(ts: int | float | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def day(ts: int | float | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d")
