"""Owner accounts on the web: registration, sign-in and sign-out, password change, and the
encrypted vault backup (download and restore).

The session lives server-side (:mod:`holding.accounts`); the browser holds only its random token
in the ``credshare_session`` cookie: HttpOnly, SameSite=Lax, Path=/, and Secure when the public
URL is https (OWASP Session Management Cheat Sheet). Flask's own signed ``session`` cookie is
used only for flash messages, never for anything secret. Every form here is CSRF-checked by
:mod:`sharing.csrf` before its view runs.

* ``GET/POST /register``, ``GET/POST /sign-in``, ``POST /sign-out``
* ``GET /account``, ``POST /account/password``, ``POST /account/sign-out-everywhere``,
  ``POST /account/notifications`` (which e-mails the owner is sent: holding/notifications.py)
* ``POST /account/backup`` (a JSON attachment), ``POST /account/restore``
"""

from __future__ import annotations

import json
from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse  # what redirect() returns; flask's Response is one

from credshare.foundation import strict_json
from credshare.foundation.errors import CredshareError, InputError
from credshare.holding.accounts import Session, SessionInfo
from credshare.holding.shares import truncate_address
from credshare.sharing.context import (
    SESSION_COOKIE,
    client_address,
    current_owner,
    login_required,
    safe_next,
    services,
    session_token,
    signed_in_owner,
)

bp = Blueprint("auth", __name__)

MAX_BACKUP_BYTES = 8 * 1024 * 1024


@bp.after_request
def _no_store(response: Response) -> Response:
    """Account pages and backups must not linger in shared caches or the browser's history."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def set_session_cookie(response: BaseResponse, session: Session) -> BaseResponse:
    response.set_cookie(SESSION_COOKIE, session.token, httponly=True, samesite="Lax", path="/",
                        secure=services().settings.secure_cookies)
    return response


def _clear_session_cookie(response: BaseResponse) -> BaseResponse:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Lax",
                           secure=services().settings.secure_cookies)
    return response


def _signed_in(session: Session, target: str) -> BaseResponse:
    old = session_token()
    if old:
        services().accounts.sign_out(old)  # no two sessions in one browser; a planted token dies here
    return set_session_cookie(redirect(target), session)


# -- registration and sign-in -----------------------------------------------------------------

@bp.route("/register", methods=["GET", "POST"])
def register() -> BaseResponse | tuple[str, int] | str:
    if request.method == "GET":
        if current_owner() is not None:
            return redirect(url_for("auth.account"))
        return render_template("register.html", email="")
    email = request.form.get("email", "")
    password = request.form.get("password", "")
    confirm = request.form.get("password_confirm")
    if confirm is not None and confirm != password:
        return render_template("register.html", email=email, error="The two passwords differ.",
                               error_code="passwords_differ"), 400
    limiter, client = services().registrations, truncate_address(client_address())
    if limiter.take(client) is None:  # each registration costs an Argon2id derivation: bound them per address
        return render_template("register.html", email=email, error="Too many accounts were created from your network; "
                               "try again later.", error_code="rate_limited"), 429
    try:
        session = services().accounts.register(email, password)
    except CredshareError as exc:
        if exc.http_status >= 500:
            raise
        return render_template("register.html", email=email, error=exc.detail, error_code=exc.code), exc.http_status
    sent = _send_confirmation(session.info)
    flash("Your account is ready. Download an encrypted backup now: nobody can recover a lost password.")
    flash("We sent a confirmation link to your e-mail address. Issuers deliver to your wallet only once "
          "you have confirmed the address." if sent else
          "We could not send the confirmation e-mail just now; send it again from this page.")
    return _signed_in(session, url_for("auth.account"))


# -- e-mail confirmation --------------------------------------------------------------------

def _send_confirmation(info: SessionInfo) -> bool:
    """E-mail a single-use confirmation link; False when the mail could not be sent."""
    svc = services()
    token, email = svc.accounts.email_confirmation(info.account_id)
    link = f"{svc.settings.public_url.rstrip('/')}/confirm-email/{token}"
    body = (f"Someone, hopefully you, created a credshare wallet for {email}.\n\n"
            f"Open this link within 48 hours, signed in to that wallet, to confirm the address:\n\n{link}\n\n"
            "Until it is confirmed, issuers cannot deliver credentials to this wallet. If it was not you, "
            "ignore this message: the account lapses unconfirmed.\n")
    try:
        svc.mailer.send(email, "Confirm your e-mail address for credshare", body)
    except CredshareError:
        return False
    return True


@bp.get("/confirm-email/<token>")
def confirm_email_page(token: str) -> BaseResponse | str:
    """The link in the mail shows a button; opening it confirms nothing, so mail scanners and
    link previewers cannot confirm an address for whoever registered it."""
    if current_owner() is None:
        return redirect(url_for("auth.sign_in", next=url_for("auth.confirm_email_page", token=token)))
    return render_template("confirm_email.html", token=token, owner=current_owner())


@bp.post("/confirm-email/<token>")
@login_required
def confirm_email(token: str) -> BaseResponse | tuple[str, int]:
    owner = signed_in_owner()
    try:
        services().accounts.confirm_email(token, owner.account_id)
    except CredshareError as exc:
        if exc.http_status >= 500:
            raise
        return render_template("confirm_email.html", token=token, owner=owner, error=exc.detail, error_code=exc.code), 400
    flash("Your e-mail address is confirmed. Issuers can now deliver credentials to your wallet.")
    return redirect(url_for("wallet.wallet"))


@bp.post("/account/confirm-email")
@login_required
def resend_confirmation() -> BaseResponse | tuple[str, int]:
    owner = signed_in_owner()
    limiter = services().confirmation_mails
    if limiter.take(owner.account_id) is None:
        return _account_page(429, error="Several links were sent already; wait an hour.", error_code="rate_limited")
    try:
        sent = _send_confirmation(owner)
    except CredshareError as exc:
        return _account_page(exc.http_status, error=exc.detail, error_code=exc.code)
    flash("We sent a new confirmation link to your e-mail address." if sent else "The e-mail could not be sent; try later.")
    return redirect(url_for("auth.account"))


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> BaseResponse | tuple[str, int] | str:
    target = safe_next(request.values.get("next"), "/wallet")
    if request.method == "GET":
        return render_template("sign_in.html", email="", next=target)
    email = request.form.get("email", "")
    try:
        session = services().accounts.sign_in(email, request.form.get("password", ""), client_address())
    except CredshareError as exc:
        if exc.http_status >= 500:
            raise
        response = render_template("sign_in.html", email=email, next=target, error=exc.detail, error_code=exc.code)
        return response, exc.http_status
    return _signed_in(session, target)


@bp.post("/sign-out")
def sign_out() -> BaseResponse:
    services().accounts.sign_out(session_token())
    flash("You are signed out.")
    return _clear_session_cookie(redirect(url_for("auth.sign_in")))


# -- the account page --------------------------------------------------------------------------


def _account_page(status: int = 200, **context: Any) -> tuple[str, int]:
    from credshare.holding.notifications import KINDS

    owner = signed_in_owner()
    notices = services().physician_notices.preferences(owner.account_id)
    return render_template("account.html", owner=owner, notices=notices, notice_names=KINDS, **context), status


@bp.get("/account")
@login_required
def account() -> tuple[str, int]:
    return _account_page()


@bp.post("/account/password")
@login_required
def change_password() -> BaseResponse | tuple[str, int]:
    owner = signed_in_owner()
    new = request.form.get("new_password", "")
    if request.form.get("new_password_confirm", new) != new:
        return _account_page(400, error="The two new passwords differ.", error_code="passwords_differ")
    try:
        services().accounts.change_password(owner.account_id, owner.data_key, request.form.get("old_password", ""),
                                            new, keep_session=owner.session_id)
    except CredshareError as exc:
        if exc.http_status >= 500:
            raise
        return _account_page(exc.http_status, error=exc.detail, error_code=exc.code)
    flash("Your password is changed. Every other session was signed out.")
    return redirect(url_for("auth.account"))


@bp.post("/account/notifications")
@login_required
def notifications() -> BaseResponse:
    """The e-mails the owner wants: the checked boxes are on, every other kind off."""
    owner = signed_in_owner()
    services().physician_notices.set_preferences(owner.account_id, request.form.getlist("notice"))
    flash("Your e-mail notifications are saved.")
    return redirect(url_for("auth.account"))


@bp.post("/account/sign-out-everywhere")
@login_required
def sign_out_everywhere() -> BaseResponse:
    owner = signed_in_owner()
    ended = services().accounts.sign_out_everywhere(owner.account_id, except_session=owner.session_id)
    flash(f"Signed out {ended} other session{'s' if ended != 1 else ''}.")
    return redirect(url_for("auth.account"))


# -- backup and restore ------------------------------------------------------------------------

@bp.post("/account/backup")
@login_required
def backup() -> BaseResponse | tuple[str, int]:
    """Download the vault as an encrypted JSON file: its keys and every credential of the
    wallet, sealed (holding/wallet.py ``WalletService.backup``)."""
    owner = signed_in_owner()
    passphrase = request.form.get("passphrase", "")
    if request.form.get("passphrase_confirm", passphrase) != passphrase:
        return _account_page(400, error="The two passphrases differ.", error_code="passphrases_differ")
    try:
        doc = services().wallet.backup(owner, passphrase)
    except CredshareError as exc:
        if exc.http_status >= 500:
            raise
        return _account_page(exc.http_status, error=exc.detail, error_code=exc.code)
    day = services().clock.utcnow().strftime("%Y-%m-%d")
    response = Response(json.dumps(doc, indent=1), mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="credshare-backup-{day}.json"'
    return response


@bp.post("/account/restore")
@login_required
def restore() -> BaseResponse | tuple[str, int]:
    """Restore an uploaded backup into the wallet (holding/wallet.py ``WalletService.restore_backup``
    checks it with its passphrase and holds the rules); this reads the upload and shows the outcome."""
    owner = signed_in_owner()
    upload = request.files.get("backup")
    if upload is None or not upload.filename:
        return _account_page(400, error="Choose a backup file.", error_code="backup_invalid")
    raw = upload.stream.read(MAX_BACKUP_BYTES + 1)
    not_a_backup = "This file is not a credshare vault backup."
    if len(raw) > MAX_BACKUP_BYTES:
        return _account_page(400, error=not_a_backup, error_code="backup_invalid")
    try:
        doc = strict_json.loads_or_refuse(raw, "backup_invalid", not_a_backup)
    except InputError as exc:
        return _account_page(400, error=not_a_backup, error_code=exc.code)
    try:
        count = services().wallet.restore_backup(owner, doc, request.form.get("passphrase", ""))
    except CredshareError as exc:
        if exc.http_status >= 500:
            raise
        return _account_page(exc.http_status, error=exc.detail, error_code=exc.code)
    flash(f"Restored {count} entr{'y' if count == 1 else 'ies'} from the backup.")
    return redirect(url_for("auth.account"))
