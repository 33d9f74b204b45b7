"""What pages show and read: dates, and claim paths in form fields (the labelled field rows
are :func:`credshare.issuing.types.field_rows`)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from credshare.foundation import strict_json

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


def exact(ts: int | float | None) -> str:
    """A moment to the second, as people read it (UTC)."""
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(ts: int | float | None) -> str:
    """A moment as a ``<time datetime>`` value (RFC 3339, UTC); empty when there is none."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(int(ts), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def sentence(text: str) -> str:
    """A message part as a sentence: a capital first letter and a closing full stop."""
    text = (text or "").strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."
