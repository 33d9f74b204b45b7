"""``credshare trust``: keep a trust list (verifier/trust_list.py), the file a wallet host or a
verifier names in ``CREDSHARE_TRUST_LIST`` and ``credshare verify --trust`` reads.

    credshare trust init FILE
    credshare trust add-log FILE POLICY [--mirror URL ...]
    credshare trust add-issuer FILE --id ISS --name NAME --type VCT [--type ...]
                                    [--accreditation LABEL] (--log ORIGIN | --metadata URL | --x5c-root PEM)
    credshare trust add-issuer FILE --id PROFILE_URL --name NAME --blockcerts [--address ADDR ...]
    credshare trust remove-issuer FILE ISS
    credshare trust show FILE

``POLICY`` is a log's C2SP tlog-policy (a file, or the ``GET /log/trust`` answer saved from the
log's server after checking its key out of band). Each edit keeps the file's comments and
layout (tomlkit), is checked whole before it is written, and replaces the file atomically; a
running server reads it again on its next verification. A failure prints
``{"error": code, "detail": ...}`` and exits 1, leaving the file as it was.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import click
import tomlkit

from credshare.cli_io import fail, read_bytes
from credshare.foundation.errors import CredshareError
from credshare.verifier.trust_list import TRUST_LIST_FORMAT, TrustedLog, TrustList, TrustListError

_HEADER = f"""\
# credshare trust list: the transparency logs and the issuers this server or verifier trusts.
# Edit with `credshare trust ...` or by hand; `credshare trust show FILE` checks it.
format = "{TRUST_LIST_FORMAT}"
"""

_FILE = click.argument("path", type=click.Path(dir_okay=False, path_type=Path))


def _load(path: Path) -> tomlkit.TOMLDocument:
    text = read_bytes(str(path)).decode("utf-8", "replace")
    TrustList.from_text(text)  # it must read before it is edited
    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.TOMLKitError as exc:
        raise TrustListError(f"{path}: not TOML: {exc}") from None


def _write(path: Path, doc: tomlkit.TOMLDocument) -> TrustList:
    """Check the edited list whole, then replace the file with it atomically."""
    text = tomlkit.dumps(doc)
    listed = TrustList.from_text(text)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        os.unlink(tmp)
        raise CredshareError(f"cannot write {path}: {exc.strerror}", code="file_unwritable") from None
    return listed


def _summary(listed: TrustList) -> dict[str, Any]:
    return {"logs": [{"keys": list(log.log_keys), "quorum": log.policy.describe_quorum() if log.policy else None,
                      "mirrors": list(log.mirrors)} for log in listed.logs],
            "issuers": [issuer.to_json() for issuer in listed.issuers.values()],
            "warnings": listed.unlisted_logs()}


@click.group("trust")
def trust_group() -> None:
    """Keep the trust list: the logs and issuers you trust."""


@trust_group.command("init")
@_FILE
def init_command(path: Path) -> None:
    """Create an empty trust list."""
    try:
        if path.exists():
            raise CredshareError(f"{path} exists already", code="file_exists")
        _write(path, tomlkit.parse(_HEADER))
    except CredshareError as exc:
        fail(exc)
    click.echo(json.dumps({"created": str(path)}))


@trust_group.command("add-log")
@_FILE
@click.argument("policy", type=click.Path(exists=True, dir_okay=False))
@click.option("--mirror", "mirrors", multiple=True, help="A tlog-tiles mirror of the log (repeat).")
def add_log_command(path: Path, policy: str, mirrors: tuple[str, ...]) -> None:
    """Trust a log: its tlog-policy (log key, URL, witnesses, quorum)."""
    try:
        doc = _load(path)
        text = read_bytes(policy).decode("utf-8", "replace")
        new = TrustedLog.from_text(text)
        if any(o in TrustList.from_text(tomlkit.dumps(doc)).origins() for o in new.origins):
            raise TrustListError(f"the log {new.origins[0]} is listed already: remove it first", code="trust_entry_exists")
        table = tomlkit.table()
        table["policy"] = tomlkit.string(text if text.endswith("\n") else text + "\n", multiline=True)
        if mirrors:
            table["mirrors"] = list(mirrors)
        doc.setdefault("log", tomlkit.aot()).append(table)
        listed = _write(path, doc)
    except CredshareError as exc:
        fail(exc)
    click.echo(json.dumps(_summary(listed), indent=2))


@trust_group.command("add-issuer")
@_FILE
@click.option("--id", "issuer_id", required=True, help="The issuer's identifier: the iss of its credentials.")
@click.option("--name", required=True, help="Its name as your staff know it.")
@click.option("--accreditation", default="", help='Who accredits it, e.g. "LCME-accredited school", "state medical board".')
@click.option("--type", "types", multiple=True, help="A credential type (vct) it may issue (repeat).")
@click.option("--log", "log_origin", default=None, help="Origin of the listed log that holds its key history.")
@click.option("--metadata", default=None, help="URL of its JWT VC Issuer Metadata (keys not logged).")
@click.option("--x5c-root", "roots", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A PEM root certificate its x5c chains lead to (repeat).")
@click.option("--blockcerts", is_flag=True, help="A Blockcerts issuer: --id is its issuer profile URL.")
@click.option("--address", "addresses", multiple=True,
              help="With --blockcerts: an issuing address to pin (repeat); the one that anchored a record must be one.")
def add_issuer_command(path: Path, issuer_id: str, name: str, accreditation: str, types: tuple[str, ...],
                       log_origin: str | None, metadata: str | None, roots: tuple[str, ...], blockcerts: bool,
                       addresses: tuple[str, ...]) -> None:
    """Recognise an issuer, for the credential types it may issue (or a Blockcerts issuer)."""
    try:
        if sum(bool(x) for x in (log_origin, metadata, roots, blockcerts)) > 1:
            raise TrustListError("give one of --log, --metadata, --x5c-root, --blockcerts: where the issuer's keys are "
                                 "proven", code="request_invalid")
        if blockcerts == bool(types) or (addresses and not blockcerts):
            raise TrustListError("an SD-JWT VC issuer needs --type (repeat); a --blockcerts issuer takes none, and "
                                 "--address is for --blockcerts only", code="request_invalid")
        doc = _load(path)
        if TrustList.from_text(tomlkit.dumps(doc)).issuer(issuer_id) is not None:
            raise TrustListError(f"{issuer_id} is listed already: remove it first", code="trust_entry_exists")
        table = tomlkit.table()
        table["id"], table["name"] = issuer_id, name
        if accreditation:
            table["accreditation"] = accreditation
        if blockcerts:
            table["keys"] = "blockcerts"
            if addresses:
                table["addresses"] = list(addresses)
        else:
            table["types"] = list(types)
        if log_origin:
            table["log"] = log_origin
        if metadata:
            table["metadata"] = metadata
        if roots:
            table["x5c_roots"] = [tomlkit.string(read_bytes(r).decode("ascii", "replace"), multiline=True)
                                  for r in roots]
        doc.setdefault("issuer", tomlkit.aot()).append(table)
        listed = _write(path, doc)
    except CredshareError as exc:
        fail(exc)
    click.echo(json.dumps(_summary(listed), indent=2))


@trust_group.command("remove-issuer")
@_FILE
@click.argument("issuer_id")
def remove_issuer_command(path: Path, issuer_id: str) -> None:
    """Stop recognising an issuer."""
    try:
        doc = _load(path)
        entries = doc.get("issuer", [])
        kept = [t for t in entries if t.get("id") != issuer_id]
        if len(kept) == len(entries):
            raise TrustListError(f"{issuer_id} is not on the trust list", code="trust_entry_unknown")
        del doc["issuer"]
        if kept:
            table = tomlkit.aot()
            for t in kept:
                table.append(t)
            doc["issuer"] = table
        listed = _write(path, doc)
    except CredshareError as exc:
        fail(exc)
    click.echo(json.dumps(_summary(listed), indent=2))


@trust_group.command("show")
@_FILE
def show_command(path: Path) -> None:
    """Check the trust list and print what it trusts."""
    try:
        listed = TrustList.from_text(read_bytes(str(path)))
    except CredshareError as exc:
        fail(exc)
    click.echo(json.dumps(_summary(listed), indent=2))
