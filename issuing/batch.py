"""Batch issuance: a roster in, one anchored SD-JWT VC per row out.

1. Validate every row first (streaming) and refuse the whole roster, naming each bad row
   by line number, if any row is wrong. Nothing is issued or stored then.
2. Allocate a random status-list index per credential, sign one SD-JWT VC per row (all its
   ``sd: always`` claims selectively disclosable, ``_sd`` arrays padded to the type's sizes;
   on worker processes for large rosters), record it for revocation, and spool it to disk so
   memory stays flat in the batch size.
3. Append every credential's issuer-signed JWT to the log as one batch: one checkpoint. If
   anything fails before this point, the batch's records are removed and nothing is logged.
4. Write each credential with its anchor proof, and offer it to the wallet inbox when the
   e-mail the row names is an owner account here.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import tempfile
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol

from anchoring import merkle
from anchoring.proof import build_anchor_proof
from credshare.errors import CredshareError, DuplicateKeyError, InputError
from disclosure.errors import SDJWTError
from disclosure.issuance import issue
from disclosure.jws import PublicKey
from issuing.issuers import IssuerRegistry
from issuing.status import StatusService
from issuing.types import CredentialType
from storage import Store, new_id
from storage.tlog import TransparencyLog

CREDENTIALS, DELIVERIES, ACCOUNTS, BATCHES = "credentials", "wallet_deliveries", "accounts", "issuance_batches"
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

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "checkpoint"}


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


PARALLEL_MIN_ROWS = 2000  # below this, starting worker processes costs more than it saves
_CHUNK = 250


def _chunks(items: Iterator[Any] | Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass(frozen=True)
class _SigningJob:
    """What a signing worker needs besides its chunk of rows."""

    issuer_id: str
    iss: str
    batch_id: str
    ctype: CredentialType
    sd_sizes: dict[tuple[str, ...], int]
    iat: int
    spool_dir: str
    store_uri: str | None
    data_dir: str
    private_jwk: dict[str, Any] = field(repr=False)
    alg: str = "EdDSA"


_worker: tuple[_SigningJob, Any, Store] | None = None


def _init_worker(job: _SigningJob, store: Store | None = None) -> None:
    """Set up a signer (and, in a worker process, its own store connection)."""
    global _worker
    from disclosure.jws import Signer
    from storage import open_store

    _worker = (job, Signer.from_jwk(job.private_jwk, job.alg), store or open_store(job.store_uri, Path(job.data_dir)))


def _spool_path(spool_dir: str, number: int) -> str:
    return os.path.join(spool_dir, f"{number:08d}.jsonl")


def _sign_chunk(number: int, offset: int, chunk: list[tuple[dict[str, Any], str, int]]) -> list[bytes]:
    """Sign one SD-JWT VC per ``(row, status uri, status index)``, spool them, record them for
    revocation (a repeated credential id fails here, before anything is logged) and return
    their leaf hashes. Runs in a worker process for large rosters."""
    assert _worker is not None
    job, signer, store = _worker
    leaves, records, lines = [], [], []
    emails = [str(row.get("email") or "").strip().lower() for row, _, _ in chunk]
    wallet_keys = {a["email"]: a["holder_jwk"] for a in store.collection(ACCOUNTS).find(
        {"email": {"$in": [e for e in emails if e]}, "holder_jwk": {"$exists": True}}, fields=["email", "holder_jwk"])}
    for i, (row, uri, index) in enumerate(chunk):
        claims, _ = job.ctype.claims_from_row(row)
        payload = {"iss": job.iss, "vct": job.ctype.vct, "iat": job.iat,
                   "status": {"status_list": {"idx": index, "uri": uri}}, **claims}
        email = emails[i]
        holder = _holder_jwk(row) or wallet_keys.get(email)  # the row's key, else the owner's wallet key
        issued = issue(payload, signer=signer, disclosable=job.ctype.disclosable_paths(claims),
                       holder_jwk=holder, sd_array_size=job.sd_sizes)
        credential_id = str(row.get("credential_id") or new_id())
        leaves.append(merkle.leaf_hash(issued.jwt.encode("ascii")))
        lines.append(json.dumps({"credential_id": credential_id, "sd_jwt": issued.serialize(), "email": email}))
        records.append({"_id": credential_id, "issuer": job.issuer_id, "type": job.ctype.slug, "batch": job.batch_id,
                        "offset": offset + i, "status_list": int(uri.rsplit("/", 1)[1]), "status_idx": index,
                        "email": email or None})
    try:
        store.collection(CREDENTIALS).insert_many(records)
    except DuplicateKeyError as exc:
        raise InputError("a credential_id in the roster is already issued; nothing was anchored",
                         code="credential_id_taken") from exc
    with open(_spool_path(job.spool_dir, number), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return leaves


def _read_spool(spool_dir: str, chunks: int) -> Iterator[str]:
    for number in range(chunks):
        with open(_spool_path(spool_dir, number), encoding="utf-8") as fh:
            yield from fh


def _sign_all(job: _SigningJob, store: Store, work: Iterator[list[Any]], *, parallel: bool) -> Iterator[list[bytes]]:
    """Leaf hashes of each signed chunk, in roster order: on one core for small batches or an
    in-memory store, otherwise on worker processes (forkserver: no inherited threads or
    database handles) with a bounded number of chunks in flight, so memory stays flat."""
    workers = min(os.cpu_count() or 1, 8)
    numbered = ((number, number * _CHUNK, chunk) for number, chunk in enumerate(work))
    if not parallel or workers < 2 or store.backend == "mongomock":
        _init_worker(job, store)
        yield from (_sign_chunk(*item) for item in numbered)
        return
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(job,)) as pool:
        in_flight: deque[Future[list[bytes]]] = deque()
        for item in numbered:
            in_flight.append(pool.submit(_sign_chunk, *item))
            if len(in_flight) >= 2 * workers:
                yield in_flight.popleft().result()
        while in_flight:
            yield in_flight.popleft().result()


class BatchIssuer:
    def __init__(self, store: Store, issuers: IssuerRegistry, status: StatusService, log: TransparencyLog,
                 *, store_uri: str | None, data_dir: Path) -> None:
        self._store = store
        self._settings_uri = store_uri  # worker processes open their own connection with these
        self._data_dir = str(data_dir)
        self._credentials = store.collection(CREDENTIALS)
        self._deliveries = store.collection(DELIVERIES)
        self._accounts = store.collection(ACCOUNTS)
        self._batches = store.collection(BATCHES)
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
        self._batches.insert_one({"_id": batch_id, "issuer": issuer_id, "type": ctype.slug, "count": count,
                                  "state": "signing", "kid": signer.kid, "started_at": now})
        with tempfile.TemporaryDirectory(prefix="credshare-batch-") as spool_dir:
            job = _SigningJob(issuer_id, issuer["iss"], batch_id, ctype, sd_sizes, now, spool_dir,
                              self._settings_uri, self._data_dir, signer.private_jwk, signer.alg)
            work = ([(row, *next(slots)) for row in chunk] for chunk in _chunks((row for _, row in rows()), _CHUNK))
            try:
                for leaves in _sign_all(job, self._store, work, parallel=count >= PARALLEL_MIN_ROWS):
                    leaf_hashes.extend(leaves)
                    if progress:
                        progress(len(leaves))
                appended = self._log.append_hashes(leaf_hashes, timeout=300)
            except BaseException:
                self._credentials.delete_many({"batch": batch_id})  # nothing anchored: no records
                self._batches.update_one({"_id": batch_id}, {"$set": {"state": "failed"}})
                raise
            del leaf_hashes
            self._batches.update_one({"_id": batch_id}, {"$set": {
                "state": "anchored", "first_index": appended.first_index, "tree_size": appended.size}})
            checkpoint = self._log.checkpoint(appended.size)
            spooled = _read_spool(spool_dir, -(-count // _CHUNK))
            offered = self._deliver(issuer, ctype, spooled, appended.first_index, appended.size,
                                         checkpoint, self._log.prover(appended.size), sink)
        return BatchResult(batch_id, issuer_id, ctype.slug, count, appended.first_index, appended.size,
                           appended.checkpoint, offered, time.perf_counter() - started)

    def _deliver(self, issuer: dict[str, Any], ctype: CredentialType, spool: Iterator[str], first_index: int,
                 size: int, checkpoint: dict[str, Any], prove: Callable[[int], list[bytes]],
                 sink: CredentialSink) -> int:
        """Write each spooled credential with its anchor proof; returns the wallet offers made."""
        offered = 0
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
            if entry["email"]:
                offers.append({"email": entry["email"], "credential_id": entry["credential_id"],
                               "issuer": issuer["_id"], "type": ctype.slug, "state": "offered",
                               "credential": json.dumps(credential), "offered_at": int(time.time())})
            if len(offers) >= _RECORD_CHUNK:
                offered += self._offer(offers)
        offered += self._offer(offers)
        return offered

    def _offer(self, offers: list[dict[str, Any]]) -> int:
        """Store the offers whose e-mail is an owner account; returns how many."""
        emails = [offer["email"] for offer in offers]
        owners = {a["email"] for a in self._accounts.find({"email": {"$in": emails}}, fields=["email"])} if emails else set()
        kept = [offer for offer in offers if offer["email"] in owners]
        if kept:
            self._deliveries.insert_many(kept)
        offers.clear()
        return len(kept)
