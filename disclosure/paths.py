"""Claim paths: where a claim sits in a JSON payload.

A path is a tuple of object member names (``str``) and array indices (``int``), as in the
claim paths of SD-JWT VC type metadata; in a pattern, ``None`` stands for every element of
an array. Text form, for command lines and forms: a JSON array (``["address", "street"]``,
``["nationalities", null]``) or a dotted path (``address.street``, ``nationalities.*``,
``nationalities.0``).
"""

from __future__ import annotations

import json

from credshare.disclosure.encoding import json_loads
from credshare.disclosure.errors import SDJWTError

ClaimPath = tuple[str | int, ...]
PathPattern = tuple[str | int | None, ...]


def parse_claim_path(text: str) -> PathPattern:
    text = text.strip()
    if text.startswith("["):
        items = json_loads(text, "selection_unknown_path")
        if not isinstance(items, list) or not all(
            i is None or isinstance(i, str) or (isinstance(i, int) and not isinstance(i, bool) and i >= 0)
            for i in items
        ):
            raise SDJWTError("path elements are strings, indices or null", code="selection_unknown_path")
        path: list[str | int | None] = items
    else:
        path = [None if part == "*" else int(part) if part.isdigit() else part for part in text.split(".")]
    if not path or any(p == "" for p in path):
        raise SDJWTError(f"empty path element in {text!r}", code="selection_unknown_path")
    return tuple(path)


def format_claim_path(path: ClaimPath) -> str:
    return json.dumps(list(path), ensure_ascii=False)
