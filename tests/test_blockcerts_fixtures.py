"""The committed Blockcerts fixtures (tests/fixtures/blockcerts/) are what
scripts/blockcerts_fixtures.py makes with cert-issuer, and the manifest describes every file.

cert-issuer 3.x writes a random ``proof.id`` and the time of issue as ``proof.created`` into
each v3 record: those two fields are the only ones allowed to differ between a fresh run and
the committed files. Everything else (document hashes, Merkle roots and paths inside
``proofValue``, the v2 records whole, profiles, lists, manifest) must be byte-identical.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "blockcerts"
SCRIPT = ROOT / "scripts" / "blockcerts_fixtures.py"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))

# codes of the shared Blockcerts interface (briefs: bc-interface.md)
CHECK_CODES = {
    "document_hash": {"blockcerts_hash_mismatch", "jsonld_context_unknown", "jsonld_unmapped_field",
                      "jsonld_relative_iri"},
    "merkle_proof": {"blockcerts_merkle_path_mismatch"},
    "issuer_key_valid": {"blockcerts_key_revoked", "blockcerts_key_unknown", "blockcerts_key_expired",
                         "blockcerts_key_not_yet_valid"},
    "status": {"blockcerts_revoked"},
    "credential_validity": {"credential_expired"},
}


def load(name: str, where: Path = FIXTURES) -> Any:
    return json.loads((where / name).read_text(encoding="utf-8"))


def test_the_manifest_describes_every_file_and_names_real_codes():
    records, cases = MANIFEST["records"], MANIFEST["cases"]
    named = set(records) | {"manifest.json", "README.md"}
    for entry in [*records.values(), *cases]:
        for key in ("issuer_profile", "revocation_list"):
            if entry.get(key):
                named.add(entry[key])
    named |= {c["record"] for c in cases} | set(MANIFEST["revoked_by"])
    on_disk = {p.name for p in FIXTURES.iterdir()}
    assert on_disk == named
    for name, entry in [*records.items(), *((c["record"], c) for c in cases)]:
        assert entry["expect"] in ("ok", "fail"), name
        if entry["expect"] == "fail":
            assert entry["code"] in CHECK_CODES[entry["check"]], name
    revoked = {lst: rid for lst, rid in MANIFEST["revoked_by"].items()}
    for lst, rid in revoked.items():
        assert [a["id"] for a in load(lst)["revokedAssertions"]] == [rid]
        assert load(lst.replace("-revoked", ""))["revokedAssertions"] == []


def test_each_tampered_variant_differs_from_its_genuine_record_in_one_place():
    base = {"tampered-v3-field-changed.json": "v3-doctor-of-medicine.json",
            "tampered-v3-expiry-extended.json": "v3-acls-expired.json"}
    for name in MANIFEST["records"]:
        if not name.startswith("tampered-"):
            continue
        genuine = load(base.get(name, "v3-doctor-of-medicine.json" if "-v3-" in name
                                else "v2-residency-completion.json"))
        tampered = load(name)
        diff = [k for k in set(genuine) | set(tampered) if genuine.get(k) != tampered.get(k)]
        assert len(diff) == 1, (name, diff)


def test_the_revoked_key_profiles_revoke_before_the_records_were_issued():
    revoked_at = MANIFEST["key_revoked_in_variants"]
    for prof in ("issuer-profile-key-revoked.json", "issuer-profile-v2-key-revoked.json"):
        keys = load(prof)["publicKey"]
        assert [k.get("revoked") for k in keys] == [revoked_at]
        assert "revoked" not in load(prof.replace("-key-revoked", ""))["publicKey"][0]
    for rec in ("v3-doctor-of-medicine.json", "v2-residency-completion.json"):
        doc = load(rec)
        issued = doc.get("issuanceDate") or doc["issuedOn"]
        assert revoked_at[:10] < issued[:10], rec
        if "proof" in doc:
            assert revoked_at[:10] < doc["proof"]["created"][:10]


def _without_run_specific(doc: Any) -> Any:
    """A record minus what cert-issuer makes afresh on every run (v3 proof id and time)."""
    doc = json.loads(json.dumps(doc))
    if isinstance(doc, dict) and isinstance(doc.get("proof"), dict):
        doc["proof"].pop("id", None)
        doc["proof"].pop("created", None)
    return doc


@pytest.mark.slow
def test_the_committed_fixtures_are_what_the_script_makes(tmp_path):
    """Runs the generator (cert-issuer 3.13.1 and 2.0.48, mockchain; the venvs are made on the
    first run, from PyPI) into a temporary directory and compares."""
    out = tmp_path / "fresh"
    run = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    made = {p.name for p in out.iterdir()}
    committed = {p.name for p in FIXTURES.iterdir()} - {"README.md"}
    assert made == {n for n in committed if not n.startswith("cvjs-")}
    differs_only_in_proof_id_and_time = []
    for name in sorted(made):
        fresh, kept = load(name, out), load(name)
        if fresh == kept:
            continue
        assert _without_run_specific(fresh) == _without_run_specific(kept), name
        assert fresh["proof"]["id"] != kept["proof"]["id"], name
        differs_only_in_proof_id_and_time.append(name)
    # exactly the v3 records (genuine and tampered) carry run-specific fields
    assert differs_only_in_proof_id_and_time == sorted(n for n in made if "v3-" in n)

