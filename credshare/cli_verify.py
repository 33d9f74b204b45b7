"""``credshare verify BUNDLE``: check an offline verification bundle (verifier/bundle.py)
with no server and no network, and print the same report the verifier page shows.

Exit status: 0 when the outcome is ``verified``, 1 otherwise (including a malformed bundle).
The log keys to trust come from ``--log-key`` (the text ``GET /log/key`` serves, or a file
holding it) and/or the ``CREDSHARE_TRUSTED_LOG_KEYS`` environment variable (one per line).
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import click

from credshare.cli_io import fail, read_json
from credshare.errors import CredshareError
from verifier.bundle import verify_bundle

_MARKS = {"passed": "PASS", "failed": "FAIL", "unchecked": "----"}


def _key_text(value: str) -> str:
    path = Path(value)
    return path.read_text(encoding="utf-8").strip() if path.is_file() else value.strip()


@click.command("verify")
@click.argument("bundle", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--log-key", "log_keys", multiple=True, help="A trusted log verifier key, or a file holding one.")
@click.option("--at", "at", type=int, default=None, help="Verify as of this Unix time (default: now).")
def verify_command(bundle: str, log_keys: tuple[str, ...], at: int | None) -> None:
    """Verify an offline bundle; print the report as JSON (a summary goes to stderr)."""
    trusted = [_key_text(k) for k in log_keys]
    trusted += [line.strip() for line in os.environ.get("CREDSHARE_TRUSTED_LOG_KEYS", "").splitlines() if line.strip()]
    try:
        report = verify_bundle(read_json(bundle, "the bundle", "bundle_malformed"), trusted_log_keys=trusted,
                               now=int(time.time()) if at is None else at)
    except CredshareError as exc:
        fail(exc)
    body = report.to_json()
    click.echo(json.dumps(body, indent=2))
    issued_by = report.issuer_name or report.issuer or "an unknown issuer"
    click.echo(f"{body['outcome'].upper().replace('_', ' ')}: {report.vct or 'credential'} from {issued_by}", err=True)
    for check in report.checks:
        click.echo(f"  [{_MARKS[check.status]}] {check.label}: {check.detail}", err=True)
    if report.anchored_at:
        click.echo(f"  anchored {datetime.fromtimestamp(report.anchored_at, timezone.utc):%Y-%m-%d %H:%M} UTC", err=True)
    sys.exit(0 if report.outcome == "verified" else 1)
