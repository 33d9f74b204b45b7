"""mypy over the installed package names (credshare, credshare.disclosure, ...).

The repository keeps the design's top-level folders and pyproject.toml maps them under
``credshare`` ([tool.setuptools.package-dir]); the editable install reaches them through an
import hook, which mypy does not follow (python/mypy#13392), and ``mypy -p credshare`` from the
root would see ./credshare alone. So this links the folders into the wheel's layout under
.venv/mypy-src/credshare (symlinks, rebuilt on each run), checks that with the [tool.mypy]
settings in pyproject.toml, and reports the repository's own paths. Arguments go to mypy.

    .venv/bin/python scripts/typecheck.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / ".venv" / "mypy-src"


def link_tree() -> dict[str, str]:
    """Build the link tree; returns {tree prefix: repository prefix} for the report's paths."""
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    shutil.rmtree(TREE, ignore_errors=True)
    package = TREE / "credshare"
    package.mkdir(parents=True)
    prefixes: dict[str, str] = {}
    for name, folder in sorted(mapping.items(), key=lambda item: -item[0].count(".")):
        if name == "credshare":
            continue
        target = package / name.split(".", 1)[1]
        target.symlink_to(ROOT / folder, target_is_directory=True)
        prefixes[f"{target.relative_to(ROOT)}/"] = f"{folder}/"
    for entry in (ROOT / mapping["credshare"]).iterdir():
        if entry.suffix in (".py", ".pyi", ".typed"):
            (package / entry.name).symlink_to(entry)
    prefixes[f"{package.relative_to(ROOT)}/"] = f"{mapping['credshare']}/"
    return prefixes


def main(argv: list[str]) -> int:
    prefixes = link_tree()
    command = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), *argv,
               str((TREE / "credshare").relative_to(ROOT))]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "MYPY_FORCE_COLOR": "0"})
    for stream, text in ((sys.stdout, done.stdout), (sys.stderr, done.stderr)):
        for line in text.splitlines(keepends=True):
            for tree_prefix, repo_prefix in prefixes.items():  # longest (subpackage) prefixes first
                if line.startswith(tree_prefix):
                    line = repo_prefix + line[len(tree_prefix):]
                    break
            stream.write(line)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
