"""The document, filter and update subset every storage backend must handle identically.

The product speaks a small, explicit subset of the MongoDB query language so that the
same code behaves the same on MongoDB, on the embedded store and on mongomock. Anything
outside the subset is refused with :class:`InvalidQueryError` before it reaches a backend.

Values: ``None``, ``bool``, ``int`` (signed 64-bit), ``float``, ``str``, timezone-aware
``datetime`` (stored in UTC, millisecond precision as in BSON), and lists and dicts of
these. Binary data is stored by callers as base64 text.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

from credshare.foundation.errors import InvalidQueryError

FILTER_OPERATORS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists"})
LOGICAL_OPERATORS = frozenset({"$and", "$or"})
UPDATE_OPERATORS = frozenset({"$set", "$unset", "$inc", "$push", "$pull", "$setOnInsert"})
# $push and $pull take one scalar value (no documents, arrays or operators such as $each).

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _check_key(key: object, where: str) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidQueryError(f"{where}: field names must be non-empty strings")
    if key.startswith("$"):
        raise InvalidQueryError(f"{where}: field name {key!r} must not start with '$'")
    if "\x00" in key:
        raise InvalidQueryError(f"{where}: field name contains NUL")
    return key


def to_store(value: Any, where: str = "document") -> Any:
    """Validate a value for storage and return its canonical stored form."""
    if value is None or isinstance(value, (bool, str, float)):
        return value
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise InvalidQueryError(f"{where}: integer outside the signed 64-bit range")
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidQueryError(f"{where}: naive datetime; use a timezone-aware UTC datetime")
        value = value.astimezone(timezone.utc)
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    if isinstance(value, (list, tuple)):
        return [to_store(item, where) for item in value]
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if "." in _check_key(key, where):
                raise InvalidQueryError(f"{where}: field name {key!r} must not contain '.'")
            out[key] = to_store(item, where)
        return out
    raise InvalidQueryError(f"{where}: unsupported value type {type(value).__name__}")


def from_store(value: Any) -> Any:
    """Give every backend's output one shape: plain dicts and lists, UTC datetimes."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
    if isinstance(value, list):
        return [from_store(item) for item in value]
    if isinstance(value, Mapping):
        return {key: from_store(item) for key, item in value.items()}
    return value


def document(doc: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(doc, Mapping):
        raise InvalidQueryError("document must be a JSON object")
    return to_store(doc, "document")


def query_filter(flt: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate a filter: field conditions (dotted paths allowed), $and/$or of filters."""
    if flt is None:
        return {}
    if not isinstance(flt, Mapping):
        raise InvalidQueryError("filter must be an object")
    out: dict[str, Any] = {}
    for key, cond in flt.items():
        if key in LOGICAL_OPERATORS:
            if not isinstance(cond, (list, tuple)) or not cond:
                raise InvalidQueryError(f"filter: {key} takes a non-empty list of filters")
            out[key] = [query_filter(sub) for sub in cond]
        elif isinstance(key, str) and key.startswith("$"):
            raise InvalidQueryError(f"filter: unsupported operator {key}")
        else:
            _check_key(key, "filter")
            out[key] = _condition(cond)
    return out


def _condition(cond: Any) -> Any:
    if isinstance(cond, Mapping) and any(isinstance(k, str) and k.startswith("$") for k in cond):
        out: dict[str, Any] = {}
        for op, operand in cond.items():
            if op not in FILTER_OPERATORS:
                raise InvalidQueryError(f"filter: unsupported operator {op}")
            if op in ("$in", "$nin"):
                if not isinstance(operand, (list, tuple)):
                    raise InvalidQueryError(f"filter: {op} takes a list")
            elif op == "$exists" and not isinstance(operand, bool):
                raise InvalidQueryError("filter: $exists takes true or false")
            out[op] = to_store(operand, "filter")
        return out
    return to_store(cond, "filter")


def update_spec(update: Mapping[str, Any]) -> dict[str, Any]:
    """Validate an update document: only the operators in UPDATE_OPERATORS, never a replacement.

    Field paths may be dotted (``"a.b"``) to reach into embedded documents.
    """
    if not isinstance(update, Mapping) or not update:
        raise InvalidQueryError("update must be a non-empty object of update operators")
    out: dict[str, Any] = {}
    for op, fields in update.items():
        if op not in UPDATE_OPERATORS:
            raise InvalidQueryError(f"update: unsupported operator {op!r}")
        if not isinstance(fields, Mapping) or not fields:
            raise InvalidQueryError(f"update: {op} takes a non-empty object")
        converted: dict[str, Any] = {}
        for path, value in fields.items():
            _check_key(path, "update")
            if path == "_id" and op != "$setOnInsert":
                raise InvalidQueryError("update: _id cannot change")
            if op == "$inc" and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise InvalidQueryError(f"update: $inc of {path!r} needs a number")
            if op in ("$push", "$pull") and isinstance(value, (Mapping, list, tuple)):
                # neosqlite 1.17 stores pushed documents as JSON strings: keep arrays to scalars
                # everywhere (model lists of documents as their own collection or a keyed object)
                raise InvalidQueryError(f"update: {op} takes a single scalar value")
            if op == "$unset":
                converted[path] = ""
            elif op == "$pull":
                converted[path] = to_store(value, "update")
            else:
                converted[path] = to_store(value, "update")
        out[op] = converted
    return out


def sort_spec(sort: list[tuple[str, int]] | None) -> list[tuple[str, int]] | None:
    if not sort:
        return None
    out = []
    for item in sort:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and item[1] in (1, -1)):
            raise InvalidQueryError("sort must be a list of (field, 1 | -1) pairs")
        out.append((_check_key(item[0], "sort"), int(item[1])))
    return out


def projection_spec(fields: list[str] | None) -> dict[str, int] | None:
    """Inclusion projection: the listed fields plus ``_id``."""
    if fields is None:
        return None
    return {_check_key(name, "projection"): 1 for name in fields}
