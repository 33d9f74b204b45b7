"""Blockcerts test fixtures made with the official issuer, PyPI ``cert-issuer``.

What it makes (in ``tests/fixtures/blockcerts/``, described file by file in its README.md and
``manifest.json``):

* genuine records issued by cert-issuer on its ``mockchain`` (offline, no key, no transaction):
  a Blockcerts v3 batch of three (W3C VC 1.1 + ``MerkleProof2019`` / ``DataIntegrityProof``
  ``merkle-proof-2019``) from "Northfield School of Medicine" by **cert-issuer 3.13.1**, one of
  them an expired record, and a Blockcerts v2 batch of two (Open Badges v2 + ``MerkleProof2017``)
  from "Lakeside Residency Program" by **cert-issuer 2.0.48** (the 3.x line issues v3 only);
* the issuers' profiles (v3 ``BlockcertsIssuerProfile``, v2 Open Badges ``Profile``), variants
  whose issuing key was revoked before the records were issued, and Open Badges v2
  ``RevocationList`` documents (one revoking nothing, one revoking a record);
* tampered variants derived from the genuine records (a field changed, a Merkle path node
  changed, the Merkle root changed, an unmapped field added, a relative ``id``, an unknown
  context); v3 proofs are re-encoded: ``proofValue`` = ``z`` + base58btc of the CBOR array of
  ``[key, value]`` pairs (0 merkleRoot, 1 targetHash, 2 anchors, 3 path; values CBOR-in-bytes),
  as in the MerkleProof2019 draft and lds-merkle-proof-2019.

How: two virtualenvs under a cache directory (default ``.cache/cert-issuer/``, ignored by git),
``v3`` with ``cert-issuer==3.13.1`` (plus the one-line Python 3.11 fix in its dependency
glob2 0.6: ``glob2/fnmatch.py`` puts the inline flags last, ``res + '\\Z(?ms)'``, which
Python 3.11's ``re`` refuses; the fix moves them first) and ``v2`` with ``cert-issuer==2.0.48``;
the unsigned records and a ``conf.ini`` (``chain = mockchain``, ``no_safe_mode``) are written to
a temporary directory and cert-issuer runs there, inside ``unshare -n`` (no network at all) where
the system allows it. pip needs PyPI the first time (two to three minutes for both venvs).

What is not reproducible: cert-issuer 3.x writes the v3 ``proof.id`` (a random ``urn:uuid``) and
``proof.created`` (the time of issue). Everything else is deterministic: the records' ids and
dates are fixed here, so the document hashes (``targetHash``), the Merkle trees and the v2
records come out byte-identical on every run (tests/test_blockcerts_fixtures.py checks that).

Usage::

    .venv/bin/python scripts/blockcerts_fixtures.py [--cache DIR] [--out DIR]
    .venv/bin/python scripts/blockcerts_fixtures.py --cert-schema-hash FILE...   # see below

``--cert-schema-hash`` prints, as JSON, the document hash Blockcerts itself computes for each
file: it runs cert-schema's ``normalize_jsonld(doc, detect_unmapped_fields=True)`` (what
cert-issuer 3.13.1 hashes with) in the ``v3`` venv, with a document loader that serves only
cert-schema's preloaded contexts (any other URL is an error, never a fetch), and reports
``{"sha256": hex}`` or ``{"error": "unmapped_fields" | "unknown_context" | "other", "detail":
text}`` per file (tests/test_blockcerts_crosscheck.py).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = ROOT / ".cache" / "cert-issuer"
DEFAULT_OUT = ROOT / "tests" / "fixtures" / "blockcerts"

CERT_ISSUER_V3 = "cert-issuer==3.13.1"
CERT_ISSUER_V2 = "cert-issuer==2.0.48"

MOCK_TXID = "This has not been issued on a blockchain and is for testing only"

# --- the issuers -------------------------------------------------------------------------------

NORTHFIELD_PROFILE = "https://northfield-med.example/blockcerts/issuer.json"
NORTHFIELD_REVOCATION = "https://northfield-med.example/blockcerts/revocation-list.json"
LAKESIDE_PROFILE = "https://lakeside-residency.example/blockcerts/issuer.json"
LAKESIDE_REVOCATION = "https://lakeside-residency.example/blockcerts/revocation-list.json"

# issuing keys: fixed secp256k1 private keys (test-only, public here on purpose), so the
# profiles can list real addresses and a v3 verification method with the matching public key
NORTHFIELD_KEY_SEED = b"credshare test fixture: Northfield School of Medicine issuing key 1"
LAKESIDE_KEY_SEED = b"credshare test fixture: Lakeside Residency Program issuing key 1"

KEY_CREATED = "2025-01-06T09:00:00+00:00"
KEY_REVOKED = "2026-03-01T00:00:00+00:00"   # before every record's issuance date and proof time

# --- secp256k1 and Bitcoin addresses (only to print public keys for the profiles) --------------

_P = 2**256 - 2**32 - 977
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_G = (0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
      0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8)
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _point_add(a: tuple[int, int] | None, b: tuple[int, int] | None) -> tuple[int, int] | None:
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0] and (a[1] + b[1]) % _P == 0:
        return None
    if a == b:
        lam = 3 * a[0] * a[0] * pow(2 * a[1], -1, _P) % _P
    else:
        lam = (b[1] - a[1]) * pow(b[0] - a[0], -1, _P) % _P
    x = (lam * lam - a[0] - b[0]) % _P
    return x, (lam * (a[0] - x) - a[1]) % _P


def _public_point(secret: int) -> tuple[int, int]:
    result, addend = None, _G
    while secret:
        if secret & 1:
            result = _point_add(result, addend)
        addend = _point_add(addend, addend)  # type: ignore[assignment]
        secret >>= 1
    assert result is not None
    return result


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def _b64url(data: bytes) -> str:
    from credshare.foundation.b64 import b64url_encode  # not at the top: the cert-issuer venv runs this file too
    return b64url_encode(data)


def issuing_key(seed: bytes) -> dict[str, str]:
    """The Bitcoin mainnet P2PKH address (compressed key) and the JWK of a fixed test key."""
    secret = int.from_bytes(hashlib.sha256(seed).digest(), "big") % _N
    x, y = _public_point(secret)
    compressed = bytes([2 + (y & 1)]) + x.to_bytes(32, "big")
    h160 = hashlib.new("ripemd160", hashlib.sha256(compressed).digest()).digest()
    payload = b"\0" + h160
    check = hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    return {"address": b58encode(payload + check),
            "x": _b64url(x.to_bytes(32, "big")), "y": _b64url(y.to_bytes(32, "big"))}


# --- the unsigned records ------------------------------------------------------------------------

# credentialSubject.degree / graduationDate are not Blockcerts terms: an inline context maps them
# (cert-issuer refuses unmapped fields)
PHYSICIAN_TERMS = {
    "degree": "https://schema.org/educationalCredentialAwarded",
    "graduationDate": {"@id": "https://northfield-med.example/blockcerts/vocab#graduationDate",
                       "@type": "http://www.w3.org/2001/XMLSchema#date"},
}


def _v3_record(uuid: str, subject_did: str, name: str, title: str, description: str,
               issued: str, expires: str, extra_subject: dict[str, Any]) -> dict[str, Any]:
    subject: dict[str, Any] = {"id": subject_did, "name": name}
    subject.update(extra_subject)
    return {
        "@context": ["https://www.w3.org/2018/credentials/v1", PHYSICIAN_TERMS, "https://w3id.org/blockcerts/v3"],
        "id": f"urn:uuid:{uuid}",
        "type": ["VerifiableCredential", "BlockcertsCredential"],
        "issuer": NORTHFIELD_PROFILE,
        "name": title,
        "description": description,
        "issuanceDate": issued,
        "expirationDate": expires,
        "credentialSubject": subject,
        "display": {"contentMediaType": "text/html",
                    "content": f"<h1>{title}</h1><p>Northfield School of Medicine certifies that {name} "
                               f"has completed {description[0].lower() + description[1:]}</p>"},
    }


def unsigned_v3() -> dict[str, dict[str, Any]]:
    md = "the degree of Doctor of Medicine, with all the rights and duties it carries."
    return {
        "v3-doctor-of-medicine.json": _v3_record(
            "6c1e2b9a-3f4d-4e8a-9b21-5d0c7a8e1f01", "did:example:physician-amara-okafor",
            "Dr. Amara Okafor", "Doctor of Medicine", "The requirements for " + md,
            "2026-05-22T15:00:00Z", "2076-05-22T15:00:00Z",
            {"degree": "Doctor of Medicine", "graduationDate": "2026-05-22"}),
        "v3-doctor-of-medicine-2.json": _v3_record(
            "6c1e2b9a-3f4d-4e8a-9b21-5d0c7a8e1f02", "did:example:physician-jonas-lindqvist",
            "Dr. Jonas Lindqvist", "Doctor of Medicine", "The requirements for " + md,
            "2026-05-22T15:00:00Z", "2076-05-22T15:00:00Z",
            {"degree": "Doctor of Medicine", "graduationDate": "2026-05-22"}),
        # genuinely issued, with an expiry already past (life-support certificates last two years)
        "v3-acls-expired.json": _v3_record(
            "6c1e2b9a-3f4d-4e8a-9b21-5d0c7a8e1f03", "did:example:physician-amara-okafor",
            "Dr. Amara Okafor", "Advanced Cardiac Life Support",
            "The Advanced Cardiac Life Support course (provider level), valid for two years.",
            "2024-10-01T12:00:00Z", "2026-10-01T12:00:00Z", {}),
    }


def _v2_record(uuid: str, name: str, email: str, issued: str, address: str) -> dict[str, Any]:
    return {
        "@context": ["https://w3id.org/openbadges/v2", "https://w3id.org/blockcerts/v2"],
        "type": "Assertion",
        "id": f"urn:uuid:{uuid}",
        "issuedOn": issued,
        "recipient": {"type": "email", "identity": email, "hashed": False},
        "recipientProfile": {"type": ["RecipientProfile", "Extension"], "name": name},
        "verification": {"type": ["MerkleProofVerification2017", "Extension"],
                         "publicKey": f"ecdsa-koblitz-pubkey:{address}"},
        "badge": {
            "type": "BadgeClass",
            "id": "urn:uuid:2f8d7c61-0a4b-4f3e-8c5d-7e6f5a4b3c21",
            "name": "Residency completion",
            "description": "Completion of the three-year residency in Internal Medicine at Lakeside "
                           "Residency Program.",
            "image": "https://lakeside-residency.example/blockcerts/residency-badge.png",
            "criteria": {"narrative": "Three years of supervised clinical training in Internal Medicine, "
                                      "with the program director's final evaluation."},
            "issuer": {
                "type": "Profile",
                "id": LAKESIDE_PROFILE,
                "name": "Lakeside Residency Program",
                "url": "https://lakeside-residency.example",
                "email": "gme-office@lakeside-residency.example",
                "image": "https://lakeside-residency.example/blockcerts/logo.png",
                "revocationList": LAKESIDE_REVOCATION,
            },
            "signatureLines": [{"type": ["SignatureLine", "Extension"], "jobTitle": "Program Director",
                                "name": "Dr. Helen Marsh",
                                "image": "https://lakeside-residency.example/blockcerts/signature.png"}],
        },
    }


def unsigned_v2(address: str) -> dict[str, dict[str, Any]]:
    return {
        "v2-residency-completion.json": _v2_record(
            "9a7b3c5d-2e1f-4a6b-8c9d-0e1f2a3b4c01", "Dr. Amara Okafor", "amara.okafor@example.org",
            "2026-06-30T00:00:00+00:00", address),
        "v2-residency-completion-2.json": _v2_record(
            "9a7b3c5d-2e1f-4a6b-8c9d-0e1f2a3b4c02", "Dr. Priya Raman", "priya.raman@example.org",
            "2026-06-30T00:00:00+00:00", address),
    }


# --- issuer profiles and revocation lists --------------------------------------------------------

def v3_profile(key: dict[str, str], *, revoked: bool) -> dict[str, Any]:
    public_key: dict[str, Any] = {"id": f"ecdsa-koblitz-pubkey:{key['address']}", "created": KEY_CREATED}
    vm: dict[str, Any] = {
        "id": f"{NORTHFIELD_PROFILE}#key-1", "controller": NORTHFIELD_PROFILE,
        "type": "EcdsaSecp256k1VerificationKey2019",
        "publicKeyJwk": {"kty": "EC", "crv": "secp256k1", "x": key["x"], "y": key["y"]},
    }
    if revoked:
        public_key["revoked"] = KEY_REVOKED
        vm["revoked"] = KEY_REVOKED
    return {
        "@context": ["https://www.w3.org/2018/credentials/v1", "https://w3id.org/blockcerts/v3"],
        "type": "BlockcertsIssuerProfile",
        "id": NORTHFIELD_PROFILE,
        "name": "Northfield School of Medicine",
        "url": "https://northfield-med.example",
        "email": "registrar@northfield-med.example",
        "publicKey": [public_key],
        "verificationMethod": [vm],
        "assertionMethod": [f"{NORTHFIELD_PROFILE}#key-1"],
        "revocationList": NORTHFIELD_REVOCATION,
    }


def v2_profile(key: dict[str, str], *, revoked: bool) -> dict[str, Any]:
    public_key: dict[str, Any] = {"id": f"ecdsa-koblitz-pubkey:{key['address']}", "created": KEY_CREATED}
    if revoked:
        public_key["revoked"] = KEY_REVOKED
    return {
        "@context": ["https://w3id.org/openbadges/v2", "https://w3id.org/blockcerts/v2"],
        "type": "Profile",
        "id": LAKESIDE_PROFILE,
        "name": "Lakeside Residency Program",
        "url": "https://lakeside-residency.example",
        "email": "gme-office@lakeside-residency.example",
        "publicKey": [public_key],
        "revocationList": LAKESIDE_REVOCATION,
    }


def revocation_list(url: str, issuer: str, revoked: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "@context": "https://w3id.org/openbadges/v2",
        "type": "RevocationList",
        "id": url,
        "issuer": issuer,
        "revokedAssertions": [{"id": rid, "revocationReason": why} for rid, why in revoked],
    }


# --- cert-issuer ---------------------------------------------------------------------------------

def _log(msg: str) -> None:
    print(f"blockcerts_fixtures: {msg}", file=sys.stderr, flush=True)


def fix_glob2(venv: Path) -> None:
    """glob2 0.6's fnmatch puts ``(?ms)`` at the end of the pattern; Python 3.11 wants it first."""
    hits = list(venv.glob("lib/python3*/site-packages/glob2/fnmatch.py"))
    if not hits:
        raise SystemExit(f"glob2 not found in {venv}")
    text = hits[0].read_text(encoding="utf-8")
    old, new = "return res + '\\Z(?ms)'", "return '(?ms)' + res + '\\Z'"
    if old in text:
        hits[0].write_text(text.replace(old, new), encoding="utf-8")
    elif new not in text:
        raise SystemExit(f"{hits[0]}: neither the glob2 0.6 line nor its fix is there")


def ensure_venv(cache: Path, name: str, requirement: str) -> Path:
    """``cache/name``: a venv with ``requirement`` installed (a marker file records a finished
    install; an unfinished one is rebuilt)."""
    import fcntl
    venv = cache / name
    marker = venv / "credshare-installed.txt"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f".{name}.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)     # two test processes: one builds, the other waits
        if marker.is_file() and marker.read_text(encoding="utf-8").strip() == requirement:
            return venv
        if venv.exists():
            shutil.rmtree(venv)
        _log(f"creating {venv} with {requirement} (pip, about a minute)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", requirement],
                       check=True)
        if name == "v3":
            fix_glob2(venv)
        marker.write_text(requirement + "\n", encoding="utf-8")
        return venv


def _offline_prefix() -> list[str]:
    """``unshare -n`` (a network namespace with no network) when this system allows it."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    for prefix in ([unshare, "-n"], [unshare, "-rn"]):
        try:
            ok = subprocess.run(prefix + ["true"], capture_output=True, timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            return prefix
    return []


def issue(venv: Path, records: dict[str, dict[str, Any]], issuing_address: str,
          verification_method: str | None) -> dict[str, dict[str, Any]]:
    """Run cert-issuer (mockchain) over ``records`` in a temporary directory; the issued records."""
    with tempfile.TemporaryDirectory(prefix="cert-issuer-") as tmp:
        work = Path(tmp)
        for sub in ("unsigned", "signed", "blockchain", "work", "usb"):
            (work / sub).mkdir()
        (work / "usb" / "pk.txt").write_text("unused: mockchain signs nothing\n", encoding="utf-8")
        for name, doc in records.items():
            (work / "unsigned" / name).write_text(json.dumps(doc, indent=2), encoding="utf-8")
        conf = [f"issuing_address = {issuing_address}"]
        if verification_method:
            conf.append(f"verification_method = {verification_method}")
        conf += ["unsigned_certificates_dir = unsigned", "signed_certificates_dir = signed",
                 "blockchain_certificates_dir = blockchain", "work_dir = work", "usb_name = usb",
                 "key_file = pk.txt", "chain = mockchain", "no_safe_mode"]
        (work / "conf.ini").write_text("\n".join(conf) + "\n", encoding="utf-8")
        cmd = _offline_prefix() + [str(venv / "bin" / "cert-issuer"), "-c", "conf.ini"]
        run = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=300)
        if run.returncode != 0:
            raise SystemExit(f"cert-issuer failed ({run.returncode}):\n{run.stdout}\n{run.stderr}")
        out = {}
        for name in records:
            path = work / "blockchain" / name
            if not path.is_file():
                raise SystemExit(f"cert-issuer wrote no {name}:\n{run.stderr}")
            out[name] = json.loads(path.read_text(encoding="utf-8"))
        return out


# --- MerkleProof2019 proofValue ------------------------------------------------------------------

def decode_proof_value(proof_value: str) -> list[list[Any]]:
    import cbor2

    from credshare.blockcerts.proof import base58btc_decode
    if not proof_value.startswith("z"):
        raise ValueError("proofValue is not multibase base58btc")
    return cbor2.loads(base58btc_decode(proof_value[1:]))


def encode_proof_value(pairs: list[list[Any]]) -> str:
    import cbor2
    return "z" + b58encode(cbor2.dumps(pairs))


def _hex_item(value: bytes) -> str:
    """A proofValue hash: CBOR inside a byte string (cert-issuer: the hex text; JS: raw bytes)."""
    import cbor2
    inner = cbor2.loads(value)
    return inner.hex() if isinstance(inner, bytes) else str(inner)


def _flip_hex(hex_text: str) -> str:
    """The same hash with its first hex digit changed: a different, well-formed value."""
    return ("0" if hex_text[0] != "0" else "1") + hex_text[1:]


def _v3_edit(record: dict[str, Any], key: int, edit: Any) -> dict[str, Any]:
    """``record`` with proofValue entry ``key`` replaced by ``edit(value)``, re-encoded."""
    doc = copy.deepcopy(record)
    pairs = decode_proof_value(doc["proof"]["proofValue"])
    if encode_proof_value(pairs) != doc["proof"]["proofValue"]:
        raise SystemExit("proofValue does not round-trip through cbor2: cannot re-encode it faithfully")
    for pair in pairs:
        if pair[0] == key:
            pair[1] = edit(pair[1])
            break
    else:
        raise SystemExit(f"proofValue has no key {key}")
    doc["proof"]["proofValue"] = encode_proof_value(pairs)
    return doc


def _cbor_hex(hex_text: str) -> bytes:
    import cbor2
    return cbor2.dumps(hex_text)


def v3_receipt(record: dict[str, Any]) -> dict[str, Any]:
    """targetHash, merkleRoot, path of a cert-issuer v3 record (for the manifest and checks)."""
    out: dict[str, Any] = {}
    for key, value in decode_proof_value(record["proof"]["proofValue"]):
        if key == 0:
            out["merkleRoot"] = _hex_item(value)
        elif key == 1:
            out["targetHash"] = _hex_item(value)
        elif key == 3:
            out["path"] = [{("left" if d == 0 else "right"): _hex_item(h)} for d, h in value]
    return out


# --- tampering -----------------------------------------------------------------------------------

def tampered(v3: dict[str, dict[str, Any]], v2: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    md, acls = v3["v3-doctor-of-medicine.json"], v3["v3-acls-expired.json"]
    res = v2["v2-residency-completion.json"]
    out: dict[str, dict[str, Any]] = {}

    doc = copy.deepcopy(md)
    doc["credentialSubject"]["name"] = "Dr. Amara Okafor-Smith"
    out["tampered-v3-field-changed.json"] = doc

    doc = copy.deepcopy(acls)
    doc["expirationDate"] = "2036-10-01T12:00:00Z"
    out["tampered-v3-expiry-extended.json"] = doc

    doc = copy.deepcopy(res)
    doc["recipientProfile"]["name"] = "Dr. Amara Okafor-Smith"
    out["tampered-v2-field-changed.json"] = doc

    doc = copy.deepcopy(res)
    node = doc["signature"]["proof"][0]
    side = "left" if "left" in node else "right"
    node[side] = _flip_hex(node[side])
    out["tampered-v2-path-changed.json"] = doc

    doc = copy.deepcopy(res)
    doc["signature"]["merkleRoot"] = _flip_hex(doc["signature"]["merkleRoot"])
    out["tampered-v2-root-changed.json"] = doc

    def change_first_node(path: list[list[Any]]) -> list[list[Any]]:
        path = copy.deepcopy(path)
        path[0][1] = _cbor_hex(_flip_hex(_hex_item(path[0][1])))
        return path

    out["tampered-v3-path-changed.json"] = _v3_edit(md, 3, change_first_node)
    out["tampered-v3-root-changed.json"] = _v3_edit(md, 0, lambda v: _cbor_hex(_flip_hex(_hex_item(v))))

    doc = copy.deepcopy(md)
    doc["credentialSubject"]["boardCertified"] = True     # no context defines it
    out["tampered-v3-unmapped-field.json"] = doc

    doc = copy.deepcopy(md)
    doc["id"] = doc["id"].removeprefix("urn:uuid:")        # a relative IRI: pyld drops its triples
    out["tampered-v3-relative-id.json"] = doc

    doc = copy.deepcopy(md)
    doc["@context"] = list(doc["@context"]) + ["https://northfield-med.example/blockcerts/context.json"]
    out["tampered-v3-unknown-context.json"] = doc
    return out


# --- the manifest --------------------------------------------------------------------------------

CVJS_COMMIT = "21de5589cd9b6092ba2f3191731543b0576a9e9d"

# what each record must give (check + code as in the shared Blockcerts interface); "ok" = the
# record verifies every check except the anchor (test anchor: outcome "incomplete")
EXPECT: dict[str, dict[str, Any]] = {
    "v3-doctor-of-medicine.json": {"expect": "ok"},
    "v3-doctor-of-medicine-2.json": {"expect": "ok"},
    "v3-acls-expired.json": {"expect": "fail", "check": "credential_validity", "code": "credential_expired"},
    "v2-residency-completion.json": {"expect": "ok"},
    "v2-residency-completion-2.json": {"expect": "ok"},
    "tampered-v3-field-changed.json": {"expect": "fail", "check": "document_hash", "code": "blockcerts_hash_mismatch"},
    "tampered-v3-expiry-extended.json": {"expect": "fail", "check": "document_hash",
                                         "code": "blockcerts_hash_mismatch"},
    "tampered-v2-field-changed.json": {"expect": "fail", "check": "document_hash", "code": "blockcerts_hash_mismatch"},
    "tampered-v2-path-changed.json": {"expect": "fail", "check": "merkle_proof",
                                      "code": "blockcerts_merkle_path_mismatch"},
    "tampered-v2-root-changed.json": {"expect": "fail", "check": "merkle_proof",
                                      "code": "blockcerts_merkle_path_mismatch"},
    "tampered-v3-path-changed.json": {"expect": "fail", "check": "merkle_proof",
                                      "code": "blockcerts_merkle_path_mismatch"},
    "tampered-v3-root-changed.json": {"expect": "fail", "check": "merkle_proof",
                                      "code": "blockcerts_merkle_path_mismatch"},
    "tampered-v3-unmapped-field.json": {"expect": "fail", "check": "document_hash", "code": "jsonld_unmapped_field"},
    "tampered-v3-relative-id.json": {"expect": "fail", "check": "document_hash", "code": "jsonld_relative_iri"},
    "tampered-v3-unknown-context.json": {"expect": "fail", "check": "document_hash",
                                         "code": "jsonld_context_unknown"},
    # cert-verifier-js fixtures (test/fixtures/, MIT), copied unchanged
    "cvjs-v2-mocknet-valid-2.0.json": {"expect": "ok", "issuer_profile": None,
                                       "note": "its issuer profile (blockcerts.org samples issuer-testnet.json) "
                                               "is not copied: with no profile snapshot the record cannot verify"},
    "cvjs-v2-testnet-tampered-hashes-2.0.json": {"expect": "fail", "check": "document_hash",
                                                 "code": "blockcerts_hash_mismatch"},
    "cvjs-v2-mainnet-invalid-merkle-receipt-2.0.json": {"expect": "fail", "check": "merkle_proof",
                                                        "code": "blockcerts_merkle_path_mismatch"},
    "cvjs-v3-mocknet-vc-v2-data-integrity-proof.json": {"expect": "ok",
                                                        "issuer_profile": "cvjs-issuer-blockcerts.json"},
    "cvjs-v3-mocknet-vc-v2-validUntil-expired.json": {"expect": "fail", "check": "credential_validity",
                                                      "code": "credential_expired",
                                                      "issuer_profile": "cvjs-issuer-blockcerts.json"},
    "cvjs-v3-testnet-v3--tampered.json": {
        "expect": "fail", "check": "document_hash", "code": "jsonld_relative_iri", "cert_schema": "differs",
        "note": "its id and its claim's id are relative IRIs (and the claim's type 'Blockcerts' is defined by no "
                "context); Blockcerts drops the relative nodes' triples, so it sees no unmapped field, and "
                "reports a hash mismatch"},
}

CVJS_FILES = {
    "cvjs-issuer-blockcerts.json": "test/fixtures/issuer-blockcerts.json",
    "cvjs-v2-mocknet-valid-2.0.json": "test/fixtures/v2/mocknet-valid-2.0.json",
    "cvjs-v2-testnet-tampered-hashes-2.0.json": "test/fixtures/v2/testnet-tampered-hashes-2.0.json",
    "cvjs-v2-mainnet-invalid-merkle-receipt-2.0.json": "test/fixtures/v2/mainnet-invalid-merkle-receipt-2.0.json",
    "cvjs-v3-mocknet-vc-v2-data-integrity-proof.json": "test/fixtures/v3/mocknet-vc-v2-data-integrity-proof.json",
    "cvjs-v3-mocknet-vc-v2-validUntil-expired.json": "test/fixtures/v3/mocknet-vc-v2-validUntil-expired.json",
    "cvjs-v3-testnet-v3--tampered.json": "test/fixtures/v3/testnet-v3--tampered.json",
}


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def generate(cache: Path, out: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    v3_venv = ensure_venv(cache, "v3", CERT_ISSUER_V3)
    v2_venv = ensure_venv(cache, "v2", CERT_ISSUER_V2)
    north, lake = issuing_key(NORTHFIELD_KEY_SEED), issuing_key(LAKESIDE_KEY_SEED)

    _log("issuing the v3 batch with cert-issuer 3.13.1 (mockchain)")
    v3 = issue(v3_venv, unsigned_v3(), north["address"], f"{NORTHFIELD_PROFILE}#key-1")
    _log("issuing the v2 batch with cert-issuer 2.0.48 (mockchain)")
    v2 = issue(v2_venv, unsigned_v2(lake["address"]), lake["address"], None)

    for name, doc in {**v3, **v2, **tampered(v3, v2)}.items():
        _write(out / name, doc)
    md_id = v3["v3-doctor-of-medicine.json"]["id"]
    res_id = v2["v2-residency-completion.json"]["id"]
    docs = {
        "issuer-profile.json": v3_profile(north, revoked=False),
        "issuer-profile-key-revoked.json": v3_profile(north, revoked=True),
        "issuer-profile-v2.json": v2_profile(lake, revoked=False),
        "issuer-profile-v2-key-revoked.json": v2_profile(lake, revoked=True),
        "revocation-list.json": revocation_list(NORTHFIELD_REVOCATION, NORTHFIELD_PROFILE, []),
        "revocation-list-revoked.json": revocation_list(
            NORTHFIELD_REVOCATION, NORTHFIELD_PROFILE, [(md_id, "Degree rescinded by the Faculty Board.")]),
        "revocation-list-v2.json": revocation_list(LAKESIDE_REVOCATION, LAKESIDE_PROFILE, []),
        "revocation-list-v2-revoked.json": revocation_list(
            LAKESIDE_REVOCATION, LAKESIDE_PROFILE, [(res_id, "Issued in error.")]),
    }
    for name, doc in docs.items():
        _write(out / name, doc)
    _write(out / "manifest.json", manifest(v3, v2, north, lake))
    _log(f"wrote {len(v3) + len(v2) + len(docs)} documents and the tampered variants to {out}")


def cases() -> list[dict[str, Any]]:
    out = []
    for record, profile, rev_list in (("v3-doctor-of-medicine.json", "issuer-profile", "revocation-list"),
                                      ("v2-residency-completion.json", "issuer-profile-v2", "revocation-list-v2")):
        base = {"record": record, "issuer_profile": f"{profile}.json", "revocation_list": f"{rev_list}.json"}
        out.append({**base, "expect": "ok", "credential_status": "valid"})
        out.append({**base, "issuer_profile": f"{profile}-key-revoked.json", "expect": "fail",
                    "check": "issuer_key_valid", "code": "blockcerts_key_revoked"})
        out.append({**base, "revocation_list": f"{rev_list}-revoked.json", "expect": "fail", "check": "status",
                    "code": "blockcerts_revoked", "credential_status": "revoked"})
    return out


def manifest(v3: dict[str, dict[str, Any]], v2: dict[str, dict[str, Any]],
             north: dict[str, str], lake: dict[str, str]) -> dict[str, Any]:
    records: dict[str, Any] = {}
    for name, exp in EXPECT.items():
        if "issuer_profile" not in exp and name.startswith("cvjs-"):
            exp = {**exp, "issuer_profile": None}
        entry = dict(exp)
        # what Blockcerts' own normalisation (cert-schema) makes of it: tests/test_blockcerts_crosscheck.py
        entry.setdefault("cert_schema", {"jsonld_unmapped_field": "unmapped_fields",
                                         "jsonld_context_unknown": "unknown_context",
                                         "blockcerts_hash_mismatch": "differs",
                                         "jsonld_relative_iri": "differs"}.get(entry.get("code", ""), "matches"))
        if name.startswith("cvjs-"):
            entry["source"] = f"blockchain-certificates/cert-verifier-js@{CVJS_COMMIT}:{CVJS_FILES[name]}"
        else:
            v3_based = name.startswith(("v3-", "tampered-v3-"))
            entry["source"] = (CERT_ISSUER_V3 if v3_based else CERT_ISSUER_V2) + " mockchain" + (
                "" if name.startswith("v") else ", then altered by this script")
            entry.setdefault("issuer_profile", "issuer-profile.json" if v3_based else "issuer-profile-v2.json")
        records[name] = entry
    return {
        "about": "Blockcerts fixtures: what each record must give. Made by scripts/blockcerts_fixtures.py; "
                 "see README.md. 'ok': no check fails (on a test anchor blockchain_anchor and issuer_key_valid "
                 "stay unchecked, and status without a revocation list); 'fail': the named check fails with "
                 "the code, and no other check fails. 'cert_schema': what Blockcerts' own normalisation makes "
                 "of it (hash matches / differs from targetHash, or refused).",
        "issuers": {
            NORTHFIELD_PROFILE: {"name": "Northfield School of Medicine", "address": north["address"],
                                 "profile": "issuer-profile.json",
                                 "revocation_list": NORTHFIELD_REVOCATION},
            LAKESIDE_PROFILE: {"name": "Lakeside Residency Program", "address": lake["address"],
                               "profile": "issuer-profile-v2.json", "revocation_list": LAKESIDE_REVOCATION},
        },
        "key_created": KEY_CREATED,
        "key_revoked_in_variants": KEY_REVOKED,
        "revoked_by": {"revocation-list-revoked.json": v3["v3-doctor-of-medicine.json"]["id"],
                       "revocation-list-v2-revoked.json": v2["v2-residency-completion.json"]["id"]},
        "target_hashes": {
            **{n: v3_receipt(d)["targetHash"] for n, d in v3.items()},
            **{n: d["signature"]["targetHash"] for n, d in v2.items()},
        },
        "records": records,
        # the issuer's documents change the verdict of a genuine record
        "cases": cases(),
    }


# --- cert-schema's own document hash (run inside the v3 venv) ------------------------------------

def _cert_schema_hash_main(files: list[str]) -> None:
    """Executed by the v3 venv's python: cert-schema's normalisation of each file."""
    from cert_schema import jsonld_helpers

    def offline_loader(url: str, options: Any = None) -> dict[str, Any]:
        if url in jsonld_helpers.PRELOADED_CONTEXTS:
            return jsonld_helpers.to_loader_response(jsonld_helpers.PRELOADED_CONTEXTS[url], url)
        raise ValueError(f"unknown context (not preloaded, not fetched): {url}")

    result: dict[str, Any] = {}
    for name in files:
        with open(name, encoding="utf-8") as f:
            doc = json.load(f)
        unsigned = copy.deepcopy(doc)
        # cert-issuer hashes the record before it adds the proof; verifiers remove it again
        unsigned.pop("signature" if "signature" in doc else "proof", None)
        try:
            nquads = jsonld_helpers.normalize_jsonld(unsigned, document_loader=offline_loader,
                                                     detect_unmapped_fields=True)
        except Exception as exc:  # noqa: BLE001 - reported, the caller judges
            text = str(exc)
            kind = ("unmapped_fields" if "Unmapped fields are" in text else
                    "unknown_context" if "unknown context (not preloaded" in text else "other")
            result[os.path.basename(name)] = {"error": kind, "detail": text[:4000]}
            continue
        result[os.path.basename(name)] = {"sha256": hashlib.sha256(nquads.encode("utf-8")).hexdigest(),
                                          "nquads_lines": nquads.count("\n")}
    json.dump(result, sys.stdout, indent=1)


def cert_schema_hashes(cache: Path, files: list[Path]) -> dict[str, Any]:
    venv = ensure_venv(cache, "v3", CERT_ISSUER_V3)
    run = subprocess.run([str(venv / "bin" / "python"), str(Path(__file__).resolve()), "--in-venv-hash",
                          *map(str, files)], capture_output=True, text=True, timeout=300, check=True)
    return json.loads(run.stdout)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--in-venv-hash"]:
        _cert_schema_hash_main(argv[1:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the cert-issuer venvs live")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the fixtures are written")
    ap.add_argument("--cert-schema-hash", nargs="+", type=Path, metavar="FILE",
                    help="print cert-schema's document hash of each FILE (JSON) instead")
    args = ap.parse_args(argv)
    if args.cert_schema_hash:
        json.dump(cert_schema_hashes(args.cache, args.cert_schema_hash), sys.stdout, indent=1)
        print()
        return 0
    generate(args.cache, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
