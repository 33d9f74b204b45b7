"""``pip install .`` gives a working product (issue 10, item 4): the wheel, installed
non-editable into a fresh virtual environment, holds the templates, static files and credential
types, installs no generic top-level import names, and serves the demo from a directory outside
the checkout, where a page renders and a share link verifies."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, stop_process_group
from tests.helpers import only_dev_witnessed, python_files, tree_of

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # from the tracked files only, as a fresh clone has them (a stale build/ would leak into the wheel)
    source = tmp_path_factory.mktemp("source")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, (t.decode() for t in tracked)):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                            "-w", str(out), str(source)], capture_output=True, text=True, timeout=300, cwd=out)
    assert build.returncode == 0, build.stderr
    (found,) = out.glob("credshare-*.whl")
    return found


def test_the_wheel_holds_pages_types_and_one_top_level_name(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith((".dist-info", ".data"))}
    assert top == {"credshare"}, top
    for needed in ("credshare/templates/base.html", "credshare/templates/verify.html", "credshare/static/style.css",
                   "credshare/credential_types/medical-degree.json", "credshare/sharing/owner_api.py",
                   "credshare/disclosure/jws.py", "credshare/storage/store.py"):
        assert needed in names, needed
    assert len([n for n in names if n.startswith("credshare/templates/")]) == len(list((ROOT / "templates").glob("*.html")))
    assert len([n for n in names if n.startswith("credshare/credential_types/")]) == len(
        list((ROOT / "credential_types").glob("*.json")))


def _open(opener: urllib.request.OpenerDirector, url: str, body: dict | None = None,
          headers: dict | None = None) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with opener.open(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_the_installed_wheel_serves_the_demo_from_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    pip = subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                          str(wheel)], capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr[-3000:]
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREDSHARE_", "MONGODB_", "PYTHON"))}
    env.update(CREDSHARE_DATA_DIR=str(outside / "data"), CREDSHARE_ARGON2_PROFILE="test")
    # no generic names: the checkout's folders are not importable from the installed product
    probe = subprocess.run([str(env_dir / "bin" / "python"), "-c",
                            "import importlib.util as u; print([m for m in ('storage', 'sharing', 'holding', 'verifier', "
                            "'issuing', 'disclosure', 'anchoring', 'app') if u.find_spec(m)])"],
                           capture_output=True, text=True, cwd=outside, env=env, timeout=60)
    assert probe.stdout.strip() == "[]", probe.stdout + probe.stderr
    port = free_port()
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([str(env_dir / "bin" / "credshare"), "serve", "--demo", "--port", str(port)], cwd=outside,
                            env=env, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline() + proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in banner, (banner, (tmp_path / "serve.log").read_text()[-3000:])
        email, password = re.search(r"as (\S+) with password (\S+)", banner).groups()
        base = f"http://127.0.0.1:{port}"
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        status, page = _open(opener, f"{base}/sign-in")
        assert status == 200 and "<form" in page and "/static/style.css" in page
        assert _open(opener, f"{base}/static/style.css")[0] == 200
        csrf = json.loads(_open(opener, f"{base}/api/v1/session")[1])["csrf_token"]
        status, _ = _open(opener, f"{base}/api/v1/session", {"email": email, "password": password}, {"X-CSRF-Token": csrf})
        assert status == 200
        csrf = json.loads(_open(opener, f"{base}/api/v1/session")[1])["csrf_token"]
        credentials = json.loads(_open(opener, f"{base}/api/v1/wallet/credentials")[1])["credentials"]
        degree = next(c for c in credentials if c["type"] == "medical-degree")
        assert degree["outcome"] == "incomplete"  # the log's own development witnesses only
        fields = [f["path"] for f in degree["fields"] if f["disclosable"]][:2]
        status, made = _open(opener, f"{base}/api/v1/wallet/credentials/{degree['id']}/links", {"fields": fields, "days": 7},
                             {"X-CSRF-Token": csrf})
        assert status == 201, made
        token = json.loads(made)["url"].rsplit("/", 1)[1]
        status, shown = _open(urllib.request.build_opener(), f"{base}/api/v1/shares/{token}")
        assert status == 200 and only_dev_witnessed(json.loads(shown)["verification"]), shown
        status, page = _open(urllib.request.build_opener(), f"{base}/s/{token}")
        assert status == 200 and "<html" in page
    finally:
        stop_process_group(proc)
        log.close()


def test_the_code_imports_its_packages_only_under_the_credshare_name() -> None:
    """A bare ``import storage`` would work in a checkout and fail once installed."""
    import ast

    bare = {"storage", "sharing", "disclosure", "anchoring", "issuing", "holding", "verifier", "blockcerts", "app"}
    found = []
    for path in python_files(with_tests=True):  # ours only: never a venv, node_modules or a cache of tools
        for node in ast.walk(tree_of(path)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            found += [f"{path}: {n}" for n in names if n.split(".")[0] in bare]
    assert found == []
