"""Batch issuance: a roster in, one anchored SD-JWT VC per row out.

1. Validate every row first (streaming) and refuse the whole roster, naming each bad row
   by line number, if any row is wrong. Nothing is issued or stored then.
2. Allocate a random status-list index per credential, sign one SD-JWT VC per row (all its
   ``sd: always`` claims selectively disclosable, ``_sd`` arrays padded to the type's sizes;
   on worker processes for large rosters) and spool it to disk so memory stays flat in the
   batch size, while the main process records each credential for revocation (a repeated
   credential id fails there, before anything is logged).
3. Append every credential's issuer-signed JWT to the log as one batch: one checkpoint. If
   anything fails before this point, the batch's records are removed and nothing is logged.
4. Write each credential with its anchor proof, and offer it (sealed under the server's
   secret) to the wallet inbox when the e-mail the row names is an owner account here whose
   owner confirmed that address (only then is the account's wallet key used for binding too).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
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
from credshare.sealing import Sealer, derive_key
from disclosure.errors import SDJWTError
from disclosure.issuance import issue
from disclosure.jws import PublicKey
from issuing.issuers import IssuerRegistry
from issuing.status import StatusService
from issuing.types import CredentialType, cell_text
from storage import Store, new_id
from storage.tlog import LogReader, TransparencyLog

CREDENTIALS, DELIVERIES, ACCOUNTS, BATCHES = "credentials", "wallet_deliveries", "accounts", "issuance_batches"
OFFER_PURPOSE = "wallet-offers/v1"  # offers are sealed at rest until the owner's wallet takes them
MAX_HOLDER_JWK_CHARS = 2048
CREDENTIAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
Rows = Iterable[tuple[int, dict[str, Any]]]


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


def _holder_jwk(raw: Any) -> dict[str, Any] | None:
    if raw in (None, ""):
        return None
    if isinstance(raw, str):
        if len(raw) > MAX_HOLDER_JWK_CHARS:
            raise ValueError(f"longer than {MAX_HOLDER_JWK_CHARS} characters")
        raw = json.loads(raw)
    if not isinstance(raw, dict):
        raise ValueError("not a public JWK in JSON")
    return PublicKey.from_jwk(raw).jwk


@dataclass(frozen=True)
class _Row:
    """A roster row read and checked: its claims, delivery and binding, and what is wrong."""

    claims: dict[str, Any]
    holder_jwk: dict[str, Any] | None
    email: str
    credential_id: str | None
    problems: list[str]


def read_row(ctype: CredentialType, row: dict[str, Any]) -> _Row:
    """One roster row on its own (repeats across rows are checked apart)."""
    if "__error__" in row:
        return _Row({}, None, "", None, [row["__error__"]])
    claims, problems = ctype.claims_from_row(row)
    holder = None
    try:
        holder = _holder_jwk(row.get("holder_jwk"))
    except (ValueError, SDJWTError) as exc:
        problems.append(f"holder_jwk: {getattr(exc, 'detail', None) or 'not a public JWK in JSON'}")
    email = ""
    try:
        email = cell_text(row.get("email"))
        if email and ("@" not in email or len(email) > 254 or " " in email):
            problems.append(f"email: {email!r} is not an e-mail address")
    except ValueError as exc:
        problems.append(f"email: {exc}")
    credential_id = row.get("credential_id")
    if credential_id in (None, ""):
        credential_id = None
    elif not isinstance(credential_id, str) or not CREDENTIAL_ID.fullmatch(credential_id):
        problems.append("credential_id: 1-128 of A-Z a-z 0-9 . _ : - (starting with a letter or digit)")
        credential_id = None
    return _Row(claims, holder, email.lower(), credential_id, problems)


_Checked = tuple[int, list[tuple[int, list[str]]], list[tuple[int, str]]]


def _check_chunk(number: int, chunk: list[tuple[int, dict[str, Any]]]) -> _Checked:
    """Check a run of rows: (rows, [(line, problems)], [(line, credential_id)]). The rows as
    read are spooled, so signing needs neither the roster again nor a second parse."""
    assert _worker is not None
    job = _worker[0]
    bad, ids, lines = [], [], []
    for line, raw in chunk:
        row = read_row(job.ctype, raw)
        if row.problems:
            bad.append((line, row.problems))
        if row.credential_id:
            ids.append((line, row.credential_id))
        lines.append(json.dumps([row.claims, row.holder_jwk, row.email, row.credential_id]))
    if not bad:
        with open(_spool_path(job.spool_dir, number, "rows"), "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
    return len(chunk), bad, ids


def _merge_checks(results: Iterable[_Checked]) -> tuple[list[int], list[tuple[int, list[str]]]]:
    """Combine checked runs in roster order and flag credential ids that repeat an earlier row.
    Returns the row count of each run, and the problems by line."""
    sizes, by_line, seen = [], {}, set()
    for rows, bad, ids in results:
        sizes.append(rows)
        by_line.update({line: list(problems) for line, problems in bad})
        for line, credential_id in ids:
            if credential_id in seen:
                by_line.setdefault(line, []).append(f"credential_id {credential_id!r} repeats an earlier row")
            seen.add(credential_id)
    return sizes, sorted(by_line.items())


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
class _Job:
    """What a worker needs besides its chunk: the batch, the issuer, where to spool, and how
    to reach the store (workers open their own connection)."""

    issuer_id: str
    iss: str
    issuer_name: str
    batch_id: str
    ctype: CredentialType
    sd_sizes: dict[tuple[str, ...], int]
    iat: int
    spool_dir: str
    store_uri: str | None
    data_dir: str
    log_origin: str
    private_jwk: dict[str, Any] = field(repr=False)
    offer_key: bytes = field(repr=False, default=b"")
    alg: str = "EdDSA"


@dataclass(frozen=True)
class _Anchoring:
    """The committed batch each credential's anchor proof refers to."""

    first_index: int
    tree_size: int
    note: str
    witness_aggregate: dict[str, Any] | None
    chain_anchors: list[dict[str, Any]]


_worker: tuple[_Job, Any, Store, LogReader] | None = None


def _init_worker(job: _Job, store: Store | None = None) -> None:
    """Set up a signer, a store connection (its own, in a worker process) and a log reader."""
    global _worker
    from disclosure.jws import Signer
    from storage import open_store

    store = store or open_store(job.store_uri, Path(job.data_dir))
    _worker = (job, Signer.from_jwk(job.private_jwk, job.alg), store, LogReader(store, job.log_origin))


def _spool_path(spool_dir: str, number: int, kind: str = "signed") -> str:
    return os.path.join(spool_dir, f"{number:08d}.{kind}.jsonl")


def _sign_chunk(number: int, slots: list[tuple[str, int]]) -> tuple[list[bytes], list[dict[str, Any]]]:
    """Sign one SD-JWT VC per spooled row of run ``number``, with its ``(status uri, index)``,
    and spool them; return their leaf hashes and the issuer-side records, which the main
    process stores (one SQLite writer instead of several contending for its lock)."""
    assert _worker is not None
    job, signer, store, _ = _worker
    rows_path = _spool_path(job.spool_dir, number, "rows")
    with open(rows_path, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    os.unlink(rows_path)
    emails = [email for _, _, email, _ in rows if email]
    wallet_keys = {a["email"]: a["holder_jwk"] for a in store.collection(ACCOUNTS).find(
        {"email": {"$in": emails}, "email_verified": True, "holder_jwk": {"$exists": True}},
        fields=["email", "holder_jwk"])} if emails else {}
    leaves, records, lines = [], [], []
    for i, ((claims, holder, email, credential_id), (uri, index)) in enumerate(zip(rows, slots, strict=True)):
        payload = {"iss": job.iss, "vct": job.ctype.vct, "iat": job.iat,
                   "status": {"status_list": {"idx": index, "uri": uri}}, **claims}
        exp = job.ctype.expiry(claims)
        if exp is not None:
            payload["exp"] = exp
        issued = issue(payload, signer=signer, disclosable=job.ctype.disclosable_paths(claims),
                       holder_jwk=holder or wallet_keys.get(email),  # the row's key, else the owner's wallet key
                       sd_array_size=job.sd_sizes)
        credential_id = credential_id or new_id()
        leaves.append(merkle.leaf_hash(issued.jwt.encode("ascii")))
        lines.append(json.dumps({"credential_id": credential_id, "sd_jwt": issued.serialize(), "email": email}))
        records.append({"_id": credential_id, "issuer": job.issuer_id, "type": job.ctype.slug, "batch": job.batch_id,
                        "offset": number * _CHUNK + i, "status_list": int(uri.rsplit("/", 1)[1]), "status_idx": index,
                        "email": email or None})
    with open(_spool_path(job.spool_dir, number), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return leaves, records


def _deliver_chunk(number: int, anchoring: _Anchoring, out_dir: str | None, sink: CredentialSink | None = None) -> int:
    """Give each spooled credential of a chunk its anchor proof and write it (to ``out_dir``
    or ``sink``); offer it to the wallet inbox when its e-mail is an owner account. Returns
    the number of offers made."""
    assert _worker is not None
    job, _, store, log = _worker
    writer = sink or DirectorySink(Path(out_dir or "."))
    prove = log.prover(anchoring.tree_size)
    with open(_spool_path(job.spool_dir, number), encoding="utf-8") as fh:
        entries = [json.loads(line) for line in fh]
    emails = list({entry["email"] for entry in entries if entry["email"]})
    owners = {a["email"] for a in store.collection(ACCOUNTS).find(
        {"email": {"$in": emails}, "email_verified": True}, fields=["email"])} if emails else set()
    sealer = Sealer(job.offer_key) if owners else None
    offers: list[dict[str, Any]] = []
    for i, entry in enumerate(entries):
        index = anchoring.first_index + number * _CHUNK + i
        credential = {
            "credential_id": entry["credential_id"], "issuer": job.iss, "issuer_name": job.issuer_name,
            "type": job.ctype.slug, "vct": job.ctype.vct, "sd_jwt": entry["sd_jwt"],
            "anchor_proof": build_anchor_proof(
                origin=job.log_origin, leaf_index=index, tree_size=anchoring.tree_size, inclusion=prove(index),
                checkpoint_note=anchoring.note, witness_aggregate=anchoring.witness_aggregate,
                chain_anchors=anchoring.chain_anchors),
        }
        writer.write(credential)
        if sealer is not None and entry["email"] in owners:
            offers.append({"email": entry["email"], "credential_id": entry["credential_id"],
                           "issuer": job.issuer_id, "type": job.ctype.slug, "state": "offered",
                           "sealed_credential": sealer.seal(json.dumps(credential).encode()),
                           "offered_at": int(time.time())})
    if offers:
        store.collection(DELIVERIES).insert_many(offers)
    return len(offers)


class DirectorySink:
    """One JSON file per credential, ``<out>/<credential id>.json``, readable by its owner only
    (it holds every field of the credential). Plain ``os.open``/``os.write``: on this kind of
    machine that is twice as fast as pathlib, and threads only add lock contention."""

    def __init__(self, out: Path) -> None:
        self.directory = out

    def write(self, credential: dict[str, Any]) -> None:
        path = os.path.join(self.directory, f"{credential['credential_id']}.json")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, json.dumps(credential).encode("utf-8"))
        finally:
            os.close(fd)


class _Workers:
    """Runs chunk functions in order: on this process for small batches or an in-memory store,
    otherwise on worker processes (forkserver: no inherited threads or database handles)
    with a bounded number of chunks in flight, so memory stays flat."""

    def __init__(self, job: _Job, store: Store, parallel: bool) -> None:
        count = min(os.cpu_count() or 1, 8)
        self.parallel = parallel and count > 1 and store.backend != "mongomock"
        self._count = count
        self._pool: ProcessPoolExecutor | None = None
        if self.parallel:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["issuing.batch"])  # workers fork with the imports done
            self._pool = ProcessPoolExecutor(max_workers=count, mp_context=context, initializer=_init_worker,
                                             initargs=(job,))
        else:
            _init_worker(job, store)

    def map(self, fn: Callable[..., Any], calls: Iterable[tuple[Any, ...]]) -> Iterator[Any]:
        if self._pool is None:
            yield from (fn(*args) for args in calls)
            return
        in_flight: deque[Future[Any]] = deque()
        for args in calls:
            in_flight.append(self._pool.submit(fn, *args))
            if len(in_flight) >= 2 * self._count:
                yield in_flight.popleft().result()
        while in_flight:
            yield in_flight.popleft().result()

    def __enter__(self) -> _Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


class BatchIssuer:
    def __init__(self, store: Store, issuers: IssuerRegistry, status: StatusService, log: TransparencyLog,
                 *, store_uri: str | None, data_dir: Path, secret_key: str) -> None:
        self._store = store
        self._offer_key = derive_key(secret_key, OFFER_PURPOSE)
        self._store_uri = store_uri  # worker processes open their own connection with these
        self._data_dir = str(data_dir)
        self._credentials = store.collection(CREDENTIALS)
        self._batches = store.collection(BATCHES)
        self._issuers = issuers
        self._status = status
        self._log = log
        self._credentials.create_index([("issuer", 1), ("status_list", 1), ("status_idx", 1)], unique=True)
        store.collection(DELIVERIES).create_index("email")

    def issue(
        self,
        issuer_id: str,
        ctype: CredentialType,
        rows: Rows,
        sink: CredentialSink,
        progress: Callable[[int], None] | None = None,
        expected_rows: int | None = None,
    ) -> BatchResult:
        """Validate ``rows`` (read once, streaming) whole, then issue one credential per row into ``sink``.
        ``expected_rows`` (a count the caller already has) lets large rosters use worker
        processes from the validation pass on."""
        started = time.perf_counter()
        issuer = self._issuers.get(issuer_id)
        signer = self._issuers.active_signer(issuer_id)
        batch_id = new_id()
        now = int(time.time())
        with tempfile.TemporaryDirectory(prefix="credshare-batch-") as spool_dir:
            job = _Job(issuer_id, issuer["iss"], issuer["name"], batch_id, ctype, ctype.sd_array_sizes, now, spool_dir,
                       self._store_uri, self._data_dir, self._log.origin, signer.private_jwk, self._offer_key, signer.alg)
            parallel = expected_rows is not None and expected_rows >= PARALLEL_MIN_ROWS
            with _Workers(job, self._store, parallel) as workers:
                sizes, problems = _merge_checks(workers.map(_check_chunk, enumerate(_chunks(rows, _CHUNK))))
                count = sum(sizes)
                if problems:
                    raise RosterRejected(problems, count)
                if count == 0:
                    raise RosterRejected([(0, ["the roster has no rows"])], 0)
                appended, offered = self._sign_anchor_deliver(job, workers, sizes, sink, progress)
        return BatchResult(batch_id, issuer_id, ctype.slug, count, appended.first_index, appended.size,
                           appended.checkpoint, offered, time.perf_counter() - started)

    def _sign_anchor_deliver(self, job: _Job, workers: _Workers, sizes: list[int], sink: CredentialSink,
                             progress: Callable[[int], None] | None) -> tuple[Any, int]:
        count = sum(sizes)
        slots = iter(self._status.allocate(job.issuer_id, count))
        self._batches.insert_one({"_id": job.batch_id, "issuer": job.issuer_id, "type": job.ctype.slug, "count": count,
                                  "state": "signing", "kid": job.private_jwk.get("kid"), "started_at": job.iat})
        leaf_hashes: list[bytes] = []
        work = enumerate([next(slots) for _ in range(size)] for size in sizes)
        try:
            for leaves, records in workers.map(_sign_chunk, work):
                try:
                    self._credentials.insert_many(records)  # one writer while the workers sign
                except DuplicateKeyError as exc:
                    raise InputError("a credential_id in the roster is already issued; nothing was anchored",
                                     code="credential_id_taken") from exc
                leaf_hashes.extend(leaves)
                if progress:
                    progress(len(leaves))
            appended = self._log.append_hashes(leaf_hashes, timeout=300)
        except BaseException:
            self._credentials.delete_many({"batch": job.batch_id})  # nothing anchored: no records
            self._batches.update_one({"_id": job.batch_id}, {"$set": {"state": "failed"}})
            raise
        del leaf_hashes
        self._batches.update_one({"_id": job.batch_id}, {"$set": {
            "state": "anchored", "first_index": appended.first_index, "tree_size": appended.size}})
        checkpoint = self._log.checkpoint(appended.size)
        anchoring = _Anchoring(appended.first_index, appended.size, checkpoint["note"],
                               checkpoint.get("witness_aggregate"), list(checkpoint.get("anchors", {}).values()))
        chunks = len(sizes)
        if workers.parallel and isinstance(sink, DirectorySink):
            offered = sum(workers.map(_deliver_chunk, ((n, anchoring, str(sink.directory)) for n in range(chunks))))
        else:
            offered = sum(_deliver_chunk(n, anchoring, None, sink) for n in range(chunks))
        return appended, offered
