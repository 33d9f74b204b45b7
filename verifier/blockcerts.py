"""A Blockcerts record's verification report: the same :class:`Report` an SD-JWT credential
gets (so the verdict, the pages, the JSON, the printed report and the PDF read it unchanged),
from the record's own checks (blockcerts/verification.py) and the verifier's trust list
(``issuer_trust``: the issuer profile URL listed with ``keys = "blockcerts"``, and, when the
operator pins addresses, the anchoring address among them).

A Blockcerts record is shared whole: every field it holds is shown (``claims``), and no holder
key binds it to whoever shares it (the link does, for a link).

Issuer profiles and revocation lists are unsigned: one the verifier did not fetch itself (a
bundle's snapshots, ``Snapshot.kept_by``) is the sharer's word. A check that passed on it is
``unchecked`` here: the issuing key, unless the operator pins the issuer's addresses on the trust
list (then the list, not the profile, says which address may anchor), and the status always
(``blockcerts_profile_from_sharer``, ``blockcerts_status_from_sharer``). The verifier's own copy
(``credshare verify --issuer-profile``, ``--revocation-list``, ``--fetch``; a verifier server
reading them again) is judged as fetched.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from credshare.blockcerts.errors import BlockcertsError
from credshare.blockcerts.evidence import BlockcertsEvidence
from credshare.blockcerts.record import parse_record
from credshare.blockcerts.verification import verify_blockcerts
from credshare.foundation.checks import Check
from credshare.verifier.report import Report
from credshare.verifier.trust_list import TrustList


def recognised_issuer(document: Any, trusted: TrustList) -> bool:
    """Is the (not yet proven) issuer a record names a Blockcerts issuer on the trust list? Only
    then are the issuer's documents asked for: never a URL an unknown record merely names."""
    try:
        entry = trusted.issuer(parse_record(document).issuer_id)
    except BlockcertsError:
        return False
    return entry is not None and entry.keys == "blockcerts"


def _sharers_word(checks: list[Check], evidence: BlockcertsEvidence, pinned: bool) -> list[Check]:
    """The checks, with what passed only on a snapshot the sharer kept made ``unchecked``."""
    profile = evidence.issuer_profile
    listed = evidence.status_list or evidence.revocation_list
    out = []
    for check in checks:
        if check.status == "passed" and profile is not None and profile.kept_by and not pinned \
                and check.name in ("issuer_profile", "issuer_key_valid"):
            check = replace(check, status="unchecked", code="blockcerts_profile_from_sharer", detail=(
                f"{check.detail}; but the profile was fetched by {profile.kept_by}, not by you: pin the issuer's "
                "addresses on your trust list, or give its profile yourself (--issuer-profile FILE, or --fetch)"))
        elif check.status == "passed" and check.name == "status" and listed is not None and listed.kept_by:
            check = replace(check, status="unchecked", code="blockcerts_status_from_sharer", detail=(
                f"{check.detail}; but the list was read by {listed.kept_by}, not by you: read it yourself "
                "(--revocation-list FILE, or --fetch)"))
        out.append(check)
    return out


def blockcerts_report(evidence: BlockcertsEvidence, trusted: TrustList, *, now: int, history: bool = False) -> Report:
    """Every check on the record, the issuer's recognition first (as the reader asks it)."""
    result = verify_blockcerts(evidence, now=now, history=history)
    report = Report(checked_at=now, credential_format="blockcerts")
    record = result.record
    if record is None:
        report.checks = list(result.checks)
        return report
    trust = trusted.check_blockcerts_issuer(record.issuer_id, result.anchored_by)
    entry = trusted.issuer(record.issuer_id)
    pinned = trust.status == "passed" and entry is not None and bool(entry.addresses)
    report.checks = _sharers_word([result.checks[0], trust, *result.checks[1:]], evidence, pinned)
    report.issuer = record.issuer_id
    report.issuer_name = entry.name if trust.status == "passed" and entry is not None else result.issuer_name
    report.issuer_trust = entry.to_json() if trust.status == "passed" and entry is not None else None
    report.type_name = record.type_name
    report.claims = dict(record.fields)
    report.anchored_at = result.anchored_at
    report.expires_at = record.expires_at
    report.credential_status = result.credential_status
    report.status_as_of = result.status_as_of
    report.status_from = result.status_from
    report.status_fetched_at = result.status_as_of
    return report
