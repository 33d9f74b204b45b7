"""Issuer keys from JWT VC Issuer Metadata (federation/issuer_metadata.py) and the verifier's
judgement of a credential signed with them (verifier/credential.py, ``issuer_keys``): the
metadata's ``issuer`` must be the credential's ``iss``, bounded JSON, one re-fetch on an unknown
``kid``, an issuer that is down is "could not be checked", and the outcome is never ``verified``."""

from __future__ import annotations

import json
from typing import Any

import nacl.signing
import pytest

from credshare.anchoring.note import NoteSigner
from credshare.disclosure.format import serialize_compact
from credshare.disclosure.jws import Signer, sign_compact
from credshare.disclosure.status_list import StatusList, sign_status_list
from credshare.disclosure.verification import KeyBindingPolicy
from credshare.federation.issuer_metadata import MAX_METADATA_BYTES, IssuerMetadataService
from credshare.foundation.clock import ManualClock
from credshare.foundation.http_client import Answer, RemoteError
from credshare.storage import open_store
from credshare.verifier.credential import NO_LOG, IssuerKeysEvidence, LogTrust, StatusEvidence, verify_credential
from credshare.verifier.trust_list import TrustedIssuer, TrustList
from tests.sdjwt_helpers import disclosure

ISS = "https://school.example/issuers/school"
META = "https://school.example/.well-known/jwt-vc-issuer/issuers/school"
VCT = "https://school.example/cme"
STATUS_URI = "https://school.example/status/1"
KEY = Signer.generate("ES256", kid="k1")
ENTRY = TrustedIssuer(ISS, "Example School", "LCME-accredited school", (VCT,))
TRUST = LogTrust(NoteSigner("unused.example/log", nacl.signing.SigningKey.generate()).verifier, None)


class Remote:
    """A stand-in for http_client.fetch: answers by URL, keeps the bound it was given, counts."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers, self.asked = answers, []

    def __call__(self, url: str, *, max_bytes: int, media_types: tuple[str, ...] = ()) -> Answer:
        self.asked.append(url)
        found = self.answers.get(url)
        if found is None or isinstance(found, Exception):
            raise found or RemoteError(f"{url}: connection refused")
        body = found if isinstance(found, bytes) else json.dumps(found).encode()
        if len(body) > max_bytes:
            raise RemoteError(f"{url}: the answer is more than {max_bytes} bytes")
        return Answer(200, media_types[0] if media_types else "application/json", body)


def metadata(*signers: Signer, issuer: str = ISS, **extra: Any) -> dict[str, Any]:
    return {"issuer": issuer, "jwks": {"keys": [s.public_jwk for s in signers]}, **extra}


@pytest.fixture
def service(tmp_path, clock: ManualClock):
    store = open_store(None, tmp_path / "data")

    def make(remote: Remote) -> IssuerMetadataService:
        return IssuerMetadataService(store, clock=clock, fetcher=remote)
    yield make
    store.close()


def credential(signer: Signer = KEY, iss: str = ISS, status: bool = True) -> str:
    given, given_digest = disclosure("salt-1", "given_name", "Avery")
    course, course_digest = disclosure("salt-2", "course", "ACLS")
    payload: dict[str, Any] = {"iss": iss, "vct": VCT, "iat": 1_700_000_000, "_sd_alg": "sha-256",
                               "_sd": [given_digest, course_digest]}
    if status:
        payload["status"] = {"status_list": {"idx": 3, "uri": STATUS_URI}}
    jwt = sign_compact({"typ": "dc+sd-jwt", "kid": signer.kid, "alg": "ES256"}, payload, signer)
    return serialize_compact(jwt, [given, course])


def status_token(revoked: bool, iat: int, signer: Signer = KEY) -> str:
    lst = StatusList.empty(16)
    if revoked:
        lst.set(3, 1)
    return sign_status_list(lst, uri=STATUS_URI, signer=signer, iat=iat)


def verify(sd_jwt: str, keys: IssuerKeysEvidence, now: int, status: StatusEvidence | None = None,
           trust_list: TrustList | None = None):
    return verify_credential(sd_jwt, {}, trust=TRUST, history=keys, status=status, key_binding=KeyBindingPolicy(),
                             now=now, issuers=trust_list if trust_list is not None else TrustList.of([], [ENTRY]))


def checks(report) -> dict[str, tuple[str, str]]:
    return {c.name: (c.status, c.detail) for c in report.checks}


# -- the metadata ----------------------------------------------------------------------------

def test_metadata_for_another_issuer_is_refused_and_nothing_of_it_used(service, clock) -> None:
    remote = Remote({META: metadata(KEY, issuer="https://impostor.example")})
    keys = service(remote).keys_for(ENTRY, "k1")
    assert keys.jwks is None and keys.invalid and "impostor.example" in keys.problem
    report = verify(credential(), keys, clock.seconds())
    assert checks(report)["issuer_keys"][0] == "failed"
    assert report.outcome == "not_verified" and checks(report)["issuer_signature"][0] == "unchecked"


def test_the_well_known_url_is_built_from_the_identifier() -> None:
    assert ENTRY.metadata_url == META
    assert TrustedIssuer("https://a.example/", "A", "", (VCT,)).metadata_url == "https://a.example/.well-known/jwt-vc-issuer"


@pytest.mark.parametrize("body", [
    {"issuer": ISS},  # neither jwks nor jwks_uri
    {**metadata(KEY), "jwks_uri": "https://school.example/jwks"},  # both
    {"issuer": ISS, "jwks": {"keys": []}},  # no key
    {"issuer": ISS, "jwks": {"keys": ["not a key"]}},
])
def test_metadata_breaking_the_rules_is_refused(service, body) -> None:
    keys = service(Remote({META: body})).keys_for(ENTRY, "k1")
    assert keys.jwks is None and keys.invalid, keys


def test_oversized_and_deep_json_are_refused(service, clock) -> None:
    big = json.dumps(metadata(KEY, padding="x" * MAX_METADATA_BYTES)).encode()
    keys = service(Remote({META: big})).keys_for(ENTRY, "k1")
    assert keys.jwks is None and not keys.invalid and "more than" in keys.problem  # refused while being read
    clock.advance(3600)
    deep: Any = "x"
    for _ in range(40):
        deep = {"a": deep}
    keys = service(Remote({META: metadata(KEY, extra=deep)})).keys_for(ENTRY, "k1")
    assert keys.jwks is None and keys.invalid and "deeper" in keys.problem


def test_jwks_uri_is_fetched_the_same_bounded_way(service) -> None:
    remote = Remote({META: {"issuer": ISS, "jwks_uri": "https://keys.school.example/jwks"},
                     "https://keys.school.example/jwks": {"keys": [KEY.public_jwk]}})
    keys = service(remote).keys_for(ENTRY, "k1")
    assert keys.kids == {"k1"} and keys.source_url == "https://keys.school.example/jwks"
    assert remote.asked == [META, "https://keys.school.example/jwks"]


def test_an_unknown_kid_fetches_once_again_and_no_more_within_the_bound(service, clock) -> None:
    remote = Remote({META: metadata(KEY)})
    svc = service(remote)
    assert svc.keys_for(ENTRY, "k1").kids == {"k1"} and len(remote.asked) == 1
    assert svc.keys_for(ENTRY, "k1").kids == {"k1"} and len(remote.asked) == 1  # kept
    clock.advance(61)
    rotated = Signer.generate("ES256", kid="k2")
    remote.answers[META] = metadata(KEY, rotated)
    assert svc.keys_for(ENTRY, "k2").kids == {"k1", "k2"} and len(remote.asked) == 2  # one re-fetch
    for kid in ("made-up-1", "made-up-2", "made-up-3"):
        assert "k2" in svc.keys_for(ENTRY, kid).kids
    assert len(remote.asked) == 2  # unknown kids within the bound ask nothing more


def test_an_issuer_that_is_down_could_not_be_checked_never_passed(service, clock) -> None:
    remote = Remote({META: metadata(KEY)})
    svc = service(remote)
    assert svc.keys_for(ENTRY, "k1").jwks is not None
    remote.answers.clear()  # the issuer's server is down
    clock.advance(3601)  # and what was kept is too old to be used
    keys = svc.keys_for(ENTRY, "k1")
    assert keys.jwks is None and not keys.invalid and "could not be asked" in keys.problem
    report = verify(credential(), keys, clock.seconds())
    assert checks(report)["issuer_keys"][0] == "unchecked" and "could not be checked" in checks(report)["issuer_keys"][1]
    assert report.outcome == "incomplete" and checks(report)["issuer_signature"][0] == "unchecked"
    assert all(c.status != "passed" for c in report.checks if c.name != "issuer_trust")


# -- the verifier ------------------------------------------------------------------------------

def test_published_keys_verify_the_credential_but_never_to_verified(clock) -> None:
    now = clock.seconds()
    keys = IssuerKeysEvidence(ISS, {"keys": [KEY.public_jwk]}, META, now)
    report = verify(credential(), keys, now, StatusEvidence(status_token(False, now - 10), now))
    found = checks(report)
    assert found["issuer_keys"][0] == "passed" and META in found["issuer_keys"][1]
    assert [c.name for c in report.checks][:2] == ["issuer_keys", "issuer_trust"] and "key_history" not in found
    for name in ("proof_format", "checkpoint_signature", "inclusion", "witness_quorum", "issuer_key_valid"):
        assert found[name] == ("unchecked", NO_LOG)
    assert found["issuer_signature"][0] == found["disclosures"][0] == found["issuer_trust"][0] == "passed"
    assert found["status"][0] == "passed" and "no log proves" in found["status"][1]
    assert report.outcome == "incomplete" and report.claims["given_name"] == "Avery"
    assert report.issuer_name == "Example School" and report.to_json()["issuer"]["vouched_for"]["keys"] == "metadata"


def test_a_revoked_credential_of_an_issuer_without_a_log_fails(clock) -> None:
    now = clock.seconds()
    keys = IssuerKeysEvidence(ISS, {"keys": [KEY.public_jwk]}, META, now)
    report = verify(credential(), keys, now, StatusEvidence(status_token(True, now - 10), now))
    assert checks(report)["status"][0] == "failed" and report.credential_status == "revoked"
    forged = StatusEvidence(status_token(False, now - 10, Signer.generate("ES256", kid="k1")), now)
    assert checks(verify(credential(), keys, now, forged))["status"][0] == "failed"
    unread = verify(credential(), keys, now, StatusEvidence(None, now, "connection refused"))
    assert checks(unread)["status"] == ("unchecked", "status could not be checked: connection refused")


def test_the_trust_list_must_name_the_issuer_with_its_keys_in_its_metadata(clock) -> None:
    now = clock.seconds()
    keys = IssuerKeysEvidence(ISS, {"keys": [KEY.public_jwk]}, META, now)
    logged = TrustedIssuer(ISS, "Example School", "", (VCT,), log="school.example/log")
    report = verify(credential(status=False), keys, now, trust_list=TrustList.of([], [logged]))
    assert checks(report)["issuer_trust"][0] == "failed" and "logged key history" in checks(report)["issuer_trust"][1]
    other = TrustedIssuer("https://other.example", "Other", "", (VCT,))
    report = verify(credential(status=False), keys, now, trust_list=TrustList.of([], [other]))
    assert checks(report)["issuer_trust"][0] == "failed" and "issuer not recognised" in checks(report)["issuer_trust"][1]


def test_keys_of_one_issuer_never_vouch_for_another(clock) -> None:
    now = clock.seconds()
    keys = IssuerKeysEvidence(ISS, {"keys": [KEY.public_jwk]}, META, now)
    report = verify(credential(iss="https://other.example"), keys, now)
    assert checks(report)["issuer_keys"][0] == "failed" and report.outcome == "not_verified"
    wrong_key = verify(credential(signer=Signer.generate("ES256", kid="k1")), keys, now)
    assert checks(wrong_key)["issuer_signature"][0] == "failed"
