"""Streaming roster readers: CSV (RFC 4180, header row) and JSON (an array of objects, or
JSON Lines), yielding ``(line number, row)`` without loading the file whole."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Iterator, TextIO

from credshare.foundation.errors import CredshareError
from credshare.foundation.strict_json import nesting_depth

_READ_SIZE = 1 << 16
MAX_ROW_DEPTH = 8  # a row is an object of columns; a column value may be a small list or object
MAX_ROW_CHARS = 1 << 20


class RosterError(CredshareError):
    code = "roster_invalid"
    http_status = 400
    stage = "input"


def read_roster(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json", ".jsonl", ".ndjson"):
        raise RosterError(f"{path.name}: a roster is .csv, .json or .jsonl")
    with open(path, encoding="utf-8-sig", newline="") as fh:
        if suffix == ".csv":
            yield from _csv_rows(fh)
        else:
            yield from json_rows(fh)


def _csv_rows(fh: TextIO) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(fh, strict=True)
    if not reader.fieldnames:
        raise RosterError("the CSV roster has no header row")
    duplicates = {name for name in reader.fieldnames if reader.fieldnames.count(name) > 1}
    if duplicates:
        raise RosterError(f"repeated CSV column(s): {', '.join(sorted(duplicates))}")
    try:
        for row in reader:
            if None in row:
                yield reader.line_num, {"__error__": "more fields than the header has"}
                continue
            if all(not (v or "").strip() for v in row.values()):
                continue  # blank line
            yield reader.line_num, {k: v for k, v in row.items()}
    except csv.Error as exc:
        raise RosterError(f"line {reader.line_num}: {exc}") from exc


def json_rows(fh: TextIO) -> Iterator[tuple[int, dict[str, Any]]]:
    """Objects from a JSON array or from JSON Lines, one at a time, with their line numbers.

    Whatever is read is depth-checked before the decoder sees it (the decoder recurses once
    per level), and a row may not exceed :data:`MAX_ROW_CHARS`."""
    decoder = json.JSONDecoder()
    buffer, line, pos, started, eof, unchecked = "", 1, 0, False, False, False

    def read_more() -> None:
        nonlocal buffer, pos, eof, unchecked
        chunk = fh.read(_READ_SIZE)
        eof = not chunk
        buffer = buffer[pos:] + chunk
        pos, unchecked = 0, True

    while True:
        if not eof and len(buffer) - pos < _READ_SIZE:
            read_more()
        if unchecked:  # the rows not yet decoded, and the outer array's bracket if still ahead
            if nesting_depth(buffer[pos:]) > MAX_ROW_DEPTH + 1:
                raise RosterError(f"line {line} or a later one: a row nests deeper than {MAX_ROW_DEPTH} levels",
                                  code="json_too_deep")
            unchecked = False
        # skip whitespace, commas and the array brackets, counting lines
        while pos < len(buffer) and buffer[pos] in " \t\r\n,[]":
            if buffer[pos] == "[":
                if started:
                    raise RosterError(f"line {line}: nested arrays are not rows")
                started = True
            if buffer[pos] == "\n":
                line += 1
            pos += 1
        if pos >= len(buffer):
            if eof:
                return
            continue
        try:
            value, end = decoder.raw_decode(buffer, pos)
        except json.JSONDecodeError as exc:
            if len(buffer) - pos > MAX_ROW_CHARS:
                raise RosterError(f"line {line}: a row is longer than {MAX_ROW_CHARS} characters") from None
            if not eof:
                read_more()
                continue
            raise RosterError(f"line {line}: not valid JSON ({exc.msg})") from exc
        if not isinstance(value, dict):
            raise RosterError(f"line {line}: each row is a JSON object")
        yield line, value
        line += buffer.count("\n", pos, end)
        pos = end
