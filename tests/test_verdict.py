"""The plain-words verdict (verifier/verdict.py): one state per outcome, the reason first, the four
questions answered from the checks behind them, and the checks in the order a reader follows."""

from __future__ import annotations

from typing import Any

import pytest

from credshare.foundation.checks import CHECK_LABELS
from credshare.verifier.report import Report
from credshare.verifier.verdict import CHECK_EXPLANATIONS, CHECK_ORDER, grouped_checks, verdict

NOW = 1_790_000_000
DAY = 86_400

# the checks of a logged credential shared by link, in the order verifier/credential.py runs them
RUN_ORDER = ["trust_anchor", "key_history", "issuer_trust", "issuer_signature", "issuer_key_valid", "disclosures",
             "key_binding", "proof_format", "checkpoint_signature", "inclusion", "witness_quorum", "chain_anchor",
             "status", "credential_validity", "link"]


def report(**changed: Any) -> Report:
    """A report of a verified credential; ``changed`` maps a check name to (status, detail)."""
    r = Report(checked_at=NOW, issuer="https://school.example", issuer_name="Example School of Medicine",
               vct="https://credshare.example/types/md-degree", expires_at=NOW + 365 * DAY, status_as_of=NOW - 60,
               credential_status="valid",
               issuer_trust={"accreditation": "LCME-accredited medical school", "vouched_by": "the FCVS trust list"})
    for name in RUN_ORDER:
        status, detail = changed.get(name, ("passed", f"{name} detail"))
        r.add(name, status, detail)
    return r


def test_every_check_has_an_explanation_and_a_place_in_reader_order() -> None:
    placed = [name for names in CHECK_ORDER.values() for name in names]
    assert sorted(placed) == sorted(CHECK_LABELS)
    assert len(placed) == len(set(placed))
    assert set(CHECK_EXPLANATIONS) == set(CHECK_LABELS)
    assert all(text.endswith(".") and text[0].isupper() for text in CHECK_EXPLANATIONS.values())


def test_a_verified_report_answers_yes_four_times_and_names_who_recognises_the_issuer() -> None:
    v = verdict(report(), "Medical degree")
    assert v.state == "verified" and v.headline == "Verified: Medical degree"
    assert [a.answer for a in v.answers] == ["yes", "yes", "yes", "yes"]
    assert "LCME-accredited medical school" in v.answer("issuer").words
    assert "the FCVS trust list" in v.answer("issuer").words
    assert "independent witnesses" in v.answer("record").words
    assert "not revoked or suspended as of" in v.answer("current").words


def test_checks_are_grouped_in_reader_order_not_run_order() -> None:
    groups = dict(grouped_checks(report()))
    assert [c.name for c in groups["issuer"]] == ["issuer_trust", "key_history"]
    record = [c.name for c in groups["record"]]
    assert record[0] == "issuer_signature" and record[-1] == "proof_format"  # the format check last, not first
    assert record.index("disclosures") < record.index("inclusion")
    assert [c.name for c in groups["current"]] == ["credential_validity", "status"]
    assert sum(len(cs) for cs in groups.values()) == len(RUN_ORDER)


def test_issuer_not_recognised_is_the_reason_first_even_when_later_checks_also_fail() -> None:
    v = verdict(report(issuer_trust=("failed", "https://school.example is not on the trust list"),
                       status=("failed", "the issuer has revoked this credential")))
    assert v.state == "not_verified" and v.headline == "Not verified"
    assert v.reason == "Issuer not recognised: https://school.example is not on the trust list."
    assert v.answer("issuer").answer == "no" and v.answer("current").answer == "no"


def test_a_revoked_credential_says_so_in_plain_words() -> None:
    r = report(status=("failed", "the issuer has revoked this credential, as of ..."))
    r.credential_status = "revoked"
    v = verdict(r)
    assert v.reason == "The issuer has revoked this credential."
    assert v.answer("current").words.startswith("No. The issuer has revoked this credential as of ")
    assert v.answer("issuer").answer == "yes" and v.answer("link").answer == "yes"


def test_history_is_amber_with_the_expiry_date_and_never_plain_verified() -> None:
    r = report(credential_validity=("history", "expired on 2026-01-01; shared as history"))
    r.expires_at = NOW - 30 * DAY
    v = verdict(r, "Residency certificate")
    assert v.state == "verified_as_history"
    assert v.headline.startswith("Verified as history: Residency certificate: expired on ")
    assert v.answer("current").answer == "history"


def test_incomplete_says_what_could_not_be_checked() -> None:
    v = verdict(report(witness_quorum=("unchecked", "only development witnesses cosigned")))
    assert v.state == "incomplete" and v.headline == "Could not be fully checked"
    assert "Witness cosignatures: only development witnesses cosigned" in v.reason
    assert v.answer("record").answer == "unknown"


def test_an_unlooked_up_chain_anchor_does_not_make_an_answer_unknown() -> None:
    v = verdict(report(chain_anchor=("unchecked", "no RPC endpoint given")))
    assert v.state == "verified" and v.answer("record").answer == "yes"


def test_a_bundle_checked_offline_has_no_link_question_to_answer() -> None:
    r = report()
    r.checks = [c for c in r.checks if c.name != "link"]
    v = verdict(r)
    assert v.answer("link").answer == "none" and "saved copy" in v.answer("link").words
    assert v.state == "verified"


@pytest.mark.parametrize("failing", RUN_ORDER)
def test_any_failed_check_makes_its_question_no_and_the_verdict_not_verified(failing: str) -> None:
    v = verdict(report(**{failing: ("failed", "broken on purpose")}))
    assert v.state == "not_verified"
    question = next(q for q, names in CHECK_ORDER.items() if failing in names)
    assert v.answer(question).answer == "no"
    assert "broken on purpose" in v.reason
    assert all(a.answer == "yes" for a in v.answers if a.question != question)


def test_the_json_carries_the_verdict() -> None:
    doc = report().to_json()
    assert doc["verdict"]["state"] == doc["outcome"] == "verified"
    assert [a["question"] for a in doc["verdict"]["answers"]] == ["issuer", "record", "current", "link"]
