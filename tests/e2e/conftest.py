"""Fixtures for the real-browser end-to-end tests.

- ``live_server`` (module scope): the real server, ``credshare serve`` under gunicorn, as a child
  process on a free port, with its own data directory and the embedded store. It has ``.url``,
  ``.port``, ``.data_dir``, ``.env`` (the environment to run other ``credshare`` commands against
  the same data directory), ``.cli(*args)``, ``.get(path)``, ``.log()``, ``.stop()`` and ``.start()``.
- ``run_cli(live_server, *args)``: runs ``credshare ARGS`` with the server's environment and
  returns its JSON output (importable: ``from tests.e2e.conftest import run_cli``).
- ``browser`` (session scope): headless Debian chromium driven by Playwright's sync API. Playwright
  never downloads a browser here; ``scripts/test.sh`` installs Debian's ``chromium`` with apt-get.
  ``CREDSHARE_CHROMIUM`` names another binary. If there is none, the tests fail: they never skip.
- ``new_context()`` (per test): a fresh browser context (own cookies and storage: one person) whose
  relative URLs resolve against ``live_server.url``. ``page`` is a page in a first such context.
- ``register(page, server)`` signs a physician up in the browser and confirms the e-mail address
  from the outbox; ``issue_file(server, tmp_path)`` makes an issuer and issues that physician a
  medical degree, returning the credential file (importable, like ``run_cli``).
- ``console_errors`` (per test): every console error and uncaught page error of every page of
  those contexts, as text.
- ``Walk``: checks each page it is shown at a desktop and a phone width (no sideways scroll,
  no serious or critical axe-core violation) and collects what is wrong (tests/e2e/test_pages.py,
  tests/e2e/test_blockcerts.py).

When a test fails, each of its open pages is saved as a PNG in the test's tmp_path and the paths
are printed with the failure.
"""

from __future__ import annotations

import csv
import dataclasses
import email
import email.policy
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, free_port, stop_process_group

CREDSHARE = Path(sys.executable).parent / "credshare"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
START_TIMEOUT = 90.0  # the first start makes the log key and the development witness keys
ACTION_TIMEOUT_MS = 10_000


def chromium_path() -> str:
    return os.environ.get("CREDSHARE_CHROMIUM") or DEFAULT_CHROMIUM


@dataclasses.dataclass
class HttpAnswer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class LiveServer:
    """``credshare serve`` in its own process group, on the embedded store in ``data_dir``."""

    def __init__(self, data_dir: Path, *serve_args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.serve_args = tuple(serve_args)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CREDSHARE_") and k != "MONGODB_URI"}
        env.update(
            CREDSHARE_DATA_DIR=str(data_dir),
            CREDSHARE_PUBLIC_URL=self.url,
            CREDSHARE_ARGON2_PROFILE="test",
            # the other organisations of a test run (wallets a verifier checks links of, schools'
            # sites) are on this machine: allowed by name for URLs that came from outside
            CREDSHARE_FETCH_ALLOW_HOSTS="127.0.0.1",
        )
        self.env: dict[str, str] = env
        self.log_path = data_dir.parent / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the server (again, on the same port and data directory) and wait for /healthz."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("the server is already running")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(CREDSHARE), "serve", "--host", "127.0.0.1", "--port", str(self.port), *self.serve_args],
                cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() reaches gunicorn's workers too
            )
        deadline = time.monotonic() + timeout
        problem = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                problem = f"exited with status {self.proc.returncode}"
                break
            try:
                answer = self.get("/healthz", timeout=2)
            except OSError as exc:
                problem = f"no answer ({exc})"
            else:
                body = answer.json() if answer.status == 200 else {}
                if body.get("status") == "ok":
                    if body["store"]["backend"] != "embedded":
                        self.stop()
                        pytest.fail(f"live server uses the {body['store']['backend']} store, not the embedded one")
                    return
                problem = f"/healthz answered {answer.status}"
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"credshare serve did not become healthy within {timeout:.0f} s ({problem}); "
                    f"its log:\n{self.log()[-4000:]}")

    def stop(self, timeout: float = 30.0) -> str:
        """SIGTERM to the whole process group, SIGKILL if it lingers; returns the server's log."""
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_process_group(proc, timeout)
        return self.log()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        """Everything the server wrote to stdout and stderr so far (over all its starts)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def get(self, path: str, timeout: float = 10) -> HttpAnswer:
        """A plain HTTP GET (no browser), whatever the status."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as res:
                return HttpAnswer(res.status, {k.lower(): v for k, v in res.headers.items()}, res.read())
        except urllib.error.HTTPError as err:
            return HttpAnswer(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())

    def cli(self, *args: Any, **kwargs: Any) -> Any:
        return run_cli(self, *args, **kwargs)


def run_cli(server: LiveServer, *args: Any, input: str | None = None, check: bool = True,
            timeout: float = 120) -> Any:
    """Run ``credshare ARGS`` against the server's data directory and return the JSON document it
    printed first on stdout (a dict or a list). With ``check`` (the default) a non-zero exit or
    output that is not JSON fails the test with the command's output; with ``check=False`` the
    ``{"error": ..., "detail": ...}`` document of a failing command is returned (None if there was
    no JSON)."""
    argv = [str(CREDSHARE), *(str(a) for a in args)]
    done = subprocess.run(argv, cwd=ROOT, env=server.env, input=input, capture_output=True, text=True,
                          timeout=timeout, check=False)
    try:
        doc, _ = json.JSONDecoder().raw_decode(done.stdout.lstrip())
    except ValueError:
        doc = None
    if check and (done.returncode != 0 or doc is None):
        pytest.fail(f"`credshare {' '.join(argv[1:])}` exited {done.returncode}\n"
                    f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}")
    return doc


# -- the page walk: no page scrolls sideways, axe-core finds no serious violation ---------------------

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = (1280, 390)
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

# the elements wider than the viewport, to name them when a page scrolls sideways
_OVERFLOW = """() => {
    const width = document.documentElement.clientWidth;
    const wide = [];
    for (const el of document.querySelectorAll('body *')) {
        const box = el.getBoundingClientRect();
        if (box.right > width + 0.5 && box.width > 0) {
            wide.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}`
                      + `${el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : ''}`
                      + ` right=${Math.round(box.right)}`);
        }
    }
    return {scrollWidth: document.documentElement.scrollWidth, wide: wide.slice(0, 12)};
}"""

_AXE_RUN = """async (tags) => {
    const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
    return {
        passed: result.passes.length,
        violations: result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ': ' + (n.failureSummary || '').replace(/\\s+/g, ' ')),
        })),
    };
}"""


class Walk:
    """Checks each page it is shown at every width and collects what is wrong, so that one run
    names every overflowing page and every violation, not just the first."""

    def __init__(self) -> None:
        self.axe = AXE.read_text()
        self.seen: list[str] = []
        self.overflow: list[str] = []
        self.violations: list[str] = []
        self.rules: set[tuple[str, int, str]] = set()  # (page, width, axe rule id) of each violation

    def check(self, page: Any, name: str) -> None:
        page.wait_for_load_state()
        self.seen.append(name)
        # the page's own CSP forbids inline scripts; a CDP evaluation is not a page script
        if page.evaluate("typeof window.axe") != "object":
            page.evaluate(self.axe + "\n;undefined")
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            measured = page.evaluate(_OVERFLOW)
            if measured["scrollWidth"] > width:
                self.overflow.append(f"{name} at {width} px: {measured['scrollWidth']} px wide; {measured['wide']}")
            shots = os.environ.get("CREDSHARE_E2E_SHOTS")  # a directory: each page at each width, for a person
            if shots:
                slug = re.sub(r"[^a-z0-9]+", "-", name.lower())
                page.screenshot(path=str(Path(shots) / f"{len(self.seen):02d}-{slug}-{width}.png"), full_page=True)
            audit = page.evaluate(_AXE_RUN, AXE_TAGS)
            if audit["passed"] < 5:  # axe ran its rules (a page always passes some: lang, title, ...)
                self.violations.append(f"{name} at {width} px: axe passed only {audit['passed']} rules")
            for v in audit["violations"]:
                self.rules.add((name, width, v["id"]))
                self.violations.append(f"{name} at {width} px: {v['impact']} {v['id']} ({v['help']}): {v['nodes']}")



EMAIL, PASSWORD = "dr.avery@example.org", "a long and private password"
CHOSEN = {"legal_name": "Legal name", "degree": "Degree", "conferral_date": "Date conferred"}
ROW = {
    "legal_name": "Avery Jordan Quinn", "given_name": "Avery", "family_name": "Quinn", "date_of_birth": "1991-04-12",
    "medical_school.name": "Example University School of Medicine", "medical_school.city": "Boston",
    "medical_school.country": "US", "degree": "MD", "attendance_start": "2012-08-01", "attendance_end": "2018-05-20",
    "conferral_date": "2018-05-20", "accreditation": "LCME", "npi": "1234567893", "diploma_number": "D-424242",
    "email": EMAIL,
}


def register(page: Any, server: LiveServer) -> None:
    """Sign EMAIL up in the browser and confirm the address from the mail in the outbox."""
    page.goto("/register")
    page.get_by_label("E-mail address").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_load_state()
    assert page.get_by_role("link", name="Wallet").is_visible()
    # the confirmation mail (no SMTP server configured: it lands in the data dir's outbox)
    (mail,) = (server.data_dir / "outbox").glob("*.eml")
    message = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default)
    assert message["To"] == EMAIL
    link = re.search(r"http://\S+/confirm-email/\S+", message.get_content()).group(0)
    page.goto(link)
    page.get_by_role("button", name=f"Confirm {EMAIL}").click()
    page.wait_for_load_state()
    assert "is confirmed" in page.content()


def issue_file(server: LiveServer, tmp_path: Path) -> Path:
    """Create the issuer ``example-med`` and issue ROW's medical degree; returns the credential file."""
    run_cli(server, "issuer", "create", "example-med", "--name", "Example University School of Medicine")
    roster = tmp_path / "roster.csv"
    with open(roster, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(ROW))
        writer.writeheader()
        writer.writerow(ROW)
    out = tmp_path / "issued"
    run_cli(server, "issue", "--issuer", "example-med", "--type", "medical-degree", roster, "--out", out)
    (credential,) = out.glob("*.json")
    return credential


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real server for this test module, on a fresh data directory."""
    server = LiveServer(tmp_path_factory.mktemp("live") / "instance")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian chromium, launched once per test session."""
    executable = chromium_path()
    if not (os.path.isfile(executable) and os.access(executable, os.X_OK)):
        pytest.fail(f"chromium is not installed at {executable}: the browser tests need Debian's chromium "
                    "(`bash scripts/test.sh` installs it with apt-get; or `apt-get install chromium`, "
                    "or set CREDSHARE_CHROMIUM to a chromium binary)", pytrace=False)
    try:
        from playwright.sync_api import Error as PlaywrightError, sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[test]'", pytrace=False)
    playwright = sync_playwright().start()
    try:
        try:
            launched = playwright.chromium.launch(
                executable_path=executable, headless=True,
                args=["--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check"],
            )
        except PlaywrightError as exc:
            pytest.fail(f"Playwright could not launch {executable}: {exc}", pytrace=False)
        yield launched
        launched.close()
    finally:
        playwright.stop()


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed


@pytest.fixture
def console_errors() -> list[str]:
    """Console errors and uncaught exceptions of the pages of this test's contexts."""
    return []


@pytest.fixture
def new_context(browser: Any, live_server: LiveServer, console_errors: list[str],
                request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """A factory of fresh browser contexts, one per person (a physician, a verifier, ...). Keyword
    arguments go to ``browser.new_context``. Every context is closed after the test."""
    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        context = browser.new_context(base_url=live_server.url, **options)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        context.on("console", lambda msg: console_errors.append(
            f"console.{msg.type}: {msg.text} ({msg.location.get('url', '')})") if msg.type == "error" else None)
        context.on("weberror", lambda err: console_errors.append(f"uncaught: {err.error}"))
        contexts.append(context)
        return context

    yield make
    if request.node.stash.get(_CALL_FAILED, False):
        shots = []
        for c, context in enumerate(contexts):
            for p, page in enumerate(context.pages):
                path = tmp_path / f"failure-context{c}-page{p}.png"
                try:
                    page.screenshot(path=str(path), full_page=True)
                    shots.append(f"{path} ({page.url})")
                except Exception as exc:  # noqa: BLE001 - a screenshot is only a diagnostic
                    shots.append(f"no screenshot of {page.url}: {exc}")
        if shots:
            print("screenshots of the failed test's pages:\n  " + "\n  ".join(shots))
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_context: Callable[..., Any]) -> Any:
    """A page in a fresh context: cookies and storage are this test's own."""
    return new_context().new_page()
