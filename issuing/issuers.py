"""Issuer accounts and their signing keys, kept in the store.

Private keys are made on the server and sealed at rest with XSalsa20-Poly1305 (NaCl
SecretBox) under a key derived from the data directory's secret (HKDF, credshare.foundation.kdf);
the sealed box binds the issuer and ``kid``. API tokens are 256-bit random strings of which
only the SHA-256 is stored. Every change to an issuer's keys publishes a new signed key
history whose bytes are appended to the transparency log, so the history stays provable
after the issuer is gone.

An issuer's identifier (its ``iss``, SD-JWT VC §3.2.2.2, ``<public URL>/issuers/<id>``) is fixed
when the issuer is created: it does not follow the server's current public URL. Moving to a
new URL is an explicit step (:meth:`IssuerRegistry.move`, ``credshare issuer move``) that adds an
identifier; the issuer keeps every identifier it has issued under, and each key history is
published once per identifier so credentials issued under any of them stay verifiable.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from typing import Any

from credshare.disclosure.jws import Signer, sign_compact
from credshare.foundation.clock import SYSTEM_CLOCK, Clock
from credshare.foundation.config import check_public_url
from credshare.foundation.errors import ConfigError, CredshareError, DuplicateKeyError
from credshare.foundation.sealing import Sealer, SealError
from credshare.issuing.cosigning import WitnessRequests
from credshare.storage import Store
from credshare.storage.tlog import TransparencyLog
from credshare.verifier.key_history import HISTORY_TYP, KeyRecord, history_payload

ISSUERS, KEYS, HISTORIES = "issuers", "issuer_keys", "key_histories"
_ISSUER_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
TOKEN_PREFIX = "csi_"
ISSUER_KEY_PURPOSE = "issuer-keys/v1"


class IssuerError(CredshareError):
    code = "issuer_invalid"
    http_status = 400
    stage = "input"


class IssuerNotFound(IssuerError):
    http_status = 404


def issuer_identifier(public_url: str, issuer_id: str) -> str:
    return f"{public_url.rstrip('/')}/issuers/{issuer_id}"


def issuer_base(iss: str) -> str:
    """The public URL an identifier was made under (``<base>/issuers/<id>`` -> ``<base>``)."""
    return iss.rsplit("/issuers/", 1)[0]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class IssuerRegistry:
    def __init__(self, store: Store, secret_key: str, log: TransparencyLog, public_url: str,
                 *, cosigning: WitnessRequests | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._cosigning = cosigning  # asks the remote witnesses to cosign each key history's checkpoint
        self._issuers = store.collection(ISSUERS)
        self._keys = store.collection(KEYS)
        self._histories = store.collection(HISTORIES)
        self._sealer = Sealer.for_purpose(secret_key, ISSUER_KEY_PURPOSE)
        self._log = log
        self.public_url = public_url.rstrip("/")
        self._keys.create_index("issuer")
        self._issuers.create_index("token_hashes")
        self._histories.create_index([("issuer", 1), ("iss", 1), ("version", -1)])
        self._adopt_older_records()

    def _adopt_older_records(self) -> None:
        """Records written before identifiers were kept: an issuer's one identifier is its
        ``iss``, and its histories were published under it."""
        for doc in self._issuers.find({"identifiers": {"$exists": False}}, fields=["iss"]):
            self._issuers.update_one({"_id": doc["_id"]}, {"$set": {"identifiers": [doc["iss"]]}})
            self._histories.update_many({"issuer": doc["_id"], "iss": {"$exists": False}}, {"$set": {"iss": doc["iss"]}})

    # -- issuers --------------------------------------------------------------------------

    def issuer_url(self, issuer_id: str) -> str:
        """The identifier the issuer issues under now (fixed at creation, changed only by a move)."""
        return str(self.get(issuer_id)["iss"])

    def issuer_for(self, iss: Any) -> str | None:
        """The id of the issuer here that has issued under the identifier ``iss``, if any."""
        hosted = self.hosted(iss)
        return hosted[0] if hosted is not None else None

    def hosted(self, iss: Any) -> tuple[str, str] | None:
        """The id and display name of the issuer here that has issued under ``iss``, if any (one read)."""
        if not isinstance(iss, str) or "/issuers/" not in iss:
            return None
        doc = self._issuers.find_one({"_id": iss.rsplit("/issuers/", 1)[1]}, fields=["identifiers", "name"])
        return (doc["_id"], str(doc.get("name") or iss)) if doc is not None and iss in doc["identifiers"] else None

    def move(self, issuer_id: str, public_url: str) -> dict[str, Any]:
        """Issue from now on under ``<public_url>/issuers/<id>``. Earlier identifiers stay the
        issuer's: their credentials and status lists keep verifying and answering."""
        try:
            base = check_public_url(public_url, "the new public URL")
        except ConfigError as exc:
            raise IssuerError(exc.detail, code="issuer_url_invalid") from None
        doc = self._issuers.find_one({"_id": issuer_id}, fields=["iss", "identifiers"])
        if doc is None:
            raise IssuerNotFound(f"no issuer {issuer_id!r}", code="issuer_unknown")
        iss = issuer_identifier(base, issuer_id)
        if iss == doc["iss"]:
            raise IssuerError(f"issuer {issuer_id!r} already issues under {iss}", code="issuer_move_unchanged")
        identifiers = [*doc["identifiers"], *([] if iss in doc["identifiers"] else [iss])]
        self._issuers.update_one({"_id": issuer_id}, {"$set": {"iss": iss, "identifiers": identifiers,
                                                              "moved_at": self._clock.seconds()}})
        self.publish_history(issuer_id)
        return self.get(issuer_id)

    def create(self, issuer_id: str, name: str, alg: str = "EdDSA") -> tuple[dict[str, Any], str]:
        """A new issuer with its first key; returns it and its first API token (shown once)."""
        if not _ISSUER_ID.match(issuer_id):
            raise IssuerError("an issuer id is 2-63 lowercase letters, digits and hyphens", code="issuer_id_invalid")
        if not name.strip():
            raise IssuerError("an issuer needs a display name", code="issuer_name_missing")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        try:
            iss = issuer_identifier(self.public_url, issuer_id)
            self._issuers.insert_one({"_id": issuer_id, "name": name.strip(), "iss": iss, "identifiers": [iss],
                                      "created_at": self._clock.seconds(), "token_hashes": [token_hash(token)]})
        except DuplicateKeyError:
            raise IssuerError(f"issuer {issuer_id!r} already exists", code="issuer_exists") from None
        self._new_key(issuer_id, alg)
        self.publish_history(issuer_id)
        return self.get(issuer_id), token

    def get(self, issuer_id: str) -> dict[str, Any]:
        doc = self._issuers.find_one({"_id": issuer_id})
        if doc is None:
            raise IssuerNotFound(f"no issuer {issuer_id!r}", code="issuer_unknown")
        doc.pop("token_hashes", None)
        return doc

    def all(self) -> list[dict[str, Any]]:
        return self._issuers.find({}, sort=[("_id", 1)], fields=["name", "iss", "identifiers", "created_at"])

    def new_token(self, issuer_id: str) -> str:
        self.get(issuer_id)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self._issuers.update_one({"_id": issuer_id}, {"$push": {"token_hashes": token_hash(token)}})
        return token

    def authenticate(self, issuer_id: str, token: str) -> bool:
        """Is ``token`` one of the issuer's API tokens? Only hashes are compared."""
        doc = self._issuers.find_one({"_id": issuer_id}, fields=["token_hashes"])
        if doc is None or not token:
            return False
        presented = token_hash(token)
        return any(hmac.compare_digest(presented, stored) for stored in doc.get("token_hashes", []))

    # -- keys -----------------------------------------------------------------------------

    def _new_key(self, issuer_id: str, alg: str) -> str:
        signer = Signer.generate(alg)
        kid = signer.kid or ""
        sealed = self._sealer.seal(json.dumps({"issuer": issuer_id, "kid": kid, "jwk": signer.private_jwk}).encode())
        self._keys.insert_one({
            "_id": kid, "issuer": issuer_id, "alg": signer.alg, "public_jwk": signer.public_jwk,
            "sealed": sealed, "created_at": self._clock.seconds(),
        })
        return kid

    def records(self, issuer_id: str) -> list[KeyRecord]:
        docs = self._keys.find({"issuer": issuer_id}, sort=[("created_at", 1), ("_id", 1)])
        return [KeyRecord(d["_id"], d["alg"], d["public_jwk"], d["created_at"], d.get("retired_at"),
                          d.get("revoked_at"), d.get("compromised_at"), d.get("reason")) for d in docs]

    def active_signer(self, issuer_id: str) -> Signer:
        active = [r for r in self.records(issuer_id) if r.state == "active"]
        if not active:
            raise IssuerError(f"issuer {issuer_id!r} has no active key; rotate to make one", code="issuer_no_active_key")
        doc = self._keys.find_one({"_id": active[-1].kid})
        if doc is None:  # removed since records() read it
            raise IssuerError(f"issuer {issuer_id!r} has no active key; rotate to make one", code="issuer_no_active_key")
        try:
            opened = json.loads(self._sealer.open(doc["sealed"]))
        except (SealError, ValueError) as exc:
            raise IssuerError("the issuer key cannot be unsealed: wrong CREDSHARE_SECRET_KEY?", code="issuer_key_sealed") from exc
        if opened.get("issuer") != issuer_id or opened.get("kid") != doc["_id"]:
            raise IssuerError("a sealed key belongs to another issuer or kid", code="issuer_key_sealed")
        return Signer.from_jwk(opened["jwk"], doc["alg"])

    def rotate(self, issuer_id: str, alg: str | None = None) -> str:
        """Make a new active key; the current one is retired (it stays valid for what it signed)."""
        current = [r for r in self.records(issuer_id) if r.state == "active"]
        kid = self._new_key(issuer_id, alg or (current[-1].alg if current else "EdDSA"))
        now = self._clock.seconds()
        for record in current:
            self._keys.update_one({"_id": record.kid, "retired_at": {"$exists": False}}, {"$set": {"retired_at": now}})
        self.publish_history(issuer_id)
        return kid

    def revoke(self, issuer_id: str, kid: str, reason: str, compromised_at: int | None) -> None:
        """Revoke a key. With ``compromised_at``, credentials anchored from then on are invalid."""
        record = next((r for r in self.records(issuer_id) if r.kid == kid), None)
        if record is None:
            raise IssuerError(f"issuer {issuer_id!r} has no key {kid!r}", code="issuer_key_unknown")
        if not reason.strip():
            raise IssuerError("a revocation needs a reason", code="issuer_revocation_reason_missing")
        now = self._clock.seconds()
        if compromised_at is not None and compromised_at > now:
            raise IssuerError("the compromise date is in the future", code="issuer_compromise_date_invalid")
        fields: dict[str, Any] = {"revoked_at": now, "reason": reason.strip()}
        if compromised_at is not None:
            fields["compromised_at"] = compromised_at
        self._keys.update_one({"_id": kid}, {"$set": fields})
        if record.state == "active" and not any(r.state == "active" for r in self.records(issuer_id)):
            self._new_key(issuer_id, record.alg)
        self.publish_history(issuer_id)

    def jwks(self, issuer_id: str) -> dict[str, Any]:
        """Public keys for SD-JWT VC issuer metadata: every key except compromised ones."""
        return {"keys": [{**r.jwk, "kid": r.kid, "alg": r.alg} for r in self.records(issuer_id) if r.compromised_at is None]}

    # -- key history ----------------------------------------------------------------------

    def publish_history(self, issuer_id: str) -> dict[str, Any]:
        """Sign the full key history (with the active key) once per identifier the issuer has
        issued under, store them and append them to the log together; returns the current one."""
        latest = self._histories.find_one({"issuer": issuer_id}, sort=[("version", -1)])
        version = (latest or {}).get("version", 0) + 1
        issuer, records = self.get(issuer_id), self.records(issuer_id)
        signer, now = self.active_signer(issuer_id), self._clock.seconds()
        signed = [sign_compact({"typ": HISTORY_TYP}, history_payload(iss, version, records, now, issuer["name"]), signer)
                  for iss in issuer["identifiers"]]
        appended = self._log.append([jws.encode("ascii") for jws in signed])
        if self._cosigning is not None:
            self._cosigning.ask(appended.size)
        docs = [{"_id": f"{issuer_id}|{version:08d}|{n}", "issuer": issuer_id, "iss": iss, "version": version, "jws": jws,
                 "log_index": appended.first_index + n, "tree_size": appended.size}
                for n, (iss, jws) in enumerate(zip(issuer["identifiers"], signed, strict=True))]
        self._histories.insert_many(docs)
        self._log.bump_revision()  # after the histories are kept: verifiers keep the latest under the log head
        return next(d for d in docs if d["iss"] == issuer["iss"])

    def latest_history(self, issuer_id: str, iss: str | None = None) -> dict[str, Any]:
        """The newest key history published under ``iss`` (default: the current identifier)."""
        iss = iss or self.issuer_url(issuer_id)
        doc = self._histories.find_one({"issuer": issuer_id, "iss": iss}, sort=[("version", -1)])
        if doc is None:
            raise IssuerError(f"no key history for {issuer_id!r} under {iss}", code="issuer_unknown")
        return doc
