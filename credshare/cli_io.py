"""Input and failure handling shared by the ``credshare`` commands.

A failing command prints ``{"error": code, "detail": ...}`` on stdout and exits 1, so
scripts read one JSON document whatever happened.
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click

from credshare.foundation import strict_json
from credshare.foundation.errors import CredshareError


def fail(exc: CredshareError) -> NoReturn:
    click.echo(json.dumps(exc.to_dict()))
    sys.exit(1)


def read_bytes(path: str, max_bytes: int | None = None) -> bytes:
    """A file's bytes; ``-`` reads standard input. A file that cannot be read is a
    ``file_unreadable`` error (never a traceback), one longer than ``max_bytes`` (when given) a
    ``file_too_large`` error, refused before more than ``max_bytes + 1`` bytes are read."""
    try:
        with click.open_file(path, "rb") as fh:
            data: bytes = fh.read() if max_bytes is None else fh.read(max_bytes + 1)
    except OSError as exc:
        raise CredshareError(f"cannot read {path}: {exc.strerror}", code="file_unreadable") from None
    if max_bytes is not None and len(data) > max_bytes:
        raise CredshareError(f"{path} is larger than {max_bytes // 1024} KiB", code="file_too_large")
    return data


def read_text(path: str) -> str:
    """A UTF-8 file's text, as :func:`read_bytes` reads it."""
    try:
        return read_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        raise CredshareError(f"{path} is not UTF-8 text", code="file_unreadable") from None


def read_json(path: str, what: str, code: str, max_bytes: int | None = None) -> Any:
    return strict_json.loads_or_refuse(read_bytes(path, max_bytes), code, f"{what} is not UTF-8 JSON")


def read_json_list(path: str, member: str, what: str, code: str) -> list[Any]:
    """A non-empty JSON list, given bare or as ``{member: [...]}``."""
    doc = read_json(path, what, code)
    items = doc.get(member) if isinstance(doc, dict) else doc
    if not isinstance(items, list) or not items:
        raise CredshareError(f'{what} holds a list, or {{"{member}": [...]}}', code=code)
    return items


def rpc_chain_check(rpc_urls: tuple[str, ...] | list[str]) -> Any:
    """A chain check over the given Ethereum JSON-RPC endpoints, or None without any (web3 is
    imported only then: it is slow to import)."""
    if not rpc_urls:
        return None
    from credshare.anchoring.ethereum import chain_checker

    return chain_checker(list(rpc_urls))


def blockcerts_lookup(endpoints: tuple[str, ...] | list[str]) -> Any:
    """The Blockcerts anchor lookup over the given ``CHAIN=URL`` endpoints (chain in the
    Blockcerts vocabulary: ``bitcoinMainnet``, ``ethereumMainnet``, ...; more than one per chain
    must agree), or None without any: the anchor is then listed unchecked."""
    if not endpoints:
        return None
    by_chain: dict[str, list[str]] = {}
    for item in endpoints:
        chain, sep, url = item.partition("=")
        if not sep or not chain.strip() or not url.strip():
            raise CredshareError(f"--blockcerts-endpoint {item!r} is not CHAIN=URL", code="endpoint_invalid")
        by_chain.setdefault(chain.strip(), []).append(url.strip())
    from credshare.federation.blockcerts_sources import anchor_lookup

    return anchor_lookup(by_chain)
