"""Strict, bounded JSON for everything read from outside (RFC 8259).

RFC 8259 §9 lets a parser limit the nesting depth of the texts it accepts; credshare does,
because CPython's JSON decoder recurses once per level: a body nested 100,000 levels deep
either raises ``RecursionError`` or, when some library has raised the interpreter's recursion
limit, overflows the C stack and kills the process. The depth is measured before parsing, by
a linear scan that skips string literals, so no input reaches the decoder deeper than
:data:`MAX_DEPTH` levels whatever the recursion limit is.

Beyond depth, the parser is strict as RFC 7519 §4 / RFC 8259 §4 ask of JSON that is signed or
compared: member names are unique, and ``NaN``/``Infinity`` are not JSON. Errors are
:class:`JsonInputError` with one of the codes ``json_invalid``, ``json_too_deep`` and
``json_duplicate_member``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from credshare.foundation.errors import InputError

MAX_DEPTH = 64  # deeper than any credential, bundle, roster or API body credshare defines

# a JSON string literal, escapes included (the unrolled form: linear, no backtracking)
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")


class JsonInputError(InputError):
    """A JSON text from outside is malformed, repeats a member name or nests too deep."""

    code = "json_invalid"


def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text``, brackets inside strings not
    counted. For malformed text this is at least the depth a parser reaches before failing,
    so it is safe to check first: a parser stops at an unterminated string, and so does
    the count (which also makes it right for a text cut short, as a stream reader has it)."""
    outside = _STRING.sub("", text)
    unterminated = outside.find('"')
    brackets = _NOT_A_BRACKET.sub("", outside if unterminated < 0 else outside[:unterminated])
    depth = deepest = 0
    for bracket in brackets:
        if bracket in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        else:
            depth -= 1
    return deepest


def check_depth(text: str, max_depth: int = MAX_DEPTH) -> None:
    """Refuse ``text`` when it nests deeper than ``max_depth`` (code ``json_too_deep``)."""
    if text.count("[") + text.count("{") <= max_depth:
        return  # too few openings to nest that deep: no scan needed (the common, small case)
    if nesting_depth(text) > max_depth:
        raise JsonInputError(f"the JSON nests deeper than {max_depth} levels", code="json_too_deep")


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise JsonInputError("a JSON object repeats a member name", code="json_duplicate_member")
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_members, parse_constant=_no_constants)


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse one UTF-8 JSON text (surrounding whitespace allowed), depth-checked first."""
    try:
        text = (data.decode("utf-8") if isinstance(data, bytes) else data).strip(" \t\n\r")
    except UnicodeDecodeError:
        raise JsonInputError("the JSON is not UTF-8") from None
    check_depth(text, max_depth)
    try:
        value, end = _DECODER.raw_decode(text)
    except (ValueError, RecursionError) as exc:
        raise JsonInputError(f"not valid JSON ({getattr(exc, 'msg', 'malformed')})") from None
    if end != len(text):
        raise JsonInputError("not valid JSON (data after the value)")
    return value


def loads_or_refuse(data: bytes | str, code: str, detail: str) -> Any:
    """:func:`loads`, for an input with a code of its own: a text that is not JSON (or not
    UTF-8) is refused as ``InputError(detail, code)``; one that nests too deep keeps
    ``json_too_deep``, which tells the sender what to change."""
    try:
        return loads(data)
    except JsonInputError as exc:
        if exc.code == "json_too_deep":
            raise
        raise InputError(detail, code=code) from None
