"""What a page that shows a verification report puts where (issue 14): the verdict in plain words
first (verifier/verdict.py), then the plain facts a credentialing specialist files (the physician,
the credential type in words, the fields shown), and the technical checks folded below, grouped
under the verdict's four questions in reader order, each with its one-line explanation.

The link's own page (``/s/<token>``, sharing/verify_pages.py) and a link checked from another
server (``/check``, sharing/check_pages.py) both show a report through this.
"""

from __future__ import annotations

from dataclasses import dataclass

from credshare.foundation.checks import Check
from credshare.issuing.types import CredentialType, FieldRow, field_rows
from credshare.verifier.report import Report
from credshare.verifier.verdict import CHECK_EXPLANATIONS, QUESTIONS, Verdict, grouped_checks, verdict

# the symbol beside each answer and each verdict state; always with its words, never alone
# (the words say it; the symbol is hidden from screen readers)
ANSWER_SYMBOLS = {"yes": "✓", "no": "✗", "unknown": "?", "history": "!", "none": "–"}
STATE_SYMBOLS = {"verified": "✓", "verified_as_history": "!", "incomplete": "?", "not_verified": "✗"}


@dataclass(frozen=True)
class CheckGroup:
    question: str
    asked: str
    checks: tuple[Check, ...]


@dataclass(frozen=True)
class ShownReport:
    verdict: Verdict
    type_name: str | None
    physician: str | None
    fields: list[FieldRow]
    groups: tuple[CheckGroup, ...]
    whole: bool = False  # a Blockcerts record: shared whole, no field chosen or withheld

    @property
    def check_count(self) -> int:
        return sum(len(g.checks) for g in self.groups)

    @staticmethod
    def explain(check: Check) -> str:
        return CHECK_EXPLANATIONS.get(check.name, "")

    @property
    def symbol(self) -> str:
        return STATE_SYMBOLS.get(self.verdict.state, "")

    @staticmethod
    def answer_symbol(answer: str) -> str:
        return ANSWER_SYMBOLS.get(answer, "")


def _physician(fields: list[FieldRow], ctype: CredentialType | None) -> str | None:
    """The physician's name as shared: every type this server defines names the person in its
    first claim (legal name, licensee, diplomate, registrant, trainee)."""
    if ctype is None or not ctype.claims:
        return None
    first = tuple(ctype.claims[0].path)
    return next((row.value for row in fields if tuple(row.path) == first), None)


def shown_report(report: Report, ctype: CredentialType | None, *, physician: str | None = None) -> ShownReport:
    """``physician``: the holder's name when the caller read it elsewhere (a Blockcerts record
    names its recipient; a type this server describes names the person in its first claim)."""
    fields = field_rows(report.claims, ctype)
    whole = report.credential_format == "blockcerts"
    named = report.type_name if whole else None
    type_name = ctype.name if ctype else (named if named and named.strip() else None)
    groups = tuple(CheckGroup(q, QUESTIONS[q], tuple(checks)) for q, checks in grouped_checks(report) if checks)
    return ShownReport(verdict(report, type_name), type_name, physician or _physician(fields, ctype), fields, groups,
                       whole)
