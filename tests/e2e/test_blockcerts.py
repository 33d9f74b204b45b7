"""A Blockcerts record in a real browser, end to end (issue 15, item 2): a medical school's web
server (tests/helpers.py ``StaticSite`` on 127.0.0.1, in its own process group) publishes its
issuer profile and revocation list; cert-issuer 3.13.1 (the venv of scripts/blockcerts_fixtures.py,
made on first use) issues the physician's Doctor of Medicine on its mockchain, naming that
server; the real server (``credshare serve``) recognises the school on its trust list. The
physician uploads the file, shares it with a passcode, and a credentialing specialist opens
the link and takes the offline bundle, which then verifies with ``credshare verify`` once the
wallet server and the school's site are gone. Each Blockcerts page is walked at a desktop and a
phone width (no sideways scroll, no serious axe-core violation)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import AXE, CREDSHARE, LiveServer, Walk, register
from tests.helpers import StaticSite, blockcerts_fixtures_script

pytestmark = pytest.mark.slow

PASSCODE = "4812"
FIXTURE_BASE = "https://northfield-med.example/blockcerts/"  # where the fixture records' school lives


class School:
    """The school's web server and the record it issued."""

    def __init__(self, site: StaticSite, record: Path) -> None:
        self.site, self.record = site, record

    @property
    def profile_url(self) -> str:
        return f"{self.site.url}/issuer.json"


def _moved(doc: Any, base: str) -> Any:
    """A fixture document of the school, with its URLs on ``base`` instead."""
    return json.loads(json.dumps(doc).replace(FIXTURE_BASE, base))


@pytest.fixture(scope="module")
def school(tmp_path_factory: pytest.TempPathFactory) -> Iterator[School]:
    site = StaticSite(tmp_path_factory.mktemp("school"))
    try:
        base = f"{site.url}/"
        fixtures = blockcerts_fixtures_script()
        venv = fixtures.ensure_venv(fixtures.DEFAULT_CACHE, "v3", fixtures.CERT_ISSUER_V3)
        key = fixtures.issuing_key(fixtures.NORTHFIELD_KEY_SEED)
        unsigned = _moved(fixtures.unsigned_v3()["v3-doctor-of-medicine.json"], base)
        site.serve("/issuer.json", json.dumps(_moved(fixtures.v3_profile(key, revoked=False), base)))
        site.serve("/revocation-list.json", json.dumps(
            fixtures.revocation_list(f"{base}revocation-list.json", f"{base}issuer.json", [])))
        issued = fixtures.issue(venv, {"md.json": unsigned}, key["address"], f"{base}issuer.json#key-1")["md.json"]
        record = tmp_path_factory.mktemp("downloads") / "doctor-of-medicine.json"
        record.write_text(json.dumps(issued, indent=2))
        yield School(site, record)
    finally:
        site.stop()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, school: School) -> Iterator[LiveServer]:
    """The real server, recognising the school (a Blockcerts issuer) on its trust list."""
    server = LiveServer(tmp_path_factory.mktemp("live") / "instance")
    trust = server.data_dir.parent / "trust.toml"
    trust.write_text(f'format = "credshare-trust-list/v1"\n\n[[issuer]]\nid = "{school.profile_url}"\n'
                     'name = "Northfield School of Medicine"\naccreditation = "LCME-accredited school"\n'
                     'keys = "blockcerts"\n')
    server.env["CREDSHARE_TRUST_LIST"] = str(trust)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def test_a_blockcerts_record_uploaded_shared_with_a_passcode_and_opened(new_context: Any, live_server: LiveServer,
                                                                       school: School, tmp_path: Path) -> None:
    assert AXE.is_file(), f"{AXE} is missing: run `npm ci`"
    walk = Walk()
    physician = new_context().new_page()
    register(physician, live_server)
    physician.goto("/wallet")
    physician.get_by_label("Credential file").set_input_files(str(school.record))
    physician.get_by_role("button", name="Check and add").click()
    physician.wait_for_load_state()
    content = physician.content()
    assert "The Blockcerts record is in your wallet. Nothing failed" in content, content[:3000]
    assert physician.get_by_role("heading", name="Doctor of Medicine", level=1).is_visible()
    assert physician.locator("#blockcerts-note").is_visible() and "shared whole" in physician.locator(
        "#blockcerts-note").inner_text()
    assert "recorded on a test chain, not a public blockchain" in physician.locator("#blockcerts-unchecked").inner_text()
    assert physician.locator('input[name="field"]').count() == 0  # nothing to choose
    assert "Dr. Amara Okafor" in physician.locator("#record-fields").inner_text()
    walk.check(physician, "Blockcerts record and its share form")
    credential_page = physician.url

    physician.goto("/wallet")
    card = physician.locator("article.card").first
    assert "Doctor of Medicine" in card.inner_text() and card.locator("[data-blockcerts]").is_visible()
    card.locator("details.card-fields > summary").click()
    assert "Graduation date" in card.locator("details.card-fields dl.fields").inner_text()
    walk.check(physician, "wallet with a Blockcerts record unfolded")

    physician.goto(credential_page)
    physician.locator("#recipient").fill("St. Mary's Medical Staff Office")
    physician.locator("#passcode").fill(PASSCODE)
    physician.locator("#max_views").fill("3")
    physician.get_by_role("button", name="Create link").click()
    physician.wait_for_load_state()
    url = physician.locator("#share-url").input_value()
    assert physician.locator("#shared-whole").is_visible()
    walk.check(physician, "Blockcerts link")

    verifier = new_context().new_page()
    verifier.goto(url)
    assert verifier.locator("#gate-type").inner_text() == "Doctor of Medicine"
    assert verifier.locator("#gate-whole").is_visible() and "Amara" not in verifier.content()
    walk.check(verifier, "Blockcerts share gate")
    # from the keyboard alone: the passcode, then Enter
    verifier.get_by_label("Passcode").focus()
    verifier.keyboard.type(PASSCODE)
    verifier.keyboard.press("Enter")
    verifier.wait_for_load_state()
    verdict = verifier.locator("#verdict")
    assert verdict.get_attribute("data-outcome") == "incomplete", verifier.content()[:3000]
    assert verifier.locator("#verdict-heading").inner_text().endswith("Could not be fully checked: Doctor of Medicine")
    assert "Test anchor (mockchain)" in verifier.locator("#verdict-reason").inner_text()
    assert verifier.locator("#fields-shown").inner_text().startswith("Blockcerts record (shared whole)")
    assert verifier.locator("#physician").inner_text() == "Dr. Amara Okafor"
    assert "Northfield School of Medicine" in verifier.locator("#issuer").inner_text()
    assert verifier.locator('[data-question="issuer"][data-answer="yes"]').count() == 1
    walk.check(verifier, "Blockcerts verifier page")
    verifier.locator("#checks > summary").click()
    for name in ("document_hash", "merkle_proof", "blockchain_anchor", "issuer_profile", "status"):
        assert verifier.locator(f'tr[data-check="{name}"]').is_visible(), name
    assert verifier.locator('tr[data-check="blockchain_anchor"]').get_attribute("data-status") == "unchecked"
    walk.check(verifier, "Blockcerts verifier page, checks unfolded")
    with verifier.expect_download() as download:
        verifier.locator("#bundle-link").click()
    bundle = json.loads(Path(download.value.path()).read_text())
    assert bundle["format"] == "blockcerts"
    assert bundle["blockcerts"]["document"] == json.loads(school.record.read_text())
    assert bundle["blockcerts"]["issuer_profile"]["source_url"] == school.profile_url
    assert "/revocation-list.json" in school.site.asked()  # read again when the link was opened
    verifier.goto(url + "/receipt")
    assert "Doctor of Medicine" in verifier.content()
    walk.check(verifier, "Blockcerts receipt")

    assert len(walk.seen) == 7, walk.seen
    assert (walk.overflow, walk.violations) == ([], []), (
        "pages wider than the viewport:\n" + "\n".join(walk.overflow)
        + "\naxe-core violations (serious or critical):\n" + "\n".join(walk.violations))

    # later: the wallet server and the school's site are gone; the bundle verifies from the CVO's
    # own trust list alone, to the page's verdict, with every check the page made
    on_page = {row.get_attribute("data-check"): row.get_attribute("data-status")
               for row in verifier.locator("tr[data-check]").all()}
    saved = tmp_path / "bundle.json"
    saved.write_text(json.dumps(bundle))
    live_server.stop()
    school.site.stop()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDSHARE_")}
    done = subprocess.run([str(CREDSHARE), "verify", str(saved), "--trust", str(live_server.data_dir.parent / "trust.toml")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL)
    offline = json.loads(done.stdout)
    assert done.returncode == 1 and offline["outcome"] == "incomplete", done.stdout + done.stderr
    statuses = {c["check"]: (c["status"], c.get("code")) for c in offline["checks"]}
    assert set(statuses) == set(on_page) - {"link"}, (statuses, on_page)
    for name in ("proof_format", "issuer_trust", "document_hash", "merkle_proof", "credential_validity"):
        assert statuses[name][0] == on_page[name] == "passed", name
    # the school's profile and list as the wallet server read them: its word, not the CVO's
    assert statuses["issuer_profile"] == ("unchecked", "blockcerts_profile_from_sharer")
    assert statuses["status"] == ("unchecked", "blockcerts_status_from_sharer")
    assert statuses["blockchain_anchor"] == ("unchecked", "blockcerts_test_anchor")
