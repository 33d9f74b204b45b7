"""The verdict in plain words: what a verification report means to a credentialing specialist
(issue 14), derived from the report alone so the page, the JSON, the printed report and the PDF
say the same thing.

A verdict answers four questions, in the order a reader asks them:

1. ``issuer``: is the issuer recognised (on the verifier's trust list, for this type), and are
   its keys proven (logged key history, published metadata or a certificate chain)?
2. ``record``: is the record unaltered and really the physician's: the issuer's signature, the
   disclosed fields against the digests it signed (RFC 9901 section 7.1), the holder's key
   binding (RFC 9901 section 7.3), and the credential's place in the witnessed log (RFC 9162,
   C2SP tlog-checkpoint / tlog-cosignature)?
3. ``current``: is it currently valid: not expired (``exp``) and not revoked or suspended on the
   issuer's status list (draft-ietf-oauth-status-list), and as of when?
4. ``link``: is the share link through which it was presented valid?

Each answer is ``yes``, ``no``, ``unknown`` (something could not be checked), ``history`` (the
credential expired and is shared as a record of the past) or ``none`` (not asked: a saved bundle
checked offline has no live link). The checks stay as they are, grouped under their question in
:data:`CHECK_ORDER`, each with a one-line explanation (:data:`CHECK_EXPLANATIONS`) for the reader
who unfolds them; the report's own outcome (:attr:`verifier.report.Report.outcome`) is the state,
so a verdict can never be greener than the checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from credshare.foundation.checks import Check

if TYPE_CHECKING:  # the report imports this module to put the verdict in its JSON
    from credshare.verifier.report import Outcome, Report

Question = Literal["issuer", "record", "current", "link"]
Answer = Literal["yes", "no", "unknown", "history", "none"]

QUESTIONS: dict[Question, str] = {
    "issuer": "Is the issuer recognised?",
    "record": "Is the record unaltered and really the physician's?",
    "current": "Is it currently valid?",
    "link": "Is this link valid?",
}

# Each check under the question it helps answer, in the order a reader follows; a check a
# report holds that is not named here (none today) is shown last, under "record".
CHECK_ORDER: dict[Question, tuple[str, ...]] = {
    "issuer": ("issuer_trust", "issuer_certificate", "key_history", "issuer_keys", "issuer_profile"),
    "record": ("issuer_signature", "document_hash", "merkle_proof", "blockchain_anchor", "issuer_key_valid", "disclosures",
               "key_binding", "trust_anchor", "checkpoint_signature", "inclusion", "witness_quorum", "inclusion_mirror",
               "chain_anchor", "proof_format"),
    "current": ("credential_validity", "status"),
    "link": ("link",),
}

CHECK_EXPLANATIONS: dict[str, str] = {
    "issuer_trust": "The issuer is on the verifier's list of recognised issuers, for this type of credential.",
    "issuer_certificate": "The issuer's certificate leads to a root certificate on the verifier's list.",
    "key_history": "The issuer's signing keys are the ones it published, signed and recorded in its log.",
    "issuer_keys": "The issuer's signing keys are the ones published on its own website (not recorded in a log).",
    "issuer_signature": "The issuer's digital signature on the credential is genuine.",
    "issuer_key_valid": "The key that signed was the issuer's current key when the credential was recorded.",
    "disclosures": "Each field shown matches what the issuer signed: none was changed or added.",
    "key_binding": "The physician who holds the credential presented it, for this link, and nobody replayed it.",
    "trust_anchor": "The log that recorded the credential is one the verifier trusts.",
    "checkpoint_signature": "The log signed the state of its record that includes this credential.",
    "inclusion": "The credential is recorded in that log, so it cannot be quietly altered or back-dated.",
    "witness_quorum": "Independent witnesses confirmed they saw the same log, so it shows everyone the same record.",
    "inclusion_mirror": "A copy of the log kept elsewhere (a mirror) holds the same record.",
    "chain_anchor": "The log's state was also written to a public blockchain (optional).",
    "proof_format": "The recording proof is in a format this verifier reads.",
    "credential_validity": "The credential is within its validity period.",
    "status": "The issuer has not revoked or suspended the credential, on the status list it publishes.",
    "link": "The physician's share link is active: not revoked, expired or used up.",
    "issuer_profile": "The issuer's profile (its published keys), as fetched from the issuer and kept, is the record's.",
    "document_hash": "The record is exactly as issued: not one word of it was changed.",
    "merkle_proof": "The record belongs to the batch of records the issuer recorded together.",
    "blockchain_anchor": "The issuer recorded that batch on a public blockchain, which fixes who recorded it and when.",
}

@dataclass(frozen=True)
class QuestionAnswer:
    question: Question
    answer: Answer
    words: str
    checks: tuple[Check, ...]

    @property
    def asked(self) -> str:
        return QUESTIONS[self.question]

    def to_json(self) -> dict[str, Any]:
        return {"question": self.question, "asked": self.asked, "answer": self.answer, "words": self.words,
                "checks": [c.name for c in self.checks]}


@dataclass(frozen=True)
class Verdict:
    """The plain-words verdict: ``state`` is the report's outcome, ``headline`` and
    ``reason`` say it in a sentence each (the reason first when not verified), ``answers``
    the four questions, in order."""

    state: Outcome
    headline: str
    reason: str
    answers: tuple[QuestionAnswer, ...]

    def answer(self, question: Question) -> QuestionAnswer:
        return next(a for a in self.answers if a.question == question)

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, "headline": self.headline, "reason": self.reason,
                "answers": [a.to_json() for a in self.answers]}


def _day(ts: int | None) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d") if ts is not None else "an unknown date"


def _minute(ts: int | None) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if ts is not None else "an unknown time"


def _explained(check: Check) -> str:
    """A check as one sentence without its final stop: label, then detail."""
    return (f"{check.label}: {check.detail}" if check.detail else check.label).rstrip(". ")


def _open_words(check: Check, report: Report) -> str:
    """What could not be checked, in a sentence without its final stop: a witness quorum met
    only by the log's own development witnesses is said in plain words (their names and the
    quorum stay in the check's detail, for experts); any other check is its label and detail."""
    if (check.name == "witness_quorum" and report.witnesses
            and all(w.get("development_only") for w in report.witnesses)):
        return ("Witness cosignatures: no independent witness has confirmed the log that records it, only the "
                f"log's own {len(report.witnesses)} development witness(es)")
    return _explained(check)


def grouped_checks(report: Report) -> list[tuple[Question, list[Check]]]:
    """The report's checks under their questions, in reader order (``CHECK_ORDER``)."""
    placed: dict[Question, list[Check]] = {q: [] for q in CHECK_ORDER}
    rank = {name: (q, i) for q, names in CHECK_ORDER.items() for i, name in enumerate(names)}
    for check in report.checks:
        question = rank.get(check.name, ("record", len(CHECK_ORDER["record"])))[0]
        placed[question].append(check)
    for question, checks in placed.items():
        checks.sort(key=lambda c: rank.get(c.name, (question, len(CHECK_ORDER["record"])))[1])
    return [(q, placed[q]) for q in CHECK_ORDER]


def _answer(checks: list[Check]) -> Answer:
    if not checks:
        return "none"
    if any(c.status == "failed" for c in checks):
        return "no"
    # a chain anchor is an optional extra: unchecked offline, it never makes an answer unknown
    if any(c.status == "unchecked" and c.name != "chain_anchor" for c in checks):
        return "unknown"
    if any(c.status == "history" for c in checks):
        return "history"
    return "yes"


def _first(checks: list[Check], status: str) -> Check | None:
    return next((c for c in checks if c.status == status and (status != "unchecked" or c.name != "chain_anchor")),
                None)


def _issuer_words(report: Report, answer: Answer, checks: list[Check]) -> str:
    name = report.issuer_name or report.issuer or "the issuer"
    if answer == "yes":
        vouched = report.issuer_trust or {}
        how = vouched.get("accreditation")
        by = vouched.get("vouched_by")
        scope = " as a Blockcerts issuer" if report.credential_format == "blockcerts" else ", for this type of credential"
        return (f"Yes. {name} is recognised" + (f" as {how}" if how else "")
                + (f", on {by}" if by else "") + scope + ".")
    if answer == "no":
        failed = _first(checks, "failed")
        if failed is not None and failed.name == "issuer_trust":
            return f"No. {name} is not recognised: {failed.detail.rstrip('. ')}."
        return f"No. {_explained(failed)}." if failed else "No."
    if answer == "unknown":
        open_check = _first(checks, "unchecked")
        return f"Not known. {_explained(open_check)}." if open_check else "Not known."
    return "Not checked."


def _record_words(report: Report, answer: Answer, checks: list[Check]) -> str:
    if answer == "yes":
        passed = {c.name for c in checks if c.status == "passed"}
        said = [words for name, words in (
            ("issuer_signature", "the issuer's signature is genuine"),
            ("disclosures", "every field shown is as the issuer signed it"),
            ("key_binding", "the physician's own key presented it"),
            ("witness_quorum", "it is recorded in a log that independent witnesses confirmed"),
        ) if name in passed]
        if not said:
            return "Yes."
        return "Yes: " + (", ".join(said[:-1]) + " and " + said[-1] if len(said) > 1 else said[0]) + "."
    if answer == "no":
        failed = _first(checks, "failed")
        return f"No. {_explained(failed)}." if failed else "No."
    if answer == "unknown":
        open_check = _first(checks, "unchecked")
        return f"Not fully. {_open_words(open_check, report)}." if open_check else "Not fully."
    return "Not checked."


def _current_words(report: Report, answer: Answer, checks: list[Check]) -> str:
    as_of = report.status_as_of or report.status_fetched_at
    as_of_words = f" as of {_minute(as_of)}" if as_of else ""
    if answer == "yes":
        until = f"valid until {_day(report.expires_at)}" if report.expires_at else "it does not expire"
        return f"Yes: {until}, and not revoked or suspended{as_of_words}."
    if answer == "history":
        return (f"No longer current: it expired on {_day(report.expires_at)}. The physician shares it as a record "
                f"of the past, and it was not revoked or suspended{as_of_words}.")
    if answer == "no":
        if report.credential_status in ("revoked", "suspended"):
            return f"No. The issuer has {report.credential_status} this credential{as_of_words}."
        failed = _first(checks, "failed")
        return f"No. {_explained(failed)}." if failed else "No."
    if answer == "unknown":
        open_check = _first(checks, "unchecked")
        return f"Not known. {_explained(open_check)}." if open_check else "Not known."
    return "Not checked."


def _link_words(answer: Answer, checks: list[Check]) -> str:
    if answer == "yes":
        return f"Yes: {checks[0].detail.rstrip('. ')}." if checks and checks[0].detail else "Yes."
    if answer == "no":
        failed = _first(checks, "failed")
        return f"No. {failed.detail.rstrip('. ')}." if failed and failed.detail else "No."
    if answer == "unknown":
        return "Not known."
    return "Not asked: this check was made from a saved copy, not through a live link."


def verdict(report: Report, type_name: str | None = None) -> Verdict:
    """The plain-words verdict of ``report``; ``type_name``, the credential type in words
    when the caller knows it, ends the headline ("Verified: Medical license")."""
    kind = f": {type_name}" if type_name else ""
    groups = grouped_checks(report)
    answers: list[QuestionAnswer] = []
    for question, checks in groups:
        answer = _answer(checks)
        if question == "issuer":
            words = _issuer_words(report, answer, checks)
        elif question == "record":
            words = _record_words(report, answer, checks)
        elif question == "current":
            words = _current_words(report, answer, checks)
        else:
            words = _link_words(answer, checks)
        answers.append(QuestionAnswer(question, answer, words, tuple(checks)))
    state = report.outcome
    ordered = [c for _, checks in groups for c in checks]
    if state == "verified":
        headline = f"Verified{kind}"
        reason = f"Every check passed ({_minute(report.checked_at)})."
    elif state == "verified_as_history":
        headline = f"Verified as history{kind}: expired on {_day(report.expires_at)}"
        reason = ("It is no longer current; the physician shares it as a record of the past. Every other "
                  f"check passed ({_minute(report.checked_at)}).")
    elif state == "incomplete":
        headline = f"Could not be fully checked{kind}"
        open_check = _first(ordered, "unchecked")
        reason = (f"Nothing failed, but this could not be checked: {_open_words(open_check, report)}." if open_check
                  else "Nothing failed, but some checks could not be made.")
    else:
        headline = f"Not verified{kind}"
        failed = _first(ordered, "failed")
        if failed is not None and failed.name == "issuer_trust":
            reason = f"Issuer not recognised: {failed.detail.rstrip('. ')}."
        elif failed is not None and failed.name == "status" and report.credential_status in ("revoked", "suspended"):
            reason = f"The issuer has {report.credential_status} this credential."
        elif failed is not None:
            reason = f"{_explained(failed)}."
        else:
            reason = "No check was made."
    return Verdict(state, headline, reason, tuple(answers))
