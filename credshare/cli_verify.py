"""``credshare verify BUNDLE``: check an offline verification bundle (verifier/bundle.py)
with no server and no network, and print the same report the verifier page shows.

Exit status: 0 when the outcome is ``verified``, 3 when it is ``verified_as_history`` (an
expired credential the holder shares as history, everything else verified), 1 otherwise
(including a malformed bundle).
Whom to trust comes from ``--trust FILE`` (repeatable): a trust list (verifier/trust_list.py,
the same file a server reads from ``CREDSHARE_TRUST_LIST``: the logs, with their witnesses and
quorum, and the issuers you recognise, with the credential types each may issue), or a bare
C2SP tlog-policy, as ``GET /log/trust`` serves it (one log, no issuers: the issuer is then not
checked and the outcome is at best ``incomplete``); a JSON trust file of earlier versions is
refused. More logs come from ``--log-key``
(a log key alone, as ``GET /log/key`` serves it, or a file holding it: then the witnesses
cannot be checked and the outcome is at best ``incomplete``), and from the
``CREDSHARE_TRUSTED_LOG_KEYS`` environment variable (log keys, one per line).
With ``--mirror URL`` (a mirror of the log: ``credshare log mirror``, or a credshare server's
``URL/log``), or ``--mirror DIR`` (a mirror kept on disk by ``credshare log mirror URL DIR``), the
credential is also checked against the mirror's current tree (``inclusion_mirror``,
verifier/mirror.py); over HTTP that is the one check that uses the network. ``--listed-mirrors``
takes the mirrors the trust list names for the bundle's log, first one that answers.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from credshare.cli_io import fail, read_bytes, read_json, rpc_chain_check
from credshare.foundation.clock import SYSTEM_CLOCK
from credshare.foundation.errors import CredshareError
from credshare.log_mirror import Fetch, mirror_fetch
from credshare.verifier.bundle import verify_bundle
from credshare.verifier.trust_list import TrustedLog, TrustList

_MARKS = {"passed": "PASS", "failed": "FAIL", "unchecked": "----", "history": "HIST"}
# exit status per outcome: 0 only for a current, fully verified credential
EXIT_CODES = {"verified": 0, "verified_as_history": 3}


def _key_text(value: str) -> str:
    path = Path(value)
    return path.read_text(encoding="utf-8").strip() if path.is_file() else value.strip()


def _listed_mirror(trusted: TrustList, doc: Any) -> Fetch | None:
    """The trust list's mirrors of the bundle's log, asked in turn: the first that serves a
    resource answers (none listed: no mirror check)."""
    key = doc.get("log", {}).get("key") if isinstance(doc, dict) and isinstance(doc.get("log"), dict) else None
    log = trusted.log_for_key(key.strip()) if isinstance(key, str) else None
    if log is None or not log.mirrors:
        return None
    fetches = [mirror_fetch(m) for m in log.mirrors]

    def fetch(path: str) -> bytes | None:
        problem: CredshareError | None = None
        for one in fetches:
            try:
                return one(path)
            except CredshareError as exc:
                problem = exc
        assert problem is not None
        raise problem

    return fetch


@click.command("verify")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--trust", "trust_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A trust list (logs and issuers you trust), or a log's tlog-policy file as GET /log/trust serves it.")
@click.option("--log-key", "log_keys", multiple=True, help="A trusted log verifier key alone, or a file holding one.")
@click.option("--rpc", "rpc_urls", multiple=True, help="Ethereum JSON-RPC endpoint to look chain anchors up on (repeat).")
@click.option("--at", "at", type=int, default=None, help="Verify as of this Unix time (default: now).")
@click.option("--mirror", "mirror_url", default=None,
              help="A mirror of the log (C2SP tlog-tiles prefix: its checkpoint at URL/checkpoint, or a directory "
                   "made by credshare log mirror): check the credential's inclusion in the mirror's tree too.")
@click.option("--listed-mirrors", is_flag=True, help="Check against the mirrors your trust list names for the log.")
def verify_command(bundle: str, trust_files: tuple[str, ...], log_keys: tuple[str, ...], rpc_urls: tuple[str, ...],
                   at: int | None, mirror_url: str | None, listed_mirrors: bool) -> None:
    """Verify an offline bundle; print the report as JSON (a summary goes to stderr)."""
    try:
        trusted = TrustList()
        for f in trust_files:
            listed = TrustList.from_text(read_bytes(f))
            trusted = trusted.with_logs(listed.logs).with_issuers(listed.issuers.values())
        keys = [_key_text(k) for k in log_keys]
        keys += [line.strip() for line in os.environ.get("CREDSHARE_TRUSTED_LOG_KEYS", "").splitlines() if line.strip()]
        trusted = trusted.with_logs(TrustedLog.from_key(k) for k in keys)
        doc = read_json(bundle, "the bundle", "bundle_malformed")
        mirror = mirror_fetch(mirror_url) if mirror_url else _listed_mirror(trusted, doc) if listed_mirrors else None
        report = verify_bundle(doc, trusted=trusted, now=SYSTEM_CLOCK.seconds() if at is None else at,
                               chain_check=rpc_chain_check(rpc_urls), mirror=mirror)
    except CredshareError as exc:
        fail(exc)
    body = report.to_json()
    click.echo(json.dumps(body, indent=2))
    issued_by = report.issuer_name or report.issuer or "an unknown issuer"
    verdict = body["outcome"].upper().replace("_", " ")
    if report.outcome == "verified_as_history" and report.expires_at is not None:
        verdict += f": expired on {datetime.fromtimestamp(report.expires_at, timezone.utc):%Y-%m-%d}"
    click.echo(f"{verdict}: {report.vct or 'credential'} from {issued_by}", err=True)
    for check in report.checks:
        click.echo(f"  [{_MARKS[check.status]}] {check.label}: {check.detail}", err=True)
    if report.anchored_at:
        click.echo(f"  anchored {datetime.fromtimestamp(report.anchored_at, timezone.utc):%Y-%m-%d %H:%M} UTC", err=True)
    sys.exit(EXIT_CODES.get(report.outcome, 1))
