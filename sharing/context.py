"""The services ``app.py`` wires into the Flask app, and typed access to them from views."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from credshare.config import Settings
from storage import Store

EXTENSION_KEY = "credshare"


@dataclass(frozen=True)
class AppServices:
    settings: Settings
    store: Store


def services() -> AppServices:
    return current_app.extensions[EXTENSION_KEY]
