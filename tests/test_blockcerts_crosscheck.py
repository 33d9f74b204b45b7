"""Cross-check of the Blockcerts document hash (issue 15): Blockcerts' own normalisation against
ours, on every record in tests/fixtures/blockcerts/ (genuine and tampered).

Theirs: cert-schema's ``normalize_jsonld(doc, detect_unmapped_fields=True)`` (what cert-issuer
3.13.1 hashes with: JSON-LD URDNA2015 N-Quads, the ``http://fallback.org/`` vocabulary trick for
unmapped fields), run in the cert-issuer venv that scripts/blockcerts_fixtures.py makes under
``.cache/cert-issuer/`` (created here when missing: pip from PyPI, two to three minutes), offline: only
cert-schema's preloaded contexts. Ours: ``credshare.blockcerts.jsonld.document_hash``.
"""

from __future__ import annotations

import hashlib
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
RECORDS: dict[str, dict[str, Any]] = MANIFEST["records"]

pytestmark = pytest.mark.slow


def cert_schema(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """cert-schema's verdict on each file (the script's ``--cert-schema-hash``)."""
    run = subprocess.run([sys.executable, str(SCRIPT), "--cert-schema-hash", *map(str, paths)],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads(run.stdout)


def claimed_target_hash(doc: dict[str, Any]) -> str:
    """The targetHash the record's own Merkle proof states (read by the core's proof reader)."""
    from credshare.blockcerts.proof import read_receipt
    return read_receipt(doc).target_hash


@pytest.fixture(scope="module")
def theirs() -> dict[str, dict[str, Any]]:
    """cert-schema's hash of each fixture, beside the targetHash the fixture states."""
    result = cert_schema([FIXTURES / name for name in RECORDS])
    assert sorted(result) == sorted(RECORDS)
    for name, got in result.items():
        got["target_hash"] = claimed_target_hash(json.loads((FIXTURES / name).read_text(encoding="utf-8")))
    return result


def test_cert_schema_agrees_with_what_each_fixture_is_meant_to_be(theirs):
    """Genuine records hash to their targetHash under Blockcerts' own normalisation; a changed
    field does not; path and root changes leave the hash alone; an unmapped field and an
    unknown context are refused; a relative id is (silently) hashed with triples missing."""
    for name, want in RECORDS.items():
        got, verdict = theirs[name], want["cert_schema"]
        if verdict in ("unmapped_fields", "unknown_context"):
            assert got.get("error") == verdict, (name, got)
        elif verdict == "differs":
            assert got["target_hash"] and got["sha256"] != got["target_hash"], (name, got)
        else:
            assert verdict == "matches" and got["target_hash"] and got["sha256"] == got["target_hash"], (name, got)
    for name, target in MANIFEST["target_hashes"].items():
        assert theirs[name]["sha256"] == target, name


def test_a_relative_id_hides_changes_from_blockcerts_hash(tmp_path):
    """Why ours refuses relative IRIs: JSON-LD drops every triple whose subject is a relative
    id, so under Blockcerts' normalisation changing those fields leaves the hash unchanged."""
    doc = json.loads((FIXTURES / "tampered-v3-relative-id.json").read_text(encoding="utf-8"))
    changed = json.loads(json.dumps(doc))
    changed["issuanceDate"] = "2020-01-01T00:00:00Z"
    changed["name"] = "Doctor of Philosophy"
    genuine = json.loads((FIXTURES / "v3-doctor-of-medicine.json").read_text(encoding="utf-8"))
    genuine_changed = json.loads(json.dumps(genuine))
    genuine_changed["name"] = "Doctor of Philosophy"
    files = {}
    for label, d in (("relative", doc), ("relative-changed", changed), ("absolute", genuine),
                     ("absolute-changed", genuine_changed)):
        files[label] = tmp_path / f"{label}.json"
        files[label].write_text(json.dumps(d), encoding="utf-8")
    got = cert_schema(list(files.values()))
    assert got["relative.json"]["sha256"] == got["relative-changed.json"]["sha256"]
    assert got["absolute.json"]["sha256"] != got["absolute-changed.json"]["sha256"]   # the control
    assert got["relative.json"]["nquads_lines"] < got["absolute.json"]["nquads_lines"]


def test_our_document_hash_is_blockcerts_own(theirs):
    """Ours gives cert-schema's SHA-256 wherever cert-schema gives one, and refuses (with the
    code the manifest names) where it refuses, and where it would drop triples."""
    from credshare.blockcerts import errors, jsonld
    compared = 0
    for name, want in RECORDS.items():
        doc = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
        code = want.get("code")
        if code in ("jsonld_unmapped_field", "jsonld_context_unknown", "jsonld_relative_iri", "jsonld_invalid"):
            with pytest.raises(errors.BlockcertsError) as info:
                jsonld.document_hash(doc)
            assert info.value.code == code, name
            continue
        ours = jsonld.document_hash(doc)
        assert ours == theirs[name]["sha256"], name
        compared += 1
    assert compared >= 15


def test_the_cross_check_can_fail(theirs, tmp_path):
    """The comparison is not vacuous: one changed character in a genuine record changes
    cert-schema's hash away from the targetHash."""
    doc = json.loads((FIXTURES / "v2-residency-completion.json").read_text(encoding="utf-8"))
    doc["badge"]["name"] = "Residency completion."
    path = tmp_path / "one-char.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    got = cert_schema([path])["one-char.json"]
    assert got["sha256"] != claimed_target_hash(doc) == theirs["v2-residency-completion.json"]["sha256"]
    assert hashlib.sha256(b"").hexdigest() not in {v.get("sha256") for v in theirs.values()}
