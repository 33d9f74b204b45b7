"""``credshare verify FILE``: check an offline verification bundle (verifier/bundle.py), or a
bare Blockcerts record (v2 or v3, as cert-issuer wrote it), with no server and no network, and
print the same report the verifier page shows.

A Blockcerts record is judged with what is given beside it, never fetched: ``--issuer-profile
FILE`` (the issuer's profile, its issuing keys: without it the key cannot be judged) and
``--revocation-list FILE`` (the Open Badges revocation list the profile names, or the v3
record's StatusList2021 credential), each kept as a snapshot ``file:<name>`` read now (a
Blockcerts bundle carries its own: these replace them). ``--fetch`` asks for the network: what
was not given is fetched once from the URLs the record and its profile name
(federation/blockcerts_sources.py). The anchor is looked up only on the endpoints given
(``--blockcerts-endpoint CHAIN=URL``, repeatable); a test anchor (mockchain, regtest) never,
so its outcome is at best ``incomplete``. What was not available is said in the checks and in
the summary.

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
from dataclasses import replace
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import click

from credshare.blockcerts.errors import BlockcertsError
from credshare.blockcerts.evidence import BlockcertsEvidence, Snapshot
from credshare.blockcerts.issuer_profile import revocation_list_url
from credshare.blockcerts.record import looks_like_blockcerts, parse_record
from credshare.cli_io import blockcerts_sources, fail, read_bytes, read_json, rpc_chain_check
from credshare.foundation.clock import SYSTEM_CLOCK
from credshare.foundation.errors import CredshareError, InputError
from credshare.log_mirror import Fetch, mirror_fetch
from credshare.verifier.bundle import (
    BLOCKCERTS_FORMAT,
    BLOCKCERTS_LIMITS,
    BUNDLE_TYPE,
    MAX_BUNDLE_BYTES,
    SHARER,
    BundleError,
    blockcerts_evidence,
    verify_blockcerts_evidence,
    verify_bundle,
)
from credshare.verifier.report import Report
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


# a revocation "list" that is a W3C status list credential (the v3 credentialStatus kind)
_STATUS_LIST_TYPES = ("StatusList2021Credential", "BitstringStatusListCredential")


def _snapshot(path: str, what: str, limit: int, now: int) -> Snapshot:
    """A document given from a file, as a snapshot read now (``file:<name>``)."""
    doc = read_json(path, what, "blockcerts_snapshot_invalid", limit)
    if not isinstance(doc, dict):
        raise InputError(f"{what} ({path}) is not a JSON object", code="blockcerts_snapshot_invalid")
    return Snapshot(doc, f"file:{Path(path).name}", now)


def _is_status_list(doc: dict[str, Any]) -> bool:
    kinds = doc.get("type")
    return any(k in _STATUS_LIST_TYPES for k in (kinds if isinstance(kinds, list) else [kinds]))


def _not_given(what: str, url: str | None, option: str) -> str:
    named = f" ({url})" if url else ""
    return f"{what}{named} was not given ({option} FILE); offline, it is not fetched"


def _with_files(evidence: BlockcertsEvidence, profile_file: str | None, list_file: str | None,
                now: int, sources: Any | None) -> BlockcertsEvidence:
    """``evidence`` with the documents given from files in place of what it had (a bare record
    has nothing: what it needs and was not given is said as the member's problem), and, with
    ``sources`` (``--fetch``), what is still missing fetched from the URLs the record names."""
    changes: dict[str, Any] = {}
    if profile_file:
        changes.update(issuer_profile=_snapshot(profile_file, "the issuer profile", BLOCKCERTS_LIMITS["issuer_profile"],
                                                now), profile_problem="")
    if list_file:
        listed = _snapshot(list_file, "the revocation list", BLOCKCERTS_LIMITS["revocation_list"], now)
        if _is_status_list(listed.document):
            changes.update(status_list=listed, status_problem="")
        else:
            changes.update(revocation_list=listed, revocation_problem="")
    evidence = replace(evidence, **changes)
    if sources is not None:
        evidence = _fetched(evidence, sources, now)
    if evidence.issuer_profile is None and not evidence.profile_problem:
        evidence = replace(evidence, profile_problem=_not_given("the issuer profile", None, "--issuer-profile"))
    try:
        record = parse_record(evidence.document)
    except BlockcertsError:
        return evidence  # the report says what is wrong with it
    named_list = record.revocation_list_url
    if named_list is None and evidence.issuer_profile is not None:
        named_list = revocation_list_url(evidence.issuer_profile.document)
    if named_list and evidence.revocation_list is None and not evidence.revocation_problem:
        evidence = replace(evidence, revocation_problem=_not_given("the revocation list", named_list,
                                                                    "--revocation-list"))
    status_url = record.status_entries[0].url if record.status_entries else None
    if status_url and evidence.status_list is None and not evidence.status_problem:
        evidence = replace(evidence, status_problem=_not_given("the status list", status_url, "--revocation-list"))
    return evidence


def _fetched(evidence: BlockcertsEvidence, sources: Any, now: int) -> BlockcertsEvidence:
    """What ``evidence`` lacks, fetched (``--fetch``): the snapshots it has are kept (the
    gathering asks for every document the record names once the profile is missing; nothing
    is asked when the profile and a list are there)."""
    if evidence.issuer_profile is not None and (evidence.revocation_list or evidence.status_list) is not None:
        return evidence
    try:
        found = sources.gather(evidence.document, now=now, profile=evidence.issuer_profile, lookups=False)
    except BlockcertsError:
        return evidence  # no record to fetch for: the report says what is wrong with it
    changes: dict[str, Any] = {}
    if evidence.issuer_profile is None:
        changes.update(issuer_profile=found.issuer_profile, profile_problem=found.profile_problem)
    if evidence.revocation_list is None:
        changes.update(revocation_list=found.revocation_list, revocation_problem=found.revocation_problem)
    if evidence.status_list is None:
        changes.update(status_list=found.status_list, status_problem=found.status_problem)
    return replace(evidence, **changes)


def _not_available(evidence: BlockcertsEvidence | None) -> list[str]:
    if evidence is None:
        return []
    return [p for p in (evidence.profile_problem, evidence.revocation_problem, evidence.status_problem) if p]


def _check(doc: Any, *, trusted: TrustList, now: int, chain_check: Any, mirror: Fetch | None,
           profile_file: str | None, list_file: str | None, endpoints: tuple[str, ...],
           fetch: bool) -> tuple[Report, BlockcertsEvidence | None]:
    """The report on ``doc`` (a bundle, or a bare Blockcerts record), and the Blockcerts evidence
    it was made from (``None``: an SD-JWT bundle)."""
    is_bundle = isinstance(doc, dict) and doc.get("type") == BUNDLE_TYPE
    if is_bundle and doc.get("format") != BLOCKCERTS_FORMAT:
        if profile_file or list_file or endpoints or fetch:
            raise InputError("--issuer-profile, --revocation-list, --fetch and --blockcerts-endpoint are for a "
                             "Blockcerts record or bundle; this bundle holds an SD-JWT credential",
                             code="option_not_applicable")
        return verify_bundle(doc, trusted=trusted, now=now, chain_check=chain_check, mirror=mirror), None
    if is_bundle:
        evidence = blockcerts_evidence(doc.get("blockcerts"), kept_by=SHARER)
    elif looks_like_blockcerts(doc):
        evidence = blockcerts_evidence({"document": doc})
    else:
        raise BundleError(f"neither a {BUNDLE_TYPE} document nor a Blockcerts record")
    sources = blockcerts_sources(endpoints) if endpoints or fetch else None
    evidence = _with_files(evidence, profile_file, list_file, now, sources if fetch else None)
    lookup = None
    if sources is not None and endpoints:
        lookup = partial(sources.lookup, now=now)
    return verify_blockcerts_evidence(evidence, trusted=trusted, now=now, lookup=lookup), evidence


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
@click.option("--issuer-profile", "profile_file", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Blockcerts: the issuer profile (its issuing keys), from a file; offline it is never fetched.")
@click.option("--revocation-list", "list_file", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Blockcerts: the issuer's revocation list, or the record's StatusList2021 credential, from a file.")
@click.option("--blockcerts-endpoint", "endpoints", multiple=True, metavar="CHAIN=URL",
              help="Blockcerts: a blockchain endpoint to look the anchor up on, e.g. ethereumMainnet=URL (repeat).")
@click.option("--fetch", is_flag=True,
              help="Blockcerts: fetch what was not given (issuer profile, revocation or status list) from the "
                   "URLs the record names (the network; offline is the default).")
def verify_command(bundle: str, trust_files: tuple[str, ...], log_keys: tuple[str, ...], rpc_urls: tuple[str, ...],
                   at: int | None, mirror_url: str | None, listed_mirrors: bool, profile_file: str | None,
                   list_file: str | None, endpoints: tuple[str, ...], fetch: bool) -> None:
    """Verify an offline bundle or a Blockcerts record; print the report as JSON (a summary goes to stderr)."""
    try:
        trusted = TrustList()
        for f in trust_files:
            listed = TrustList.from_text(read_bytes(f))
            trusted = trusted.with_logs(listed.logs).with_issuers(listed.issuers.values())
        keys = [_key_text(k) for k in log_keys]
        keys += [line.strip() for line in os.environ.get("CREDSHARE_TRUSTED_LOG_KEYS", "").splitlines() if line.strip()]
        trusted = trusted.with_logs(TrustedLog.from_key(k) for k in keys)
        doc = read_json(bundle, "the bundle", "bundle_malformed", MAX_BUNDLE_BYTES)
        mirror = mirror_fetch(mirror_url) if mirror_url else _listed_mirror(trusted, doc) if listed_mirrors else None
        report, evidence = _check(doc, trusted=trusted, now=SYSTEM_CLOCK.seconds() if at is None else at,
                                  chain_check=rpc_chain_check(rpc_urls), mirror=mirror, profile_file=profile_file,
                                  list_file=list_file, endpoints=endpoints, fetch=fetch)
    except CredshareError as exc:
        fail(exc)
    body = report.to_json()
    click.echo(json.dumps(body, indent=2))
    issued_by = report.issuer_name or report.issuer or "an unknown issuer"
    verdict = body["outcome"].upper().replace("_", " ")
    if report.outcome == "verified_as_history" and report.expires_at is not None:
        verdict += f": expired on {datetime.fromtimestamp(report.expires_at, timezone.utc):%Y-%m-%d}"
    click.echo(f"{verdict}: {report.type_name or report.vct or 'credential'} from {issued_by}", err=True)
    for check in report.checks:
        click.echo(f"  [{_MARKS[check.status]}] {check.label}: {check.detail}", err=True)
    for problem in _not_available(evidence):
        click.echo(f"  not available: {problem}", err=True)
    if report.anchored_at:
        click.echo(f"  anchored {datetime.fromtimestamp(report.anchored_at, timezone.utc):%Y-%m-%d %H:%M} UTC", err=True)
    sys.exit(EXIT_CODES.get(report.outcome, 1))
