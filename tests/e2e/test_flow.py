"""The product's whole flow in a real browser (Debian chromium driven by Playwright) against the
real server (`credshare serve`, gunicorn, embedded store):

an issuer issues → a physician registers, uploads the credential, shares 3 of its fields with a
passcode → the verifier opens the link, enters the passcode and sees exactly those 3 fields
verified, downloads the offline bundle → the physician revokes → the verifier gets 410. Then the
server is stopped and its data directory deleted, and `credshare verify` still accepts the bundle
(and refuses a tampered copy) with nothing but the bundle and the log's keys saved earlier.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import CHOSEN, CREDSHARE, LiveServer, issue_file, register
from tests.helpers import independently_witnessed, trust_list_file, witness_policy_text

pytestmark = pytest.mark.slow

def test_issue_upload_share_verify_revoke_and_verify_offline(new_context: Any, live_server: LiveServer,
                                                             console_errors: list[str], tmp_path: Path) -> None:
    physician = new_context().new_page()
    register(physician, live_server)  # the confirmed account's holder key is what the issuer binds to
    credential_file = issue_file(live_server, tmp_path)

    # the physician uploads the file the issuer produced
    physician.goto("/wallet")
    physician.get_by_label("Credential file").set_input_files(str(credential_file))
    physician.get_by_role("button", name="Check and add").click()
    physician.wait_for_load_state()
    assert "passed every check" in physician.content()
    assert physician.locator("[data-state]").first.get_attribute("data-state") == "valid"

    # ... and shares three fields with a passcode
    for path in CHOSEN:
        physician.locator(f'input[name="field"][data-path="{path}"]').check()
    physician.locator("#recipient").fill("St. Mary's Medical Staff Office")
    physician.locator("#passcode").fill("4812")
    physician.get_by_role("button", name="Create link").click()
    physician.wait_for_load_state()
    url = physician.locator("#share-url").input_value()
    assert url.startswith(live_server.url + "/s/") and len(url.rsplit("/", 1)[1]) == 43
    assert physician.locator(".qr svg").count() == 1

    # the verifier, in another browser context, needs the passcode first
    verifier = new_context().new_page()
    first = verifier.goto(url)
    assert first.status == 200 and "Avery" not in verifier.content()  # the gate: nothing shared shown yet
    verifier.get_by_label("Passcode").fill("1111")
    verifier.get_by_role("button", name="Open").click()
    verifier.wait_for_load_state()
    assert "4 attempt(s) left" in verifier.content()
    verifier.get_by_label("Passcode").fill("4812")
    verifier.get_by_role("button", name="Open").click()
    verifier.wait_for_load_state()
    # this server's log is cosigned by its own development witnesses only: never a full verification
    assert verifier.locator("#verdict").get_attribute("data-outcome") == "incomplete"
    rows = verifier.locator("#disclosed tr")
    assert sorted(rows.nth(i).get_attribute("data-path") for i in range(rows.count())) == sorted(CHOSEN)
    shown = verifier.locator("#disclosed").inner_text()
    assert "Avery Jordan Quinn" in shown and "MD" in shown and "2018-05-20" in shown
    page_text = verifier.content()
    for hidden in ("1991-04-12", "D-424242", "1234567893", "Boston"):
        assert hidden not in page_text, hidden
    # the verdict first, in words; the technical checks folded under it until the reader unfolds them
    assert verifier.locator("#verdict h1").inner_text().endswith("Could not be fully checked: Medical degree")
    assert verifier.locator("#answers [data-answer]").count() == 4
    assert not verifier.locator('tr[data-check="issuer_signature"]').is_visible()
    verifier.get_by_text("technical checks").click()
    assert verifier.locator('tr[data-check="issuer_signature"]').is_visible()
    checks = verifier.locator("tr[data-check]")
    statuses = {checks.nth(i).get_attribute("data-check"): checks.nth(i).get_attribute("data-status")
                for i in range(checks.count())}
    for name in ("issuer_signature", "issuer_key_valid", "disclosures", "key_binding", "inclusion",
                 "checkpoint_signature", "key_history", "status", "credential_validity", "link"):
        assert statuses.get(name) == "passed", (name, statuses)
    assert statuses.get("witness_quorum") == "unchecked", statuses
    quorum_row = verifier.locator('tr[data-check="witness_quorum"]').inner_text()
    assert "development only (the log's own key)" in quorum_row and "dev-witness/1" in quorum_row
    # a check's name and its result are read at a glance: no word of theirs is broken across lines,
    # on a phone or a desktop (key ids and hashes in the detail column may wrap anywhere)
    for width in (390, 1280):
        verifier.set_viewport_size({"width": width, "height": 900})
        broken = verifier.evaluate("""() => {
            const out = [];
            for (const cell of document.querySelectorAll('tr[data-check] td:nth-child(-n+2)')) {
                const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
                for (let node; (node = walker.nextNode());) {
                    for (const m of node.textContent.matchAll(/\\S+/g)) {
                        const range = document.createRange();
                        range.setStart(node, m.index);
                        range.setEnd(node, m.index + m[0].length);
                        if (range.getClientRects().length > 1) out.push(m[0]);
                    }
                }
            }
            return out;
        }""")
        assert broken == [], (width, broken)
    assert "St. Mary" in verifier.locator("#link-validity").inner_text()
    assert "Example University School of Medicine" in verifier.locator("#issuer").inner_text()

    with verifier.expect_download() as download:
        verifier.locator("#bundle-link").click()
    bundle = tmp_path / "bundle.json"
    download.value.save_as(bundle)
    own = tmp_path / "own.policy"  # the server's own suggestion: its development witnesses
    own.write_bytes(live_server.get("/log/trust").body)
    log_key = live_server.get("/log/key").body.decode().strip()

    # the physician sees the opening in the access log, then revokes
    physician.reload()
    assert physician.locator('[data-outcome="viewed"]').count() >= 1
    assert physician.locator('[data-outcome="wrong passcode"]').count() == 1
    physician.locator("#revoke-step > summary").click()  # revoking asks first
    physician.get_by_role("button", name="Revoke this link now").click()
    physician.wait_for_load_state()
    assert physician.locator("#link-state").get_attribute("data-state") == "revoked"

    gone = verifier.goto(url)
    assert gone.status == 410
    assert "revoked" in verifier.locator("[role=alert]").inner_text().lower()
    assert "Avery" not in verifier.content()
    # chromium reports every 4xx page load as a console error: the passcode form (401) and the
    # revoked link (410) are the expected ones; anything else is a real error
    expected = (f"status of 401 (UNAUTHORIZED) ({url})", f"status of 410 (GONE) ({url})")
    assert [e for e in console_errors if not e.endswith(expected)] == []

    # years later: no server, no data directory, only the bundle and the log's keys kept back then
    live_server.stop()
    shutil.rmtree(live_server.data_dir)
    offline = subprocess.run([str(CREDSHARE), "verify", str(bundle), "--trust", str(own)],
                             capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert offline.returncode == 1 and json.loads(offline.stdout)["outcome"] == "incomplete", offline.stderr
    assert "development only (the log's own key)" in offline.stderr
    # what a CVO keeps once: its own trust list, naming the log (key and an independent witness,
    # whose cosignatures a log with such a witness hands out in the bundle: added here) and the issuer
    bundle.write_text(json.dumps(independently_witnessed(json.loads(bundle.read_text()))))
    trust = trust_list_file(tmp_path / "trust.toml", json.loads(bundle.read_text()), witness_policy_text(log_key))
    offline = subprocess.run([str(CREDSHARE), "verify", str(bundle), "--trust", str(trust)],
                             capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert offline.returncode == 0, offline.stdout + offline.stderr
    report = json.loads(offline.stdout)
    assert report["outcome"] == "verified"
    assert sorted(p[0] for p in report["disclosed_paths"]) == sorted(CHOSEN)

    doc = json.loads(bundle.read_text())
    parts = doc["presentation"].split("~")
    doc["presentation"] = "~".join([parts[0], parts[2], parts[1], *parts[3:]])  # reordered disclosures: sd_hash breaks
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(doc))
    refused = subprocess.run([str(CREDSHARE), "verify", str(tampered), "--trust", str(trust)],
                             capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert refused.returncode == 1 and json.loads(refused.stdout)["outcome"] == "not_verified"
