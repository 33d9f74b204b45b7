"""The verifier page says its verdict first, in plain words (issue 14): the headline, the reason,
the four questions each answered in words with a symbol beside them (never colour alone), then
the plain facts; the technical checks folded below, grouped by question in reader order, each
with its one-line explanation; and the same state in the JSON (``/api/v1/shares/<token>``).

This server's log is cosigned only by its own development witnesses, so a link opened here is at
best "could not be fully checked". For the states that need an independent witness (verified,
verified as history), ``independently_witnessed_here`` lets the witness quorum check pass as a
verifier that trusts an independent witness would see it; every other check is the real one
(tests/test_many_organisations.py runs a real independent witness, in its own process)."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest

from credshare.foundation.checks import Check
from tests.helpers import OWNER, accept_delivery, create_link, issue_license, issue_to, open_link, owner_client

ANSWER_WORDS = {"yes": "Yes", "no": "No", "unknown": ("Not known", "Not fully"), "history": "No longer current"}


@pytest.fixture
def app(web_app):
    return web_app


@pytest.fixture
def svc(web_svc):
    return web_svc


@pytest.fixture
def independently_witnessed_here(svc, monkeypatch):
    """Links opened on ``svc`` show the witness quorum met by an independent witness."""
    real_open = svc.shares.open

    def opened(*args: Any, **kwargs: Any) -> Any:
        share, grant = real_open(*args, **kwargs)
        report = share.report
        report.checks = [Check(c.name, "passed", "quorum 1 of 1 independent witnesses (witness.test/independent)")
                         if c.name == "witness_quorum" else c for c in report.checks]
        report.witnesses = [dict(w, development_only=False) for w in report.witnesses]
        return replace(share, report=report), grant

    monkeypatch.setattr(svc.shares, "open", opened)


def text_of(html: str) -> str:
    """What a reader sees (and hears): the page without its tags, spaces collapsed."""
    words = " ".join(re.sub(r"<[^>]+>", " ", html).replace("&#39;", "'").split())
    return re.sub(r" ([,.;:)])", r"\1", words)


def verdict_region(page: str) -> str:
    return page.split('id="verdict"', 1)[1].split("</section>", 1)[0]


def answers_on(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-question="([a-z]+)" data-answer="([a-z]+)"', verdict_region(page)))


def checks_on(page: str) -> list[str]:
    return re.findall(r'<tr data-check="([a-z_]+)"', page)


def shared_degree(app, svc, paths: Any = None) -> str:
    owner = owner_client(app, OWNER)
    issue_to(svc, OWNER)
    entry_id = accept_delivery(owner)
    _, token = create_link(owner, entry_id, **({"paths": paths} if paths else {}))
    return token


def shown(app, token: str) -> tuple[str, dict[str, Any]]:
    page = open_link(app.test_client(), token).get_data(as_text=True)
    body = app.test_client().get(f"/api/v1/shares/{token}").get_json()["verification"]
    return page, body


def assert_verdict_told_in_words(page: str, body: dict[str, Any], state: str, headline: str) -> None:
    """The page's state, headline and four answers in words, and the JSON's verdict the same."""
    region = verdict_region(page)
    assert f'data-outcome="{state}"' in page and body["verdict"]["state"] == body["outcome"] == state
    h1 = text_of(region.split("<h1", 1)[1].split("</h1>", 1)[0].split(">", 1)[1])
    assert h1.split(" ", 1)[1] == headline, h1  # after its symbol (hidden from screen readers)
    assert 'aria-labelledby="verdict-heading"' in page and '<h1 id="verdict-heading">' in page
    on_page = answers_on(page)
    assert list(on_page) == ["issuer", "record", "current", "link"]
    assert on_page == {a["question"]: a["answer"] for a in body["verdict"]["answers"]}
    for answer in body["verdict"]["answers"]:
        block = region.split(f'data-question="{answer["question"]}"', 1)[1].split("</div>", 1)[0]
        asked, said = (text_of(part.split("</d", 1)[0].split(">", 1)[1]) for part in block.split("<d")[1:3])
        views = re.compile(r"\d+ view\(s\)")  # the JSON open is the link's next view
        assert asked == answer["asked"] and views.sub("", said.split(" ", 1)[1]) == views.sub("", answer["words"])
        assert said.split(" ", 1)[1].startswith(ANSWER_WORDS[answer["answer"]]), said  # a word, not colour alone
        assert 'class="symbol" aria-hidden="true"' in block
    assert text_of(body["verdict"]["reason"]) in text_of(region)


def test_verified_says_so_and_answers_yes_four_times(app, svc, independently_witnessed_here) -> None:
    page, body = shown(app, shared_degree(app, svc))
    assert_verdict_told_in_words(page, body, "verified", "Verified: Medical degree")
    assert set(answers_on(page).values()) == {"yes"}
    assert "Every check passed" in text_of(verdict_region(page))


def test_verified_as_history_is_amber_with_its_expiry_date(app, svc, independently_witnessed_here) -> None:
    owner = owner_client(app, OWNER)
    issue_license(svc, OWNER, "2020-12-31")
    entry_id = accept_delivery(owner)
    _, token = create_link(owner, entry_id, paths=[["licensee_name"], ["license_number"]], history="yes")
    page, body = shown(app, token)
    assert_verdict_told_in_words(page, body, "verified_as_history",
                                 "Verified as history: Medical license: expired on 2020-12-31")
    assert answers_on(page)["current"] == "history" and "verdict-verified_as_history" in page
    assert "expired 2020-12-31, shared as history" in page  # the plain fact, beside the link's own validity


def test_could_not_be_fully_checked_says_what_and_why(app, svc) -> None:
    page, body = shown(app, shared_degree(app, svc))
    assert_verdict_told_in_words(page, body, "incomplete", "Could not be fully checked: Medical degree")
    reason = text_of(verdict_region(page).split('id="verdict-reason">', 1)[1].split("</p>", 1)[0])
    assert reason.startswith("Nothing failed, but this could not be checked: Witness cosignatures: no independent "
                             "witness has confirmed the log"), reason
    assert "dev-witness" not in reason  # the witnesses' key names stay in the folded detail
    assert answers_on(page) == {"issuer": "yes", "record": "unknown", "current": "yes", "link": "yes"}


def test_not_verified_gives_the_reason_first(app, svc) -> None:
    token = shared_degree(app, svc)
    record = svc.store.collection("credentials").find_one({})
    svc.status.set_status("example-med", record["status_list"], record["status_idx"], "revoked")
    page, body = shown(app, token)
    assert_verdict_told_in_words(page, body, "not_verified", "Not verified: Medical degree")
    assert body["verdict"]["reason"] == "The issuer has revoked this credential."
    assert re.search(r'id="verdict-reason">The issuer has revoked this credential\.</p>', page)
    assert answers_on(page)["current"] == "no" and "verdict-not_verified" in page
    assert '<strong data-status="revoked">revoked by the issuer</strong>' in page


def test_issuer_not_recognised_is_the_reason(app, svc, monkeypatch) -> None:
    # the issuer is hosted here, so this server recognises it: a verifier whose list does not
    # name it sees this (tests/test_link_check.py does it with a real trust list on /check)
    real_open = svc.shares.open

    def opened(*args: Any, **kwargs: Any) -> Any:
        share, grant = real_open(*args, **kwargs)
        share.report.checks = [Check(c.name, "failed", "http://localhost/issuers/example-med is not on your trust list")
                               if c.name == "issuer_trust" else c for c in share.report.checks]
        share.report.issuer_trust = None
        return share, grant

    monkeypatch.setattr(svc.shares, "open", opened)
    page, body = shown(app, shared_degree(app, svc))
    assert_verdict_told_in_words(page, body, "not_verified", "Not verified: Medical degree")
    assert body["verdict"]["reason"].startswith("Issuer not recognised: http://localhost/issuers/example-med is not")
    assert answers_on(page)["issuer"] == "no"


def test_the_checks_are_folded_in_reader_order_each_explained(app, svc) -> None:
    page, body = shown(app, shared_degree(app, svc))
    order = checks_on(page)
    assert sorted(order) == sorted(c["check"] for c in body["checks"])  # every check, once
    assert order[0] == "issuer_trust" and order[-1] == "link"
    assert order.index("issuer_signature") < order.index("key_binding") < order.index("inclusion")
    assert order.index("inclusion") < order.index("proof_format")  # the format check last of its group
    assert order.index("credential_validity") < order.index("status")
    fold = page.split('<details id="checks">', 1)[1].split("</details>", 1)[0]
    assert re.search(rf"<summary>Show the {len(order)} technical checks</summary>", fold)
    assert all(f'data-check="{name}"' in fold for name in order)  # none outside the fold
    row = fold.split('data-check="proof_format"', 1)[1].split("</tr>", 1)[0]
    assert "The recording proof is in a format this verifier reads." in row and "no more to say" in row
    headings = re.findall(r"<h3 id=\"checks-([a-z]+)\">", fold)
    assert headings == ["issuer", "record", "current", "link"]


def test_no_cryptographer_speak_above_the_fold(app, svc) -> None:
    token = shared_degree(app, svc)
    page, body = shown(app, token)
    top = page.split('<details id="checks">', 1)[0]
    key_ids = re.findall(r"[A-Za-z0-9_-]{43}", text_of(top))
    assert key_ids == [], key_ids
    for speak in ("Anchor proof format", "leaf ", "audience", "dev-witness", "disclosed field(s)"):
        assert speak not in top, speak
    facts = text_of(top.split('<section class="facts"', 1)[1].split("</section>", 1)[0])
    for fact in ("Physician Avery 0 Quinn", "Credential Medical degree",
                 "Issued by Example University School of Medicine", "Fields shown 3: Legal name, Degree",
                 "Checked ", "Status valid: not revoked or suspended, as of "):
        assert fact in facts, (fact, facts)


def test_fields_are_counted_as_shown_when_a_group_is_disclosed(app, svc) -> None:
    token = shared_degree(app, svc, paths=[["legal_name"], ["degree"], ["conferral_date"], ["medical_school", "name"]])
    page, body = shown(app, token)
    shown_rows = re.findall(r'<tr data-path="([^"]+)"', page)
    assert sorted(shown_rows) == ["conferral_date", "degree", "legal_name", "medical_school.name"]
    assert len(body["disclosed_paths"]) == 5  # the school (a group) is a disclosure of its own
    detail = next(c["detail"] for c in body["checks"] if c["check"] == "disclosures")
    assert detail.startswith("4 field(s) shown, from 5 disclosures"), detail
    assert "Fields shown 4:" in text_of(page)
