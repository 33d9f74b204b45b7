"""``credshare issuer``, ``credshare issue`` and ``credshare revoke|suspend|reinstate``:
an issuer's IT team runs these on the server."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from credshare.cli_io import fail
from credshare.compose import AppServices, build_services
from credshare.foundation.errors import CredshareError, InputError
from credshare.issuing.batch import BatchRequest, DirectorySink, RosterRejected
from credshare.issuing.roster import read_roster


def _services() -> AppServices:
    """The services, after warning on standard error when this command's public URL (which
    new issuers and their status lists are named under) is not the running server's."""
    svc = build_services()
    served = svc.deployment.served_public_url()
    if served and served != svc.settings.public_url:
        click.echo(f"warning: this command uses the public URL {svc.settings.public_url}, but the server last started "
                   f"on this data serves {served}; set CREDSHARE_PUBLIC_URL={served} (issuer identifiers are kept "
                   "as they are made; `credshare issuer move` changes one explicitly)", err=True)
    return svc


def _unix_time(text: str | None) -> int | None:
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter("a Unix time or an ISO 8601 date/time") from None
    return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp())


@click.group("issuer")
def issuer_group() -> None:
    """Issuer accounts and their signing keys."""


@issuer_group.command("create")
@click.argument("issuer_id")
@click.option("--name", required=True, help="Display name, e.g. 'St. Mary School of Medicine'.")
@click.option("--alg", type=click.Choice(["EdDSA", "ES256"]), default="EdDSA", show_default=True)
def issuer_create(issuer_id: str, name: str, alg: str) -> None:
    """Create an issuer with its first key; prints its API token once."""
    try:
        doc, token = _services().issuers.create(issuer_id, name, alg)
    except CredshareError as exc:
        fail(exc)
    click.echo(json.dumps({**doc, "api_token": token}, indent=2))


@issuer_group.command("move")
@click.argument("issuer_id")
@click.option("--to", "public_url", required=True, help="The new public URL, e.g. https://credentials.example.org.")
def issuer_move(issuer_id: str, public_url: str) -> None:
    """Issue from now on under PUBLIC_URL/issuers/ISSUER_ID. Credentials issued under the
    earlier identifiers stay valid and revocable; the server keeps answering for them."""
    try:
        doc = _services().issuers.move(issuer_id, public_url)
    except CredshareError as exc:
        fail(exc)
    click.echo(json.dumps(doc, indent=2))


@issuer_group.command("list")
def issuer_list() -> None:
    click.echo(json.dumps(_services().issuers.all(), indent=2))


@issuer_group.command("keys")
@click.argument("issuer_id")
def issuer_keys(issuer_id: str) -> None:
    """The issuer's key history."""
    try:
        records = _services().issuers.records(issuer_id)
    except CredshareError as exc:
        fail(exc)
    click.echo(json.dumps([{**r.to_json(), "state": r.state} for r in records], indent=2))


@issuer_group.command("rotate-key")
@click.argument("issuer_id")
@click.option("--alg", type=click.Choice(["EdDSA", "ES256"]), default=None)
def issuer_rotate(issuer_id: str, alg: str | None) -> None:
    """Make a new active key and retire the current one."""
    try:
        kid = _services().issuers.rotate(issuer_id, alg)
    except CredshareError as exc:
        fail(exc)
    click.echo(json.dumps({"issuer": issuer_id, "active_kid": kid}))


# a kid is a base64url thumbprint (RFC 7638) and may start with "-": unknown options are arguments
@issuer_group.command("revoke-key", context_settings={"ignore_unknown_options": True})
@click.argument("issuer_id")
@click.argument("kid")
@click.option("--reason", required=True)
@click.option("--compromised-at", default=None, help="When the key was compromised (Unix time or ISO 8601).")
def issuer_revoke_key(issuer_id: str, kid: str, reason: str, compromised_at: str | None) -> None:
    """Revoke a key; with --compromised-at, what was anchored from then on is invalid."""
    try:
        _services().issuers.revoke(issuer_id, kid, reason, _unix_time(compromised_at))
    except CredshareError as exc:
        fail(exc)
    click.echo(json.dumps({"issuer": issuer_id, "revoked": kid}))


@issuer_group.command("new-token")
@click.argument("issuer_id")
def issuer_token(issuer_id: str) -> None:
    """Make another API token for the issuer (printed once, stored hashed)."""
    try:
        token = _services().issuers.new_token(issuer_id)
    except CredshareError as exc:
        fail(exc)
    click.echo(json.dumps({"issuer": issuer_id, "api_token": token}))


@click.command("issue")
@click.option("--issuer", "issuer_id", default=None)
@click.option("--type", "type_slug", default=None, help="Credential type, e.g. medical-degree.")
@click.argument("roster", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--idempotency-key", "key", default=None,
              help="Name the batch: run again with the same key and roster, it is delivered again, never issued twice.")
@click.option("--resume", "resume_id", default=None, metavar="BATCH",
              help="Complete the delivery of a logged batch (after a crash) into --out.")
def issue_command(issuer_id: str | None, type_slug: str | None, roster: Path | None, out: Path, key: str | None,
                  resume_id: str | None) -> None:
    """Issue one credential per roster row (CSV or JSON), anchored as one log batch; or, with
    --resume BATCH, complete the delivery of a batch already in the log."""
    if resume_id is not None and (roster or issuer_id or type_slug or key):
        raise click.UsageError("--resume BATCH takes only --out")
    if resume_id is None and not (roster and issuer_id and type_slug):
        raise click.UsageError("give --issuer, --type and a ROSTER (or --resume BATCH)")
    services = _services()
    try:
        out.mkdir(parents=True, exist_ok=True)
        if resume_id is not None:
            result = services.batches.resume(resume_id, DirectorySink(out))
        else:
            assert roster is not None and issuer_id is not None and type_slug is not None
            result = _issue(services, issuer_id, type_slug, roster, out, key)
    except RosterRejected as exc:
        click.echo(json.dumps(exc.to_dict(), indent=1))
        for row in exc.problems:
            click.echo(f"line {row[0]}: {'; '.join(row[1])}", err=True)
        sys.exit(1)
    except CredshareError as exc:
        fail(exc)
    click.echo(json.dumps(result.summary(), indent=2))
    done = "delivered again" if result.replayed else "issued"
    click.echo(f"{done} {result.count} credential(s) into {out} in {result.seconds:.1f} s; "
               f"log checkpoint {result.tree_size}", err=True)
    for batch in services.batches.pending():
        if batch["_id"] != result.batch_id:
            click.echo(f"batch {batch['_id']} ({batch['count']} {batch['type']}) is in the log but not fully delivered: "
                       f"credshare issue --resume {batch['_id']} --out DIR", err=True)


def _issue(services: AppServices, issuer_id: str, type_slug: str, roster: Path, out: Path, key: str | None) -> Any:
    ctype = services.types.get(type_slug)
    if ctype is None:
        raise InputError(f"unknown type {type_slug!r}; known: {', '.join(services.types)}",
                         code="credential_type_unknown")
    request = BatchRequest.of(key, ctype, (row for _, row in read_roster(roster))) if key is not None else None
    total = sum(1 for _ in read_roster(roster))  # for the progress bar, and to pick worker processes

    def started(batch_id: str) -> None:
        click.echo(f"batch {batch_id}: if this stops half-way, run credshare issue --resume {batch_id} --out {out}",
                   err=True)

    with click.progressbar(length=total, label=f"issuing {type_slug}", file=sys.stderr) as bar:
        return services.batches.issue(issuer_id, ctype, read_roster(roster), DirectorySink(out), progress=bar.update,
                                      expected_rows=total, request=request, on_batch=started)


def _status_command(status: str) -> click.Command:
    @click.command(status if status != "valid" else "reinstate")
    @click.option("--issuer", "issuer_id", required=True)
    @click.argument("credential_ids", nargs=-1, required=True)
    def command(issuer_id: str, credential_ids: tuple[str, ...]) -> None:
        services = _services()
        try:
            services.batches.change_status(issuer_id, credential_ids, status)
        except CredshareError as exc:
            fail(exc)
        click.echo(json.dumps({"credential_ids": list(credential_ids), "status": status}))

    command.help = {"revoked": "Revoke credentials (one status-list update for all of them).",
                    "suspended": "Suspend credentials.", "valid": "Reinstate suspended credentials."}[status]
    return command


revoke_command = _status_command("revoked")
revoke_command.name = "revoke"
suspend_command = _status_command("suspended")
suspend_command.name = "suspend"
reinstate_command = _status_command("valid")
