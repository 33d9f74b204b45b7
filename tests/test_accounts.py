"""Owner accounts, sessions, CSRF and the encrypted vault: the crypto helpers, the account
service on the in-memory and the embedded store, and the web flows through Flask's test client."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from credshare.disclosure.jws import PublicKey
from credshare.foundation.clock import ManualClock
from credshare.foundation.config import load_settings
from credshare.foundation.errors import (
    AuthenticationError,
    ConfigError,
    CredshareError,
    InputError,
    RateLimitedError,
)
from credshare.holding import vault
from credshare.holding.accounts import SESSIONS, AccountService, SessionInfo
from credshare.sharing.context import safe_next
from credshare.storage import open_store
from credshare.storage.rate_limit import RateLimiter
from credshare.webapp import create_app
from tests.conftest import services_on
from tests.helpers import EMAIL, PASSPHRASE, PASSWORD, csrf_from, register

NEW_PASSWORD = "a different and longer passphrase"
TEST = vault.profile_params("test")


@pytest.fixture
def app(tmp_path: Path, clock: ManualClock):
    """The app on a clock the test moves (``clock``)."""
    config = {"MONGODB_URI": "mongomock://localhost/accounts", "CREDSHARE_DATA_DIR": str(tmp_path),
              "CREDSHARE_ARGON2_PROFILE": "test"}
    return create_app({**config, "TESTING": True}, services=services_on(config, clock))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def accounts(app) -> AccountService:
    return app.extensions["credshare"].accounts


def sign_in(client, email: str = EMAIL, password: str = PASSWORD, next_path: str | None = None, **kwargs: Any):
    data = {"email": email, "password": password, "csrf_token": csrf_from(client)}
    if next_path is not None:
        data["next"] = next_path
    return client.post("/sign-in", data=data, **kwargs)


def session_cookie(client) -> str | None:
    cookie = client.get_cookie("credshare_session")
    return cookie.value if cookie is not None else None


def dump(store, *names: str) -> str:
    return "\n".join(json.dumps(doc, default=str) for name in names for doc in store.collection(name).find())


# -- the vault's cryptography -----------------------------------------------------------------

def test_seal_round_trip_with_random_nonces() -> None:
    key = vault.new_data_key()
    assert len(key) == 32 and key != vault.new_data_key()
    first, second = vault.seal(key, b"license 12345"), vault.seal(key, b"license 12345")
    assert first != second and "license" not in first
    assert vault.open_sealed(key, first) == vault.open_sealed(key, second) == b"license 12345"


def test_wrong_key_and_tampering_are_vault_unreadable() -> None:
    key = vault.new_data_key()
    sealed = vault.seal(key, b"payload")
    raw = bytearray(base64.b64decode(sealed))
    raw[-1] ^= 1
    for other_key, text in ((vault.new_data_key(), sealed), (key, base64.b64encode(bytes(raw)).decode()),
                            (key, "not base64!")):
        with pytest.raises(CredshareError) as err:
            vault.open_sealed(other_key, text)
        assert err.value.code == "vault_unreadable"


def test_argon2id_halves_are_distinct_and_depend_on_password_and_salt() -> None:
    salt = vault.new_salt()
    auth, wrap = vault.derive_wrap_key(PASSWORD, salt, TEST.ops, TEST.mem)
    assert len(auth) == len(wrap) == 32 and auth != wrap
    assert vault.derive_wrap_key(PASSWORD, salt, TEST.ops, TEST.mem) == (auth, wrap)
    assert vault.derive_wrap_key(PASSWORD + "!", salt, TEST.ops, TEST.mem)[0] != auth
    assert vault.derive_wrap_key(PASSWORD, vault.new_salt(), TEST.ops, TEST.mem)[1] != wrap
    assert vault.auth_matches(auth, vault.auth_hash(auth))
    assert not vault.auth_matches(wrap, vault.auth_hash(auth))
    assert vault.auth_hash(auth) == hashlib.sha256(auth).hexdigest()


def test_argon2_profiles_and_parameter_bounds(tmp_path: Path) -> None:
    from nacl.pwhash import argon2id

    assert vault.profile_params("interactive") == vault.KdfParams(argon2id.OPSLIMIT_INTERACTIVE,
                                                                   argon2id.MEMLIMIT_INTERACTIVE)
    assert TEST.ops >= argon2id.OPSLIMIT_MIN and TEST.mem == 8 * 1024 * 1024
    assert load_settings({"CREDSHARE_DATA_DIR": str(tmp_path)}).argon2_profile == "interactive"
    with pytest.raises(ConfigError, match="CREDSHARE_ARGON2_PROFILE"):
        load_settings({"CREDSHARE_DATA_DIR": str(tmp_path), "CREDSHARE_ARGON2_PROFILE": "fast"})
    with pytest.raises(InputError) as err:
        vault.derive_wrap_key(PASSWORD, vault.new_salt(), TEST.ops, 4 * 1024 * 1024 * 1024)
    assert err.value.code == "kdf_params_invalid"


def test_token_keys_are_separated_by_purpose_and_token() -> None:
    token = "t" * 43
    key = vault.key_from_token(token, "session")
    assert len(key) == 32 and key == vault.key_from_token(token, "session")
    assert key != vault.key_from_token(token, "other") and key != vault.key_from_token("u" * 43, "session")


# -- the account service ----------------------------------------------------------------------

def test_account_document_shape_and_holder_key(accounts: AccountService, app) -> None:
    session = accounts.register("  " + EMAIL + " ", PASSWORD)
    doc = app.extensions["credshare"].store.collection("accounts").find_one({"email": EMAIL.lower()})
    assert doc is not None and session.info.email == EMAIL.lower()
    assert set(doc) >= {"_id", "email", "created_at", "kdf", "auth_hash", "wrapped_key", "holder_jwk",
                        "sealed_holder_key"}
    assert doc["kdf"]["ops"] == TEST.ops and doc["kdf"]["mem"] == TEST.mem
    assert len(base64.b64decode(doc["kdf"]["salt"])) == 16
    assert "d" not in doc["holder_jwk"] and doc["holder_jwk"]["crv"] == "Ed25519"
    signer = accounts.holder_signer(session.info)
    assert signer.public_jwk == doc["holder_jwk"]
    assert PublicKey.from_jwk(doc["holder_jwk"]).verify("EdDSA", b"msg", signer.sign(b"msg"))


@pytest.mark.parametrize("email, password, code", [
    ("no-at-sign.example", PASSWORD, "email_invalid"),
    ("two words@example.org", PASSWORD, "email_invalid"),
    ("x" * 250 + "@e.org", PASSWORD, "email_invalid"),
    ("ok@example.org", "short pass", "password_too_short"),
    ("ok@example.org", "p" * 1025, "password_too_long"),
])
def test_registration_input_is_checked(accounts: AccountService, email: str, password: str, code: str) -> None:
    with pytest.raises(InputError) as err:
        accounts.register(email, password)
    assert err.value.code == code


def test_second_registration_of_an_address_is_account_exists(accounts: AccountService) -> None:
    accounts.register(EMAIL, PASSWORD)
    with pytest.raises(CredshareError) as err:
        accounts.register(EMAIL.upper(), NEW_PASSWORD)
    assert err.value.code == "account_exists" and err.value.http_status == 409


def test_wrong_password_and_unknown_email_fail_alike(accounts: AccountService, monkeypatch) -> None:
    accounts.register(EMAIL, PASSWORD)
    derivations: list[bytes] = []
    real = vault.derive_wrap_key

    def counting(password: str, salt: bytes, ops: int, mem: int) -> tuple[bytes, bytes]:
        derivations.append(salt)
        return real(password, salt, ops, mem)

    monkeypatch.setattr(vault, "derive_wrap_key", counting)
    errors = []
    for email, password in ((EMAIL, "wrong password here"), ("nobody@example.org", PASSWORD)):
        with pytest.raises(AuthenticationError) as err:
            accounts.sign_in(email, password, "10.0.0.1")
        errors.append(err.value.to_dict())
    assert errors[0] == errors[1] and errors[0]["error"] == "credentials_invalid"
    assert len(derivations) == 2  # the unknown address costs one Argon2id derivation too


def test_rate_limit_blocks_after_ten_failures_per_address_and_client(accounts: AccountService) -> None:
    accounts.register(EMAIL, PASSWORD)
    for _ in range(10):
        with pytest.raises(AuthenticationError):
            accounts.sign_in(EMAIL, "wrong password here", "10.0.0.1")
    with pytest.raises(RateLimitedError) as err:
        accounts.sign_in(EMAIL, PASSWORD, "10.0.0.1")  # even the right password: no oracle while blocked
    assert err.value.code == "rate_limited" and " s" in err.value.detail
    assert accounts.sign_in(EMAIL, PASSWORD, "10.0.0.2").info.email == EMAIL.lower()


def test_sessions_expire_idle_and_absolute(accounts: AccountService, app, clock: ManualClock) -> None:
    sessions = app.extensions["credshare"].store.collection(SESSIONS)
    session = accounts.register(EMAIL, PASSWORD)
    sid = session.info.session_id
    created = clock.utcnow()
    for _ in range(12 * 3 - 1):  # used every 20 minutes: the idle limit never ends it
        clock.advance(20 * 60)
        assert accounts.session(session.token) is not None
    clock.advance(20 * 60 - 30)  # 30 s before the absolute limit: the refresh is capped by it
    assert accounts.session(session.token) is not None
    now = clock.utcnow()
    expires = sessions.find_one({"_id": sid})["expires_at"]
    assert expires == created + timedelta(hours=12) < now + timedelta(minutes=1)
    # 31 s later: expired, though the store's TTL sweep has not run
    clock.advance(31)
    assert accounts.session(session.token) is None
    assert sessions.find_one({"_id": sid}) is None


def test_idle_refresh_moves_the_deadline(accounts: AccountService, app, clock: ManualClock) -> None:
    sessions = app.extensions["credshare"].store.collection(SESSIONS)
    session = accounts.register(EMAIL, PASSWORD)
    clock.advance(20 * 60)  # used 20 minutes after sign-in, 10 minutes before the idle limit
    now = clock.utcnow()
    assert accounts.session(session.token) is not None
    expires = sessions.find_one({"_id": session.info.session_id})["expires_at"]
    assert expires > now + timedelta(minutes=29)
    clock.advance(31 * 60)
    assert accounts.session(session.token) is None  # 30 idle minutes after the refresh


def test_change_password_keeps_the_data_key_and_ends_other_sessions(accounts: AccountService) -> None:
    first = accounts.register(EMAIL, PASSWORD)
    other = accounts.sign_in(EMAIL, PASSWORD, "10.0.0.9")
    sealed = vault.seal(first.info.data_key, b"sealed before the change")
    with pytest.raises(AuthenticationError) as err:
        accounts.change_password(first.info.account_id, first.info.data_key, "not the password", NEW_PASSWORD)
    assert err.value.code == "password_wrong"
    accounts.change_password(first.info.account_id, first.info.data_key, PASSWORD, NEW_PASSWORD,
                             keep_session=first.info.session_id)
    assert accounts.session(first.token) is not None and accounts.session(other.token) is None
    with pytest.raises(AuthenticationError):
        accounts.sign_in(EMAIL, PASSWORD, "10.0.0.1")
    again = accounts.sign_in(EMAIL, NEW_PASSWORD, "10.0.0.1")
    assert vault.open_sealed(again.info.data_key, sealed) == b"sealed before the change"
    assert accounts.holder_signer(again.info).public_jwk == first.info.holder_jwk


def test_accounts_open_with_the_parameters_they_were_made_with(app, tmp_path: Path) -> None:
    store = app.extensions["credshare"].store
    limiter = RateLimiter(store, "t", 10, 60)
    made_cheap = AccountService(store, profile="test", secret_key="s" * 40, limiter=limiter)
    made_cheap.register(EMAIL, PASSWORD)
    later = AccountService(store, profile="interactive", secret_key="s" * 40, limiter=limiter)
    assert later.params != made_cheap.params
    assert later.sign_in(EMAIL, PASSWORD, "c").info.email == EMAIL.lower()


def test_backup_round_trip_and_wrong_passphrase(accounts: AccountService) -> None:
    session = accounts.register(EMAIL, PASSWORD)
    entries = [{"id": "c1", "sealed": vault.seal(session.info.data_key, b"credential one")}]
    doc = json.loads(json.dumps(accounts.export_backup(session.info, PASSPHRASE, entries)))
    assert doc["type"] == "credshare-vault-backup/v1" and doc["email"] == EMAIL.lower()
    assert {"created_at", "kdf", "wrapped_key", "holder", "entries"} <= set(doc)
    data_key, holder, restored = accounts.open_backup(doc, PASSPHRASE)
    assert data_key == session.info.data_key and restored == entries
    assert holder["d"] and {k: v for k, v in holder.items() if k != "d"} == session.info.holder_jwk
    assert vault.open_sealed(data_key, restored[0]["sealed"]) == b"credential one"
    with pytest.raises(InputError) as err:
        accounts.open_backup(doc, "not the backup passphrase")
    assert err.value.code == "backup_passphrase_wrong"
    for broken in ({**doc, "entries": []}, {**doc, "type": "other"}, {**doc, "kdf": {**doc["kdf"], "mem": 2**40}},
                   "not an object"):
        with pytest.raises(InputError) as err:
            accounts.open_backup(broken, PASSPHRASE)
        assert err.value.code == "backup_invalid"


def test_account_service_on_the_embedded_store(tmp_path: Path) -> None:
    store = open_store(None, tmp_path / "data")
    try:
        service = AccountService(store, profile="test", secret_key="e" * 40,
                                 limiter=RateLimiter(store, "sign-in-failures", 10, 60))
        registered = service.register(EMAIL, PASSWORD)
        signed_in = service.sign_in(EMAIL, PASSWORD, "127.0.0.1")
        info = service.session(signed_in.token)
        assert isinstance(info, SessionInfo) and info.data_key == registered.info.data_key
        assert info.holder_jwk == registered.info.holder_jwk
        with pytest.raises(CredshareError) as err:
            service.register(EMAIL, PASSWORD)
        assert err.value.code == "account_exists"
        assert service.sign_out_everywhere(info.account_id) == 2
        assert service.session(signed_in.token) is None and service.session(registered.token) is None
    finally:
        store.close()


# -- the web flows ----------------------------------------------------------------------------

def test_register_sign_out_and_sign_in_on_the_web(client, accounts: AccountService) -> None:
    res = register(client)
    assert res.status_code == 302 and res.headers["Location"] == "/account"
    token = session_cookie(client)
    assert token and accounts.session(token) is not None
    page = " ".join(client.get("/account").get_data(as_text=True).split())
    assert EMAIL.lower() in page and "back door" in page and "cannot recover" in page
    res = client.post("/sign-out", data={"csrf_token": csrf_from(client, "/account")})
    assert res.status_code == 302 and session_cookie(client) is None
    assert accounts.session(token) is None
    assert client.get("/account").status_code == 302
    res = sign_in(client)
    assert res.status_code == 302 and res.headers["Location"] == "/wallet"
    assert client.get("/account").status_code == 200


def test_web_sign_in_errors_look_the_same(client) -> None:
    register(client)
    client.post("/sign-out", data={"csrf_token": csrf_from(client, "/account")})
    wrong = sign_in(client, password="wrong password here")
    unknown = sign_in(client, email="nobody@example.org")
    assert wrong.status_code == unknown.status_code == 401
    message = "The e-mail address or the password is wrong"
    assert message in wrong.get_data(as_text=True) and message in unknown.get_data(as_text=True)
    assert session_cookie(client) is None


def test_web_rate_limit_shows_429_on_the_form(client) -> None:
    register(client)
    client.post("/sign-out", data={"csrf_token": csrf_from(client, "/account")})
    for _ in range(10):
        assert sign_in(client, password="wrong password here").status_code == 401
    res = sign_in(client)
    assert res.status_code == 429
    page = res.get_data(as_text=True)
    assert "Too many failed sign-in attempts" in page and "<form" in page
    assert session_cookie(client) is None


def test_session_cookie_flags(tmp_path: Path) -> None:
    for public_url, secure in (("http://127.0.0.1:8080", False), ("https://credshare.example.org", True)):
        app = create_app({"MONGODB_URI": "mongomock://localhost/cookies", "CREDSHARE_DATA_DIR": str(tmp_path),
                          "CREDSHARE_ARGON2_PROFILE": "test", "CREDSHARE_PUBLIC_URL": public_url})
        client = app.test_client()
        res = register(client, email=f"{int(secure)}@example.org")
        header = next(h for h in res.headers.getlist("Set-Cookie") if h.startswith("credshare_session="))
        attributes = [part.strip().lower() for part in header.split(";")]
        assert "httponly" in attributes and "samesite=lax" in attributes and "path=/" in attributes
        assert ("secure" in attributes) is secure
        assert not any(a.startswith(("expires=", "max-age=")) for a in attributes)  # ends with the browser


def test_anonymous_csrf_cookie_is_http_only_and_lax(client) -> None:
    res = client.get("/sign-in")
    header = next(h for h in res.headers.getlist("Set-Cookie") if h.startswith("credshare_csrf="))
    assert "HttpOnly" in header and "SameSite=Lax" in header


def test_csrf_missing_or_wrong_is_refused_and_changes_nothing(client, app, accounts: AccountService) -> None:
    store = app.extensions["credshare"].store
    csrf_from(client, "/register")  # the anonymous CSRF cookie exists; only the token is missing
    for extra in ({}, {"csrf_token": "0" * 64}):
        res = client.post("/register", data={"email": "x@example.org", "password": PASSWORD, **extra})
        assert res.status_code == 400 and "csrf_invalid" in res.get_data(as_text=True)
    assert store.collection("accounts").count() == 0

    anonymous_token = csrf_from(client, "/register")  # valid for this browser before sign-in only
    register(client)
    token = session_cookie(client)
    for bad in ("", "f" * 64, anonymous_token):
        res = client.post("/account/password", data={"old_password": PASSWORD, "new_password": NEW_PASSWORD,
                                                      "new_password_confirm": NEW_PASSWORD, "csrf_token": bad})
        assert res.status_code == 400
        res = client.post("/sign-out", headers={"X-CSRF-Token": bad} if bad else {})
        assert res.status_code == 400
    assert accounts.session(token) is not None  # still signed in
    assert accounts.sign_in(EMAIL, PASSWORD, "10.9.9.9")  # the password is unchanged

    res = client.post("/api/v1/wallet/anything", json={})
    assert res.status_code == 400 and res.get_json()["error"] == "csrf_invalid"
    good = client.post("/sign-out", headers={"X-CSRF-Token": csrf_from(client, "/account")})
    assert good.status_code == 302 and accounts.session(token) is None


def test_issuer_api_is_exempt_from_csrf(client) -> None:
    res = client.post("/api/v1/issuers/nobody/batches", json={"type": "x", "rows": []})
    assert res.status_code == 401 and res.get_json()["error"] == "issuer_token_invalid"


def test_database_dump_holds_no_password_data_key_or_token(client, app, accounts: AccountService) -> None:
    register(client)
    sign_in(client.application.test_client())
    token = session_cookie(client)
    info = accounts.session(token)
    assert info is not None
    store = app.extensions["credshare"].store
    text = dump(store, "accounts", "sessions", "rate_limits")
    secrets_ = [PASSWORD, token, info.data_key.hex(), base64.b64encode(info.data_key).decode(),
                base64.urlsafe_b64encode(info.data_key).decode().rstrip("=")]
    for secret in secrets_:
        assert secret not in text
    session_doc = store.collection(SESSIONS).find_one({"account": info.account_id, "_id": info.session_id})
    assert session_doc is not None and session_doc["_id"] == hashlib.sha256(token.encode()).hexdigest()
    assert set(session_doc) == {"_id", "account", "data_key_sealed", "created_at", "last_seen", "expires_at"}
    assert EMAIL.lower() not in dump(store, "sessions")  # the account has it; a session needs no copy
    assert info.email == EMAIL.lower()


def test_open_redirect_is_ignored(client) -> None:
    register(client)
    client.post("/sign-out", data={"csrf_token": csrf_from(client, "/account")})
    # browsers drop tabs and newlines and read "\\" as "/": "/\t/evil.example" means "//evil.example"
    for target in ("https://evil.example", "//evil.example/x", "/\\evil.example", "/\t/evil.example",
                   "javascript:alert(1)"):
        res = sign_in(client, next_path=target)
        assert res.status_code == 302 and res.headers["Location"] == "/wallet", target
        client.post("/sign-out", data={"csrf_token": csrf_from(client, "/account")})
    assert sign_in(client, next_path="/account?tab=backup").headers["Location"] == "/account?tab=backup"
    assert safe_next("https://evil.example") == "/account" and safe_next("/x/y") == "/x/y"


def test_login_required_redirects_browsers_and_answers_api_with_401(app, client) -> None:
    from credshare.sharing.context import login_required

    @app.get("/api/v1/test-owner")
    @login_required
    def owner_only() -> dict[str, str]:
        return {"ok": "yes"}

    res = client.get("/api/v1/test-owner")
    assert res.status_code == 401 and res.get_json()["error"] == "sign_in_required"
    res = client.get("/account")
    assert res.status_code == 302 and res.headers["Location"] == "/sign-in?next=/account"
    register(client)
    assert client.get("/api/v1/test-owner").get_json() == {"ok": "yes"}


def test_web_password_change(client, accounts: AccountService) -> None:
    register(client)
    info = accounts.session(session_cookie(client))
    assert info is not None
    sealed = vault.seal(info.data_key, b"vault entry")
    res = client.post("/account/password", data={"old_password": "wrong password here", "new_password": NEW_PASSWORD,
                                                 "new_password_confirm": NEW_PASSWORD,
                                                 "csrf_token": csrf_from(client, "/account")})
    assert res.status_code == 401 and "current password is wrong" in res.get_data(as_text=True)
    res = client.post("/account/password", data={"old_password": PASSWORD, "new_password": NEW_PASSWORD,
                                                 "new_password_confirm": NEW_PASSWORD,
                                                 "csrf_token": csrf_from(client, "/account")})
    assert res.status_code == 302 and client.get("/account").status_code == 200
    client.post("/sign-out", data={"csrf_token": csrf_from(client, "/account")})
    assert sign_in(client).status_code == 401
    assert sign_in(client, password=NEW_PASSWORD).status_code == 302
    again = accounts.session(session_cookie(client))
    assert again is not None and vault.open_sealed(again.data_key, sealed) == b"vault entry"


def test_web_backup_download_and_restore(client) -> None:
    """The pages around WalletService.backup and restore_backup: the passphrase is checked, the
    file is read, and the outcome shown (a credential's round trip is in test_wallet_shares)."""
    register(client)
    res = client.post("/account/backup", data={"passphrase": PASSPHRASE, "passphrase_confirm": "another one",
                                               "csrf_token": csrf_from(client, "/account")})
    assert res.status_code == 400 and 'data-code="passphrases_differ"' in res.get_data(as_text=True)
    res = client.post("/account/backup", data={"passphrase": "short", "passphrase_confirm": "short",
                                               "csrf_token": csrf_from(client, "/account")})
    assert res.status_code == 400 and 'data-code="passphrase_too_short"' in res.get_data(as_text=True)
    res = client.post("/account/backup", data={"passphrase": PASSPHRASE, "passphrase_confirm": PASSPHRASE,
                                               "csrf_token": csrf_from(client, "/account")})
    assert res.status_code == 200 and res.headers["Content-Disposition"].startswith("attachment;")
    assert res.headers["Cache-Control"] == "no-store"
    backup = res.get_data()
    assert json.loads(backup)["entries"] == []  # the wallet is empty

    def upload(passphrase: str, content: bytes = backup):
        return client.post("/account/restore", content_type="multipart/form-data", data={
            "backup": (io.BytesIO(content), "backup.json"), "passphrase": passphrase,
            "csrf_token": csrf_from(client, "/account")})

    res = upload("not the backup passphrase")
    assert res.status_code == 400 and 'data-code="backup_passphrase_wrong"' in res.get_data(as_text=True)
    res = upload(PASSPHRASE, b"{not json")
    assert res.status_code == 400 and 'data-code="backup_invalid"' in res.get_data(as_text=True)
    res = upload(PASSPHRASE)
    assert res.status_code == 302
    assert "Restored 0 entries" in client.get("/account").get_data(as_text=True)


def test_nav_shows_the_signed_in_state(client) -> None:
    page = client.get("/").get_data(as_text=True)
    assert 'href="/sign-in"' in page and "Sign out" not in page
    register(client)
    page = client.get("/").get_data(as_text=True)
    assert "Sign out" in page and 'href="/account"' in page and 'href="/sign-in"' not in page


def test_resending_the_confirmation_does_not_hold_an_address_past_48_hours(accounts: AccountService,
                                                                             clock: ManualClock) -> None:
    """A squatter who cannot read the mailbox resends the link just before the 48 hours are up:
    the address is still free 48 hours after the registration (the service's clock is moved)."""
    from credshare.foundation.errors import ConflictError

    squatter = accounts.register(EMAIL, PASSWORD)
    clock.advance(47 * 3600)
    resent, _ = accounts.email_confirmation(squatter.info.account_id)  # valid until hour 95
    with pytest.raises(ConflictError):
        accounts.register(EMAIL, NEW_PASSWORD)  # still within the 48 hours
    clock.advance(3600 + 1)  # 48 hours and a second after the registration
    owner = accounts.register(EMAIL, NEW_PASSWORD)
    assert owner.info.account_id != squatter.info.account_id
    assert accounts.session(squatter.token) is None
    with pytest.raises(InputError):
        accounts.confirm_email(resent, squatter.info.account_id)
    with pytest.raises(ConflictError):
        accounts.register(EMAIL, PASSWORD)  # the new owner's address is held in turn


def test_what_issuance_may_ask_of_the_accounts(tmp_path: Path) -> None:
    """Issuance (another service) reads no account document: it asks the directory which
    addresses are confirmed owners here and for their wallet keys; a worker process makes its
    own directory from the store alone, and sees the same."""
    from credshare.holding.accounts import OwnerDirectory

    store = open_store("mongomock://localhost/directory", tmp_path)
    service = AccountService(store, profile="test", secret_key="d" * 40, limiter=RateLimiter(store, "t", 10, 60))
    confirmed = service.register("confirmed@example.org", PASSWORD).info
    service.mark_email_confirmed(confirmed.account_id)
    service.register("unconfirmed@example.org", PASSWORD)
    asked = ["confirmed@example.org", "unconfirmed@example.org", "nobody@example.org"]
    for directory in (service, OwnerDirectory(store)):
        assert directory.confirmed_owners(asked) == {"confirmed@example.org"}
        assert directory.wallet_keys(asked) == {"confirmed@example.org": confirmed.holder_jwk}
        assert directory.confirmed_owners([]) == set() and directory.wallet_keys([]) == {}
        assert directory.has_account(" Unconfirmed@Example.org ") and not directory.has_account("nobody@example.org")
