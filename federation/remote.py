"""Evidence from other credshare servers: the key history and the status list of an issuer
that is on this server's trust list with its keys in a logged history (``keys == "log"``,
verifier/trust_list.py) but is hosted elsewhere, fetched over HTTP and cached in the store
(collection ``remote_evidence``) with where and when it was fetched.

Where it is asked (every URL through :func:`credshare.foundation.http_client.check_remote_url`:
https, or http to loopback only; 2 s to connect, 5 s in all, bounded bodies, no redirects):

* ``GET <iss>/key-history`` (sharing/issuer_api.py): ``{"version", "jws", "anchor_proof"}``, the
  issuer's newest signed key history (``key-history+jwt``) and its anchor proof in the issuer's
  log. A history is kept only once it verifies under the log the trust list names for the
  issuer (:func:`credshare.verifier.credential.check_key_history`), and versions only move
  forward: the highest version seen per issuer is kept, and a lower one fetched later is refused
  (said so in the check), never used. One fetched earlier is used for
  :attr:`RemoteEvidence.history_max_age` seconds, and after that, while the issuer's server cannot
  be asked, still, saying when it was fetched: it is signed and logged, so it is still evidence.
* ``GET <status uri>/proof``: ``{"token", "anchor_proof"}``, the status list token
  (draft-ietf-oauth-status-list, the same one ``GET <status uri>`` serves as
  ``application/statuslist+jwt``) with its anchor proof as a leaf of the issuer's log, in one
  answer, so the two always belong together. The status uri must lie under the issuer's own
  origin (scheme, host and port of its identifier), so a credential cannot make this server ask
  anywhere else. A token is used for its ``ttl`` claim (:data:`DEFAULT_STATUS_TTL` without one),
  at most :attr:`RemoteEvidence.status_max_age` seconds; then it is fetched again, and when that
  fails the status is unchecked (the problem names the host and why), never an older copy.
  A token older (``iat``) than one fetched before is refused as well: a list cannot roll back.

Nothing fetched is trusted here beyond what it takes to choose what to keep: the verifier checks
all of it, each time (verifier/credential.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import urlsplit

from credshare.disclosure.errors import SDJWTError
from credshare.disclosure.jws import parse_compact
from credshare.foundation import strict_json
from credshare.foundation.clock import SYSTEM_CLOCK, Clock
from credshare.foundation.errors import CredshareError, DuplicateKeyError
from credshare.foundation.http_client import Answer, check_remote_url, fetch as http_fetch
from credshare.storage import Store
from credshare.verifier.credential import KeyHistoryEvidence, LogTrust, StatusEvidence, check_key_history
from credshare.verifier.trust_list import TrustedIssuer

REMOTE = "remote_evidence"
MAX_HISTORY_BYTES = 256 * 1024  # a key history with its anchor proof
MAX_STATUS_BYTES = 1024 * 1024  # a status list token (2^20 two-bit entries, compressed) with its proof
MAX_JSON_DEPTH = 8
DEFAULT_STATUS_TTL = 300  # seconds, for a token without a ttl claim
HISTORY_PATH = "/key-history"
STATUS_PROOF_SUFFIX = "/proof"
JSON_TYPES = ("application/json",)

Fetch = Callable[..., Answer]  # as foundation.http_client.fetch(url, *, max_bytes, media_types)


def _date(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or url


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class RemoteAnswerError(CredshareError):
    """Another server answered, but not with what was asked for."""

    code = "remote_answer_invalid"
    http_status = 502


@dataclass(frozen=True)
class RemoteStatus:
    """A status list as fetched: the evidence for the verifier, with where it came from."""

    evidence: StatusEvidence
    url: str
    fetched_at: int | None


class RemoteEvidence:
    """``fetch``: how another server is asked (default :func:`foundation.http_client.fetch`; tests
    hand in a fake); ``status_max_age`` / ``history_max_age``: seconds a fetched status list / key
    history is used before it is fetched again (``CREDSHARE_REMOTE_STATUS_MAX_AGE``,
    ``CREDSHARE_REMOTE_HISTORY_MAX_AGE``)."""

    def __init__(self, store: Store, fetch: Fetch = http_fetch, *, status_max_age: int = DEFAULT_STATUS_TTL,
                 history_max_age: int = 3600, clock: Clock = SYSTEM_CLOCK) -> None:
        self._docs = store.collection(REMOTE)
        self._fetch = fetch
        self._clock = clock
        self.status_max_age, self.history_max_age = status_max_age, history_max_age

    # -- key histories -------------------------------------------------------------------

    @staticmethod
    def history_url(issuer: TrustedIssuer) -> str:
        return issuer.id.rstrip("/") + HISTORY_PATH

    def key_history(self, issuer: TrustedIssuer, trust: LogTrust) -> KeyHistoryEvidence:
        """The issuer's key history: the kept one while fresh, else fetched again (and kept when
        it verifies under ``trust`` and is no older than the one kept); on any failure the kept
        one, saying when it was fetched, or, when there is none, why it could not be checked."""
        now = self._clock.seconds()
        kept = self._docs.find_one({"_id": f"history|{issuer.id}"})
        if kept is not None and now - int(kept.get("fetched_at", 0)) < self.history_max_age:
            return self._kept_history(kept)
        url = self.history_url(issuer)
        try:
            doc = self._json(url, MAX_HISTORY_BYTES)
            evidence, version = self._history_from(doc)
        except CredshareError as exc:
            return self._fallback(kept, f"could not be checked: {_host(url)}: {exc.detail or exc.code}")
        check, payload = check_key_history(evidence, trust)
        if check.status != "passed" or payload is None:
            return self._fallback(kept, f"could not be checked: the key history {_host(url)} serves does not "
                                        f"verify ({check.detail})")
        if payload.get("iss") != issuer.id:
            return self._fallback(kept, f"could not be checked: the key history {_host(url)} serves is for "
                                        f"another issuer ({payload.get('iss')!r})")
        highest = _int(kept.get("version")) if kept is not None else None
        if kept is not None and highest is not None and version < highest:
            return self._fallback(kept, f"refused: {_host(url)} now serves key history version {version}, older "
                                        f"than version {highest} fetched on {_date(int(kept['fetched_at']))}")
        record = {"kind": "history", "issuer": issuer.id, "url": url, "version": version, "jws": evidence.jws,
                  "anchor_proof": evidence.anchor_proof, "fetched_at": now}
        if not self._keep_history(f"history|{issuer.id}", record, highest):
            again = self._docs.find_one({"_id": f"history|{issuer.id}"})  # a newer one was kept meanwhile
            return self._kept_history(again) if again is not None else evidence
        return KeyHistoryEvidence(evidence.jws, evidence.anchor_proof,
                                  note=f"fetched {_date(now)} from {url}")

    def highest_version(self, issuer_id: str) -> int | None:
        """The highest key history version kept for ``issuer_id`` (``None``: none yet)."""
        kept = self._docs.find_one({"_id": f"history|{issuer_id}"}, fields=["version"])
        return _int(kept.get("version")) if kept is not None else None

    def _keep_history(self, doc_id: str, record: dict[str, Any], highest: int | None) -> bool:
        """Store ``record`` unless a higher version was stored meanwhile (compare-and-set)."""
        if highest is None:
            try:
                self._docs.insert_one({"_id": doc_id, **record})
                return True
            except DuplicateKeyError:
                return False
        flt = {"_id": doc_id, "version": {"$lte": record["version"]}}
        return self._docs.update_one(flt, {"$set": record}).matched == 1

    @staticmethod
    def _kept_history(doc: dict[str, Any], why_not_now: str = "") -> KeyHistoryEvidence:
        note = f"fetched {_date(int(doc['fetched_at']))} from {doc['url']}"
        if why_not_now:
            note += f" (not fetched again now: {why_not_now})"
        return KeyHistoryEvidence(str(doc["jws"]), dict(doc["anchor_proof"]), note=note)

    def _fallback(self, kept: dict[str, Any] | None, problem: str) -> KeyHistoryEvidence:
        if kept is not None:
            return self._kept_history(kept, problem)
        return KeyHistoryEvidence.unavailable(problem)

    @staticmethod
    def _history_from(doc: Any) -> tuple[KeyHistoryEvidence, int]:
        if not isinstance(doc, dict) or not isinstance(doc.get("jws"), str) or not isinstance(doc.get("anchor_proof"),
                                                                                               dict):
            raise RemoteAnswerError("the answer is not a key history ({version, jws, anchor_proof})")
        try:
            version = _int(parse_compact(doc["jws"]).payload.get("version"))  # the signed version, not the JSON's
        except SDJWTError as exc:
            raise RemoteAnswerError(f"the key history is not a JWS: {exc.detail}") from None
        if version is None or version < 1:
            raise RemoteAnswerError("the key history names no version")
        return KeyHistoryEvidence(doc["jws"], doc["anchor_proof"]), version

    # -- status lists ------------------------------------------------------------------

    def status(self, issuer: TrustedIssuer, uri: str, signed_since: int = 0) -> RemoteStatus:
        """The status list token at ``uri`` with its anchor proof: the kept one while younger than
        its ttl (and :attr:`status_max_age`) and signed no earlier than ``signed_since`` (an offline
        bundle's snapshot must be at least as new as its presentation: the issuer is then asked
        for a token signed since, ``?signed_since=``), else fetched again; never an older copy."""
        now = self._clock.seconds()
        signed_since = max(0, min(signed_since, now))
        url = uri + STATUS_PROOF_SUFFIX
        if _origin(uri) != _origin(issuer.id):
            return RemoteStatus(StatusEvidence(None, now, f"the status list {uri} is not on "
                                                          f"the issuer's own server ({_host(issuer.id)})"), url, None)
        doc_id = f"status|{uri}"
        kept = self._docs.find_one({"_id": doc_id})
        if kept is not None and now - int(kept.get("fetched_at", 0)) < int(kept.get("max_age", 0)) \
                and int(kept.get("iat", 0)) >= signed_since:
            return self._kept_status(kept, now)
        try:
            asked = f"{url}?signed_since={signed_since}" if signed_since else url
            token, proof, iat, ttl = self._status_from(self._json(asked, MAX_STATUS_BYTES), uri)
        except CredshareError as exc:
            return RemoteStatus(StatusEvidence(None, now, f"{_host(url)}: "
                                                          f"{exc.detail or exc.code}"), url, None)
        if kept is not None and _int(kept.get("iat")) is not None and iat < int(kept["iat"]):
            return RemoteStatus(StatusEvidence(None, now, f"{_host(url)} now serves a status "
                                                          f"list signed {_date(iat)}, older than the one fetched "
                                                          f"before (signed {_date(int(kept['iat']))})"), url, None)
        record = {"kind": "status", "issuer": issuer.id, "url": url, "uri": uri, "token": token, "anchor_proof": proof,
                  "iat": iat, "fetched_at": now, "max_age": min(ttl, self.status_max_age)}
        self._docs.update_one({"_id": doc_id}, {"$set": record}, upsert=True)
        return self._kept_status(record, now)

    @staticmethod
    def _kept_status(doc: dict[str, Any], now: int) -> RemoteStatus:
        fetched = int(doc["fetched_at"])
        return RemoteStatus(StatusEvidence(str(doc["token"]), now, anchor_proof=dict(doc["anchor_proof"]),
                                           source=str(doc["url"]), fetched_at=fetched), str(doc["url"]), fetched)

    @staticmethod
    def _status_from(doc: Any, uri: str) -> tuple[str, dict[str, Any], int, int]:
        if not isinstance(doc, dict) or not isinstance(doc.get("token"), str) or not isinstance(doc.get("anchor_proof"),
                                                                                                 dict):
            raise RemoteAnswerError("the answer is not a status list with its proof ({token, anchor_proof})")
        try:
            payload = parse_compact(doc["token"]).payload
        except SDJWTError as exc:
            raise RemoteAnswerError(f"the status list is not a JWS: {exc.detail}") from None
        iat, ttl = _int(payload.get("iat")), payload.get("ttl")
        if payload.get("sub") != uri or iat is None:
            raise RemoteAnswerError("the answer is not the status list the credential names")
        if ttl is not None and (_int(ttl) is None or ttl < 0):
            raise RemoteAnswerError("the status list's ttl is not a number of seconds")
        return doc["token"], doc["anchor_proof"], iat, DEFAULT_STATUS_TTL if ttl is None else int(ttl)

    # -- asking ------------------------------------------------------------------------

    def _json(self, url: str, max_bytes: int) -> Any:
        answer = self._fetch(check_remote_url(url), max_bytes=max_bytes, media_types=JSON_TYPES)
        if len(answer.body) > max_bytes:  # a fetch that did not hold to its bound
            raise RemoteAnswerError(f"the answer is more than {max_bytes} bytes")
        try:
            return strict_json.loads(answer.body, max_depth=MAX_JSON_DEPTH)
        except CredshareError as exc:
            raise RemoteAnswerError(f"the answer is not JSON: {exc.detail or exc.code}") from None
