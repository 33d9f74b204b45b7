"""Batch issuance: a roster in, one anchored SD-JWT VC per row out.

1. Validate every row first (streaming) and refuse the whole roster, naming each bad row
   by line number, if any row is wrong. Nothing is issued or stored then.
2. Allocate a random status-list index per credential, sign one SD-JWT VC per row (all its
   ``sd: always`` claims selectively disclosable, ``_sd`` arrays padded to the type's size),
   and spool it to disk so memory stays flat in the batch size.
3. Append every credential's issuer-signed JWT to the log as one batch: one checkpoint.
4. Write each credential with its anchor proof, record it (for revocation and delivery), and
   offer it to the wallet inbox when the e-mail the row names is an owner account here.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Protocol

from anchoring import merkle
from anchoring.proof import build_anchor_proof
from credshare.errors import CredshareError
from disclosure.errors import SDJWTError
from disclosure.issuance import issue
from disclosure.jws import PublicKey
from issuing.issuers import IssuerRegistry
from issuing.status import StatusService
from issuing.types import CredentialType
from storage import Store, new_id
from storage.tlog import TransparencyLog

CREDENTIALS, DELIVERIES, ACCOUNTS = "credentials", "wallet_deliveries", "accounts"
Rows = Iterable[tuple[int, dict[str, Any]]]
_RECORD_CHUNK = 1000


class RosterRejected(CredshareError):
    """The roster has bad rows; nothing was issued."""

    code = "roster_rejected"
    http_status = 422

    def __init__(self, problems: list[tuple[int, list[str]]], rows: int) -> None:
        super().__init__(f"{len(problems)} of {rows} row(s) are invalid; nothing was issued")
        self.problems = problems

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "rows": [{"line": line, "problems": p} for line, p in self.problems]}


class CredentialSink(Protocol):
    def write(self, credential: dict[str, Any]) -> None: ...


@dataclass
class BatchResult:
    batch_id: str
    issuer: str
    type: str
    count: int
    first_log_index: int
    tree_size: int
    checkpoint: str
    offered: int
    seconds: float
    credential_ids: list[str] = field(default_factory=list, repr=False)

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("credential_ids", "checkpoint")}


def _holder_jwk(row: dict[str, Any]) -> dict[str, Any] | None:
    raw = row.get("holder_jwk")
    if raw in (None, ""):
        return None
    jwk = json.loads(raw) if isinstance(raw, str) else raw
    return PublicKey.from_jwk(jwk).jwk


def validate(ctype: CredentialType, rows: Rows) -> tuple[int, list[tuple[int, list[str]]]]:
    """Count the rows and collect every row's problems (line numbers as in the file)."""
    count, bad = 0, []
    seen_ids: set[str] = set()
    for line, row in rows:
        count += 1
        if "__error__" in row:
            bad.append((line, [row["__error__"]]))
            continue
        _, problems = ctype.claims_from_row(row)
        try:
            _holder_jwk(row)
        except (ValueError, SDJWTError) as exc:
            problems.append(f"holder_jwk: {getattr(exc, 'detail', None) or 'not a public JWK in JSON'}")
        cred_id = str(row.get("credential_id") or "")
        if cred_id:
            if cred_id in seen_ids:
                problems.append(f"credential_id {cred_id!r} repeats an earlier row")
            seen_ids.add(cred_id)
        email = str(row.get("email") or "").strip()
        if email and ("@" not in email or len(email) > 254 or " " in email):
            problems.append(f"email: {email!r} is not an e-mail address")
        if problems:
            bad.append((line, problems))
    return count, bad


class BatchIssuer:
    def __init__(self, store: Store, issuers: IssuerRegistry, status: StatusService, log: TransparencyLog) -> None:
        self._store = store
        self._credentials = store.collection(CREDENTIALS)
        self._deliveries = store.collection(DELIVERIES)
        self._accounts = store.collection(ACCOUNTS)
        self._issuers = issuers
        self._status = status
        self._log = log
        self._credentials.create_index([("issuer", 1), ("status_list", 1), ("status_idx", 1)], unique=True)
        self._deliveries.create_index("email")

    def issue(
        self,
        issuer_id: str,
        ctype: CredentialType,
        rows: Callable[[], Rows],
        sink: CredentialSink,
        progress: Callable[[int], None] | None = None,
    ) -> BatchResult:
        """Validate ``rows()`` whole, then issue one credential per row into ``sink``."""
        started = time.perf_counter()
        issuer = self._issuers.get(issuer_id)
        count, problems = validate(ctype, rows())
        if problems:
            raise RosterRejected(problems, count)
        if count == 0:
            raise RosterRejected([(0, ["the roster has no rows"])], 0)
        signer = self._issuers.active_signer(issuer_id)
        slots = iter(self._status.allocate(issuer_id, count))
        batch_id = new_id()
        sd_sizes = ctype.sd_array_sizes
        leaf_hashes: list[bytes] = []
        now = int(time.time())
        with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
            for _, row in rows():
                claims, _ = ctype.claims_from_row(row)
                uri, index = next(slots)
                payload = {"iss": issuer["iss"], "vct": ctype.vct, "iat": now,
                           "status": {"status_list": {"idx": index, "uri": uri}}, **claims}
                issued = issue(payload, signer=signer, disclosable=ctype.disclosable_paths(claims),
                               holder_jwk=_holder_jwk(row), sd_array_size=sd_sizes)
                leaf_hashes.append(merkle.leaf_hash(issued.jwt.encode("ascii")))
                spool.write(json.dumps({
                    "credential_id": str(row.get("credential_id") or new_id()), "sd_jwt": issued.serialize(),
                    "status_uri": uri, "status_idx": index, "email": str(row.get("email") or "").strip().lower(),
                }) + "\n")
                if progress:
                    progress(1)
            appended = self._log.append_hashes(leaf_hashes, timeout=300)
            del leaf_hashes
            checkpoint = self._log.checkpoint(appended.size)
            prove = self._log.prover(appended.size)
            spool.seek(0)
            ids, offered = self._deliver(issuer, ctype, batch_id, signer.kid, spool, appended.first_index,
                                         appended.size, checkpoint, prove, sink)
        return BatchResult(batch_id, issuer_id, ctype.slug, count, appended.first_index, appended.size,
                           appended.checkpoint, offered, time.perf_counter() - started, ids)

    def _deliver(self, issuer: dict[str, Any], ctype: CredentialType, batch_id: str, kid: str | None,
                 spool: Iterator[str], first_index: int, size: int, checkpoint: dict[str, Any],
                 prove: Callable[[int], list[bytes]], sink: CredentialSink) -> tuple[list[str], int]:
        ids: list[str] = []
        offered = 0
        pending_emails: list[str] = []
        records: list[dict[str, Any]] = []
        offers: list[dict[str, Any]] = []
        anchors = list(checkpoint.get("anchors", {}).values())
        for offset, line in enumerate(spool):
            entry = json.loads(line)
            log_index = first_index + offset
            credential = {
                "credential_id": entry["credential_id"], "issuer": issuer["iss"], "issuer_name": issuer["name"],
                "type": ctype.slug, "vct": ctype.vct, "sd_jwt": entry["sd_jwt"],
                "anchor_proof": build_anchor_proof(
                    origin=self._log.origin, leaf_index=log_index, tree_size=size, inclusion=prove(log_index),
                    checkpoint_note=checkpoint["note"], witness_aggregate=checkpoint.get("witness_aggregate"),
                    chain_anchors=anchors),
            }
            sink.write(credential)
            ids.append(entry["credential_id"])
            records.append({"_id": entry["credential_id"], "issuer": issuer["_id"], "type": ctype.slug,
                            "batch": batch_id, "kid": kid, "status_list": int(entry["status_uri"].rsplit("/", 1)[1]),
                            "status_idx": entry["status_idx"], "log_index": log_index, "tree_size": size,
                            "email": entry["email"] or None, "issued_at": int(time.time())})
            if entry["email"]:
                pending_emails.append(entry["email"])
                offers.append({"email": entry["email"], "credential_id": entry["credential_id"],
                               "issuer": issuer["_id"], "type": ctype.slug, "state": "offered",
                               "credential": json.dumps(credential), "offered_at": int(time.time())})
            if len(records) >= _RECORD_CHUNK:
                offered += self._flush(records, offers, pending_emails)
        offered += self._flush(records, offers, pending_emails)
        return ids, offered

    def _flush(self, records: list[dict[str, Any]], offers: list[dict[str, Any]], emails: list[str]) -> int:
        """Store a chunk of credential records, and the offers whose e-mail is an owner
        account; returns how many offers were stored."""
        owners = {a["email"] for a in self._accounts.find({"email": {"$in": emails}}, fields=["email"])} if emails else set()
        kept = [offer for offer in offers if offer["email"] in owners]
        with self._store.bulk():
            if records:
                self._credentials.insert_many(records)
            if kept:
                self._deliveries.insert_many(kept)
        for pending in (records, offers, emails):
            pending.clear()
        return len(kept)
