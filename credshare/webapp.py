"""The credshare web application: the services from the composition root
(:func:`credshare.compose.build_services`) under the ``sharing`` blueprints.

``create_app(config)`` builds a Flask app (Flask application-factory pattern). ``config``
may override any environment variable named in :mod:`credshare.foundation.config` (for example
``{"MONGODB_URI": "mongomock://", "CREDSHARE_DATA_DIR": tmpdir}``); other keys go to
``app.config`` as they are. ``services`` may be given ready-built instead.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from credshare.compose import AppServices, build_services
from credshare.foundation.config import ENV_VARS, load_settings, resource_dir
from credshare.sharing import (
    auth,
    check_pages,
    csrf,
    errors,
    hardening,
    health,
    home,
    issuer_api,
    log_api,
    owner_api,
    request_log,
    subscribe_pages,
    tiles_api,
    vci_api,
    verify_pages,
    wallet_pages,
)
from credshare.sharing.context import EXTENSION_KEY, current_owner
from credshare.sharing.json_body import StrictJSONProvider


def create_app(config: Mapping[str, Any] | None = None, services: AppServices | None = None) -> Flask:
    config = dict(config or {})
    if services is None:
        services = build_services(load_settings({**os.environ, **{k: str(config[k]) for k in ENV_VARS if k in config}}))
    settings = services.settings

    app = Flask(__name__, template_folder=str(resource_dir("templates")), static_folder=str(resource_dir("static")))
    app.json = StrictJSONProvider(app)  # every request.get_json() is strict and depth-bounded
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,  # Flask's own cookie: flash messages
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    app.config.update({k: v for k, v in config.items() if k.isupper()})
    if settings.trusted_proxies:
        # each of the n proxies appends to X-Forwarded-*: believe only the n right-most entries,
        # so a client's own forged entries are ignored (sharing.context.client_address)
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    app.extensions[EXTENSION_KEY] = services

    request_log.install(app)
    hardening.install(app)
    errors.install(app)
    csrf.install(app)
    app.jinja_env.globals["current_owner"] = current_owner
    app.register_blueprint(home.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(log_api.bp)
    app.register_blueprint(tiles_api.bp)
    app.register_blueprint(issuer_api.bp)
    app.register_blueprint(vci_api.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(wallet_pages.bp)
    app.register_blueprint(verify_pages.bp)
    app.register_blueprint(subscribe_pages.bp)
    app.register_blueprint(check_pages.bp)
    app.register_blueprint(owner_api.bp)
    return app
