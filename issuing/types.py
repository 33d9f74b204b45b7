"""Credential types as data: SD-JWT VC type metadata (draft-ietf-oauth-sd-jwt-vc §6) files.

Each file in ``credential_types/`` names a ``vct``, display names and its ``claims``: a
claim path, display labels and ``sd`` (``always``, ``allowed`` or ``never``, as in the
draft). credshare's roster rules ride along under ``x-credshare``: the roster column that
fills the claim, its value type and whether it is required. Adding a type is adding a file.

Value types: ``string``, ``date`` (YYYY-MM-DD), ``date_or_lifetime``, ``integer``,
``boolean`` (yes/no/true/false), ``enum``, ``list`` (``;``-separated, or a JSON array of
texts), ``country`` (ISO 3166-1 alpha-2), ``npi`` (10 digits with the Luhn check over
``80840`` + digits) and ``dea`` (2 letters, 7 digits, DEA check digit). A value from a JSON
roster is text, a number or true/false; a JSON object or array is refused (no type declares
an object claim), so no Python repr ever ends up in a signed claim.

``x-credshare.date_order`` lists pairs of date columns ``[earlier, later]`` that must come in
that order when both are given (attendance before conferral, a training period's start
before its end).

:func:`field_rows` turns a credential's claims into what people read: labelled rows (labels
from the type metadata's ``display`` per claim), in the type's order.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from credshare.foundation.config import resource_dir
from credshare.foundation.errors import CredshareError

TYPES_DIR = resource_dir("credential_types")
MAX_VALUE_LENGTH = 1000
_TRUE, _FALSE = {"yes", "y", "true", "1"}, {"no", "n", "false", "0"}


class CredentialTypeError(CredshareError):
    code = "credential_type_invalid"
    http_status = 400
    stage = "input"


@dataclass(frozen=True)
class ClaimSpec:
    path: tuple[str, ...]
    label: str
    sd: str
    column: str | None
    kind: str
    required: bool
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class CredentialType:
    slug: str
    vct: str
    name: str
    claims: tuple[ClaimSpec, ...]
    sd_array_size: int
    metadata: dict[str, Any]
    expires_from: tuple[str, ...] | None = None  # the date claim a credential's exp comes from
    date_order: tuple[tuple[ClaimSpec, ClaimSpec], ...] = ()  # (earlier, later) date claims

    def expiry(self, claims: Mapping[str, Any]) -> int | None:
        """``exp`` for a credential with these claims: the end (UTC) of the day its
        ``expires_from`` date names; none for "lifetime" or a type without one."""
        if self.expires_from is None:
            return None
        node: Any = claims
        for step in self.expires_from:
            node = node.get(step) if isinstance(node, dict) else None
        if not isinstance(node, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", node):
            return None
        day = date.fromisoformat(node)
        return int(datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=timezone.utc).timestamp())

    @property
    def columns(self) -> list[str]:
        return [c.column for c in self.claims if c.column]

    @property
    def sd_array_sizes(self) -> dict[tuple[str | int, ...], int]:  # claim paths, as issue() takes them
        """The fixed length of each object's ``_sd`` array: the top level gets the type's
        ``sd_array_size``, nested objects the number of disclosable claims defined in them."""
        sizes: dict[tuple[str | int, ...], int] = {(): self.sd_array_size}
        for claim in self.claims:
            if claim.sd == "always" and len(claim.path) > 1:
                sizes[claim.path[:-1]] = sizes.get(claim.path[:-1], 0) + 1
        return sizes

    def disclosable_paths(self, claims: dict[str, Any]) -> list[tuple[str, ...]]:
        """The ``sd: always`` paths that are present in ``claims``."""
        return [c.path for c in self.claims if c.sd == "always" and _present(claims, c.path)]

    def label(self, path: tuple[str | int, ...]) -> str:
        for claim in self.claims:
            if claim.path == tuple(path):
                return claim.label
        return " / ".join(str(p) for p in path)

    def claims_from_row(self, row: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Claims built from one roster row, and every problem found in it."""
        problems: list[str] = []
        claims: dict[str, Any] = {}
        known = set(self.columns) | EXTRA_COLUMNS
        unknown = sorted(k for k in row if k not in known)
        if unknown:
            problems.append(f"unknown column(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for spec in self.claims:
            if spec.column is None:
                continue
            raw = row.get(spec.column)
            try:
                if spec.kind == "list" and isinstance(raw, list):
                    value = _list_of_texts(raw)
                else:
                    text = cell_text(raw)
                    if not text:
                        if spec.required:
                            problems.append(f"{spec.column}: required")
                        continue
                    value = _convert(spec, text)
            except ValueError as exc:
                problems.append(f"{spec.column}: {exc}")
                continue
            values[spec.column] = value
            node = claims
            for step in spec.path[:-1]:
                node = node.setdefault(step, {})
            node[spec.path[-1]] = value
        for earlier, later in self.date_order:
            first, second = values.get(earlier.column or ""), values.get(later.column or "")
            if isinstance(first, str) and isinstance(second, str) and "lifetime" not in (first, second) and first > second:
                problems.append(f"{earlier.column}: {first} is after {later.column} ({second})")
        return claims, problems


# Columns a roster may carry besides the claims: delivery and holder binding.
EXTRA_COLUMNS = frozenset({"email", "holder_jwk", "credential_id"})


def cell_text(raw: Any) -> str:
    """A scalar roster value as text: JSON numbers and true/false as their JSON text, never a
    Python repr. A JSON object or array is refused (ValueError)."""
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw.strip()
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, (int, float)):
        return json.dumps(raw)
    raise ValueError(f"a JSON {'array' if isinstance(raw, list) else 'object'} is not a value here")


def _list_of_texts(items: list[Any]) -> list[str]:
    """A ``list`` value given as a JSON array: non-empty texts, bounded like one cell."""
    if not all(isinstance(item, str) for item in items):
        raise ValueError("a list here holds texts only")
    texts = [item.strip() for item in items if item.strip()]
    if not texts:
        raise ValueError("empty list")
    if sum(len(t) for t in texts) > MAX_VALUE_LENGTH:
        raise ValueError(f"longer than {MAX_VALUE_LENGTH} characters")
    return texts


def _present(claims: dict[str, Any], path: tuple[str, ...]) -> bool:
    node: Any = claims
    for step in path:
        if type(node) is not dict or step not in node:
            return False
        node = node[step]
    return True


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _convert(spec: ClaimSpec, text: str) -> Any:
    if len(text) > MAX_VALUE_LENGTH:
        raise ValueError(f"longer than {MAX_VALUE_LENGTH} characters")
    kind = spec.kind
    if kind == "string":
        return text
    if kind in ("date", "date_or_lifetime"):
        if kind == "date_or_lifetime" and text.lower() == "lifetime":
            return "lifetime"
        problem = f"{text!r} is not a date (YYYY-MM-DD)"
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError(problem)
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise ValueError(problem) from None
    if kind == "integer":
        if not re.fullmatch(r"-?\d{1,9}", text):
            raise ValueError(f"{text!r} is not a whole number")
        return int(text)
    if kind == "boolean":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"{text!r} is not yes or no")
    if kind == "enum":
        if text not in spec.values:
            raise ValueError(f"{text!r} is not one of {', '.join(spec.values)}")
        return text
    if kind == "list":
        items = [item.strip() for item in text.split(";") if item.strip()]
        if not items:
            raise ValueError("empty list")
        return items
    if kind == "country":
        if not re.fullmatch(r"[A-Z]{2}", text):
            raise ValueError(f"{text!r} is not an ISO 3166-1 alpha-2 country code")
        return text
    if kind == "npi":
        if not re.fullmatch(r"\d{10}", text) or not _luhn_ok("80840" + text):
            raise ValueError(f"{text!r} is not a valid NPI (10 digits, check digit)")
        return text
    if kind == "dea":
        if not re.fullmatch(r"[A-Z]{2}\d{7}", text) or not _dea_ok(text):
            raise ValueError(f"{text!r} is not a valid DEA number (2 letters, 7 digits, check digit)")
        return text
    raise ValueError(f"unknown value type {kind!r}")


def _dea_ok(number: str) -> bool:
    d = [int(c) for c in number[2:]]
    return (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 == d[6]


def _parse(slug: str, doc: Any) -> CredentialType:
    if not isinstance(doc, dict) or not isinstance(doc.get("vct"), str) or not isinstance(doc.get("claims"), list):
        raise CredentialTypeError(f"{slug}: type metadata needs vct and claims")
    claims = []
    for entry in doc["claims"]:
        ext = entry.get("x-credshare") or {}
        path = tuple(entry.get("path") or ())
        if not path or not all(isinstance(p, str) for p in path):
            raise CredentialTypeError(f"{slug}: claim paths are lists of names")
        if entry.get("sd", "allowed") not in ("always", "allowed", "never"):
            raise CredentialTypeError(f"{slug}: sd is always, allowed or never")
        label = (entry.get("display") or [{}])[0].get("label") or ".".join(path)
        claims.append(ClaimSpec(path, label, entry.get("sd", "allowed"), ext.get("column"), ext.get("type", "string"),
                                bool(ext.get("required")), tuple(ext.get("values", ()))))
    ext = doc.get("x-credshare") or {}
    expires_from = ext.get("expires_from")
    if expires_from is not None and not any(c.path == (expires_from,) and c.kind.startswith("date") for c in claims):
        raise CredentialTypeError(f"{slug}: expires_from names no date claim")
    dates = {c.column: c for c in claims if c.column and c.kind.startswith("date")}
    order = []
    for pair in ext.get("date_order", []):
        if not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(p, str) and p in dates for p in pair):
            raise CredentialTypeError(f"{slug}: date_order holds [earlier, later] pairs of date columns")
        order.append((dates[pair[0]], dates[pair[1]]))
    return CredentialType(slug, doc["vct"], doc.get("name", slug), tuple(claims), int(ext.get("sd_array_size", 0)), doc,
                          (expires_from,) if expires_from else None, tuple(order))


def type_for_vct(types: Mapping[str, CredentialType], vct: Any) -> CredentialType | None:
    """The known type whose ``vct`` a credential names, if any."""
    return next((t for t in types.values() if t.vct == vct), None)


def load_types(directory: Path = TYPES_DIR) -> dict[str, CredentialType]:
    """Every ``*.json`` type in ``directory``, by slug (the file name)."""
    types = {}
    for path in sorted(directory.glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise CredentialTypeError(f"{path.name} is not JSON") from exc
        types[path.stem] = _parse(path.stem, doc)
    return types


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


def readable_path(path: tuple[str | int, ...]) -> str:
    """A claim path of a type this server has no definition for, in words: ``given_name`` is
    "Given name", ``("address", "street_address")`` is "Address / Street address", a list index
    is "item 1" (counting from one)."""
    def word(part: str | int) -> str:
        if isinstance(part, int):
            return f"item {part + 1}"
        spaced = " ".join(str(part).replace("_", " ").replace("-", " ").split())
        return spaced[:1].upper() + spaced[1:] if spaced else str(part)
    return " / ".join(word(p) for p in path)


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
            label = ctype.label(path) if ctype else readable_path(path)
            rows.append(FieldRow(path, label, _text(value), bool(disclosable and path in disclosable)))

    walk(claims, ())
    if ctype is not None:
        order: dict[tuple[str | int, ...], int] = {claim.path: i for i, claim in enumerate(ctype.claims)}
        rows.sort(key=lambda r: order.get(tuple(r.path), len(order)))
    return rows
