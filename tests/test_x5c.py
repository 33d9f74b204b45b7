"""Issuer keys from x5c chains (verifier/x5c.py; issue 13 item 5): a root CA, an intermediate and
a signing certificate made here with ``cryptography``; an SD-JWT VC and a status list token
signed with the certified key verify when the trust list names the root, and each broken
chain fails with a plain detail and its code."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from jwcrypto import jwk as jwcrypto_jwk

from credshare.anchoring.merkle import document_leaf
from credshare.anchoring.note import Checkpoint, NoteSigner
from credshare.anchoring.policy import parse_policy
from credshare.anchoring.proof import build_anchor_proof
from credshare.disclosure.errors import SDJWTError
from credshare.disclosure.issuance import issue
from credshare.disclosure.jws import Signer, parse_compact, sign_compact
from credshare.disclosure.presentation import KeyBindingRequest, present
from credshare.disclosure.status_list import INVALID, StatusList, sign_status_list
from credshare.disclosure.verification import KeyBindingPolicy
from credshare.foundation.b64 import b64_encode
from credshare.verifier.credential import LogTrust, StatusEvidence, verify_credential
from credshare.verifier.trust_list import TrustedIssuer, TrustedLog, TrustList
from credshare.verifier.x5c import MAX_CERTS, CertificateError, certified_key
from tests.helpers import cosign_proof, statuses, witness_policy_text

NOW = 1_800_000_000
WHEN = dt.datetime.fromtimestamp(NOW, dt.timezone.utc)
ISS = "https://board.example/issuers/state-board"
VCT = "https://credshare.example/types/medical-license"
STATUS_URI = "https://board.example/status/state-board/1"
AUD, NONCE = "https://hospital.example/verify", "n-0123456789"
DAY = dt.timedelta(days=1)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test PKI"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(subject: str, public: Any, issuer: str, issuer_key: Any, *, ca: bool, path_length: int | None = None,
              dns: str | None = None, uri: str | None = None, key_usage: bool = True, begins: dt.datetime = WHEN - 30 * DAY,
              ends: dt.datetime = WHEN + 365 * DAY, extra: x509.ExtensionType | None = None,
              basic: bool = True) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer)).public_key(public)
               .serial_number(x509.random_serial_number()).not_valid_before(begins).not_valid_after(ends)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False))
    if basic:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True)
    if subject != issuer:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                        critical=False)
    if key_usage:
        signing = not ca
        builder = builder.add_extension(x509.KeyUsage(digital_signature=signing, content_commitment=False,
                                                      key_encipherment=False, data_encipherment=False,
                                                      key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                                                      encipher_only=False, decipher_only=False), critical=True)
    names: list[x509.GeneralName] = ([x509.DNSName(dns)] if dns else []) + ([x509.UniformResourceIdentifier(uri)]
                                                                            if uri else [])
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if extra is not None:
        builder = builder.add_extension(extra, critical=True)
    return builder.sign(issuer_key, None if isinstance(issuer_key, ed25519.Ed25519PrivateKey) else hashes.SHA256())


def x5c(*certs: x509.Certificate) -> list[str]:
    return [b64_encode(c.public_bytes(Encoding.DER)) for c in certs]


def signer_of(key: Any, alg: str) -> Signer:
    return Signer.from_jwk(json.loads(jwcrypto_jwk.JWK.from_pyca(key).export_private()), alg)


class PKI:
    """A root, an intermediate under it, and a signing certificate for the issuer's host."""

    def __init__(self, *, host: str = "board.example", leaf_alg: str = "ES256") -> None:
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.inter_key = ec.generate_private_key(ec.SECP256R1())
        self.root = make_cert("Board Root CA", self.root_key.public_key(), "Board Root CA", self.root_key, ca=True,
                              path_length=1)
        self.inter = make_cert("Board Issuing CA", self.inter_key.public_key(), "Board Root CA", self.root_key, ca=True,
                               path_length=0)
        self.leaf_key: Any = (ed25519.Ed25519PrivateKey.generate() if leaf_alg == "EdDSA"
                              else ec.generate_private_key(ec.SECP384R1() if leaf_alg == "ES384" else ec.SECP256R1()))
        self.signer = signer_of(self.leaf_key, leaf_alg)
        self.leaf = self.signing_cert(dns=host)

    def signing_cert(self, **kw: Any) -> x509.Certificate:
        return make_cert("State Board credential signer", self.leaf_key.public_key(), "Board Issuing CA", self.inter_key,
                         ca=False, **kw)

    @property
    def chain(self) -> list[str]:
        return x5c(self.leaf, self.inter)

    @property
    def roots(self) -> tuple[bytes, ...]:
        return (self.root.public_bytes(Encoding.DER),)


@pytest.fixture(scope="module")
def pki() -> PKI:
    return PKI()


def header(pki: PKI, chain: list[str] | None = None) -> dict[str, Any]:
    return {"alg": pki.signer.alg, "x5c": pki.chain if chain is None else chain}


# -- the chain ---------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "ES384", "EdDSA"])
def test_a_chain_to_a_trusted_root_gives_the_signing_key(alg: str) -> None:
    pki = PKI(leaf_alg=alg)
    found = certified_key(header(pki), roots=pki.roots, iss=ISS, at=NOW)
    assert found.key.jwk == {k: v for k, v in pki.signer.public_jwk.items() if k in ("kty", "crv", "x", "y")}
    assert "Board Root CA" in found.root and found.length == 3
    token = sign_compact({"x5c": pki.chain}, {"iss": ISS}, pki.signer)
    assert parse_compact(token).verify_with([found.key])


def test_the_root_sent_along_is_dropped_and_a_uri_san_equal_to_iss_names_the_issuer(pki: PKI) -> None:
    assert certified_key(header(pki, x5c(pki.leaf, pki.inter, pki.root)), roots=pki.roots, iss=ISS, at=NOW).length == 3
    by_uri = pki.signing_cert(uri=ISS)
    assert certified_key(header(pki, x5c(by_uri, pki.inter)), roots=pki.roots, iss=ISS, at=NOW)
    with pytest.raises(CertificateError) as caught:  # a URI SAN must be the iss itself, not another path of the host
        certified_key(header(pki, x5c(pki.signing_cert(uri="https://board.example/other"), pki.inter)),
                      roots=pki.roots, iss=ISS, at=NOW)
    assert caught.value.code == "x5c_name_mismatch"


def _other_ca() -> tuple[x509.Certificate, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    return make_cert("Board Issuing CA", key.public_key(), "Board Root CA", key, ca=True, path_length=0), key


def _broken(pki: PKI) -> dict[str, tuple[list[Any], int, str, str]]:
    """name -> (x5c value, time judged, code, words the detail holds)."""
    impostor, impostor_key = _other_ca()
    stranger_key = ec.generate_private_key(ec.SECP256R1())
    stranger_root = make_cert("Board Root CA", stranger_key.public_key(), "Board Root CA", stranger_key, ca=True)
    stranger_inter = make_cert("Board Issuing CA", pki.inter_key.public_key(), "Board Root CA", stranger_key, ca=True,
                               path_length=0)
    not_ca = make_cert("Board Issuing CA", pki.inter_key.public_key(), "Board Root CA", pki.root_key, ca=False,
                       key_usage=False)
    no_bc = make_cert("Board Issuing CA", pki.inter_key.public_key(), "Board Root CA", pki.root_key, ca=False,
                      key_usage=False, basic=False)
    forged_leaf = make_cert("State Board credential signer", pki.leaf_key.public_key(), "Board Issuing CA", impostor_key,
                            ca=False, dns="board.example")
    deep_key = ec.generate_private_key(ec.SECP256R1())
    deep = make_cert("Deep CA", deep_key.public_key(), "Board Issuing CA", pki.inter_key, ca=True)
    deep_leaf = make_cert("State Board credential signer", pki.leaf_key.public_key(), "Deep CA", deep_key, ca=False,
                          dns="board.example")
    self_signed = make_cert("Board self", pki.leaf_key.public_key(), "Board self", pki.leaf_key, ca=False,
                            dns="board.example")
    critical = pki.signing_cert(dns="board.example", extra=x509.UnrecognizedExtension(
        x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00"))
    del stranger_root
    return {
        "wrong root": (x5c(pki.leaf, stranger_inter), NOW, "x5c_untrusted", "not a root on your trust list"),
        "chain under another root": ([b64_encode(make_cert("State Board credential signer", pki.leaf_key.public_key(),
                                                           "Board Issuing CA", impostor_key, ca=False,
                                                           dns="board.example").public_bytes(Encoding.DER)),
                                      *x5c(impostor)], NOW, "x5c_untrusted", "not a root on your trust list"),
        "expired leaf": (pki.chain, int((WHEN + 400 * DAY).timestamp()), "x5c_not_valid_at", "expired on"),
        "leaf not yet valid": (pki.chain, int((WHEN - 60 * DAY).timestamp()), "x5c_not_valid_at", "not valid before"),
        "leaf not signed by the intermediate": (x5c(forged_leaf, pki.inter), NOW, "x5c_signature_invalid",
                                                "is not signed by the next certificate"),
        "intermediate without the CA bit": (x5c(pki.leaf, not_ca), NOW, "x5c_not_ca", "not a CA certificate"),
        "intermediate without basicConstraints": (x5c(pki.leaf, no_bc), NOW, "x5c_not_ca", "not a CA certificate"),
        "path length exceeded": (x5c(deep_leaf, deep, pki.inter), NOW, "x5c_not_ca", "at most 0 CA certificate(s)"),
        "SAN not matching iss": (x5c(pki.signing_cert(dns="school.example"), pki.inter), NOW, "x5c_name_mismatch",
                                 "is not for board.example (it names: school.example)"),
        "no SAN": (x5c(pki.signing_cert(), pki.inter), NOW, "x5c_name_mismatch", "it names: none"),
        "leaf not for signatures": (x5c(pki.signing_cert(dns="board.example", key_usage=False), pki.inter), NOW,
                                    "x5c_key_usage", "keyUsage digitalSignature"),
        "unknown critical extension": (x5c(critical, pki.inter), NOW, "x5c_critical_extension", "1.3.6.1.4.1.55555.1"),
        "self-signed leaf": (x5c(self_signed), NOW, "x5c_self_signed", "self-signed"),
        "chain too long": (pki.chain * 3, NOW, "x5c_too_long", f"at most {MAX_CERTS}"),
        "garbage base64": (["not base64!!"], NOW, "x5c_malformed", "not standard base64"),
        "base64url instead of base64": ([pki.chain[0].replace("+", "-").replace("/", "_").rstrip("=") + "-"], NOW,
                                        "x5c_malformed", "not standard base64"),
        "not a certificate": ([b64_encode(b"\x30\x03\x02\x01\x01")], NOW, "x5c_malformed", "not a DER X.509"),
        "oversized certificate": (["A" * 40000], NOW, "x5c_malformed", "at most 16384 bytes"),
        "not a list": ("MIIB", NOW, "x5c_malformed", "non-empty list"),
        "missing": (None, NOW, "x5c_missing", "no x5c"),  # type: ignore[dict-item]
    }


BROKEN = ["wrong root", "chain under another root", "expired leaf", "leaf not yet valid",
          "leaf not signed by the intermediate", "intermediate without the CA bit",
          "intermediate without basicConstraints", "path length exceeded", "SAN not matching iss", "no SAN",
          "leaf not for signatures", "unknown critical extension", "self-signed leaf", "chain too long", "garbage base64",
          "base64url instead of base64", "not a certificate", "oversized certificate", "not a list", "missing"]


@pytest.mark.parametrize("case", BROKEN)
def test_each_broken_chain_is_refused_with_its_code_and_a_plain_detail(pki: PKI, case: str) -> None:
    value, at, code, words = _broken(pki)[case]
    head = {"alg": "ES256"} if value is None else {"alg": "ES256", "x5c": value}
    with pytest.raises(CertificateError) as caught:
        certified_key(head, roots=pki.roots, iss=ISS, at=at)
    assert (caught.value.code, caught.value.stage) == (code, "issuer_certificate")
    assert words in caught.value.detail, caught.value.detail


def test_the_second_pass_refuses_what_the_web_pki_rules_refuse(pki: PKI) -> None:
    """An intermediate whose keyUsage is absent passes the first pass (RFC 5280 allows it) but
    not cryptography's path validation (a CA certificate has keyUsage keyCertSign there)."""
    bare = make_cert("Board Issuing CA", pki.inter_key.public_key(), "Board Root CA", pki.root_key, ca=True,
                     path_length=0, key_usage=False)
    with pytest.raises(CertificateError) as caught:
        certified_key(header(pki, x5c(pki.leaf, bare)), roots=pki.roots, iss=ISS, at=NOW)
    assert caught.value.code == "x5c_path_invalid" and "does not validate" in caught.value.detail


def test_only_allowed_algorithms_fitting_the_certified_key(pki: PKI) -> None:
    for alg, code in (("ES512", "x5c_alg_not_allowed"), ("none", "x5c_alg_not_allowed"), ("EdDSA", "x5c_alg_not_allowed")):
        with pytest.raises(CertificateError) as caught:
            certified_key({"alg": alg, "x5c": pki.chain}, roots=pki.roots, iss=ISS, at=NOW)
        assert caught.value.code == code
    p521 = ec.generate_private_key(ec.SECP521R1())
    leaf = make_cert("big", p521.public_key(), "Board Issuing CA", pki.inter_key, ca=False, dns="board.example")
    with pytest.raises(CertificateError) as caught:
        certified_key({"alg": "ES256", "x5c": x5c(leaf, pki.inter)}, roots=pki.roots, iss=ISS, at=NOW)
    assert "not EC P-256, P-384 or Ed25519" in caught.value.detail
    with pytest.raises(CertificateError) as caught:
        certified_key(header(pki), roots=(b"not a certificate",), iss=ISS, at=NOW)
    assert caught.value.code == "x5c_no_roots"
    with pytest.raises(CertificateError) as caught:
        certified_key(header(pki), roots=pki.roots, iss="did:example:board", at=NOW)
    assert caught.value.code == "x5c_name_mismatch"


# -- a credential and its status list, end to end -------------------------------------------


HOLDER = Signer.generate("EdDSA")


def credential(pki: PKI, chain: list[str] | None = None, *, signer: Signer | None = None, at: int = NOW) -> str:
    claims = {"iss": ISS, "vct": VCT, "iat": NOW - 3600, "given_name": "Ada", "license_number": "MD-1",
              "status": {"status_list": {"idx": 3, "uri": STATUS_URI}}}
    issued = issue(claims, signer=signer or pki.signer, disclosable=[("given_name",), ("license_number",)],
                   holder_jwk=HOLDER.public_jwk, header={"x5c": pki.chain if chain is None else chain})
    return present(issued.serialize(), [("given_name",)], KeyBindingRequest(HOLDER, AUD, NONCE, at))


def status_token(pki: PKI, chain: list[str] | None = None, *, revoked: bool = False, iat: int = NOW - 60) -> str:
    lst = StatusList.empty(16)
    if revoked:
        lst.set(3, INVALID)
    return sign_status_list(lst, uri=STATUS_URI, signer=pki.signer, iat=iat, exp=iat + 86400,
                            header={"x5c": pki.chain if chain is None else chain})


LOG = NoteSigner.from_seed("board.example/log", bytes([9]) * 32)


def trust_list(pki: PKI, roots: tuple[bytes, ...] | None = None) -> TrustList:
    return TrustList.of([TrustedLog.from_key(LOG.verifier.encode())],
                        [TrustedIssuer(id=ISS, name="State Medical Board", accreditation="state medical board",
                                       types=(VCT,), x5c_roots=pki.roots if roots is None else roots)])


def check(presentation: str, pki: PKI, *, status: StatusEvidence | None = None, anchor_proof: dict[str, Any] | None = None,
          trust: LogTrust | None = None, roots: tuple[bytes, ...] | None = None, now: int = NOW):
    evidence = status if status is not None else StatusEvidence(status_token(pki), now)
    return verify_credential(presentation, anchor_proof, trust=trust or LogTrust(LOG.verifier, None), history=None,
                             status=evidence, key_binding=KeyBindingPolicy(True, AUD, NONCE), now=now,
                             issuers=trust_list(pki, roots))


def test_an_sd_jwt_vc_with_x5c_verifies_its_issuer_by_the_certificate_and_says_it_is_not_logged(pki: PKI) -> None:
    report = check(credential(pki), pki)
    seen = statuses(report)
    assert [c.name for c in report.checks][:2] == ["issuer_certificate", "issuer_trust"]
    assert {k: seen[k] for k in ("issuer_certificate", "issuer_trust", "issuer_signature", "disclosures", "key_binding",
                                 "status", "credential_validity")} == dict.fromkeys(
        ("issuer_certificate", "issuer_trust", "issuer_signature", "disclosures", "key_binding", "status",
         "credential_validity"), "passed")
    assert seen["inclusion"] == "unchecked" and "key_history" not in seen and report.outcome == "incomplete"
    details = {c.name: c.detail for c in report.checks}
    assert "not logged" in details["inclusion"] and "Board Root CA" in details["issuer_certificate"]
    assert "not logged" in details["status"] and report.credential_status == "valid"
    assert report.issuer == ISS and report.issuer_name == "State Medical Board" and report.claims["given_name"] == "Ada"
    assert report.to_json()["issuer"]["vouched_for"]["keys"] == "x5c"


@pytest.mark.parametrize("case", ["wrong root", "chain under another root", "leaf not signed by the intermediate",
                                  "intermediate without the CA bit", "SAN not matching iss", "chain too long",
                                  "garbage base64", "missing"])
def test_a_credential_whose_chain_is_broken_is_not_verified_and_no_other_key_stands_in(pki: PKI, case: str) -> None:
    value, _at, code, words = _broken(pki)[case]
    claims = {"iss": ISS, "vct": VCT, "iat": NOW, "given_name": "Ada"}
    head = {} if value is None else {"x5c": value}
    issued = issue(claims, signer=pki.signer, disclosable=[("given_name",)], holder_jwk=HOLDER.public_jwk, header=head)
    report = check(present(issued.serialize(), [("given_name",)], KeyBindingRequest(HOLDER, AUD, NONCE, NOW)), pki)
    seen = statuses(report)
    assert seen["issuer_certificate"] == "failed" and report.outcome == "not_verified"
    assert seen["issuer_signature"] == seen["issuer_trust"] == seen["status"] == "unchecked"
    detail = next(c.detail for c in report.checks if c.name == "issuer_certificate")
    assert words in detail and f"[{code}]" in detail


def test_an_expired_certificate_fails_and_one_signed_by_another_key_does_not_verify(pki: PKI) -> None:
    later = int((WHEN + 400 * DAY).timestamp())
    presentation = present(issue({"iss": ISS, "vct": VCT, "iat": later - 10}, signer=pki.signer, disclosable=[],
                                 holder_jwk=HOLDER.public_jwk, header={"x5c": pki.chain}).serialize(), [],
                           KeyBindingRequest(HOLDER, AUD, NONCE, later))
    report = check(presentation, pki, now=later, status=StatusEvidence(None, later, "no status"))
    assert statuses(report)["issuer_certificate"] == "failed" and "expired on" in report.checks[0].detail
    forged = credential(pki, signer=Signer.generate("ES256"))
    seen = statuses(check(forged, pki))
    assert seen["issuer_certificate"] == "passed" and seen["issuer_signature"] == "failed"
    other = PKI()
    assert statuses(check(credential(pki), pki, roots=other.roots))["issuer_certificate"] == "failed"


def test_the_status_list_token_is_judged_by_its_own_x5c_to_the_same_roots(pki: PKI) -> None:
    def status_of(token: str | None) -> tuple[str, str]:
        report = check(credential(pki), pki, status=StatusEvidence(token, NOW))
        found = next(c for c in report.checks if c.name == "status")
        return found.status, found.detail

    assert status_of(status_token(pki))[0] == "passed"
    status, detail = status_of(status_token(pki, revoked=True))
    assert status == "failed" and "revoked" in detail
    other = PKI()  # a chain under a root the trust list does not name for this issuer
    status, detail = status_of(sign_status_list(StatusList.empty(16), uri=STATUS_URI, signer=other.signer, iat=NOW - 60,
                                                header={"x5c": other.chain}))
    assert status == "failed" and "x5c_untrusted" in detail and "certificate does not verify" in detail
    status, detail = status_of(status_token(pki, x5c(pki.signing_cert(dns="school.example"), pki.inter)))
    assert status == "failed" and "is not for board.example" in detail
    status, detail = status_of(status_token(pki, ["%%%"]))
    assert status == "failed" and "x5c_malformed" in detail
    no_x5c = sign_status_list(StatusList.empty(16), uri=STATUS_URI, signer=pki.signer, iat=NOW - 60)
    status, detail = status_of(no_x5c)
    assert status == "failed" and "x5c_missing" in detail
    status, detail = status_of(None)
    assert status == "unchecked"


def _logged(jwt: str, at: int) -> dict[str, Any]:
    text = Checkpoint(LOG.name, 1, document_leaf(jwt.encode("ascii")), (f"credshare-time {at}",)).text()
    return cosign_proof(build_anchor_proof(origin=LOG.name, leaf_index=0, tree_size=1, inclusion=[],
                                           checkpoint_note=LOG.sign(text)))


def test_a_logged_credential_is_judged_when_it_was_logged_and_verifies(pki: PKI) -> None:
    """Anchored while its certificate was valid, a credential still verifies after the
    certificate expired (the log proves when it was signed); its anchoring checks run as usual."""
    presentation = credential(pki)
    proof = _logged(presentation.split("~", 1)[0], NOW - 600)
    trust = LogTrust(LOG.verifier, parse_policy(witness_policy_text(LOG.verifier.encode())))
    later = int((WHEN + 400 * DAY).timestamp())
    later_presentation = credential(pki, at=later)
    proof_later = _logged(later_presentation.split("~", 1)[0], NOW - 600)
    # at NOW the credential (and its unlogged status list, read then) verify in full
    report = check(presentation, pki, anchor_proof=proof, trust=trust)
    assert report.outcome == "verified", [(c.name, c.status, c.detail) for c in report.checks]
    assert "when it was logged" in report.checks[0].detail and report.anchored_at == NOW - 600
    # a year on, the certificate has expired: the credential is judged at its logging time
    report = check(later_presentation, pki, anchor_proof=proof_later, trust=trust, now=later,
                   status=StatusEvidence(None, later, "the issuer's server did not answer"))
    seen = statuses(report)
    assert seen["issuer_certificate"] == "passed" and seen["status"] == "unchecked", report.checks
    # an anchor proof for another credential does not vouch for this one's time
    wrong = _logged("eyJ.other.jwt", NOW - 600)
    report = check(later_presentation, pki, anchor_proof=wrong, trust=trust, now=later)
    assert statuses(report)["inclusion"] == "failed" and statuses(report)["issuer_certificate"] == "failed"


def test_an_issuer_known_by_its_log_ignores_an_x5c_header_and_the_header_parameter_is_checked(pki: PKI) -> None:
    listed = TrustList.of([TrustedLog.from_key(LOG.verifier.encode())],
                          [TrustedIssuer(id=ISS, name="State Medical Board", accreditation="", types=(VCT,),
                                         log=LOG.name)])
    report = verify_credential(credential(pki), None, trust=LogTrust(LOG.verifier, None), history=None, status=None,
                               key_binding=KeyBindingPolicy(True, AUD, NONCE), now=NOW, issuers=listed)
    seen = statuses(report)
    assert seen["key_history"] == "failed" and "issuer_certificate" not in seen and seen["proof_format"] == "failed"
    for name in ("alg", "typ", "crit"):
        with pytest.raises(SDJWTError):
            issue({"iss": ISS, "vct": VCT}, signer=pki.signer, disclosable=[], header={name: "x"})
        with pytest.raises(SDJWTError):
            sign_status_list(StatusList.empty(8), uri=STATUS_URI, signer=pki.signer, iat=NOW, header={name: "x"})


def test_a_critical_purpose_restriction_a_plain_http_issuer_and_an_absurd_time_are_refused(pki: PKI) -> None:
    eku = x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH])
    with pytest.raises(CertificateError) as caught:
        certified_key(header(pki, x5c(pki.signing_cert(dns="board.example", extra=eku), pki.inter)), roots=pki.roots,
                      iss=ISS, at=NOW)
    assert caught.value.code == "x5c_critical_extension"
    with pytest.raises(CertificateError) as caught:
        certified_key(header(pki), roots=pki.roots, iss="http://board.example/issuers/state-board", at=NOW)
    assert caught.value.code == "x5c_name_mismatch" and "not an https URL" in caught.value.detail
    local = PKI(host="localhost")
    assert certified_key(header(local), roots=local.roots, iss="http://localhost:5000/issuers/x", at=NOW)
    with pytest.raises(CertificateError) as caught:
        certified_key(header(pki), roots=pki.roots, iss=ISS, at=10**20)
    assert caught.value.code == "x5c_not_valid_at"
