"""The test suite's own layering (issue 11, item 4): fixtures that several modules use live in
tests/conftest.py (pytest's shared-fixture file), plain helpers in tests/helpers.py and
tests/sdjwt_helpers.py, and no module under tests/ imports a ``test_*`` module. Importing one
would re-register its fixtures in the importer and run its module-level setup a second time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT


def imported_modules(source: str, package: str) -> list[str]:
    """Absolute names of the modules a source file imports (``from X import y`` counts both X and
    X.y, since y may be a module), relative imports resolved against ``package``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1] if node.level else [])
            module = ".".join(filter(None, [base, node.module or ""]))
            found.append(module)
            found += [f"{module}.{alias.name}" for alias in node.names]
    return found


def imports_of_test_modules(source: str, package: str) -> list[str]:
    """The ``tests...test_*`` modules among those a source file imports."""
    return [name for name in imported_modules(source, package)
            if name.split(".")[0] == "tests" and name.rsplit(".", 1)[-1].startswith("test_")]



def suite_files() -> list[tuple[str, Path]]:
    """(package, path) of every Python file under tests/."""
    return [(".".join(path.relative_to(ROOT).parent.parts), path) for path in sorted((ROOT / "tests").rglob("*.py"))]


def test_no_test_module_imports_another() -> None:
    found = {str(path.relative_to(ROOT)): bad for package, path in suite_files()
             if (bad := imports_of_test_modules(path.read_text(encoding="utf-8"), package))}
    assert found == {}


@pytest.mark.parametrize("source", [
    "from tests.test_issuing import degree_row\n",
    "import tests.test_accounts\n",
    "import tests.test_accounts as accounts\n",
    "from tests import test_verifier\n",
    "from .test_wallet_shares import OWNER\n",
    "from . import test_wallet_shares\n",
    "def f():\n    from tests.test_rate_limit import race\n",
    "from tests.e2e.test_flow import LiveServer\n",
])
def test_an_import_of_a_test_module_is_found(source: str) -> None:
    assert imports_of_test_modules(source, "tests")


@pytest.mark.parametrize("source", [
    "from tests.conftest import ROOT\n",
    "from tests.helpers import degree_row\n",
    "from tests.sdjwt_helpers import disclosure\n",
    "from .conftest import LiveServer\n",
    "import pytest\n",
])
def test_conftest_and_helper_imports_are_allowed(source: str) -> None:
    assert imports_of_test_modules(source, "tests.e2e") == []
