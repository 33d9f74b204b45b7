"""Input and failure handling shared by the ``credshare`` commands.

A failing command prints ``{"error": code, "detail": ...}`` on stdout and exits 1, so
scripts read one JSON document whatever happened.
"""

from __future__ import annotations

import json
import os
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



def blockcerts_sources(endpoints: tuple[str, ...] | list[str]) -> Any:
    """Blockcerts' gathering over HTTP (federation/blockcerts_sources.py), with the anchor
    lookups on the given ``CHAIN=URL`` endpoints (repeated per chain: all of them must agree;
    checked as ``CREDSHARE_BLOCKCERTS_ENDPOINTS`` is: a known chain, never a test chain)."""
    from credshare.federation.blockcerts_sources import BlockcertsSources
    from credshare.foundation.config import parse_blockcerts_endpoints, parse_fetch_allow_hosts

    by_chain: dict[str, list[str]] = {}
    for item in endpoints:
        chain, sep, url = (part.strip() for part in item.partition("="))
        if not sep or not chain or not url or "," in url or ";" in url:
            raise CredshareError(f"--blockcerts-endpoint takes CHAIN=URL, one URL each (got {item[:40]!r}...)",
                                 code="endpoint_invalid")
        by_chain.setdefault(chain, []).append(url)
    text = ";".join(f"{chain}={','.join(urls)}" for chain, urls in by_chain.items())
    try:
        parsed = parse_blockcerts_endpoints(text, "--blockcerts-endpoint")
    except CredshareError as exc:
        raise CredshareError(exc.detail, code="endpoint_invalid") from None
    return BlockcertsSources(parsed, allowed_hosts=parse_fetch_allow_hosts(os.environ.get("CREDSHARE_FETCH_ALLOW_HOSTS", "")))
