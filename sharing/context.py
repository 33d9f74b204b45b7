"""The services ``app.py`` wires into the Flask app, and typed access to them from views."""

from __future__ import annotations

from flask import current_app

from credshare.services import AppServices

EXTENSION_KEY = "credshare"


def services() -> AppServices:
    return current_app.extensions[EXTENSION_KEY]
