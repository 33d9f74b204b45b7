"""Issuer keys from JWT VC Issuer Metadata (draft-ietf-oauth-sd-jwt-vc, "JWT VC Issuer
Metadata"), for SD-JWT VC issuers that are not credshare servers and keep no log; and their
Token Status List tokens (draft-ietf-oauth-status-list §8.1), read over HTTP.

* The metadata is fetched with ``GET`` at the trust list's URL for the issuer
  (:attr:`TrustedIssuer.metadata_url`: ``/.well-known/jwt-vc-issuer`` inserted between the
  identifier's host and path), bounded (foundation/http_client.py: https outside loopback,
  timeouts, size, no redirects) and parsed as strict JSON of little depth.
* Its ``issuer`` must be identical to the credential's ``iss`` (compared in constant time),
  or nothing of it is used; it carries ``jwks`` or ``jwks_uri``, never both. A ``jwks_uri``
  is fetched the same bounded way.
* What was fetched is kept in the ``issuer_metadata`` collection with ``fetched_at``, and used
  while it is younger than :data:`MAX_AGE_SECONDS`. An unknown ``kid`` (a key the issuer added
  since) fetches again, at most once per :data:`REFETCH_SECONDS` per issuer, so a stream of
  made-up ``kid`` values cannot make this server hammer the issuer.
* An issuer that does not answer, or answers out of bounds, gives evidence with a
  ``problem`` ("could not be checked"), never keys it did not publish; metadata that
  contradicts the rules above is ``invalid`` (a failed check, not an unchecked one).
"""

from __future__ import annotations

import hmac
import json
from typing import Any, Callable
from urllib.parse import urlsplit

from credshare.foundation import strict_json
from credshare.foundation.clock import SYSTEM_CLOCK, Clock
from credshare.foundation.errors import CredshareError, InputError
from credshare.foundation.http_client import Answer, RemoteError, fetch
from credshare.storage import Store
from credshare.verifier.credential import IssuerKeysEvidence, StatusEvidence
from credshare.verifier.trust_list import TrustedIssuer

COLLECTION = "issuer_metadata"
MAX_METADATA_BYTES = 64 * 1024
MAX_JWKS_BYTES = 64 * 1024
MAX_STATUS_BYTES = 512 * 1024
MAX_JSON_DEPTH = 8  # {"jwks": {"keys": [{...}]}} is 4 deep; a JWK holds no deeper values
MAX_KEYS = 32
MAX_AGE_SECONDS = 3600  # kept metadata is used for an hour, then fetched again
REFETCH_SECONDS = 60  # at most one fetch per issuer in this time, however many unknown kids
JSON_TYPES = ("application/json",)
JWKS_TYPES = ("application/json", "application/jwk-set+json")
STATUS_TYPES = ("application/statuslist+jwt",)

Fetcher = Callable[..., Answer]


class IssuerMetadataError(InputError):
    """An issuer's metadata that breaks the rules: nothing of it is used."""

    code = "issuer_metadata_invalid"


def _json(body: bytes, what: str) -> Any:
    try:
        return strict_json.loads(body, max_depth=MAX_JSON_DEPTH)
    except strict_json.JsonInputError as exc:
        raise IssuerMetadataError(f"the {what} is not usable JSON: {exc.detail}") from None


def check_jwks(doc: Any, where: str) -> dict[str, Any]:
    """A JWK Set (RFC 7517 §5): an object whose ``keys`` lists at most :data:`MAX_KEYS` JWKs
    (objects with a ``kty``; their key material is judged by the verifier). Returns it."""
    keys = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(keys, list) or not keys or len(keys) > MAX_KEYS:
        raise IssuerMetadataError(f"{where}: not a JWK Set of 1 to {MAX_KEYS} keys")
    if not all(isinstance(k, dict) and isinstance(k.get("kty"), str) for k in keys):
        raise IssuerMetadataError(f"{where}: every key of a JWK Set is a JWK with a kty")
    return {"keys": keys}


def check_metadata(doc: Any, iss: str, where: str) -> tuple[dict[str, Any] | None, str | None]:
    """The metadata's ``(jwks, None)`` or ``(None, jwks_uri)``, once its ``issuer`` is
    identical to ``iss`` and it carries exactly one of the two."""
    if not isinstance(doc, dict):
        raise IssuerMetadataError(f"{where}: the metadata is not a JSON object")
    issuer = doc.get("issuer")
    if not isinstance(issuer, str) or not hmac.compare_digest(issuer.encode(), iss.encode()):
        raise IssuerMetadataError(f"{where}: the metadata is for the issuer {str(issuer)[:200]!r}, not {iss!r}, so it "
                                  "cannot vouch for this issuer's keys")
    jwks, jwks_uri = doc.get("jwks"), doc.get("jwks_uri")
    if (jwks is None) == (jwks_uri is None):
        raise IssuerMetadataError(f"{where}: the metadata must carry jwks or jwks_uri, and not both")
    if jwks_uri is not None:
        if not isinstance(jwks_uri, str):
            raise IssuerMetadataError(f"{where}: jwks_uri is not a URL")
        return None, jwks_uri
    return check_jwks(jwks, f"{where} (jwks)"), None


def check_issuer_identifier(iss: str) -> None:
    """An ``iss`` that has metadata is an https URL (http only to this machine, in tests) with
    no query or fragment."""
    parts = urlsplit(iss)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
        raise IssuerMetadataError(f"the issuer identifier {iss[:200]!r} is not a URL metadata can be found at")


class IssuerMetadataService:
    def __init__(self, store: Store, *, clock: Clock = SYSTEM_CLOCK, fetcher: Fetcher = fetch,
                 max_age_seconds: int = MAX_AGE_SECONDS, refetch_seconds: int = REFETCH_SECONDS) -> None:
        """``fetcher``: :func:`credshare.foundation.http_client.fetch` (tests give their own)."""
        self._kept = store.collection(COLLECTION)
        self._clock, self._fetch = clock, fetcher
        self._max_age, self._refetch = max_age_seconds, refetch_seconds

    # -- keys ---------------------------------------------------------------------------

    def keys_for(self, issuer: TrustedIssuer, kid: Any = None) -> IssuerKeysEvidence:
        """The keys ``issuer`` publishes, for a credential signed with ``kid``: as kept when
        young enough and naming ``kid``, else fetched again (rate-bounded); with a
        ``problem`` when they cannot be had."""
        url = issuer.metadata_url
        now = self._clock.seconds()
        doc = self._kept.find_one({"_id": issuer.id})
        kept = self._evidence_of(issuer.id, doc, url)
        fresh = kept is not None and now - kept.fetched_at < self._max_age
        if kept is not None and fresh and (kid is None or kid in kept.kids):
            return kept
        last_try = doc.get("attempted_at", 0) if doc and doc.get("metadata_url") == url else 0
        if now - last_try < self._refetch:
            if kept is not None and fresh:
                return kept  # the kid is not among them: the signature check says so
            why = (doc or {}).get("problem") or "not fetched again yet"
            return IssuerKeysEvidence(issuer.id, None, url, kept.fetched_at if kept else 0,
                                      problem=f"the issuer's keys could not be checked: {why}",
                                      invalid=bool((doc or {}).get("invalid")))
        try:
            jwks, source = self._fetch_keys(issuer.id, url)
        except IssuerMetadataError as exc:
            self._note_attempt(issuer.id, url, now, exc.detail, invalid=True)
            return IssuerKeysEvidence(issuer.id, None, url, now, problem=exc.detail, invalid=True)
        except CredshareError as exc:
            self._note_attempt(issuer.id, url, now, exc.detail or exc.code, invalid=False)
            return IssuerKeysEvidence(issuer.id, None, url, kept.fetched_at if kept else 0,
                                      problem=f"the issuer's server could not be asked for its keys: {exc.detail}")
        self._kept.update_one({"_id": issuer.id}, {"$set": {
            "metadata_url": url, "source_url": source, "jwks_json": json.dumps(jwks), "fetched_at": now,
            "attempted_at": now, "problem": "", "invalid": False}}, upsert=True)
        return IssuerKeysEvidence(issuer.id, jwks, source, now)

    def _fetch_keys(self, iss: str, url: str) -> tuple[dict[str, Any], str]:
        check_issuer_identifier(iss)
        metadata = _json(self._fetch(url, max_bytes=MAX_METADATA_BYTES, media_types=JSON_TYPES).body,
                         "issuer metadata")
        jwks, jwks_uri = check_metadata(metadata, iss, url)
        if jwks_uri is None:
            assert jwks is not None
            return jwks, url
        fetched = _json(self._fetch(jwks_uri, max_bytes=MAX_JWKS_BYTES, media_types=JWKS_TYPES).body, "JWK Set")
        return check_jwks(fetched, jwks_uri), jwks_uri

    def _note_attempt(self, issuer_id: str, url: str, now: int, problem: str, *, invalid: bool) -> None:
        """A failed fetch: the keys kept before stay (for as long as they are fresh), and no
        fetch is made again for :data:`REFETCH_SECONDS`."""
        self._kept.update_one({"_id": issuer_id}, {"$set": {"metadata_url": url, "attempted_at": now,
                                                            "problem": problem[:500], "invalid": invalid}}, upsert=True)

    @staticmethod
    def _evidence_of(issuer_id: str, doc: dict[str, Any] | None, url: str) -> IssuerKeysEvidence | None:
        if not doc or doc.get("metadata_url") != url or not isinstance(doc.get("jwks_json"), str):
            return None  # kept for another URL (the trust list changed): not used
        try:
            jwks = json.loads(doc["jwks_json"])
        except ValueError:
            return None
        return IssuerKeysEvidence(issuer_id, jwks, str(doc.get("source_url") or url), int(doc.get("fetched_at") or 0))

    # -- status lists ---------------------------------------------------------------------

    def status_evidence(self, uri: str) -> StatusEvidence:
        """The Status List Token at ``uri`` (draft-ietf-oauth-status-list §8.1), as read now,
        or why it could not be read. It comes without anchor proof: such issuers log nothing."""
        now = self._clock.seconds()
        try:
            answer = self._fetch(uri, max_bytes=MAX_STATUS_BYTES, media_types=STATUS_TYPES)
            token = answer.body.decode("ascii").strip()
        except UnicodeDecodeError:
            return StatusEvidence(None, now, f"{uri}: the status list token is not text")
        except RemoteError as exc:
            return StatusEvidence(None, now, exc.detail or exc.code)
        return StatusEvidence(token, now)
