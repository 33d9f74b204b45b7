"""Receiving a credential from an issuer on any server: the wallet side of OpenID for Verifiable
Credential Issuance 1.0, pre-authorized code flow (§3.5), format ``dc+sd-jwt``.

The owner pastes a Credential Offer (§4.1: ``openid-credential-offer://?credential_offer_uri=...``
or ``...?credential_offer=<JSON>``, or the bare ``https`` offer URI) and the PIN (``tx_code``)
the issuer sent them separately. Then, in this order, and refused whole at the first problem:

1. **Trust first** (§13.5, §13.6.2: wallets should talk to trusted issuers only). An offer by
   reference is fetched only from the origin of an issuer on this wallet's trust list; the
   offer's ``credential_issuer`` must be on the list itself (and, by reference, on the offer
   URI's origin). Nothing, least of all the code or the PIN, is sent to anyone else.
2. The Credential Issuer Metadata (§12.2.2: ``/.well-known/openid-credential-issuer`` inserted
   into the identifier) and the Authorization Server Metadata (RFC 8414 §3, the issuer being its
   own authorization server) must name exactly that identifier; every endpoint must be on the
   identifier's origin; the offered configuration must be ``dc+sd-jwt`` accepting an
   ``EdDSA`` key proof, and of a type the issuer is trusted for.
3. Token request (§6.1) with the code and the PIN; a ``c_nonce`` from the nonce endpoint (§7);
   a key proof (Appendix F.1) signed with the owner's holder key; the Credential Request (§8.2).
4. The answer's SD-JWT VC and its ``anchor_proof`` go to :meth:`WalletService.add`, which
   verifies the credential whole (and its binding to the holder key) before sealing it into the
   vault. Nothing of it is stored otherwise.

Every request goes through :mod:`credshare.foundation.http_client`: https (plain http to
loopback only), bounded answers, timeouts, redirects never followed.
"""

from __future__ import annotations

import json
from typing import Any, Callable
from urllib.parse import parse_qs, urlencode, urlsplit

from credshare.disclosure.jws import Signer, sign_compact
from credshare.foundation import strict_json
from credshare.foundation.clock import SYSTEM_CLOCK, Clock
from credshare.foundation.errors import CredshareError, InputError
from credshare.foundation.http_client import RemoteError, check_remote_url, fetch, request
from credshare.holding.accounts import AccountService, SessionInfo
from credshare.holding.wallet import MAX_CREDENTIAL_CHARS, WalletEntry, WalletService, require_confirmed
from credshare.verifier.report import Report
from credshare.verifier.trust_list import TrustList

OFFER_SCHEME = "openid-credential-offer"
PRE_AUTHORIZED_GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
PROOF_TYP = "openid4vci-proof+jwt"
MAX_OFFER_CHARS = 4096
MAX_METADATA_BYTES = 64 * 1024
MAX_SMALL_BYTES = 16 * 1024
MAX_TX_CODE_CHARS = 64
JSON = ("application/json",)

TrustFor = Callable[[str], TrustList]  # the trust list that counts for an issuer identifier


class ReceiveRefused(InputError):
    """The offer was not followed, or the issuer's answer not accepted; nothing was stored."""

    code = "receive_refused"
    http_status = 422


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def well_known(identifier: str, name: str) -> str:
    """``/.well-known/<name>`` inserted between the identifier's host and path (§12.2.2, RFC 8414 §3.1)."""
    parts = urlsplit(identifier)
    return f"{parts.scheme}://{parts.netloc}/.well-known/{name}{parts.path.rstrip('/')}"


def parse_offer_text(text: str) -> tuple[str | None, dict[str, Any] | None]:
    """``(offer URI, None)`` or ``(None, offer object)`` from what the owner pasted."""
    text = (text or "").strip()
    if not text:
        raise InputError("Paste the offer link from the issuer's e-mail or page", code="offer_missing")
    if len(text) > MAX_OFFER_CHARS:
        raise InputError("This is longer than any credential offer", code="offer_malformed")
    parts = urlsplit(text)
    if parts.scheme in ("https", "http"):
        return text, None
    if parts.scheme != OFFER_SCHEME:
        raise InputError("This is not a credential offer link (openid-credential-offer://...)", code="offer_malformed")
    query = parse_qs(parts.query, max_num_fields=4)
    by_reference, by_value = query.get("credential_offer_uri", []), query.get("credential_offer", [])
    if len(by_reference) + len(by_value) != 1:
        raise InputError("A credential offer has one credential_offer_uri or one credential_offer", code="offer_malformed")
    if by_reference:
        return by_reference[0], None
    offer = strict_json.loads_or_refuse(by_value[0], "offer_malformed", "the credential offer is not valid JSON")
    if not isinstance(offer, dict):
        raise InputError("The credential offer is not a JSON object", code="offer_malformed")
    return None, offer


def _json(answer_body: bytes, what: str) -> dict[str, Any]:
    try:
        doc = strict_json.loads(answer_body)
    except (CredshareError, ValueError):
        raise ReceiveRefused(f"the issuer's {what} is not valid JSON", code="issuer_answer_invalid") from None
    if not isinstance(doc, dict):
        raise ReceiveRefused(f"the issuer's {what} is not a JSON object", code="issuer_answer_invalid")
    return doc


def _str(doc: dict[str, Any], key: str, what: str, max_chars: int = 2048) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not 0 < len(value) <= max_chars:
        raise ReceiveRefused(f"the issuer's {what} has no usable {key}", code="issuer_answer_invalid")
    return value


class CredentialReceiver:
    def __init__(self, wallet: WalletService, accounts: AccountService, trust_for: TrustFor,
                 *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._wallet, self._accounts, self._trust_for, self._clock = wallet, accounts, trust_for, clock

    def receive(self, info: SessionInfo, offer_text: str, tx_code: str) -> tuple[WalletEntry, Report]:
        require_confirmed(info)
        uri, offer = parse_offer_text(offer_text)
        if uri is not None:
            offer = self._fetch_offer(uri)
        assert offer is not None
        issuer, configuration, code, wants_pin = self._read_offer(offer, uri)
        tx_code = (tx_code or "").strip()
        if wants_pin and not tx_code:
            raise InputError("Enter the PIN the issuer sent you separately", code="tx_code_missing")
        if len(tx_code) > MAX_TX_CODE_CHARS:
            raise InputError("The PIN is too long", code="tx_code_invalid")
        metadata = self._issuer_metadata(issuer)
        endpoints = self._endpoints(issuer, metadata, configuration)
        token = self._token(endpoints["token"], code, tx_code if wants_pin else None)
        nonce = self._nonce(endpoints["nonce"])
        holder = self._accounts.holder_signer(info)
        holder = Signer.from_jwk({k: v for k, v in holder.private_jwk.items() if k != "kid"}, holder.alg)  # jwk, no kid
        proof = sign_compact({"typ": PROOF_TYP, "jwk": holder.public_jwk},
                             {"aud": issuer, "iat": self._clock.seconds(), "nonce": nonce}, holder)
        sd_jwt, anchor_proof = self._credential(endpoints["credential"], token, configuration, proof)
        return self._wallet.add(info, sd_jwt, anchor_proof, source="oid4vci")

    # -- the steps --------------------------------------------------------------------------

    def _fetch_offer(self, uri: str) -> dict[str, Any]:
        check_remote_url(uri)
        origin = _origin(uri)
        listed = self._trust_for(uri.split("/oid4vci/", 1)[0])  # a credshare offer URI is under its issuer
        if not any(_origin(i) == origin for i in listed.issuers):
            raise ReceiveRefused(f"{origin} is not the server of any issuer on this wallet's trust list; "
                                 "nothing was sent to it", code="issuer_not_trusted")
        answer = fetch(uri, max_bytes=MAX_SMALL_BYTES, media_types=JSON, accept="application/json")
        return _json(answer.body, "credential offer")

    def _read_offer(self, offer: dict[str, Any], uri: str | None) -> tuple[str, str, str, bool]:
        issuer = offer.get("credential_issuer")
        if not isinstance(issuer, str) or not issuer:
            raise ReceiveRefused("the offer names no credential_issuer", code="offer_malformed")
        entry = self._trust_for(issuer).issuer(issuer)
        if entry is None:
            raise ReceiveRefused(f"the issuer {issuer} is not on this wallet's trust list; nothing was sent to it",
                                 code="issuer_not_trusted")
        try:
            check_remote_url(issuer)
        except RemoteError as exc:
            raise ReceiveRefused(exc.detail, code="issuer_not_trusted") from None
        if uri is not None and _origin(uri) != _origin(issuer):
            raise ReceiveRefused("the offer was served by another server than its issuer's", code="offer_malformed")
        ids = offer.get("credential_configuration_ids")
        if not isinstance(ids, list) or len(ids) != 1 or not isinstance(ids[0], str):
            raise ReceiveRefused("this wallet takes offers of one credential", code="offer_malformed")
        grant = (offer.get("grants") or {}).get(PRE_AUTHORIZED_GRANT) if isinstance(offer.get("grants"), dict) else None
        if not isinstance(grant, dict):
            raise ReceiveRefused("the offer has no pre-authorized code", code="offer_malformed")
        code = grant.get("pre-authorized_code")
        if not isinstance(code, str) or not 0 < len(code) <= 512:
            raise ReceiveRefused("the offer has no usable pre-authorized code", code="offer_malformed")
        return issuer, ids[0], code, "tx_code" in grant

    def _issuer_metadata(self, issuer: str) -> dict[str, Any]:
        answer = fetch(well_known(issuer, "openid-credential-issuer"), max_bytes=MAX_METADATA_BYTES,
                       media_types=JSON, accept="application/json")
        metadata = _json(answer.body, "metadata")
        if metadata.get("credential_issuer") != issuer:  # §12.2.4: identical, no normalisation
            raise ReceiveRefused("the issuer's metadata is for another credential issuer", code="issuer_answer_invalid")
        return metadata

    def _same_origin(self, issuer: str, url: str, what: str) -> str:
        if _origin(url) != _origin(issuer):
            raise ReceiveRefused(f"the issuer's {what} is on another server; nothing was sent there",
                                 code="issuer_answer_invalid")
        return check_remote_url(url)

    def _endpoints(self, issuer: str, metadata: dict[str, Any], configuration: str) -> dict[str, str]:
        configs = metadata.get("credential_configurations_supported")
        config = configs.get(configuration) if isinstance(configs, dict) else None
        if not isinstance(config, dict) or config.get("format") != "dc+sd-jwt":
            raise ReceiveRefused("the offered credential is not an SD-JWT VC this issuer describes",
                                 code="issuer_answer_invalid")
        entry = self._trust_for(issuer).issuer(issuer)
        if entry is None or config.get("vct") not in entry.types:
            raise ReceiveRefused(f"{entry.name if entry else issuer} is not trusted for credentials of type "
                                 f"{config.get('vct')}", code="issuer_not_trusted")
        proof_types = config.get("proof_types_supported")
        jwt_proof = proof_types.get("jwt") if isinstance(proof_types, dict) else None
        algs = jwt_proof.get("proof_signing_alg_values_supported") if isinstance(jwt_proof, dict) else None
        if not isinstance(algs, list) or "EdDSA" not in algs:
            raise ReceiveRefused("the issuer does not accept this wallet's key (an EdDSA key proof)",
                                 code="issuer_answer_invalid")
        if "authorization_servers" in metadata:
            raise ReceiveRefused("this wallet takes offers from issuers that are their own authorization server",
                                 code="issuer_answer_invalid")
        answer = fetch(well_known(issuer, "oauth-authorization-server"), max_bytes=MAX_METADATA_BYTES,
                       media_types=JSON, accept="application/json")
        server = _json(answer.body, "authorization server metadata")
        if server.get("issuer") != issuer:
            raise ReceiveRefused("the authorization server metadata is for another issuer", code="issuer_answer_invalid")
        return {"token": self._same_origin(issuer, _str(server, "token_endpoint", "metadata"), "token endpoint"),
                "nonce": self._same_origin(issuer, _str(metadata, "nonce_endpoint", "metadata"), "nonce endpoint"),
                "credential": self._same_origin(issuer, _str(metadata, "credential_endpoint", "metadata"),
                                                "credential endpoint")}

    @staticmethod
    def _refusal(answer_body: bytes, status: int, what: str) -> ReceiveRefused:
        try:
            doc = strict_json.loads(answer_body)
        except (CredshareError, ValueError):
            doc = {}
        doc = doc if isinstance(doc, dict) else {}
        error = str(doc.get("error") or f"http_{status}")[:64]
        description = str(doc.get("error_description") or "")[:300]
        plain = {"invalid_grant": "the offer code or the PIN was not accepted (wrong PIN, or the offer was already "
                                  "used or has expired)"}.get(error, f"the issuer refused the {what}")
        return ReceiveRefused(f"{plain} [{error}{': ' + description if description else ''}]", code=f"issuer_{error}")

    def _token(self, endpoint: str, code: str, tx_code: str | None) -> str:
        form = {"grant_type": PRE_AUTHORIZED_GRANT, "pre-authorized_code": code}
        if tx_code is not None:
            form["tx_code"] = tx_code
        answer = request("POST", endpoint, body=urlencode(form).encode("ascii"),
                         content_type="application/x-www-form-urlencoded", max_bytes=MAX_SMALL_BYTES,
                         headers={"Accept": "application/json"})
        if answer.status != 200:
            raise self._refusal(answer.body, answer.status, "offer code")
        doc = _json(answer.body, "token answer")
        if str(doc.get("token_type", "")).lower() != "bearer":
            raise ReceiveRefused("the issuer's token is not a bearer token", code="issuer_answer_invalid")
        return _str(doc, "access_token", "token answer", 512)

    def _nonce(self, endpoint: str) -> str:
        answer = request("POST", endpoint, body=b"", max_bytes=MAX_SMALL_BYTES, headers={"Accept": "application/json"})
        if answer.status != 200:
            raise self._refusal(answer.body, answer.status, "nonce request")
        return _str(_json(answer.body, "nonce answer"), "c_nonce", "nonce answer", 512)

    def _credential(self, endpoint: str, token: str, configuration: str, proof: str) -> tuple[str, dict[str, Any]]:
        body = json.dumps({"credential_configuration_id": configuration, "proofs": {"jwt": [proof]}}).encode()
        answer = request("POST", endpoint, body=body, content_type="application/json",
                         max_bytes=MAX_CREDENTIAL_CHARS + MAX_SMALL_BYTES,
                         headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
        if answer.status != 200:
            raise self._refusal(answer.body, answer.status, "credential request")
        doc = _json(answer.body, "credential answer")
        items = doc.get("credentials")
        if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
            raise ReceiveRefused("the issuer's answer holds no credential", code="issuer_answer_invalid")
        sd_jwt, anchor_proof = items[0].get("credential"), items[0].get("anchor_proof")
        if not isinstance(sd_jwt, str) or "~" not in sd_jwt:
            raise ReceiveRefused("the issuer's answer holds no SD-JWT VC", code="issuer_answer_invalid")
        if not isinstance(anchor_proof, dict):
            raise ReceiveRefused("the issuer's answer has no anchor proof, so this wallet cannot verify it",
                                 code="anchor_proof_missing")
        return sd_jwt, anchor_proof
