"""Imports run downward only (issue 11): foundation < pure cores < storage < services < web <
entry points. The pure cores (disclosure, anchoring, verifier) import no Flask, no store and no
service; the foundation imports nothing of ours but itself.

Imports under ``if TYPE_CHECKING:`` are annotations, not dependencies, and are not counted.
"""

from __future__ import annotations

import ast

import pytest

from tests.helpers import FOLDERS, modules

LAYERS = {"foundation": 0, "core": 1, "storage": 2, "service": 3, "web": 4, "entry": 5}
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


# -- one owner per collection (issue 11, item 2) --------------------------------------------------
#
# A module *opens* a collection when it calls ``<anything>.collection(X)`` with X a string or a
# module-level constant naming it (its own, or one it imports), or when it imports such a
# constant from another module (it could open the collection with it). Every collection has
# one opening module; the others go through that module's methods.

def _constants(tree: ast.Module) -> dict[str, str]:
    """Module-level string constants: ``A = "x"`` and ``A, B = "x", "y"``."""
    found: dict[str, str] = {}
    for node in tree.body:
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            pairs = zip(target.elts, node.value.elts, strict=False) if isinstance(target, ast.Tuple) and \
                isinstance(node.value, ast.Tuple) else [(target, node.value)]
            for name, value in pairs:
                if isinstance(name, ast.Name) and isinstance(value, ast.Constant) and isinstance(value.value, str):
                    found[name.id] = value.value
    return found


def collection_openers(sources: dict[str, str]) -> dict[str, set[str]]:
    """``{collection name: modules that open it}`` over ``{module name: source}``."""
    trees = {module: ast.parse(source) for module, source in sources.items()}
    constants = {module: _constants(tree) for module, tree in trees.items()}
    imported: dict[str, dict[str, tuple[str, str]]] = {}  # module -> local name -> (module, name)
    for module, tree in trees.items():
        imported[module] = {(a.asname or a.name): (node.module, a.name) for node in ast.walk(tree)
                            if isinstance(node, ast.ImportFrom) and node.module for a in node.names}

    def value_of(module: str, name: str) -> str | None:
        if name in constants[module]:
            return constants[module][name]
        source = imported[module].get(name)
        return constants.get(source[0], {}).get(source[1]) if source else None

    openers: dict[str, set[str]] = {}
    for module, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "collection" \
                    and len(node.args) == 1:
                arg = node.args[0]
                name = arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else \
                    value_of(module, arg.id) if isinstance(arg, ast.Name) else None
                if name is not None:
                    openers.setdefault(name, set()).add(module)
    for module in trees:  # importing another module's constant for a collection opens it too
        for source_module, name in imported[module].values():
            value = constants.get(source_module, {}).get(name)
            if value in openers and source_module != module:
                openers[value].add(module)
    return openers


def test_each_collection_has_one_owning_module() -> None:
    sources = {module: path.read_text(encoding="utf-8") for module, path in modules()}
    shared = {name: sorted(found) for name, found in collection_openers(sources).items() if len(found) > 1}
    assert shared == {}


OWNER = 'THINGS = "things"\n\nclass Things:\n    def __init__(self, store):\n        self._c = store.collection(THINGS)\n'


@pytest.mark.parametrize("other", [
    "from credshare.storage.things import THINGS\n",  # imports the constant naming it
    "def peek(store):\n    return store.collection('things').find()\n",  # opens it by its name
    'NAME = "things"\n\ndef peek(store):\n    return store.collection(NAME)\n',  # a second constant of its own
    "from credshare.storage.things import THINGS as T\n\ndef peek(svc):\n    return svc.store.collection(T)\n",
])
def test_the_check_catches_a_second_opener(other: str) -> None:
    found = collection_openers({"credshare.storage.things": OWNER, "credshare.issuing.peek": other})
    assert found["things"] == {"credshare.storage.things", "credshare.issuing.peek"}


def test_the_check_lets_a_module_go_through_the_owners_methods() -> None:
    other = "from credshare.storage.things import Things\n\ndef peek(store):\n    return Things(store).find()\n"
    found = collection_openers({"credshare.storage.things": OWNER, "credshare.issuing.peek": other})
    assert found == {"things": {"credshare.storage.things"}}
