"""A Blockcerts record's verification report: the same :class:`Report` an SD-JWT credential
gets (so the verdict, the pages, the JSON, the printed report and the PDF read it unchanged),
from the record's own checks (blockcerts/verification.py) and the verifier's trust list
(``issuer_trust``: the issuer profile URL listed with ``keys = "blockcerts"``, and, when the
operator pins addresses, the anchoring address among them).

A Blockcerts record is shared whole: every field it holds is shown (``claims``), and no holder
key binds it to whoever shares it (the link does, for a link).
"""

from __future__ import annotations

from credshare.blockcerts.evidence import BlockcertsEvidence
from credshare.blockcerts.verification import verify_blockcerts
from credshare.verifier.report import Report
from credshare.verifier.trust_list import TrustList


def blockcerts_report(evidence: BlockcertsEvidence, trusted: TrustList, *, now: int, history: bool = False) -> Report:
    """Every check on the record, the issuer's recognition first (as the reader asks it)."""
    result = verify_blockcerts(evidence, now=now, history=history)
    report = Report(checked_at=now, credential_format="blockcerts")
    record = result.record
    if record is None:
        report.checks = list(result.checks)
        return report
    trust = trusted.check_blockcerts_issuer(record.issuer_id, result.anchored_by)
    report.checks = [result.checks[0], trust, *result.checks[1:]]
    entry = trusted.issuer(record.issuer_id)
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
