"""The physician's pages: the wallet (credentials with their live status, issuer deliveries,
upload), one credential with the share-link form, and the links with their access logs.

Every page is for the signed-in owner only, and every lookup is scoped to that owner: another
owner's credential or link id reads as unknown (404), never as forbidden.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse  # what redirect() returns; flask's Response is one

from credshare.foundation.errors import CredshareError, InputError, NotFoundError
from credshare.holding.wallet import NOT_STANDING, CredentialRefused, WalletEntry, credential_state, parse_upload
from credshare.issuing.types import CredentialType, field_rows
from credshare.sharing.access_log import browser_name, outcome_words
from credshare.sharing.context import login_required, services, signed_in_owner
from credshare.sharing.display import day, exact, iso, parse_paths, sentence, when
from credshare.sharing.qr import qr_svg
from credshare.verifier.report import Report

bp = Blueprint("wallet", __name__)

UNKNOWN_TYPE = "Credential of a type this site does not describe"
PAGE_HELPERS = {"day": day, "when": when, "exact": exact, "iso": iso}


def refused(message: str, code: str) -> None:
    """An error message for the next page: the words for the physician, the stable code kept
    as data beside them (``data-code``, as the JSON API's ``error``), never in the text."""
    flash(message, f"error:{code}")


def share_url(token: str) -> str:
    return f"{services().settings.public_url.rstrip('/')}/s/{token}"


def not_logged(report: Report) -> bool:
    """Is the credential from an issuer that keeps no log: keys from its metadata, or its key
    certified by X.509 roots on a credential that comes without an anchor proof?"""
    return report.status_of("issuer_keys") is not None or (
        report.status_of("issuer_certificate") is not None and report.status_of("inclusion") != "passed")


def number_fact(claims: dict[str, Any], ctype: CredentialType | None) -> dict[str, str] | None:
    """The credential's own number, when it has one (license, DEA, diploma, certificate
    number, program ID): the first top-level field of the type, in its order, whose name
    ends in ``_number`` or ``_id`` and that this credential holds. It tells two credentials
    of one type apart."""
    specs = [(spec.path[0], spec.label) for spec in ctype.claims if len(spec.path) == 1] if ctype else []
    for key, label in specs:
        value = claims.get(key)
        if (key.endswith("_number") or key.endswith("_id")) and isinstance(value, (str, int)) and not isinstance(value, bool):
            if str(value).strip():
                return {"label": label, "value": str(value)}
    return None


def _blockcerts_card(entry: WalletEntry) -> dict[str, Any]:
    """A Blockcerts record as the wallet shows it: the type and issuer it names, its dates, its
    fields (none disclosable: it is shared whole) and its status checked now."""
    record = entry.record
    report = services().wallet.status(entry)
    state = credential_state(report)
    return {
        "entry": entry, "type": None, "report": report, "claims": {}, "blockcerts": True,
        "type_name": record.type_name or UNKNOWN_TYPE, "number": None, "issued_at": record.issued_at,
        "no_log": False, "issuer": report.issuer_name or record.issuer_name or record.issuer_id,
        "recipient": record.recipient_name, "fields": field_rows(dict(record.fields), None),
        "state": state, "asks_before_sharing": state in NOT_STANDING,
        "unchecked": blockcerts_open_words(report),
    }


def type_name_of(entry: WalletEntry) -> str:
    """A wallet entry's type in words: the type this server describes, a Blockcerts record's own."""
    if entry.is_blockcerts:
        return entry.record.type_name or UNKNOWN_TYPE
    ctype = services().wallet.credential_type(entry)
    return ctype.name if ctype else UNKNOWN_TYPE


def _card(entry: WalletEntry, disclosable: set[tuple[str | int, ...]] | None = None) -> dict[str, Any]:
    """What the wallet shows of one credential: issuer, type, fields (marked when
    ``disclosable``), and status checked now."""
    if entry.is_blockcerts:
        return _blockcerts_card(entry)
    svc = services()
    ctype = svc.wallet.credential_type(entry)
    report = svc.wallet.status(entry)
    state = credential_state(report)
    claims = entry.claims
    return {
        "entry": entry, "type": ctype, "report": report, "claims": claims,
        "type_name": ctype.name if ctype else UNKNOWN_TYPE,
        "number": number_fact(claims, ctype),
        "issued_at": claims.get("iat") if isinstance(claims.get("iat"), int) else None,
        # an issuer without a log (keys from its metadata or its certificate): checkable only while its server answers
        "no_log": not_logged(report),
        "issuer": report.issuer_name or claims.get("iss"),
        "fields": field_rows(claims, ctype, disclosable),
        "state": state,
        "asks_before_sharing": state in NOT_STANDING,
        "blockcerts": False,
    }


@bp.get("/wallet")
@login_required
def wallet() -> str:
    owner = signed_in_owner()
    svc = services()
    cards = [_card(e) for e in svc.wallet.entries(owner)]
    offers = [{**offer, "type_name": _type_name(offer.get("type")), "issuer_name": _issuer_name(offer.get("issuer"))}
              for offer in svc.wallet.offers(owner)]
    return render_template("wallet.html", cards=cards, offers=offers, **PAGE_HELPERS)


def _type_name(slug: Any) -> str:
    ctype = services().types.get(slug) if isinstance(slug, str) else None
    return ctype.name if ctype else UNKNOWN_TYPE


def _issuer_name(issuer_id: Any) -> str:
    """An issuer hosted here, by its name (a delivery names its issuer by id)."""
    try:
        return str(services().issuers.get(str(issuer_id)).get("name") or issuer_id)
    except CredshareError:
        return str(issuer_id or "an issuer")


@bp.post("/wallet/upload")
@login_required
def upload() -> Any:
    owner = signed_in_owner()
    uploaded = request.files.get("file")
    text = uploaded.read().decode("utf-8", "replace") if uploaded and uploaded.filename else request.form.get("credential", "")
    try:
        entry, report = services().wallet.add_upload(owner, parse_upload(text))
    except CredentialRefused as exc:
        problems = [c for c in (exc.report.checks if exc.report else []) if c.status == "failed"]
        return render_template("upload_refused.html", error=exc, problems=problems), 422
    except CredshareError as exc:
        refused(f"Nothing was added. {sentence(exc.detail)} Choose the credential file your issuer gave you "
                "(or paste it) and try again.", exc.code)
        return redirect(url_for("wallet.wallet"))
    if entry.is_blockcerts:
        flash(blockcerts_added_words(report), "notice")
    elif not_logged(report):
        flash("The credential is in your wallet: its issuer's signature and every field were checked. Its issuer "
              "keeps no transparency log, so links to it show as incomplete, never as verified, and it can be "
              "checked only while the issuer's server answers.", "notice")
    else:
        flash("The credential passed every check and is in your wallet.", "notice")
    return redirect(url_for("wallet.credential", entry_id=entry.id))


# What a physician is told of a Blockcerts check that could not be made, by its code (the
# verifier's page keeps the technical detail); a check with no words here is named by its label.
_OPEN_WORDS = {
    "blockcerts_test_anchor": "it was recorded on a test chain, not a public blockchain, so nothing proves who issued it "
                              "or when",
    "blockcerts_key_unproven": "",  # follows from the anchor: said once, by the anchor's words
    "blockcerts_anchor_not_looked_up": "this server is not set up to look its blockchain record up",
    "blockcerts_anchor_unavailable": "its blockchain record could not be looked up just now",
    "blockcerts_no_revocation_list": "its issuer publishes no revocation list, so whether it was revoked cannot be known",
    "status_unavailable": "its issuer's revocation list could not be read just now",
    "blockcerts_profile_unavailable": "its issuer's profile could not be read",
}


def blockcerts_open_words(report: Report) -> list[str]:
    """The checks of a Blockcerts record that could not be made, each in a physician's words."""
    words = [_OPEN_WORDS.get(c.code, c.label[:1].lower() + c.label[1:]) for c in report.checks if c.status == "unchecked"]
    return [w for w in dict.fromkeys(words) if w]


def blockcerts_added_words(report: Report) -> str:
    """What the physician is told when a Blockcerts record entered the wallet: every check
    passed, or nothing failed and what could not be checked (a test anchor, say)."""
    open_words = blockcerts_open_words(report)
    if not open_words:
        return "The Blockcerts record passed every check and is in your wallet. It is shared whole, never field by field."
    return (f"The Blockcerts record is in your wallet. Nothing failed, but not everything could be checked: "
            f"{'; '.join(open_words)}. Links to it show as “could not be fully checked”, never as verified. "
            "It is shared whole, never field by field.")


@bp.post("/wallet/receive")
@login_required
def receive() -> Any:
    """Receive a credential by an OpenID4VCI offer (holding/receiving.py)."""
    try:
        entry, _ = services().receiver.receive(signed_in_owner(), request.form.get("offer", ""),
                                               request.form.get("tx_code", ""))
    except CredentialRefused as exc:
        problems = [c for c in (exc.report.checks if exc.report else []) if c.status == "failed"]
        return render_template("upload_refused.html", error=exc, problems=problems), 422
    except CredshareError as exc:
        if exc.http_status >= 500 and exc.code != "remote_unavailable":
            raise
        refused(f"Nothing was received. {sentence(exc.detail)} Check the offer code and the PIN and try again, "
                "or ask the issuer for a new offer.", exc.code)
        return redirect(url_for("wallet.wallet"))
    flash("The issuer's credential passed every check and is in your wallet.", "notice")
    return redirect(url_for("wallet.credential", entry_id=entry.id))


@bp.post("/wallet/offers/<offer_id>/accept")
@login_required
def accept_offer(offer_id: str) -> Any:
    try:
        entry, _ = services().wallet.accept_offer(signed_in_owner(), offer_id)
    except CredentialRefused as exc:
        return render_template("upload_refused.html", error=exc,
                               problems=[c for c in (exc.report.checks if exc.report else []) if c.status == "failed"]), 422
    flash("The issuer's credential passed every check and is in your wallet.", "notice")
    return redirect(url_for("wallet.credential", entry_id=entry.id))


@bp.post("/wallet/offers/<offer_id>/decline")
@login_required
def decline_offer(offer_id: str) -> Any:
    services().wallet.decline_offer(signed_in_owner(), offer_id)
    flash("The delivery was declined.", "notice")
    return redirect(url_for("wallet.wallet"))


def _entry_or_404(entry_id: str) -> WalletEntry:
    try:
        return services().wallet.get(signed_in_owner(), entry_id)
    except NotFoundError:
        abort(404)


@bp.get("/wallet/<entry_id>")
@login_required
def credential(entry_id: str) -> str:
    entry = _entry_or_404(entry_id)
    card = _card(entry, None if entry.is_blockcerts else {tuple(p) for p in entry.view.processed.paths.values()})
    links = services().shares.list(signed_in_owner(), credential=entry.id)
    return render_template("credential.html", card=card, links=links, share_url=share_url, **PAGE_HELPERS)


@bp.post("/wallet/<entry_id>/delete")
@login_required
def delete(entry_id: str) -> Any:
    owner = signed_in_owner()
    entry = _entry_or_404(entry_id)
    if request.form.get("confirm") != "yes":
        refused("Nothing was deleted. Tick the box to confirm the deletion (it cannot be undone), then press "
                "the button again.", "delete_not_confirmed")
        return redirect(url_for("wallet.credential", entry_id=entry.id))
    revoked = services().shares.delete_credential(owner, entry.id)
    flash(f"The credential was deleted and its {revoked} active link(s) revoked.", "notice")
    return redirect(url_for("wallet.wallet"))


def _int(name: str, default: int | None) -> int | None:
    """A number field of the form, as the whole number it holds (the share service checks its range)."""
    raw = (request.form.get(name) or "").strip()
    if not raw:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", raw):
        raise InputError(f"{name.replace('_', ' ')} must be a whole number", code="share_form_invalid")
    return int(raw)


@bp.post("/wallet/<entry_id>/shares")
@login_required
def create_share(entry_id: str) -> Any:
    owner = signed_in_owner()
    entry = _entry_or_404(entry_id)
    svc = services()
    try:
        summary = svc.shares.create(
            owner, entry, parse_paths(request.form.getlist("field")), holder=svc.accounts.holder_signer(owner),
            days=_int("days", 30), recipient=request.form.get("recipient", ""),
            passcode=request.form.get("passcode", ""), attempts=_int("attempts", 5),
            max_views=_int("max_views", None), history=request.form.get("history") == "yes",
            acknowledge_status=request.form.get("acknowledge_status"))
    except CredshareError as exc:
        if exc.http_status >= 500:
            raise
        next_step = ("" if exc.code.startswith("credential_") and exc.http_status == 409
                     else " Correct the form below and create the link again.")
        refused(f"The link was not created. {sentence(exc.detail)}{next_step}", exc.code)
        if exc.code == "credential_unknown":  # deleted meanwhile
            return redirect(url_for("wallet.wallet"))
        return redirect(url_for("wallet.credential", entry_id=entry.id))
    flash("Your link is ready. Copy it now or come back to this page later.", "notice")
    return redirect(url_for("wallet.share", link_id=summary.link_id))


@bp.get("/shares")
@login_required
def shares() -> str:
    owner = signed_in_owner()
    links = services().shares.list(owner)
    names = {entry.id: type_name_of(entry) for entry in services().wallet.entries(owner)}
    return render_template("shares.html", links=links, names=names, share_url=share_url, **PAGE_HELPERS)


@bp.get("/shares/<link_id>")
@login_required
def share(link_id: str) -> str:
    try:
        link = services().shares.get(signed_in_owner(), link_id)
    except NotFoundError:
        abort(404)
    url = share_url(link.token)
    try:
        held: WalletEntry | None = services().wallet.get(signed_in_owner(), link.credential)
    except NotFoundError:
        held = None  # the credential was deleted (and the link revoked with it)
    ctype = services().wallet.credential_type(held) if held is not None else None
    whole = held is not None and held.is_blockcerts
    labels = [ctype.label(tuple(p)) if ctype else ".".join(map(str, p)) for p in link.paths]
    access = [{**a, "browser": browser_name(a.get("user_agent")), "words": outcome_words(a.get("outcome"))}
              for a in link.access]
    type_name = type_name_of(held) if held is not None and (whole or ctype) else None
    return render_template("share.html", link=link, url=url, qr=qr_svg(url), labels=labels, access=access,
                           type_name=type_name, whole=whole, share_url=share_url, **PAGE_HELPERS)


@bp.post("/shares/<link_id>/revoke")
@login_required
def revoke(link_id: str) -> BaseResponse:
    """Revoke a link, once the physician confirmed it (``confirm=yes``, the button inside the
    page's "Revoke this link" step): a post without it revokes nothing and says so."""
    if request.form.get("confirm") != "yes":
        try:
            services().shares.get(signed_in_owner(), link_id)
        except NotFoundError:
            abort(404)
        refused("Nothing was revoked. To revoke the link, open \"Revoke this link\" and press "
                "\"Revoke this link now\".", "revoke_not_confirmed")
        return redirect(url_for("wallet.share", link_id=link_id))
    try:
        services().shares.revoke(signed_in_owner(), link_id)
    except NotFoundError:
        abort(404)
    flash("The link is revoked. Anyone opening it now sees that it was revoked.", "notice")
    return redirect(url_for("wallet.share", link_id=link_id))

