"""Issuer keys from ``x5c`` certificate chains, validated to roots on the trust list.

* RFC 7515 §4.1.6: ``x5c`` is a JSON array of standard base64 (not base64url) DER
  certificates, the one holding the signing key first, each later one certifying the one
  before it.
* OpenID4VC HAIP: an issuer-signed JWT of an SD-JWT VC, and a status list token, carry the
  issuer's chain in ``x5c``; the trust anchor is not part of it (one that is, as the last
  certificate and byte for byte a root on the list, is dropped) and the signing certificate
  is not self-signed.
* draft-ietf-oauth-sd-jwt-vc (X.509 key resolution): the signing certificate must name the
  ``iss``: a ``uniformResourceIdentifier`` SAN equal to it, or a ``dNSName`` SAN equal to the
  host of that HTTPS URI.
* draft-ietf-oauth-status-list: a status list token may carry ``x5c`` like the credential;
  it is judged the same way, to the same roots and for the credential's issuer.
* RFC 5280 §6.1: the path from the signing certificate to a root.

Two passes, both must accept. First an ordered check of the chain as sent, so that each
refusal says plainly what is wrong: bounded size, base64 and DER, each certificate issued and
signed by the next, the last by a trusted root, each valid at the time being judged,
``basicConstraints`` CA (and ``pathLenConstraint``) on every certificate that issues one,
``keyCertSign`` where an issuer has ``keyUsage``, ``digitalSignature`` on the signing
certificate, which is not a CA, no critical extension this module does not understand, and
the SAN naming ``iss``. Then ``cryptography.x509.verification`` validates the path again
(RFC 5280 with the Web PKI's rules for CA certificates: its signature algorithms, name
constraints, key identifiers); it has no rule for a non-TLS signing certificate, so that
certificate's extensions are left to the first pass. Certificate revocation (CRL, OCSP) is
not checked.

Pure: header and DER bytes in, the signing key (:class:`~credshare.disclosure.jws.PublicKey`)
or a :class:`CertificateError` with a stable code out.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import ExtensionOID
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store, VerificationError

from credshare.disclosure.errors import SDJWTError
from credshare.disclosure.jws import PublicKey
from credshare.foundation.b64 import b64_decode, b64url_encode
from credshare.foundation.errors import CredshareError

MAX_CERTS = 5  # certificates in one x5c (signing certificate and intermediates)
MAX_CERT_BYTES = 16 * 1024  # DER bytes of one certificate
_MAX_CERT_TEXT = 4 * -(-MAX_CERT_BYTES // 3)  # its base64 text
# what may sign with a certified key (disclosure/jws.py allows these and ES512; HAIP asks for ES256)
X5C_ALGS = frozenset({"ES256", "ES384", "EdDSA", "Ed25519"})
_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384"}
# critical extensions understood: by this module's first pass, or by cryptography's (name constraints).
# A critical extendedKeyUsage is not among them: no purpose is defined for signing credentials, so
# a certificate restricted to some purpose is not taken as allowed this one.
_UNDERSTOOD = frozenset({ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.KEY_USAGE, ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
                         ExtensionOID.NAME_CONSTRAINTS, ExtensionOID.SUBJECT_KEY_IDENTIFIER,
                         ExtensionOID.AUTHORITY_KEY_IDENTIFIER})
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})

CODES: dict[str, str] = {
    "x5c_missing": "the JWS header has no x5c certificate chain",
    "x5c_malformed": "x5c is not a list of standard base64 DER certificates within the size limits",
    "x5c_too_long": f"x5c holds more than {MAX_CERTS} certificates",
    "x5c_alg_not_allowed": "the JWS algorithm is not allowed for a certified key, or does not fit it",
    "x5c_untrusted": "the chain does not lead to a root on the trust list",
    "x5c_signature_invalid": "a certificate is not signed by the one after it",
    "x5c_not_valid_at": "a certificate of the chain is not valid at the time judged",
    "x5c_not_ca": "a certificate that issues another is not a CA certificate, or exceeds its path length",
    "x5c_key_usage": "the signing certificate may not sign (keyUsage), or is a CA certificate",
    "x5c_critical_extension": "a certificate has a critical extension that is not understood",
    "x5c_self_signed": "the signing certificate is self-signed",
    "x5c_name_mismatch": "the signing certificate does not name the issuer (SAN)",
    "x5c_path_invalid": "the certification path does not validate (RFC 5280)",
    "x5c_no_roots": "the trust list names no usable root for this issuer",
}


class CertificateError(CredshareError):
    """An ``x5c`` chain that does not certify the issuer's key; ``code`` names the rule."""

    code = "x5c_malformed"
    stage = "issuer_certificate"
    http_status = 400

    def __init__(self, detail: str = "", *, code: str) -> None:
        if code not in CODES:
            raise ValueError(f"unregistered certificate error code {code!r}")
        super().__init__(detail or CODES[code], code=code)


@dataclass(frozen=True)
class CertifiedKey:
    """The signing key of a chain that validated, and what to tell a person about it."""

    key: PublicKey
    subject: str  # the signing certificate's subject (RFC 4514)
    root: str  # the subject of the trust list root it leads to
    not_after: int  # when the signing certificate expires
    length: int  # certificates in the path, the root included

    def describe(self) -> str:
        return f"certificate {self.subject}, issued under the root {self.root}, valid until {_date(self.not_after)}"


def _date(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _name(cert: x509.Certificate) -> str:
    text = cert.subject.rfc4514_string()
    return text[:120] if text else "(no subject)"


def parse_x5c(value: Any) -> list[x509.Certificate]:
    """The certificates of an ``x5c`` header value, bounded: at most :data:`MAX_CERTS`, each
    canonical standard base64 of at most :data:`MAX_CERT_BYTES` DER bytes."""
    if value is None:
        raise CertificateError(code="x5c_missing")
    if not isinstance(value, list) or not value:
        raise CertificateError("x5c is a non-empty list of certificates", code="x5c_malformed")
    if len(value) > MAX_CERTS:
        raise CertificateError(f"the chain has {len(value)} certificates; at most {MAX_CERTS} are accepted",
                               code="x5c_too_long")
    certs = []
    for number, text in enumerate(value, start=1):
        if not isinstance(text, str) or len(text) > _MAX_CERT_TEXT:
            raise CertificateError(f"certificate {number} of the chain is not text of at most {MAX_CERT_BYTES} bytes",
                                   code="x5c_malformed")
        try:
            der = b64_decode(text)
        except ValueError:
            raise CertificateError(f"certificate {number} of the chain is not standard base64", code="x5c_malformed") \
                from None
        try:
            certs.append(x509.load_der_x509_certificate(der))
        except ValueError:
            raise CertificateError(f"certificate {number} of the chain is not a DER X.509 certificate",
                                   code="x5c_malformed") from None
    return certs


def load_roots(roots: Sequence[bytes]) -> list[x509.Certificate]:
    """The trust list's DER roots; an unreadable one vouches for nothing."""
    loaded = []
    for der in roots:
        try:
            loaded.append(x509.load_der_x509_certificate(der))
        except ValueError:
            continue
    if not loaded:
        raise CertificateError(code="x5c_no_roots")
    return loaded


def _extension(cert: x509.Certificate, kind: type[Any]) -> Any:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
    except ValueError:  # a duplicated or malformed extension
        raise CertificateError(f"the certificate {_name(cert)} has a malformed extension", code="x5c_malformed") \
            from None


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _check_validity(cert: x509.Certificate, at: datetime, role: str) -> None:
    begins, ends = cert.not_valid_before_utc, cert.not_valid_after_utc
    if at < begins:
        raise CertificateError(f"the {role} {_name(cert)} is not valid before {_date(int(begins.timestamp()))}",
                               code="x5c_not_valid_at")
    if at > ends:
        raise CertificateError(f"the {role} {_name(cert)} expired on {_date(int(ends.timestamp()))}",
                               code="x5c_not_valid_at")


def _check_critical(cert: x509.Certificate, role: str) -> None:
    try:
        extensions = list(cert.extensions)
    except ValueError:
        raise CertificateError(f"the {role} {_name(cert)} has malformed extensions", code="x5c_malformed") from None
    unknown = [e.oid.dotted_string for e in extensions if e.critical and e.oid not in _UNDERSTOOD]
    if unknown:
        raise CertificateError(f"the {role} {_name(cert)} has a critical extension that is not understood "
                               f"({', '.join(unknown)})", code="x5c_critical_extension")


def _check_issuer_cert(cert: x509.Certificate, below: int, role: str) -> None:
    """``cert`` issues a certificate with ``below`` intermediate CA certificates under it."""
    constraints = _extension(cert, x509.BasicConstraints)
    if constraints is None or not constraints.ca:
        raise CertificateError(f"the {role} {_name(cert)} issues a certificate but is not a CA certificate "
                               "(basicConstraints)", code="x5c_not_ca")
    if constraints.path_length is not None and below > constraints.path_length:
        raise CertificateError(f"the {role} {_name(cert)} may have at most {constraints.path_length} CA "
                               f"certificate(s) under it, and has {below}", code="x5c_not_ca")
    usage = _extension(cert, x509.KeyUsage)
    if usage is not None and not usage.key_cert_sign:
        raise CertificateError(f"the {role} {_name(cert)} may not sign certificates (keyUsage)", code="x5c_not_ca")


def _check_leaf(cert: x509.Certificate) -> None:
    if cert.issuer == cert.subject and _signed_by(cert, cert):
        raise CertificateError(f"the issuer's certificate {_name(cert)} is self-signed; it must be issued under a "
                               "root on your trust list", code="x5c_self_signed")
    constraints = _extension(cert, x509.BasicConstraints)
    if constraints is not None and constraints.ca:
        raise CertificateError(f"the issuer's certificate {_name(cert)} is a CA certificate, not a signing "
                               "certificate", code="x5c_key_usage")
    usage = _extension(cert, x509.KeyUsage)
    if usage is None or not usage.digital_signature:
        raise CertificateError(f"the issuer's certificate {_name(cert)} is not for signatures (keyUsage "
                               "digitalSignature)", code="x5c_key_usage")


def check_names_issuer(cert: x509.Certificate, iss: Any) -> None:
    """SD-JWT VC: ``iss`` is an HTTPS URI (http only to a loopback host, for tests) and the
    certificate has a URI SAN equal to it, or a dNSName SAN equal to its host (ASCII,
    case-insensitive; no wildcards)."""
    host: str | None = None
    try:
        parts = urlsplit(iss) if isinstance(iss, str) else None
        if parts is not None and (parts.scheme == "https" or parts.scheme == "http" and parts.hostname in _LOOPBACK):
            host = parts.hostname
    except ValueError:  # a malformed port or IPv6 literal
        host = None
    if not host:
        raise CertificateError(f"the issuer identifier {iss!r} is not an https URL naming a host",
                               code="x5c_name_mismatch")
    names = _extension(cert, x509.SubjectAlternativeName)
    uris = names.get_values_for_type(x509.UniformResourceIdentifier) if names is not None else []
    hosts = names.get_values_for_type(x509.DNSName) if names is not None else []
    if any(hmac.compare_digest(u.encode("utf-8", "replace"), iss.encode("utf-8", "replace")) for u in uris):
        return
    if any(d.lower().rstrip(".") == host.lower() for d in hosts):
        return
    given = ", ".join([*hosts, *uris][:4]) or "none"
    raise CertificateError(f"the issuer's certificate {_name(cert)} is not for {host} (it names: {given})",
                           code="x5c_name_mismatch")


def _jwk(cert: x509.Certificate) -> dict[str, Any]:
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise CertificateError("the issuer's certificate holds an unreadable key", code="x5c_alg_not_allowed") \
            from None
    if isinstance(key, ed25519.Ed25519PublicKey):
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw))}
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _CURVES:
        size = (key.curve.key_size + 7) // 8
        numbers = key.public_numbers()
        return {"kty": "EC", "crv": _CURVES[key.curve.name], "x": b64url_encode(numbers.x.to_bytes(size, "big")),
                "y": b64url_encode(numbers.y.to_bytes(size, "big"))}
    raise CertificateError("the issuer's certificate holds a key that is not EC P-256, P-384 or Ed25519",
                           code="x5c_alg_not_allowed")


def _confirm_path(chain: list[x509.Certificate], roots: list[x509.Certificate], at: datetime) -> None:
    """The second pass: cryptography's RFC 5280 path validation of the same chain."""
    def signs(_policy: Any, _cert: Any, usage: x509.KeyUsage | None) -> None:
        if usage is None or not usage.digital_signature:
            raise ValueError("keyUsage digitalSignature is required")

    leaf_policy = ExtensionPolicy.permit_all().require_present(x509.KeyUsage, Criticality.AGNOSTIC, signs)
    verifier = (PolicyBuilder().store(Store(roots)).time(at).max_chain_depth(MAX_CERTS)
                .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=leaf_policy)
                .build_client_verifier())
    try:
        verifier.verify(chain[0], chain[1:])
    except (VerificationError, ValueError, TypeError) as exc:
        why = str(exc).split(" (encountered processing", 1)[0][:300]
        raise CertificateError(f"the certificate chain does not validate: {why}", code="x5c_path_invalid") from None


def certified_key(header: Mapping[str, Any], *, roots: Sequence[bytes], iss: Any, at: int) -> CertifiedKey:
    """The key that signs a JWS with ``header``, from its ``x5c`` chain validated to one of
    ``roots`` (DER) at ``at`` (seconds) and naming ``iss``. Raises :class:`CertificateError`."""
    alg = header.get("alg")
    if alg not in X5C_ALGS:
        raise CertificateError(f"the algorithm {alg!r} is not accepted with a certificate (ES256, ES384 or EdDSA)",
                               code="x5c_alg_not_allowed")
    certs = parse_x5c(header.get("x5c"))
    trusted = load_roots(roots)
    if len(certs) > 1 and any(hmac.compare_digest(certs[-1].tbs_certificate_bytes + certs[-1].signature,
                                                  r.tbs_certificate_bytes + r.signature) for r in trusted):
        certs = certs[:-1]  # the root itself, sent along: RFC 7515 allows it, HAIP leaves it out
    try:
        when = datetime.fromtimestamp(at, timezone.utc)
    except (OverflowError, ValueError, OSError):
        raise CertificateError(f"{at!r} is not a time a certificate can be judged at", code="x5c_not_valid_at") from None
    leaf = certs[0]
    _check_leaf(leaf)
    for number, cert in enumerate(certs):
        role = "issuer's certificate" if number == 0 else f"intermediate certificate {number}"
        _check_critical(cert, role)
        _check_validity(cert, when, role)
        if number + 1 < len(certs):
            above = certs[number + 1]
            if above.subject != cert.issuer or not _signed_by(cert, above):
                raise CertificateError(f"the {role} {_name(cert)} is not signed by the next certificate of the chain, "
                                       f"{_name(above)}", code="x5c_signature_invalid")
            _check_issuer_cert(above, number, f"intermediate certificate {number + 1}")
    top = certs[-1]
    root = next((r for r in trusted if r.subject == top.issuer and _signed_by(top, r)), None)
    if root is None:
        raise CertificateError(f"the chain ends at {_name(top)}, issued by {top.issuer.rfc4514_string()[:120] or '?'}, "
                               "which is not a root on your trust list for this issuer", code="x5c_untrusted")
    _check_issuer_cert(root, len(certs) - 1, "root")
    check_names_issuer(leaf, iss)
    jwk = _jwk(leaf)
    try:
        key = PublicKey.from_jwk(jwk)
    except SDJWTError:
        raise CertificateError("the issuer's certificate holds an unusable key", code="x5c_alg_not_allowed") from None
    if alg not in key.algs:
        raise CertificateError(f"the algorithm {alg} does not fit the certificate's key", code="x5c_alg_not_allowed")
    _confirm_path(certs, trusted, when)
    return CertifiedKey(key, _name(leaf), _name(root), int(leaf.not_valid_after_utc.timestamp()), len(certs) + 1)
