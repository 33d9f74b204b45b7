"""The owner's wallet: credentials they hold, sealed in their vault.

Each entry is the SD-JWT with all disclosures plus its anchor proof, sealed under the
owner's data key (holding/vault.py), so the store holds no field value in clear. Only a keyed
digest of the issuer-signed JWT is kept beside it, to refuse the same credential twice
without revealing it.

A credential is checked in full before anything is stored (RFC 9901 §7.2, holder side: the
issuer signature and every disclosure; then the issuer key at anchoring time, the anchor
proof, and the status list), and it must be bound (``cnf.jwk``) to the owner's holder key,
or the owner could never present it with key binding. Any failed check refuses it whole.

A Blockcerts record (v2 ``MerkleProof2017``, v3 ``MerkleProof2019``; blockcerts/record.py) is
taken the same way: its evidence is gathered on arrival (the issuer profile fetched once and kept
as a snapshot, the revocation or status list; :meth:`EvidenceService.blockcerts_arrival`) and the
record judged against this server's trust list; any failed check refuses it whole, a check that
cannot be made here (a test anchor, a chain without an endpoint) is stored and shown as such. It
is sealed in the vault with its evidence (``format`` ``"blockcerts"``), and it is shared whole:
a Blockcerts record has no selective disclosure.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from credshare.blockcerts.errors import BlockcertsError
from credshare.blockcerts.evidence import evidence_to_json
from credshare.blockcerts.record import BlockcertsRecord, looks_like_blockcerts, parse_record
from credshare.disclosure.errors import SDJWTError
from credshare.disclosure.jws import PublicKey, Signer
from credshare.disclosure.presentation import HolderView, open_sd_jwt
from credshare.foundation import strict_json
from credshare.foundation.clock import SYSTEM_CLOCK, Clock
from credshare.foundation.errors import CredshareError, DuplicateKeyError, ForbiddenError, InputError, NotFoundError
from credshare.foundation.sealing import Sealer
from credshare.holding import vault
from credshare.holding.accounts import AccountService, SessionInfo
from credshare.holding.evidence import EvidenceService
from credshare.issuing.offers import WalletOffers
from credshare.issuing.types import CredentialType, type_for_vct
from credshare.storage import Store, new_id
from credshare.verifier.report import Report

WALLET = "wallet_credentials"
# (event "added" / "deleted", owner account id, entry id, facts): see holding/subscriptions.py
EntryListener = Callable[[str, str, str, dict[str, Any]], None]
_log = logging.getLogger(__name__)
MAX_CREDENTIAL_CHARS = 256 * 1024
SD_JWT_VC, BLOCKCERTS = "sd-jwt-vc", "blockcerts"  # WalletEntry.format
# the checks a Blockcerts record must pass on arrival: they need no network (the record's own
# hash and Merkle path) or its issuer's profile; without them nothing is known of the record
BLOCKCERTS_REQUIRED = ("document_hash", "merkle_proof", "issuer_profile")


class CredentialRefused(InputError):
    """An uploaded or offered credential failed a check; nothing was stored."""

    code = "credential_refused"
    http_status = 422

    def __init__(self, detail: str, report: Report | None = None, *, code: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.report = report

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = super().to_dict()
        if self.report is not None:
            body["checks"] = [c.to_json() for c in self.report.checks if c.status != "passed"]
        return body


@dataclass(frozen=True)
class WalletEntry:
    """One credential as its owner sees it (opened from the vault). ``format`` ``"blockcerts"``:
    a Blockcerts record, kept as its evidence (blockcerts/evidence.py ``evidence_to_json``: the
    record and the issuer's documents as read on arrival); ``sd_jwt`` is then empty."""

    id: str
    sd_jwt: str
    anchor_proof: dict[str, Any]
    added_at: int
    source: str
    format: str = SD_JWT_VC
    evidence: dict[str, Any] | None = None

    @property
    def is_blockcerts(self) -> bool:
        return self.format == BLOCKCERTS

    @property
    def view(self) -> HolderView:
        if self.is_blockcerts:
            raise InputError("A Blockcerts record has no SD-JWT: it is shared whole", code="blockcerts_shared_whole")
        return open_sd_jwt(self.sd_jwt)

    @property
    def record(self) -> BlockcertsRecord:
        """The Blockcerts record, read from the kept document (it passed every check on arrival)."""
        if not self.is_blockcerts or self.evidence is None:
            raise InputError("This credential is not a Blockcerts record", code="credential_not_blockcerts")
        return parse_record(self.evidence.get("document"))

    @property
    def claims(self) -> dict[str, Any]:
        """The SD-JWT's claims (all disclosed); a Blockcerts record's fields, by their labels."""
        return dict(self.record.fields) if self.is_blockcerts else self.view.claims

    def to_vault(self) -> dict[str, Any]:
        kept = {"sd_jwt": self.sd_jwt, "anchor_proof": self.anchor_proof, "added_at": self.added_at, "source": self.source}
        if self.is_blockcerts:  # an SD-JWT entry is sealed as it always was
            kept.update({"format": self.format, "evidence": self.evidence})
        return kept


class Upload(NamedTuple):
    """What an owner uploaded: an SD-JWT with its anchor proof (``None``: a bare SD-JWT), or a
    Blockcerts record (``blockcerts``: its JSON document; ``sd_jwt`` empty)."""

    sd_jwt: str
    anchor_proof: dict[str, Any] | None
    blockcerts: dict[str, Any] | None = None


# States in which a link would show verifiers a credential that does not stand: the owner is
# asked before sharing one (holding/shares.py).
NOT_STANDING = ("revoked", "suspended", "not verified")


def credential_state(report: Report) -> str:
    """What the owner is told about a credential now: valid, revoked, suspended, expired, not
    verified, or "status unknown". Only a status that was read and passed is shown as valid."""
    if report.credential_status in ("revoked", "suspended"):
        return report.credential_status
    if report.outcome == "not_verified":
        return "not verified"
    if report.expires_at is not None and report.expires_at <= report.checked_at:
        return "expired"
    if report.credential_status == "valid":
        return "valid"
    return "status unknown"


def require_confirmed(info: SessionInfo) -> None:
    """A wallet holds and shares credentials only once its owner has confirmed the e-mail
    address: until then the account may belong to someone who merely typed that address."""
    if not info.email_verified:
        raise ForbiddenError("Confirm your e-mail address first (use the link we sent you)", code="email_unconfirmed")


def parse_upload(text: str) -> Upload:
    """What an owner may upload: the credential file an issuer delivered (JSON with
    ``sd_jwt`` and ``anchor_proof``), or the compact SD-JWT followed by the anchor proof's JSON,
    or a bare SD-JWT (``jwt~d1~d2~``: proof ``None``), which only an issuer without a log
    (keys in its metadata or certified by X.509 roots) delivers (:meth:`WalletService.check` decides);
    or a Blockcerts record, its JSON as issued (``blockcerts/record.py looks_like_blockcerts``)."""
    text = (text or "").strip()
    if not text:
        raise InputError("Paste or choose a credential file", code="credential_missing")
    if len(text) > MAX_CREDENTIAL_CHARS:
        raise InputError("The credential is larger than any credential this server accepts", code="credential_too_large")
    if text.startswith("{"):
        doc = strict_json.loads_or_refuse(text, "credential_malformed", "the credential file is not valid JSON")
        doc = doc if isinstance(doc, dict) else {}
        if looks_like_blockcerts(doc):
            return Upload("", None, doc)
        sd_jwt, proof = doc.get("sd_jwt"), doc.get("anchor_proof")
    else:
        sd_jwt, _, rest = text.partition("\n")
        proof = strict_json.loads_or_refuse(rest, "credential_malformed", "the anchor proof after the SD-JWT is not valid JSON") \
            if rest.strip() else None
    if not isinstance(sd_jwt, str) or "~" not in sd_jwt:
        raise InputError("No SD-JWT (issuer JWT~disclosures~) found", code="credential_malformed")
    if proof is not None and not isinstance(proof, dict):
        raise InputError("The anchor proof is missing: upload the whole credential file", code="anchor_proof_missing")
    return Upload(sd_jwt.strip(), proof)


class WalletService:
    def __init__(self, store: Store, evidence: EvidenceService, types: dict[str, CredentialType], offer_sealer: Sealer,
                 accounts: AccountService, *, clock: Clock = SYSTEM_CLOCK, listener: EntryListener | None = None) -> None:
        """``listener`` is told when an entry is ``added`` (with its SD-JWT, anchor proof and
        report: the status watch keeps what it needs) or ``deleted``."""
        self._listener = listener
        self._clock = clock
        self._entries = store.collection(WALLET)
        self._accounts = accounts
        self._offers = WalletOffers(store)
        self._evidence = evidence
        self._types = types
        self._offer_sealer = offer_sealer
        self._entries.create_index("owner")
        self._entries.create_index([("owner", 1), ("fingerprint", 1)], unique=True)

    # -- checks -------------------------------------------------------------------------

    def _anchor_proof_for(self, sd_jwt: str, anchor_proof: dict[str, Any] | None) -> dict[str, Any]:
        """The anchor proof, or ``{}`` for a credential of an issuer the trust list says keeps no
        log (keys in its metadata, or certified by X.509 roots): only those come without one."""
        if anchor_proof is not None:
            return anchor_proof
        if self._evidence.keeps_no_log(sd_jwt):
            return {}
        if not self._evidence.recognised(sd_jwt):
            try:
                iss = open_sd_jwt(sd_jwt).claims.get("iss")
            except SDJWTError:
                iss = None
            raise CredentialRefused(f"issuer not recognised: {str(iss)[:200]} is not on this server's trust list, "
                                    "so its credential cannot be checked", code="issuer_not_recognised")
        raise InputError("The anchor proof is missing: upload the whole credential file", code="anchor_proof_missing")

    def check(self, info: SessionInfo, sd_jwt: str, anchor_proof: dict[str, Any]) -> Report:
        """Every holder-side check; raises :class:`CredentialRefused` naming what failed. A
        credential whose issuer signature could not be checked (its issuer's keys could not be
        had) is refused too: nothing enters the wallet unverified."""
        try:
            view = open_sd_jwt(sd_jwt)
        except SDJWTError as exc:
            code = exc.code if exc.code == "json_too_deep" else "credential_malformed"
            raise CredentialRefused(f"this is not a well-formed SD-JWT: {exc.detail}", code=code) from None
        if view.parsed.kb_jwt is not None:
            raise CredentialRefused("upload the credential as issued, without a key binding JWT", code="credential_malformed")
        report = self._evidence.verify(sd_jwt, anchor_proof, allow_expired=True)
        failed = [c for c in report.checks if c.status == "failed"]
        if failed:
            raise CredentialRefused("the credential did not pass: " + "; ".join(f"{c.label}: {c.detail}" for c in failed), report)
        if report.status_of("issuer_signature") != "passed":  # e.g. the issuer's server could not be asked
            why = "; ".join(c.detail for c in report.checks
                            if c.status == "unchecked" and c.name in ("issuer_keys", "key_history", "issuer_certificate"))
            raise CredentialRefused(f"the credential could not be checked now ({why}); try again later", report,
                                    code="credential_unchecked")
        cnf = view.claims.get("cnf")
        jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
        try:
            bound = (isinstance(jwk, dict)
                     and PublicKey.from_jwk(jwk).thumbprint() == PublicKey.from_jwk(info.holder_jwk).thumbprint())
        except SDJWTError:
            bound = False
        if not bound:
            raise CredentialRefused("the credential is bound to another holder key (cnf.jwk), so it could not be "
                                    "shared from this wallet", report, code="holder_key_mismatch")
        return report

    def check_blockcerts(self, document: dict[str, Any], now: int | None = None) -> tuple[Report, dict[str, Any]]:
        """Every check of a Blockcerts record on arrival, against this server's trust list; raises
        :class:`CredentialRefused` naming what failed. Returns the report and the evidence to
        keep (the issuer profile snapshot read now, never fetched again for this record). A
        record whose hash, Merkle path or issuer profile could not be checked now is refused too
        (try again later); a check that cannot be made here at all (a test anchor, no endpoint
        for its chain) is not: it is stored and shown as unchecked."""
        try:
            parse_record(document)
        except BlockcertsError as exc:
            raise CredentialRefused(f"this is not a well-formed Blockcerts record: {exc.detail}",
                                    code=exc.code) from None
        report, evidence = self._evidence.blockcerts_arrival(document, now=now)
        failed = [c for c in report.checks if c.status == "failed"]
        if failed:
            # the failed checks carry their own codes (``checks[].code``), as the report lists them
            raise CredentialRefused("the record did not pass: " + "; ".join(f"{c.label}: {c.detail}" for c in failed),
                                    report)
        missing = [c for c in report.checks if c.name in BLOCKCERTS_REQUIRED and c.status != "passed"]
        if missing or any(report.status_of(name) is None for name in BLOCKCERTS_REQUIRED):
            why = "; ".join(f"{c.label}: {c.detail}" for c in missing) or "a required check was not made"
            raise CredentialRefused(f"the record could not be checked now ({why}); try again later", report,
                                    code="credential_unchecked")
        return report, evidence_to_json(evidence)

    def _fingerprint(self, info: SessionInfo, sd_jwt: str) -> str:
        key = vault.subkey(info.data_key, "wallet-fingerprint")
        return hmac.new(key, sd_jwt.split("~", 1)[0].encode("ascii", "replace"), hashlib.sha256).hexdigest()

    def _record_fingerprint(self, info: SessionInfo, document: dict[str, Any]) -> str:
        """The keyed digest a Blockcerts record is refused twice by: its id and the SHA-256 of the
        record as issued (canonical JSON), under the owner's key (the store learns neither)."""
        key = vault.subkey(info.data_key, "wallet-fingerprint")
        digest = hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        record_id = str(document.get("id") or "")
        return hmac.new(key, f"{BLOCKCERTS}|{record_id}|{digest}".encode(), hashlib.sha256).hexdigest()

    def fingerprint_of(self, info: SessionInfo, entry: WalletEntry) -> str:
        if entry.is_blockcerts:
            return self._record_fingerprint(info, (entry.evidence or {}).get("document") or {})
        return self._fingerprint(info, entry.sd_jwt)

    # -- entries ------------------------------------------------------------------------

    def add(self, info: SessionInfo, sd_jwt: str, anchor_proof: dict[str, Any] | None,
            source: str = "upload") -> tuple[WalletEntry, Report]:
        """``anchor_proof`` ``None``: a bare SD-JWT, taken only from a trusted issuer without a log."""
        require_confirmed(info)
        anchor_proof = self._anchor_proof_for(sd_jwt, anchor_proof)
        report = self.check(info, sd_jwt, anchor_proof)
        entry = WalletEntry(new_id(), sd_jwt, anchor_proof, self._clock.seconds(), source)
        self._store_entry(info, entry)
        self._tell("added", info, entry.id, {"sd_jwt": sd_jwt, "anchor_proof": anchor_proof, "report": report})
        return entry, report

    def add_upload(self, info: SessionInfo, upload: Upload, source: str = "upload") -> tuple[WalletEntry, Report]:
        """What :func:`parse_upload` read: an SD-JWT credential or a Blockcerts record."""
        if upload.blockcerts is not None:
            return self.add_blockcerts(info, upload.blockcerts, source=source)
        return self.add(info, upload.sd_jwt, upload.anchor_proof, source=source)

    def add_blockcerts(self, info: SessionInfo, document: dict[str, Any],
                       source: str = "upload") -> tuple[WalletEntry, Report]:
        """Check a Blockcerts record (:meth:`check_blockcerts`) and keep it sealed with its evidence."""
        require_confirmed(info)
        now = self._clock.seconds()
        report, evidence = self.check_blockcerts(document, now)
        entry = WalletEntry(new_id(), "", {}, now, source, format=BLOCKCERTS, evidence=evidence)
        self._store_entry(info, entry)
        self._tell("added", info, entry.id, {"sd_jwt": "", "anchor_proof": {}, "report": report, "format": BLOCKCERTS,
                                             "evidence": evidence})
        return entry, report

    def _tell(self, event: str, info: SessionInfo, entry_id: str, facts: dict[str, Any]) -> None:
        if self._listener is None:
            return
        try:
            self._listener(event, info.account_id, entry_id, facts)
        except CredshareError as exc:  # the credential is in the wallet (or gone) either way
            _log.warning("wallet: the %s entry could not be told to the status watch: %s", event, exc.code)

    def _store_entry(self, info: SessionInfo, entry: WalletEntry) -> None:
        try:
            self._entries.insert_one({"_id": entry.id, "owner": info.account_id,
                                      "fingerprint": self.fingerprint_of(info, entry),
                                      "sealed": vault.seal(info.data_key, json.dumps(
                                          {**entry.to_vault(), "id": entry.id, "owner": info.account_id}).encode())})
        except DuplicateKeyError:
            raise InputError("This credential is already in your wallet", code="credential_duplicate") from None

    @staticmethod
    def _open(info: SessionInfo, doc: dict[str, Any]) -> WalletEntry | None:
        """An entry opened with the owner's key, if it is the row it was sealed for: a sealed
        value copied into another row (or another owner's) is not taken for it."""
        try:
            data = json.loads(vault.open_sealed(info.data_key, doc["sealed"]))
        except (CredshareError, ValueError):
            return None
        if data.get("id") != doc["_id"] or data.get("owner") != info.account_id:
            return None
        if data.get("format", SD_JWT_VC) == BLOCKCERTS:
            return WalletEntry(doc["_id"], "", {}, data["added_at"], data["source"], format=BLOCKCERTS,
                               evidence=data.get("evidence"))
        return WalletEntry(doc["_id"], data["sd_jwt"], data["anchor_proof"], data["added_at"], data["source"])

    def entries(self, info: SessionInfo) -> list[WalletEntry]:
        out = [e for e in (self._open(info, doc) for doc in self._entries.find({"owner": info.account_id})) if e]
        return sorted(out, key=lambda e: (e.added_at, e.id), reverse=True)

    def get(self, info: SessionInfo, entry_id: str) -> WalletEntry:
        """One of the owner's own entries; another owner's id reads as unknown."""
        doc = self._entries.find_one({"_id": str(entry_id), "owner": info.account_id})
        entry = self._open(info, doc) if doc is not None else None
        if entry is None:
            raise NotFoundError("No such credential in your wallet", code="credential_unknown")
        return entry

    def mark_deleting(self, info: SessionInfo, entry_id: str) -> None:
        """The first step of a deletion (see :meth:`holding.shares.ShareService.delete_credential`):
        from now on :meth:`holds` is false, so a link made meanwhile revokes itself."""
        if self._entries.update_one({"_id": str(entry_id), "owner": info.account_id},
                                    {"$set": {"deleting_at": self._clock.seconds()}}).matched == 0:
            raise NotFoundError("No such credential in your wallet", code="credential_unknown")

    def holds(self, info: SessionInfo, entry_id: str) -> bool:
        """Is the entry still the owner's, and not being deleted?"""
        return self._entries.find_one({"_id": str(entry_id), "owner": info.account_id,
                                       "deleting_at": {"$exists": False}}, fields=["_id"]) is not None

    def delete(self, info: SessionInfo, entry_id: str) -> None:
        if self._entries.delete_one({"_id": str(entry_id), "owner": info.account_id}) == 0:
            raise NotFoundError("No such credential in your wallet", code="credential_unknown")
        self._tell("deleted", info, str(entry_id), {})

    def status(self, entry: WalletEntry) -> Report:
        """The credential checked again now (no key binding), for the wallet page; a Blockcerts
        record with its revocation or status list read again (:meth:`EvidenceService.verify_blockcerts`)."""
        if entry.is_blockcerts:
            return self._evidence.verify_blockcerts(entry.evidence or {}, allow_expired=True)[0]
        return self._evidence.verify(entry.sd_jwt, entry.anchor_proof, allow_expired=True)

    def credential_type(self, entry: WalletEntry) -> CredentialType | None:
        """The type this server describes (an SD-JWT VC's ``vct``); none for a Blockcerts record,
        which names its own type (``record.type_name``)."""
        if entry.is_blockcerts:
            return None
        return type_for_vct(self._types, entry.claims.get("vct"))

    # -- backup -------------------------------------------------------------------------

    def backup_entries(self, info: SessionInfo) -> list[dict[str, Any]]:
        """Every credential, sealed under the vault's data key, for an encrypted backup."""
        return [{"id": e.id, "sealed": vault.seal(info.data_key, json.dumps(e.to_vault()).encode())} for e in self.entries(info)]

    def backup(self, info: SessionInfo, passphrase: str) -> dict[str, Any]:
        """The owner's encrypted backup (holding/accounts.py): the vault's keys and every credential."""
        return self._accounts.export_backup(info, passphrase, self.backup_entries(info))

    def restore_backup(self, info: SessionInfo, doc: Any, passphrase: str) -> int:
        """Check a backup with its passphrase and restore its credentials into this wallet;
        returns how many were added. They are bound to the backup's holder key, so the account
        takes that key, which is allowed only while the wallet holds nothing bound to its
        current key (``restore_conflict``: restore into a new, empty account instead)."""
        opened = self._accounts.open_backup(doc, passphrase)
        if opened.holder_private_jwk and self.entries(info):
            current = self._accounts.holder_signer(info).public_jwk
            if current != Signer.from_jwk(opened.holder_private_jwk).public_jwk:
                raise InputError("This wallet already holds credentials bound to its own key: restore the backup "
                                 "into a new, empty account", code="restore_conflict")
        if opened.holder_private_jwk:
            info = self._accounts.adopt_holder_key(info, opened.holder_private_jwk)
        return self.restore(info, list(opened.entries), opened.data_key)

    def restore(self, info: SessionInfo, entries: list[dict[str, Any]], data_key: bytes) -> int:
        """Put backed-up credentials (sealed under the backup's ``data_key``) into this vault;
        each is checked again, as an upload is. Returns how many were added; ones already here
        or no longer valid are skipped. ``info`` must carry the backup's holder key."""
        added = 0
        for item in entries:
            try:
                data = strict_json.loads(vault.open_sealed(data_key, str(item.get("sealed"))))  # sealed by the uploader
                if data.get("format", SD_JWT_VC) == BLOCKCERTS:
                    # the record arrives again: a backup is its owner's file, so the issuer profile
                    # snapshot in it is the owner's word, never taken for the issuer's (fetched anew)
                    self.add_blockcerts(info, data["evidence"]["document"], source="backup")
                else:
                    self.add(info, data["sd_jwt"], data["anchor_proof"], source="backup")
                added += 1
            except (CredshareError, KeyError, TypeError, ValueError):
                continue
        return added

    # -- issuer deliveries --------------------------------------------------------------

    def offers(self, info: SessionInfo) -> list[dict[str, Any]]:
        """Credentials issuers delivered to the owner's e-mail, not yet accepted."""
        out = []
        for doc in self._offers.pending(info.email):
            out.append({"id": doc["_id"], "issuer": doc.get("issuer"), "type": doc.get("type"),
                        "offered_at": doc.get("offered_at")})
        return out

    def accept_offer(self, info: SessionInfo, offer_id: str) -> tuple[WalletEntry, Report]:
        doc = self._offers.pending_one(offer_id, info.email)
        if doc is None:
            raise NotFoundError("No such pending credential", code="offer_unknown")
        credential = json.loads(self._offer_sealer.open(doc["sealed_credential"]))
        entry, report = self.add(info, credential["sd_jwt"], credential["anchor_proof"], source="issuer")
        self._offers.accepted(doc["_id"], self._clock.seconds())
        return entry, report

    def decline_offer(self, info: SessionInfo, offer_id: str) -> None:
        if not self._offers.decline(offer_id, info.email):
            raise NotFoundError("No such pending credential", code="offer_unknown")
