"""The Flask app on the in-memory store: pages, health, headers, errors, configuration."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from credshare.webapp import create_app
from credshare.config import SECRET_KEY_FILENAME, load_settings
from credshare.errors import ConfigError, StoreUnavailableError


@pytest.fixture
def app(tmp_path: Path):
    return create_app({"MONGODB_URI": "mongomock://localhost/apptest", "CREDSHARE_DATA_DIR": str(tmp_path), "TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


def test_home_page_speaks_to_each_audience(client) -> None:
    page = client.get("/").get_data(as_text=True)
    for section in ("For physicians", "For credential verification organizations", "For issuers"):
        assert section in page
    assert "credshare verify" in page


def test_healthz_reports_status_and_backend(client) -> None:
    res = client.get("/healthz")
    assert res.status_code == 200
    body = res.get_json()
    assert body["status"] == "ok"
    assert body["store"] == {"backend": "mongomock"}
    assert len(body["instance_id"]) == 32
    assert client.get("/healthz").get_json()["instance_id"] == body["instance_id"]


def test_healthz_is_503_when_the_store_fails(app, client, monkeypatch) -> None:
    store = app.extensions["credshare"].store

    def down() -> None:
        raise StoreUnavailableError("down")

    monkeypatch.setattr(store, "ping", down)
    res = client.get("/healthz")
    assert res.status_code == 503
    assert res.get_json()["status"] == "unavailable"
    assert res.get_json()["error"] == "store_unavailable"


def test_security_headers_on_every_response(client) -> None:
    for path in ("/", "/healthz", "/no-such-page"):
        headers = client.get(path).headers
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "default-src 'self'" in headers["Content-Security-Policy"]


def test_unknown_api_route_is_json_with_a_code(client) -> None:
    res = client.get("/api/v1/nothing")
    assert res.status_code == 404
    assert res.get_json()["error"] == "not_found"


def test_access_log_never_contains_the_concrete_path_or_query(client, caplog) -> None:
    token = "tok_" + "A" * 40
    with caplog.at_level(logging.INFO, logger="credshare.access"):
        client.get(f"/s/{token}?passcode=987654")  # a share link: logged by its route, never its token
        client.get(f"/no/such/{token}")
        client.get(f"/?token={token}")
        client.get("/healthz")
    text = caplog.text
    assert token not in text and "987654" not in text
    assert "GET /s/<token> 404" in text and "GET - 404" in text and "GET / 200" in text and "GET /healthz 200" in text


def test_unknown_store_scheme_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        create_app({"MONGODB_URI": "postgres://x", "CREDSHARE_DATA_DIR": str(tmp_path)})
    assert err.value.code == "config_invalid"


def test_secret_key_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    env = {"CREDSHARE_DATA_DIR": str(tmp_path / "d")}
    first = load_settings(env)
    path = tmp_path / "d" / SECRET_KEY_FILENAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o700
    assert load_settings(env).secret_key == first.secret_key
    assert len(first.secret_key) >= 32
    assert first.secret_key not in repr(first)


def test_secret_key_from_environment_wins_and_is_not_written(tmp_path: Path) -> None:
    settings = load_settings({"CREDSHARE_DATA_DIR": str(tmp_path), "CREDSHARE_SECRET_KEY": "k" * 40})
    assert settings.secret_key == "k" * 40
    assert not (tmp_path / SECRET_KEY_FILENAME).exists()


@pytest.mark.parametrize(
    "env, fragment",
    [
        ({"CREDSHARE_SECRET_KEY": "short"}, "at least 32"),
        ({"CREDSHARE_PORT": "http"}, "CREDSHARE_PORT"),
        ({"CREDSHARE_PORT": "70000"}, "CREDSHARE_PORT"),
    ],
)
def test_bad_settings_are_refused(tmp_path: Path, env, fragment) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_settings({"CREDSHARE_DATA_DIR": str(tmp_path), **env})


def test_world_readable_secret_is_refused(tmp_path: Path) -> None:
    load_settings({"CREDSHARE_DATA_DIR": str(tmp_path)})
    os.chmod(tmp_path / SECRET_KEY_FILENAME, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_settings({"CREDSHARE_DATA_DIR": str(tmp_path)})


def test_log_endpoints_publish_what_offline_verification_needs(tmp_path: Path) -> None:
    from credshare.anchoring.note import NoteVerifier
    from credshare.anchoring.proof import verify_anchor_proof
    from credshare.anchoring.witness import WitnessKey

    app = create_app({"MONGODB_URI": "mongomock://localhost/logtest", "CREDSHARE_DATA_DIR": str(tmp_path),
                      "CREDSHARE_LOCAL_WITNESSES": "2", "CREDSHARE_WITNESS_QUORUM": "2"})
    client = app.test_client()
    assert client.get("/log/checkpoint").status_code == 404
    assert client.get("/log").get_json()["tree_size"] == 0
    app.extensions["credshare"].log.append([b"jwt-a", b"jwt-b", b"jwt-c"])
    log_key = NoteVerifier.decode(client.get("/log/key").get_data(as_text=True))
    served = client.get("/log/witnesses").get_json()
    keys = [WitnessKey.from_json(k) for k in served["witnesses"]]
    proof = client.get("/log/proof/2").get_json()
    assert client.get("/log/checkpoint").get_data(as_text=True) == proof["checkpoint"]
    verdict = verify_anchor_proof(proof, b"jwt-c", log_key=log_key, witness_keys=keys, quorum=served["quorum"])
    assert verdict.verified, verdict.to_json()
    assert (tmp_path / "log_ed25519.seed").stat().st_mode & 0o777 == 0o600
    bad = client.get("/log/proof/9")
    assert bad.status_code == 400 and bad.get_json()["error"] == "proof_unavailable"
