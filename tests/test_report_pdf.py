"""The printable verification report (issue 14): the receipt page under the print stylesheet and
its PDF (sharing/report_pdf.py, WeasyPrint), read back with pypdf. The report says what the verdict
says (verifier/verdict.py) for each state, fits one page on A4 and on Letter (the appendix with the
checks and the signature follows), never holds the link's token, and carries the "verified by"
the verifier typed inside the signed receipt, which is attached to the PDF and kept for the
re-check address /receipts/<jti>."""

from __future__ import annotations

import io
import json
import re
import sys
from typing import Any

import pytest
from pypdf import PdfReader

from credshare.disclosure.errors import SDJWTError
from credshare.disclosure.jws import PublicKey
from credshare.foundation.b64 import b64url_decode, b64url_encode
from credshare.foundation.errors import InputError
from credshare.holding.receipts import RECEIPTS_PER_LINK_PER_HOUR
from credshare.sharing.report_pdf import render_pdf
from credshare.sharing.verify_pages import report_pdf
from credshare.verifier.receipt import VERIFIED_BY_MAX, read_receipt, receipt_payload, sign_receipt, verified_by
from credshare.verifier.report import Check, Report
from credshare.verifier.verdict import verdict
from tests.helpers import OWNER, accept_delivery, create_link, issue_to, open_link, owner_client

NOW = 1_790_000_000
DAY = 86_400
RUN_ORDER = ["trust_anchor", "key_history", "issuer_trust", "issuer_signature", "issuer_key_valid", "disclosures",
             "key_binding", "proof_format", "checkpoint_signature", "inclusion", "witness_quorum", "chain_anchor",
             "status", "credential_validity", "link"]
TRUST = {"id": "https://board.example", "name": "Demo State Medical Board", "accreditation": "State licensing board",
         "types": [], "keys": "log", "log": None, "vouched_by": "the FSMB trust list"}
FIELDS = [{"path": ["licensee_name"], "label": "Licensee name", "value": "Avery Quinn"},
          {"path": ["jurisdiction"], "label": "State or jurisdiction", "value": "Demo State"},
          {"path": ["license_number"], "label": "License number", "value": "MD-1"}]
BY = {"name": "Jordan Lee", "organisation": "Mercy Hospital Medical Staff Office"}


def _report(state: str) -> Report:
    """A report in each verdict state, as the verifier makes them (cheaply: no credential)."""
    r = Report(checked_at=NOW, issuer="https://board.example", issuer_name="Demo State Medical Board",
               vct="urn:credshare:vct:medical-license:1", expires_at=NOW + 365 * DAY, status_as_of=NOW - 60,
               credential_status="valid", issuer_trust=TRUST)
    changed: dict[str, tuple[str, str]] = {}
    if state == "verified_as_history":
        r.expires_at = NOW - 30 * DAY
        changed["credential_validity"] = ("history", "expired on 2026-08-22, shared as history")
    elif state == "incomplete":
        changed["status"] = ("unchecked", "the issuer's status list could not be read: timed out")
        r.credential_status = "unknown"
    elif state == "not_verified":
        changed["status"] = ("failed", "the issuer has revoked this credential")
        r.credential_status = "revoked"
    elif state == "not_recognised":
        changed["issuer_trust"] = ("failed", "https://board.example is not on the trust list for this type")
        r.issuer_trust = None
    for name in RUN_ORDER:
        status, detail = changed.get(name, ("passed", f"{name}: as it should be"))
        r.add(name, status, detail)  # type: ignore[arg-type]
    return r


def _doc(svc, report: Report, *, fields=FIELDS, by=BY, physician: str | None = "Avery Quinn") -> dict[str, Any]:
    link = {"id": "Lk3xW9q2Zb7pTn4v", "recipient": "Mercy Hospital credentialing", "created_at": NOW - DAY,
            "expires_at": NOW + 29 * DAY, "views": 1, "max_views": 3, "shared_as_history": False}
    payload = receipt_payload(report, verifier="http://localhost", link=link, fields=list(fields), withheld=4,
                              type_name="Medical license", physician=physician, by=by)
    signer = svc.receipt_signer
    return {"receipt": payload, "jws": sign_receipt(payload, signer), "kid": signer.kid,
            "keys": "http://localhost/.well-known/credshare-receipt-keys"}


def _pages(pdf: bytes) -> tuple[PdfReader, list[str]]:
    reader = PdfReader(io.BytesIO(pdf))
    return reader, [" ".join(page.extract_text().split()) for page in reader.pages]


def _flat(text: str) -> str:
    return " ".join(text.split())


def _assert_one_page_report(pages: list[str]) -> None:
    """The report ends on page 1 (its last block, the re-check address, is there) and page 2
    begins the appendix: the report spilling over would put its own lines on page 2 first."""
    assert len(pages) >= 2
    assert "Re-check this report" in pages[0] and "Appendix" not in pages[0]
    assert pages[1].startswith("Appendix: the checks and the signature"), pages[1][:200]


STATES = {"verified": "Verified: Medical license",
          "verified_as_history": "Verified as history: Medical license: expired on 2026-08-22",
          "incomplete": "Could not be fully checked: Medical license",
          "not_verified": "Not verified: Medical license",
          "not_recognised": "Not verified: Medical license"}


@pytest.mark.slow
@pytest.mark.parametrize("state", list(STATES))
def test_each_verdict_state_prints_its_verdict_on_one_page(web_app, web_svc, state) -> None:
    report = _report(state)
    doc = _doc(web_svc, report)
    v = verdict(report, "Medical license")
    assert v.headline == STATES[state]  # the state really is the one named
    with web_app.test_request_context():
        reader, pages = _pages(report_pdf(doc))
    _assert_one_page_report(pages)
    first = pages[0]
    assert first.index(v.headline) < first.index("Is the issuer recognised?")  # the verdict first
    assert _flat(v.reason) in first
    for answer in v.answers:
        assert _flat(answer.words) in first
    for said in ("Avery Quinn", "Medical license", "Demo State Medical Board", "MD-1",
                 "Jordan Lee, Mercy Hospital Medical Staff Office", "Lk3xW9q2Zb7pTn4v", "Mercy Hospital credentialing",
                 doc["receipt"]["recheck"], "2026-09-21 14:13 UTC"):
        assert said in first, said
    if state == "not_recognised":
        assert "Issuer not recognised" in first and "not recognised by this verifier's trust list" in first
    else:
        assert "State licensing board, for this type of credential (on the FSMB trust list)" in first
    assert doc["jws"][:40] in "".join(pages[1:]).replace(" ", "")  # the signature in the appendix
    assert reader.metadata.title == f"Verification report: {v.headline}"
    assert list(reader.attachments) == ["credshare-report-Lk3xW9q2Zb7pTn4v-2026-09-21.receipt.jws"]
    attached = reader.attachments["credshare-report-Lk3xW9q2Zb7pTn4v-2026-09-21.receipt.jws"][0].decode()
    assert read_receipt(attached, [PublicKey.from_jwk(web_svc.receipt_signer.public_jwk)]) == doc["receipt"]


@pytest.mark.slow
@pytest.mark.parametrize("paper", ["a4", "letter"])
def test_the_longest_report_still_fits_one_page_on_a4_and_letter(web_app, web_svc, paper) -> None:
    """As many fields as the largest type has (medical degree: 20), three of them long free text
    (the comments of a GME record), "verified by" at its bound, and a long reason: still one
    page (Letter is shorter than A4); the long values are given whole in the appendix."""
    fields = [{"path": [f"f{i}"], "label": f"Field number {i} label", "value": "A value of some length " * 2}
              for i in range(17)]
    fields += [{"path": [f"c{i}"], "label": f"Comments {i}", "value": f"Comment {i}: " + "a long sentence. " * 30}
               for i in range(3)]
    report = _report("verified")
    long = ("quorum 2 of 3 witnesses met only with the log's own development witnesses (development only (the log's "
            "own key)), not independent ones: cosigned by " + ", ".join(f"credshare.local/log/ad79c584bd4321f5/"
                                                                       f"dev-witness/{i}" for i in (1, 2, 3)))
    report.checks = [c if c.name != "witness_quorum" else Check(c.name, "unchecked", long) for c in report.checks]
    assert report.outcome == "incomplete"
    by = {"name": "N" * VERIFIED_BY_MAX, "organisation": "Organisation " * 7 + "O" * (VERIFIED_BY_MAX - 91)}
    assert len(by["organisation"]) == VERIFIED_BY_MAX
    with web_app.test_request_context():
        reader, pages = _pages(report_pdf(_doc(web_svc, report, fields=fields, by=by), paper))
    _assert_one_page_report(pages)
    assert "Field number 16 label" in pages[0] and "(whole in the appendix)" in pages[0]
    assert "Fields in full" in pages[1] and _flat(fields[-1]["value"]) in " ".join(pages[1:])
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == ((595, 842) if paper == "a4" else (612, 792))


@pytest.mark.slow
def test_the_pdf_of_a_live_link_signs_who_verified_and_never_holds_the_token(web_app, web_svc) -> None:
    owner = owner_client(web_app, OWNER)
    issue_to(web_svc, OWNER)
    link_id, token = create_link(owner, accept_delivery(owner))
    verifier = web_app.test_client()
    assert open_link(verifier, token).status_code == 200
    response = verifier.get(f"/s/{token}/receipt.pdf",
                            query_string={"verified_by_name": " Jordan  Lee ", "verified_by_org": "Mercy CVO"})
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    name = response.headers["Content-Disposition"]
    assert re.fullmatch(rf'attachment; filename="credshare-report-{re.escape(link_id)}-\d{{4}}-\d\d-\d\d\.pdf"', name)
    reader, pages = _pages(response.data)
    _assert_one_page_report(pages)
    assert "Could not be fully checked: Medical degree" in pages[0]  # this server's own witnesses only
    assert "Avery 0 Quinn" in pages[0] and "Example University School of Medicine" in pages[0]
    assert "Jordan Lee, Mercy CVO" in pages[0]
    # the token nowhere: text, metadata, links, the attachment, the bytes
    attached = next(iter(reader.attachments.values()))[0]
    annotations = [str(a.get_object()) for page in reader.pages for a in (page.get("/Annots") or [])]
    for place in ("".join(pages).replace(" ", ""), json.dumps(dict(reader.metadata)), "".join(annotations),
                  attached.decode(), response.data.decode("latin-1")):
        assert token not in place
    # "verified by" is inside the signed receipt; altering it breaks the signature
    keys = [PublicKey.from_jwk(k) for k in verifier.get("/.well-known/credshare-receipt-keys").get_json()["keys"]]
    payload = read_receipt(attached.decode(), keys)
    assert payload["verified_by"] == {"name": "Jordan Lee", "organisation": "Mercy CVO"}
    assert payload["link"]["id"] == link_id and token not in json.dumps(payload)
    head, body, signature = attached.decode().split(".")
    forged = {**json.loads(b64url_decode(body)), "verified_by": {"name": "Someone Else", "organisation": "Mercy CVO"}}
    with pytest.raises(SDJWTError):
        read_receipt(".".join([head, b64url_encode(json.dumps(forged).encode()), signature]), keys)
    # the re-check address shows the same signed receipt, by its id
    page = verifier.get(f"/receipts/{payload['jti']}").get_data(as_text=True)
    assert "This receipt is genuine" in page and "Jordan Lee, Mercy CVO" in page and token not in page
    # the issuer revokes: a new report says so
    record = web_svc.store.collection("credentials").find_one({})
    web_svc.status.set_status("example-med", record["status_list"], record["status_idx"], "revoked")
    _, pages = _pages(verifier.get(f"/s/{token}/receipt.pdf").data)
    _assert_one_page_report(pages)
    assert "Not verified: Medical degree" in pages[0] and "The issuer has revoked this credential." in pages[0]
    assert "Verified by not given" in pages[0]


@pytest.mark.slow
def test_the_print_stylesheet_hides_the_navigation_and_the_form(web_app, web_svc) -> None:
    """The receipt page as the browser prints it (print.css for print media, as base.html links
    it): the report without the site's header, footer, skip link, form or buttons."""
    owner = owner_client(web_app, OWNER)
    issue_to(web_svc, OWNER)
    _, token = create_link(owner, accept_delivery(owner))
    verifier = web_app.test_client()
    assert open_link(verifier, token).status_code == 200
    html = verifier.get(f"/s/{token}/receipt?verified_by_name=Jordan+Lee").get_data(as_text=True)
    assert '<link rel="stylesheet" href="/static/print.css" media="print">' in html
    for shown_on_screen in ("Skip to main content", "Sign in", "Create account", "Your name", "Download PDF",
                            "Selective disclosure: RFC 9901"):
        assert shown_on_screen in html
    for link in ('<link rel="stylesheet" href="/static/style.css">',
                 '<link rel="stylesheet" href="/static/print.css" media="print">'):
        html = html.replace(link, "")  # print.css alone, as render_pdf gives it
    _, pages = _pages(render_pdf(html, attachment="x", attachment_name="x.txt"))
    printed = " ".join(pages)
    _assert_one_page_report(pages)
    assert "Verified by Jordan Lee" in pages[0]
    for hidden in ("Skip to main content", "Sign in", "Create account", "Your name", "Download PDF", "credshare verifiable",
                   "Selective disclosure: RFC 9901", "Make the report"):
        assert hidden not in printed, hidden


# -- fast: "verified by", the page, the re-check address, the bound -------------------------

def test_verified_by_is_short_plain_text_or_nothing() -> None:
    assert verified_by(None, None) is None and verified_by("  ", "") is None
    assert verified_by(" Jordan \t Lee ", None) == {"name": "Jordan Lee", "organisation": None}
    assert verified_by("x" * VERIFIED_BY_MAX, "y")["name"] == "x" * VERIFIED_BY_MAX
    for name in ("x" * (VERIFIED_BY_MAX + 1), "Jordan\x00Lee", "Jordan\u202eLee", "a\x1b[31m"):
        with pytest.raises(InputError) as caught:
            verified_by(name, None)
        assert caught.value.code == "verified_by_invalid"


@pytest.fixture
def opened_link(web_app, web_svc):
    owner = owner_client(web_app, OWNER)
    issue_to(web_svc, OWNER)
    link_id, token = create_link(owner, accept_delivery(owner))
    verifier = web_app.test_client()
    assert open_link(verifier, token).status_code == 200
    return verifier, link_id, token


def test_the_report_page_has_the_form_a_print_button_and_escapes_what_was_typed(opened_link) -> None:
    verifier, _, token = opened_link
    page = verifier.get(f"/s/{token}/receipt", query_string={"verified_by_name": "<b>Jo</b>",
                                                             "verified_by_org": "Mercy & Co"}).get_data(as_text=True)
    assert '<input id="vb-name" name="verified_by_name" maxlength="100"' in page and '<label for="vb-org">' in page
    assert '<button type="button" class="print-button" data-print hidden>Print</button>' in page
    assert '<script src="/static/print.js" defer></script>' in page
    assert "<b>Jo</b>" not in page and "&lt;b&gt;Jo&lt;/b&gt;, Mercy &amp; Co" in page
    assert f"/s/{token}/receipt.pdf?verified_by_name=%3Cb%3EJo%3C/b%3E&amp;verified_by_org=Mercy+%26+Co" in page
    report = page.split('<article class="report"', 1)[1].split("</article>", 1)[0]
    assert token not in report and "Could not be fully checked: Medical degree" in report
    refused = verifier.get(f"/s/{token}/receipt", query_string={"verified_by_name": "x" * 101})
    assert refused.status_code == 400 and "longer than 100 characters" in refused.get_data(as_text=True)
    api = verifier.get(f"/api/v1/shares/{token}/receipt?verified_by_org=a%00b")
    assert api.status_code == 400 and api.get_json()["error"] == "verified_by_invalid"


def test_the_recheck_address_shows_the_kept_receipt_and_refuses_an_altered_one(opened_link, web_svc) -> None:
    verifier, _, token = opened_link
    receipt = verifier.get(f"/s/{token}/receipt.json?verified_by_name=Jordan+Lee").get_json()
    jti = receipt["receipt"]["jti"]
    assert receipt["receipt"]["recheck"] == f"http://localhost/receipts/{jti}"
    page = verifier.get(f"/receipts/{jti}")
    assert page.status_code == 200 and "Verified by</dt><dd id=\"report-verified-by\">Jordan Lee" in page.get_data(as_text=True)
    assert web_svc.receipts.stored(jti)["receipt"] == receipt["receipt"]
    assert verifier.get("/receipts/" + "A" * 22).status_code == 404
    assert verifier.get("/receipts/not-an-id").status_code == 404
    kept = web_svc.store.collection("receipts")
    head, body, signature = kept.find_one({"_id": jti})["jws"].split(".")
    altered = {**json.loads(b64url_decode(body)), "outcome": "verified"}
    kept.update_one({"_id": jti}, {"$set": {"jws": ".".join([head, b64url_encode(json.dumps(altered).encode()),
                                                              signature])}})
    gone = verifier.get(f"/receipts/{jti}")
    assert gone.status_code == 404 and "does not verify" in gone.get_data(as_text=True)


def test_receipts_of_one_link_are_bounded_per_hour(opened_link, web_svc) -> None:
    verifier, _, token = opened_link
    assert RECEIPTS_PER_LINK_PER_HOUR == web_svc.receipts.per_link.limit == 30
    web_svc.receipts.per_link.limit = 3  # the same limiter, a smaller bound to keep the test short
    codes = [verifier.get(f"/s/{token}/receipt.json").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    refused = verifier.get(f"/s/{token}/receipt")
    assert refused.status_code == 429 and "Too many reports for this link" in refused.get_data(as_text=True)
    assert verifier.get(f"/s/{token}/receipt.pdf").status_code == 429  # the PDF is a receipt too: not rendered
    assert web_svc.store.collection("receipts").count() == 3


def test_without_the_pdf_renderer_the_pdf_fails_clearly_and_the_page_still_prints(opened_link, monkeypatch) -> None:
    verifier, _, token = opened_link
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # as when Pango (or WeasyPrint) is missing: import fails
    response = verifier.get(f"/s/{token}/receipt.pdf")
    assert response.status_code == 503 and response.mimetype == "text/html"
    assert "The PDF cannot be made on this server" in response.get_data(as_text=True)
    assert verifier.get(f"/s/{token}/receipt").status_code == 200
