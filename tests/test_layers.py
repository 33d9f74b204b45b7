"""Imports run downward only (issue 11): foundation < pure cores < storage < services < web <
entry points. The pure cores (disclosure, anchoring, verifier) import no Flask, no store and no
service; the foundation imports nothing of ours but itself.

Imports under ``if TYPE_CHECKING:`` are annotations, not dependencies, and are not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

LAYERS = {"foundation": 0, "core": 1, "storage": 2, "service": 3, "web": 4, "entry": 5}
FOLDERS = {"foundation": "foundation", "disclosure": "core", "anchoring": "core", "verifier": "core", "storage": "storage",
           "issuing": "service", "holding": "service", "sharing": "web"}
OUTSIDE_THE_CORES = ("flask", "werkzeug", "pymongo", "neosqlite", "mongomock", "gunicorn")


def layer(module: str) -> str:
    """The layer of a ``credshare...`` module name."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "__version__":
        return "foundation"  # the package's root holds its version and nothing else below the roof
    if parts[1] in FOLDERS:
        return FOLDERS[parts[1]]
    return "entry"  # credshare/ itself: the composition root and the entry points


def imports(source: str, package: str) -> list[str]:
    """Absolute names a module's source imports, leaving out ``if TYPE_CHECKING:`` blocks."""
    tree = ast.parse(source)
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
               and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING"
               for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found += [f"{base}.{a.name}" if base == "credshare" else base for a in node.names] if base else []
    return found


def upward(module: str, source: str) -> list[str]:
    """What ``module`` (named ``credshare.<folder>.<name>``) imports against the layering."""
    mine = layer(module)
    bad = []
    for name in imports(source, module.rsplit(".", 1)[0]):
        if name.split(".")[0] in OUTSIDE_THE_CORES and mine in ("foundation", "core"):
            bad.append(name)
        elif name.startswith("credshare") and LAYERS[layer(name)] > LAYERS[mine]:
            bad.append(name)
    return bad


def modules() -> list[tuple[str, Path]]:
    out = [(f"credshare.{path.stem}", path) for path in (ROOT / "credshare").glob("*.py")]
    for folder in FOLDERS:
        out += [(f"credshare.{folder}.{path.stem}", path) for path in (ROOT / folder).glob("*.py")]
    return out


def test_no_import_runs_upward() -> None:
    found = {module: bad for module, path in modules() if (bad := upward(module, path.read_text(encoding="utf-8")))}
    assert found == {}


@pytest.mark.parametrize(("module", "source"), [
    ("credshare.disclosure.jws", "import flask\n"),
    ("credshare.verifier.bundle", "from credshare.storage import open_store\n"),
    ("credshare.anchoring.proof", "from credshare.issuing.status import StatusService\n"),
    ("credshare.foundation.errors", "from credshare.disclosure.errors import SDJWTError\n"),
    ("credshare.storage.store", "from credshare.holding import wallet\n"),
    ("credshare.issuing.batch", "from credshare.sharing.context import services\n"),
    ("credshare.sharing.home", "from credshare.compose import AppServices\n"),
    ("credshare.verifier.report", "from ..issuing import key_history\n"),
    ("credshare.foundation.config", "from credshare.cli import main\n"),
    ("credshare.foundation.sealing", "from credshare.storage.keys import load_log_signer\n"),
    ("credshare.foundation.errors", "import pymongo\n"),
    ("credshare.storage.mail", "from credshare.compose import build_services\n"),
])
def test_the_check_catches_an_upward_import(module: str, source: str) -> None:
    assert upward(module, source), source


def test_the_check_lets_downward_and_type_only_imports_be() -> None:
    assert upward("credshare.sharing.context", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                  "    from credshare.compose import AppServices\n") == []
    assert upward("credshare.holding.wallet", "from credshare.verifier.report import Report\n"
                  "from credshare.foundation import strict_json\nfrom credshare.storage import Store\n") == []
