"""Credential delivery to a wallet on any server: the issuer side of OpenID for Verifiable
Credential Issuance 1.0 (OpenID4VCI), pre-authorized code flow (§3.5), format ``dc+sd-jwt``
(Appendix A.3).

An issuer system sends roster rows as for a batch (:mod:`credshare.issuing.batch`, validated the
same way, refused whole if one row is wrong) but without a holder key: each row becomes a
*credential offer* (§4.1) whose claims wait sealed at rest (``vci_offers.sealed_row``), with

* a **pre-authorized code**: 256 random bits, shown once (the offer link mailed to the row's
  address), kept only as its SHA-256 (the offer's ``_id``); single use; it lapses after
  :data:`OFFER_SECONDS`;
* a **transaction code** (``tx_code``, §4.1.1; a 6-digit PIN) that the issuer system delivers
  by a second channel: it is answered once to the issuer and kept only as an HMAC under a key
  derived from the server secret (a 6-digit value's plain hash would be guessed from a copy of
  the store). :data:`MAX_TX_FAILURES` wrong PINs end the offer.

Redemption (§6 Token Endpoint, §7 Nonce Endpoint, §8 Credential Endpoint): the code and the
PIN buy an access token (kept hashed, :data:`TOKEN_SECONDS`); a ``c_nonce`` (kept hashed, single
use, :data:`NONCE_SECONDS`) goes into the wallet's key proof (Appendix F.1: ``typ``
``openid4vci-proof+jwt``, ``aud`` the Credential Issuer Identifier, ``iat`` within
:data:`PROOF_SKEW_SECONDS`, a public ``jwk`` header, an algorithm of :data:`PROOF_ALGS`). Only
then is the credential issued, **bound to the proof's key**, by the batch issuer on a one-row
roster carrying ``holder_jwk``: signed, logged, status-listed and anchored like every other
credential. The sealed claims are dropped once it is issued. Offer states: ``offered`` ->
``redeemed`` (token given) -> ``issued``; or ``locked`` (too many wrong PINs).

The credential answer is §8.3's ``{"credentials": [{"credential": <SD-JWT VC>}]}`` with one
extension member per element, ``anchor_proof``: the credential's proof of inclusion in the
issuer's log, which a credshare wallet needs to verify it (other wallets ignore it, §8.3).

Not done here: DPoP-bound access tokens (RFC 9449) and wallet attestations, which HAIP asks of
issuers; batch issuance (one proof, one credential); the authorization code flow.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any, Iterable

from credshare.disclosure.errors import SDJWTError
from credshare.disclosure.jws import PublicKey, parse_compact
from credshare.foundation.clock import SYSTEM_CLOCK, Clock
from credshare.foundation.errors import CredshareError, NotFoundError
from credshare.foundation.kdf import derive_key
from credshare.foundation.sealing import Sealer
from credshare.issuing.batch import BatchIssuer, RosterRejected, read_row
from credshare.issuing.issuers import IssuerRegistry, token_hash
from credshare.issuing.types import CredentialType
from credshare.storage import Store

OFFERS, NONCES = "vci_offers", "vci_nonces"
SEAL_PURPOSE = "vci-offers/v1"
PRE_AUTHORIZED_GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
PROOF_TYP = "openid4vci-proof+jwt"
FORMAT = "dc+sd-jwt"
PROOF_ALGS = ("ES256", "EdDSA")  # ES256: HAIP; EdDSA: credshare wallets' Ed25519 holder keys
OFFER_SECONDS = 7 * 24 * 3600
TOKEN_SECONDS = 300
NONCE_SECONDS = 300
PROOF_SKEW_SECONDS = 300
MAX_TX_FAILURES = 5
TX_CODE_LENGTH = 6
MAX_OFFER_ROWS = 1000
MAX_CODE_CHARS = 128
MAX_PROOF_CHARS = 8192


class OAuthError(CredshareError):
    """An OAuth 2.0 (RFC 6749 §5.2, RFC 6750 §3) or OpenID4VCI (§8.3.1.2) error: ``code`` is the
    protocol's error code, ``detail`` its ``error_description`` (plain ASCII)."""

    code = "invalid_request"
    http_status = 400
    stage = "input"

    def __init__(self, code: str, detail: str, *, status: int = 400) -> None:
        super().__init__(detail, code=code)
        self.http_status = status  # type: ignore[misc]  # per-instance refinement, as CredshareError.code

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "error_description": self.detail}


@dataclass(frozen=True)
class MadeOffer:
    """One offer as the issuer system gets it back: the code (for the link) and the PIN are
    shown here once and never again."""

    id: str
    email: str
    line: int
    pre_authorized_code: str
    tx_code: str
    expires_at: int


def configuration_id(ctype: CredentialType) -> str:
    """The offer's ``credential_configuration_ids`` entry of a credential type (§12.2.4)."""
    return ctype.slug


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class CredentialOffers:
    def __init__(self, store: Store, issuers: IssuerRegistry, batches: BatchIssuer, types: dict[str, CredentialType],
                 *, secret_key: str, clock: Clock = SYSTEM_CLOCK) -> None:
        self._offers = store.collection(OFFERS)
        self._nonces = store.collection(NONCES)
        self._offers.create_index("issuer")
        self._offers.create_index("token_hash")
        self._nonces.create_index("expires_at")
        self._issuers, self._batches, self._types = issuers, batches, types
        self._sealer = Sealer.for_purpose(secret_key, SEAL_PURPOSE)
        self._pin_key = derive_key(secret_key, "vci/tx-code")
        self._clock = clock

    # -- offers -----------------------------------------------------------------------------

    def create(self, issuer_id: str, ctype: CredentialType, rows: Iterable[tuple[int, dict[str, Any]]]) -> list[MadeOffer]:
        """One offer per row, or none: every row is checked as a batch row is, and must name the
        e-mail address the offer goes to and no holder key (the wallet's key comes at redemption)."""
        self._issuers.get(issuer_id)
        checked, problems = [], []
        for line, row in rows:
            read = read_row(ctype, row)
            found = list(read.problems)
            if read.holder_jwk is not None:
                found.append("holder_jwk: an offer is bound to the wallet's key when it is redeemed; leave it out")
            if not read.email:
                found.append("email: the address the offer is sent to is required")
            if read.credential_id:
                found.append("credential_id: offers get their id when they are redeemed; leave it out")
            if found:
                problems.append((line, found))
            checked.append((line, read.email, row))
        if len(checked) > MAX_OFFER_ROWS:
            problems.append((0, [f"at most {MAX_OFFER_ROWS} offers per request"]))
        if problems or not checked:
            raise RosterRejected(problems or [(0, ["the roster has no rows"])], len(checked))
        now = self._clock.seconds()
        made, docs = [], []
        for line, email, row in checked:
            code = secrets.token_urlsafe(32)
            pin = f"{secrets.randbelow(10 ** TX_CODE_LENGTH):0{TX_CODE_LENGTH}d}"
            offer_id = _hash(code)
            docs.append({"_id": offer_id, "issuer": issuer_id, "type": ctype.slug, "email": email, "state": "offered",
                         "created_at": now, "expires_at": now + OFFER_SECONDS, "tx_hash": self._pin_hash(offer_id, pin),
                         "tx_failures": 0, "sealed_row": self._sealer.seal(json.dumps({**row, "email": ""}).encode())})
            made.append(MadeOffer(offer_id, email, line, code, pin, now + OFFER_SECONDS))
        for doc in docs:
            self._offers.insert_one(doc)
        return made

    def _pin_hash(self, offer_id: str, pin: str) -> str:
        return hmac.new(self._pin_key, f"{offer_id}|{pin}".encode(), hashlib.sha256).hexdigest()

    def _live(self, issuer_id: str | None, code: Any) -> dict[str, Any] | None:
        if not isinstance(code, str) or not 0 < len(code) <= MAX_CODE_CHARS:
            return None
        doc = self._offers.find_one({"_id": _hash(code)}, fields=["issuer", "type", "state", "expires_at", "email", "tx_hash"])
        if doc is None or (issuer_id is not None and doc["issuer"] != issuer_id):
            return None
        return doc if doc["state"] == "offered" and doc["expires_at"] > self._clock.seconds() else None

    def offer_object(self, issuer_id: str | None, code: str) -> tuple[str, dict[str, Any], int] | None:
        """The Credential Offer (§4.1.1) the code stands for, with its issuer id and when it
        lapses, while it can be redeemed; ``None`` when it is unknown, used, locked or lapsed."""
        doc = self._live(issuer_id, code)
        if doc is None:
            return None
        ctype = self._types[doc["type"]]
        return doc["issuer"], {
            "credential_issuer": self._issuers.issuer_url(doc["issuer"]),
            "credential_configuration_ids": [configuration_id(ctype)],
            "grants": {PRE_AUTHORIZED_GRANT: {
                "pre-authorized_code": code,
                "tx_code": {"input_mode": "numeric", "length": TX_CODE_LENGTH,
                            "description": "the 6-digit PIN the issuer sent you separately (not in the e-mail)"}}}}, \
            int(doc["expires_at"])

    # -- token endpoint (§6) --------------------------------------------------------------------

    def redeem(self, issuer_id: str, code: Any, tx_code: Any) -> str:
        """The access token for a pre-authorized code and its PIN; single use."""
        if not isinstance(code, str) or not code:
            raise OAuthError("invalid_request", "pre-authorized_code is required")
        if not isinstance(tx_code, str) or not tx_code:
            raise OAuthError("invalid_request", "this offer requires its tx_code (the PIN)")
        doc = self._live(issuer_id, code)
        if doc is None:
            raise OAuthError("invalid_grant", "the pre-authorized code is unknown, already used or expired")
        if not hmac.compare_digest(self._pin_hash(doc["_id"], tx_code[:64]), str(doc["tx_hash"])):
            after = self._offers.find_one_and_update({"_id": doc["_id"], "state": "offered"},
                                                     {"$inc": {"tx_failures": 1}}, return_document="after")
            if after is not None and after.get("tx_failures", 0) >= MAX_TX_FAILURES:
                self._offers.update_one({"_id": doc["_id"], "state": "offered"},
                                        {"$set": {"state": "locked"}, "$unset": {"sealed_row": ""}})
            raise OAuthError("invalid_grant", "the tx_code (PIN) is wrong")
        token = secrets.token_urlsafe(32)
        now = self._clock.seconds()
        taken = self._offers.find_one_and_update(
            {"_id": doc["_id"], "state": "offered"},
            {"$set": {"state": "redeemed", "redeemed_at": now, "token_hash": token_hash(token),
                      "token_expires": now + TOKEN_SECONDS}})
        if taken is None:
            raise OAuthError("invalid_grant", "the pre-authorized code is already used")
        return token

    # -- nonce endpoint (§7) --------------------------------------------------------------------

    def nonce(self) -> str:
        value = secrets.token_urlsafe(24)
        self._nonces.insert_one({"_id": _hash(value), "expires_at": self._clock.seconds() + NONCE_SECONDS})
        return value

    def _use_nonce(self, value: Any) -> bool:
        if not isinstance(value, str) or not 0 < len(value) <= MAX_CODE_CHARS:
            return False
        now = self._clock.seconds()
        self._nonces.delete_many({"expires_at": {"$lte": now}})
        return self._nonces.delete_one({"_id": _hash(value), "expires_at": {"$gt": now}}) == 1

    # -- credential endpoint (§8) ---------------------------------------------------------------

    def _offer_of_token(self, issuer_id: str, token: str) -> dict[str, Any]:
        if not token or len(token) > MAX_CODE_CHARS:
            raise OAuthError("invalid_token", "a valid access token is required", status=401)
        doc = self._offers.find_one({"token_hash": token_hash(token), "issuer": issuer_id},
                                    fields=["state", "token_hash", "token_expires", "type"])
        if doc is None or doc["state"] != "redeemed" or doc["token_expires"] <= self._clock.seconds() \
                or not hmac.compare_digest(doc["token_hash"], token_hash(token)):
            raise OAuthError("invalid_token", "the access token is unknown, used or expired", status=401)
        return doc

    def check_proof(self, issuer_id: str, proof: Any) -> dict[str, Any]:
        """The public JWK a key proof (Appendix F.1, F.4) proves possession of, or ``invalid_proof``
        / ``invalid_nonce``."""
        if not isinstance(proof, str) or len(proof) > MAX_PROOF_CHARS:
            raise OAuthError("invalid_proof", "proofs.jwt holds one compact JWT")
        try:
            parsed = parse_compact(proof)
        except SDJWTError as exc:
            raise OAuthError("invalid_proof", f"the key proof is not a usable JWT ({exc.code})") from None
        header, claims = parsed.header, parsed.payload
        if header.get("typ") != PROOF_TYP:
            raise OAuthError("invalid_proof", f"the key proof must have typ {PROOF_TYP}")
        if parsed.alg not in PROOF_ALGS:
            raise OAuthError("invalid_proof", f"proof algorithm not accepted here (use one of {', '.join(PROOF_ALGS)})")
        if "kid" in header or "x5c" in header or not isinstance(header.get("jwk"), dict):
            raise OAuthError("invalid_proof", "the key proof must carry its public key as a jwk header (no kid, no x5c)")
        try:
            key = PublicKey.from_jwk(header["jwk"])
        except SDJWTError:
            raise OAuthError("invalid_proof", "the jwk header is not a usable public key") from None
        if not parsed.verify_with([key]):
            raise OAuthError("invalid_proof", "the key proof signature does not verify with its jwk")
        audience = self._issuers.issuer_url(issuer_id)
        if not isinstance(claims.get("aud"), str) or not hmac.compare_digest(claims["aud"].encode(), audience.encode()):
            raise OAuthError("invalid_proof", "the key proof aud must be this Credential Issuer Identifier")
        iat = claims.get("iat")
        if isinstance(iat, bool) or not isinstance(iat, int) or abs(iat - self._clock.seconds()) > PROOF_SKEW_SECONDS:
            raise OAuthError("invalid_proof", "the key proof iat is missing or not recent")
        if "nonce" not in claims:
            raise OAuthError("invalid_proof", "the key proof must carry a c_nonce from the nonce endpoint")
        if not self._use_nonce(claims.get("nonce")):
            raise OAuthError("invalid_nonce", "the c_nonce is unknown, used or expired; get a new one")
        return key.jwk

    def credential(self, issuer_id: str, token: str, body: Any) -> dict[str, Any]:
        """Issue the offer's credential, bound to the key proven in ``body`` (a Credential
        Request, §8.2): the credential file (``sd_jwt``, ``anchor_proof``, ...)."""
        doc = self._offer_of_token(issuer_id, token)
        if not isinstance(body, dict):
            raise OAuthError("invalid_credential_request", "the body is a JSON object")
        ctype = self._types[doc["type"]]
        if "credential_identifier" in body or body.get("credential_configuration_id") != configuration_id(ctype):
            raise OAuthError("unknown_credential_configuration", "ask for the credential_configuration_id offered")
        proofs = body.get("proofs")
        if not isinstance(proofs, dict) or set(proofs) != {"jwt"} or not isinstance(proofs["jwt"], list) \
                or len(proofs["jwt"]) != 1:
            raise OAuthError("invalid_proof", "proofs is {\"jwt\": [one key proof]}")
        holder = self.check_proof(issuer_id, proofs["jwt"][0])
        taken = self._offers.find_one_and_update({"_id": doc["_id"], "state": "redeemed"},
                                                 {"$set": {"state": "issuing"}})
        if taken is None:
            raise OAuthError("invalid_token", "the access token is already used", status=401)
        try:
            row = json.loads(self._sealer.open(taken["sealed_row"]))
            sink = _One()
            self._batches.issue(issuer_id, ctype, [(1, {**row, "holder_jwk": holder})], sink)
        except BaseException:
            self._offers.update_one({"_id": doc["_id"], "state": "issuing"}, {"$set": {"state": "redeemed"}})
            raise
        assert sink.credential is not None
        self._offers.update_one({"_id": doc["_id"]}, {
            "$set": {"state": "issued", "issued_at": self._clock.seconds(),
                     "credential_id": sink.credential["credential_id"]},
            "$unset": {"sealed_row": "", "token_hash": ""}})
        return sink.credential

    def state(self, offer_id: str) -> str | None:
        doc = self._offers.find_one({"_id": str(offer_id)}, fields=["state"])
        return None if doc is None else str(doc["state"])

    def describe(self, issuer_id: str, offer_id: str) -> dict[str, Any]:
        """What the issuer may know of its own offer: its state and, once the credential was
        issued, the credential's id (to revoke or suspend it later). Another issuer's offer reads
        as unknown."""
        doc = self._offers.find_one({"_id": str(offer_id), "issuer": issuer_id},
                                    fields=["state", "expires_at", "issued_at", "credential_id"])
        if doc is None:
            raise NotFoundError("no such offer", code="offer_unknown")
        return {"id": doc["_id"], "state": doc["state"], "expires_at": doc.get("expires_at"),
                "issued_at": doc.get("issued_at"), "credential_id": doc.get("credential_id")}


class _One:
    """The sink of a one-row batch."""

    def __init__(self) -> None:
        self.credential: dict[str, Any] | None = None

    def write(self, credential: dict[str, Any]) -> None:
        self.credential = credential
