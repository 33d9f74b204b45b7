"""Batch issuance: a roster in, one anchored SD-JWT VC per row out, safe to retry and to kill.

1. Validate every row first (streaming) and refuse the whole roster, naming each bad row
   by line number, if any row is wrong. Nothing is issued or stored then.
2. Allocate a random status-list index per credential and sign one SD-JWT VC per row (all its
   ``sd: always`` claims selectively disclosable, ``_sd`` arrays padded to the type's sizes;
   on worker processes for large rosters). The main process stores each credential's
   issuer-side record (a repeated credential id fails there, before anything is logged) and,
   per run of 250, the signed credentials sealed under the server's secret (one document in
   ``issuance_chunks``), so a logged batch can always be delivered again: after a crash
   (``resume``) or to an issuer's retry (idempotency key).
3. Append every credential's issuer-signed JWT to the log as one batch: one checkpoint, which
   the remote witnesses are then asked to cosign (``issuing.cosigning``; one down or refusing
   never stops the batch), so the anchor proofs carry their cosignatures.
4. Write each credential with its anchor proof (to a temporary name, fsync'd, then renamed),
   and offer it (sealed) to the wallet inbox when the e-mail the row names is an owner account
   here whose owner confirmed that address (only then is the account's wallet key used for
   binding too).

A batch's life is a document in ``issuance_batches``: ``validating`` -> ``signing`` ->
``anchored`` (in the log) -> ``delivered``, or ``failed``. Only records of a batch that is in
the log are ever looked up (:meth:`BatchIssuer.records`). The process working on a batch owns
it (``owner`` = host:pid:thread:random, and a lease it renews). When that process dies, the
next issue or resume settles the batch *from the log*, not from its state: a batch in
``signing`` records the hashes of its first and last leaf and the log size before its append,
so the log tells whether the append happened; if it did the batch is ``anchored`` and awaits
delivery, otherwise its records are removed. The lease set just before the append outlasts
any append (its wait and its own lease), so a batch whose lease ran out can append no more.

Idempotency (draft-ietf-httpapi-idempotency-key-header; the answers follow its Error
Scenarios section): an issuer may name a batch with a key; the key is unique per issuer (a
unique index), a retry with the same key and the same rows returns the first result, another
body is refused (422), and a retry while the first runs is refused (409). Nothing is ever
issued twice. Signed credentials are kept sealed for ``KEEP_SIGNED_SECONDS`` after delivery,
for resume and replay; after that a retry is refused.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import multiprocessing
import os
import re
import shutil
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol

from credshare.anchoring import merkle
from credshare.anchoring.proof import build_anchor_proof
from credshare.disclosure.errors import SDJWTError
from credshare.disclosure.issuance import issue
from credshare.disclosure.jws import PublicKey, Signer
from credshare.foundation import strict_json
from credshare.foundation.b64 import b64_decode, b64_encode
from credshare.foundation.clock import SYSTEM_CLOCK, Clock
from credshare.foundation.errors import ConflictError, CredshareError, DuplicateKeyError, InputError, NotFoundError
from credshare.foundation.sealing import Sealer, sealing_key
from credshare.issuing.cosigning import WitnessRequests
from credshare.issuing.issuers import IssuerRegistry
from credshare.issuing.offers import WalletOffers
from credshare.issuing.status import StatusService
from credshare.issuing.types import CredentialType, cell_text
from credshare.storage import Store, new_id
from credshare.storage.tlog import LogReader, TransparencyLog, lease_owner, lease_owner_gone

CREDENTIALS, BATCHES = "credentials", "issuance_batches"
CHUNKS = "issuance_chunks"  # a batch's signed credentials, sealed, one document per run of _CHUNK
OFFER_PURPOSE = "wallet-offers/v1"  # offers are sealed at rest until the owner's wallet takes them
SIGNED_PURPOSE = "issued-credentials/v1"  # signed credentials (and spooled rows) at rest
KEEP_SIGNED_SECONDS = 24 * 3600  # how long after delivery a batch can be delivered again
LEASE_SECONDS = 120  # a working process renews its batch's lease at least every HEARTBEAT_SECONDS
HEARTBEAT_SECONDS = 5
APPEND_LEASE_SECONDS = 900  # longer than an append can take: its 300 s wait, its 120 s lease, a store call
LEGACY_STUCK_SECONDS = 3600  # batches left in "signing" by a version without owners
LOGGED_STATES = ("anchored", "delivered")
_logger = logging.getLogger(__name__)
_WORKING_STATES = ("validating", "signing", "anchored", "delivered")
MAX_HOLDER_JWK_CHARS = 1024  # a public JWK is ~100-200 characters
CREDENTIAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_IDEMPOTENCY_KEY = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]{1,255}")  # printable ASCII but " and \
Rows = Iterable[tuple[int, dict[str, Any]]]


class RosterRejected(CredshareError):
    """The roster has bad rows; nothing was issued."""

    code = "roster_rejected"
    http_status = 422
    stage = "input"

    def __init__(self, problems: list[tuple[int, list[str]]], rows: int) -> None:
        super().__init__(f"{len(problems)} of {rows} row(s) are invalid; nothing was issued")
        self.problems = problems

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "rows": [{"line": line, "problems": p} for line, p in self.problems]}


class BatchInProgress(ConflictError):
    """Another request or process is working on this batch; nothing was done."""

    code = "batch_in_progress"


class IdempotencyKeyReused(CredshareError):
    """The idempotency key names a batch of other rows (draft-ietf-httpapi-idempotency-key-header,
    Error Scenarios: 422); nothing was issued."""

    code = "idempotency_key_reused"
    http_status = 422
    stage = "input"


class BatchExpired(ConflictError):
    """The batch was delivered so long ago that its signed credentials are no longer kept."""

    code = "batch_expired"


class BatchNotLogged(ConflictError):
    """The batch never reached the log: nothing of it was issued (its records are removed)."""

    code = "batch_not_logged"


class CredentialSink(Protocol):
    def write(self, credential: dict[str, Any]) -> None: ...


class OwnerLookup(Protocol):
    """What issuance asks of the owner accounts (answered by holding/accounts.py, which owns them)."""

    def confirmed_owners(self, emails: list[str]) -> set[str]: ...

    def wallet_keys(self, emails: list[str]) -> dict[str, dict[str, Any]]: ...


OwnersFor = Callable[[Store], OwnerLookup]  # picklable (a class or a module function): workers make their own


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
    workers: int = 1  # processes that signed the batch
    replayed: bool = False  # delivered again: an idempotent retry or a resume

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("checkpoint", "replayed")}


@dataclass(frozen=True)
class BatchRequest:
    """An issuer's name for a batch (an idempotency key) and the fingerprint of what it asks
    for: the credential type and every row, so a retry can be told from another request."""

    key: str
    fingerprint: str

    @classmethod
    def of(cls, key: str, ctype: CredentialType, rows: Iterable[dict[str, Any]]) -> BatchRequest:
        """``key`` as sent: 1-255 printable ASCII characters, bare or as a Structured Field
        string (RFC 8941 §3.3.3, the header's form in the draft: ``"..."``)."""
        if len(key) >= 2 and key[0] == key[-1] == '"':
            key = key[1:-1]
        if not _IDEMPOTENCY_KEY.fullmatch(key) or not key.strip():
            raise InputError("an idempotency key is 1-255 printable ASCII characters, without \" or \\",
                             code="idempotency_key_invalid")
        digest = hashlib.sha256(ctype.slug.encode() + b"\n")
        for row in rows:
            digest.update(json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n")
        return cls(key, digest.hexdigest())

    def stored_key(self, issuer_id: str) -> str:
        """The batch's unique ``request_key``: per issuer, hashed to a fixed length."""
        return "key:" + hashlib.sha256(f"{issuer_id}\n{self.key}".encode()).hexdigest()


def _holder_jwk(raw: Any) -> dict[str, Any] | None:
    if raw in (None, ""):
        return None
    if isinstance(raw, str):
        if len(raw) > MAX_HOLDER_JWK_CHARS:
            raise ValueError(f"longer than {MAX_HOLDER_JWK_CHARS} characters")
        raw = strict_json.loads(raw)  # depth-checked before decoding, whatever the recursion limit
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
    except (ValueError, SDJWTError, strict_json.JsonInputError) as exc:  # a ValueError of our own says why
        why = getattr(exc, "detail", None) or (str(exc) if type(exc) is ValueError else "not a public JWK in JSON")
        problems.append(f"holder_jwk: {why}")
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


@dataclass(frozen=True)
class _Job:
    """One batch as its chunk functions see it: the batch, the issuer, where to spool, and how
    to reach the store (worker processes open their own connection). A delivery-only job (a
    resume or a replay) has no type and no signing key."""

    issuer_id: str
    iss: str
    issuer_name: str
    batch_id: str
    type_slug: str
    vct: str
    ctype: CredentialType | None
    iat: int
    spool_dir: str
    store_uri: str | None
    data_dir: str
    log_origin: str
    owners: OwnersFor
    private_jwk: dict[str, Any] | None = field(repr=False, default=None)
    offer_key: bytes = field(repr=False, default=b"")
    signed_key: bytes = field(repr=False, default=b"")
    alg: str = "EdDSA"


@dataclass
class _Context:
    """What a chunk function works with, made once per process for one job and always passed
    explicitly: the main process builds its own and each worker process its own, from the same
    job, so they cannot disagree about the batch."""

    job: _Job
    store: Store
    log: LogReader
    signer: Signer | None
    signed: Sealer  # seals signed credentials and spooled rows at rest
    offers: Sealer
    owners: OwnerLookup
    inbox: WalletOffers


def _context(job: _Job, store: Store | None = None) -> _Context:
    from credshare.storage import open_store

    store = store or open_store(job.store_uri, Path(job.data_dir))
    signer = Signer.from_jwk(job.private_jwk, job.alg) if job.private_jwk else None
    return _Context(job, store, LogReader(store, job.log_origin), signer, Sealer(job.signed_key), Sealer(job.offer_key),
                    job.owners(store), WalletOffers(store))


_worker_context: _Context | None = None  # set in worker processes only, by their initializer


def _init_worker(job: _Job) -> None:
    global _worker_context
    _worker_context = _context(job)


def _in_worker(fn: Callable[..., Any], batch_id: str, *args: Any) -> Any:
    """Run a chunk function in a worker process, with the context its initializer made."""
    if _worker_context is None or _worker_context.job.batch_id != batch_id:
        raise RuntimeError(f"this worker process was not set up for batch {batch_id}")
    return fn(_worker_context, *args)


_Checked = tuple[int, list[tuple[int, list[str]]], list[tuple[int, str]]]
PARALLEL_MIN_ROWS = 2000  # below this, starting worker processes costs more than it saves
_CHUNK = 250


def _spool_path(spool_dir: str, number: int) -> str:
    return os.path.join(spool_dir, f"{number:08d}.rows")


def _check_chunk(ctx: _Context, number: int, chunk: list[tuple[int, dict[str, Any]]]) -> _Checked:
    """Check a run of rows: (rows, [(line, problems)], [(line, credential_id)]). The rows as
    read are spooled (sealed), so signing needs neither the roster again nor a second parse."""
    ctype = ctx.job.ctype
    assert ctype is not None
    bad, ids, lines = [], [], []
    for line, raw in chunk:
        row = read_row(ctype, raw)
        if row.problems:
            bad.append((line, row.problems))
        if row.credential_id:
            ids.append((line, row.credential_id))
        lines.append(json.dumps([row.claims, row.holder_jwk, row.email, row.credential_id]))
    if not bad:
        with open(_spool_path(ctx.job.spool_dir, number), "w", encoding="ascii") as fh:
            fh.write(ctx.signed.seal("\n".join(lines).encode()))
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


def _chunks(items: Iterator[Any] | Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _sign_chunk(ctx: _Context, number: int,
                slots: list[tuple[str, int]]) -> tuple[list[bytes], list[dict[str, Any]], dict[str, Any]]:
    """Sign one SD-JWT VC per spooled row of run ``number``, with its ``(status uri, index)``;
    return their leaf hashes, the issuer-side records and the run's signed credentials sealed,
    which the main process stores (one SQLite writer instead of several contending for its lock)."""
    job, signer, ctype = ctx.job, ctx.signer, ctx.job.ctype
    assert signer is not None and ctype is not None
    rows_path = _spool_path(job.spool_dir, number)
    with open(rows_path, encoding="ascii") as fh:
        rows = [json.loads(line) for line in ctx.signed.open(fh.read()).decode().split("\n")]
    os.unlink(rows_path)
    emails = [email for _, _, email, _ in rows if email]
    wallet_keys = ctx.owners.wallet_keys(emails)
    leaves, records, signed = [], [], []
    for i, ((claims, holder, email, credential_id), (uri, index)) in enumerate(zip(rows, slots, strict=True)):
        payload = {"iss": job.iss, "vct": ctype.vct, "iat": job.iat,
                   "status": {"status_list": {"idx": index, "uri": uri}}, **claims}
        exp = ctype.expiry(claims)
        if exp is not None:
            payload["exp"] = exp
        issued = issue(payload, signer=signer, disclosable=ctype.disclosable_paths(claims),
                       holder_jwk=holder or wallet_keys.get(email),  # the row's key, else the owner's wallet key
                       sd_array_size=ctype.sd_array_sizes)
        credential_id = credential_id or new_id()
        leaves.append(merkle.entry_of(issued.jwt.encode("ascii")))  # the log entry: the JWT's digest
        signed.append([credential_id, issued.serialize(), email])
        records.append({"_id": credential_id, "issuer": job.issuer_id, "type": ctype.slug, "batch": job.batch_id,
                        "offset": number * _CHUNK + i, "status_list": int(uri.rsplit("/", 1)[1]),
                        "status_idx": index, "email": email or None})
    chunk = {"_id": f"{job.batch_id}:{number}", "batch": job.batch_id,
             "sealed": ctx.signed.seal(json.dumps(signed).encode("ascii"))}
    return leaves, records, chunk


@dataclass(frozen=True)
class _Anchoring:
    """The committed batch each credential's anchor proof refers to."""

    first_index: int
    tree_size: int
    note: str  # the cosigned checkpoint
    chain_anchors: list[dict[str, Any]]


def _offer_id(batch_id: str, offset: int) -> str:
    """A wallet offer's id, the same each time a credential is delivered: offers are made once."""
    return hashlib.blake2b(f"{batch_id}:{offset}".encode(), digest_size=12).hexdigest()


def _deliver_chunk(ctx: _Context, number: int, anchoring: _Anchoring, out_dir: str | None,
                   offered_at: int) -> tuple[int, list[dict[str, Any]]]:
    """Give each stored credential of run ``number`` its anchor proof; write it into ``out_dir``
    (a :class:`DirectorySink`), or return it for the caller's sink; offer it to the wallet inbox
    when its e-mail is an owner account and no offer of it exists yet (dated ``offered_at``: a
    worker process reads no clock, the batch's owner does). Each credential's JWT
    must be the log's leaf at its index. Returns the number of this run's credentials that are
    offered, and the credentials not written."""
    job = ctx.job
    writer = DirectorySink(Path(out_dir)) if out_dir else None
    made: list[dict[str, Any]] = []
    stored_chunk = ctx.store.collection(CHUNKS).find_one({"_id": f"{job.batch_id}:{number}"})
    if stored_chunk is None:
        raise CredshareError(f"batch {job.batch_id}: its signed credentials {number * _CHUNK}.. are missing",
                             code="batch_damaged")
    entries = json.loads(ctx.signed.open(stored_chunk["sealed"]))
    prove = ctx.log.prover(anchoring.tree_size)
    stored = ctx.log.subtree_hash(anchoring.tree_size, scoped={})  # reads each chunk of leaf hashes once
    emails = list({email for _, _, email in entries if email})
    owners = ctx.owners.confirmed_owners(emails)
    offers: list[dict[str, Any]] = []
    for offset, (credential_id, sd_jwt, email) in enumerate(entries, start=number * _CHUNK):
        index = anchoring.first_index + offset
        if merkle.document_leaf(sd_jwt.split("~", 1)[0].encode("ascii")) != stored(index, index + 1):
            raise CredshareError(f"batch {job.batch_id}: credential {offset} is not the logged leaf",
                                 code="batch_damaged")
        credential = {
            "credential_id": credential_id, "issuer": job.iss, "issuer_name": job.issuer_name,
            "type": job.type_slug, "vct": job.vct, "sd_jwt": sd_jwt,
            "anchor_proof": build_anchor_proof(
                origin=job.log_origin, leaf_index=index, tree_size=anchoring.tree_size, inclusion=prove(index),
                checkpoint_note=anchoring.note, chain_anchors=anchoring.chain_anchors),
        }
        if writer is not None:
            writer.write(credential)
        else:
            made.append(credential)
        if email in owners:
            offers.append({"_id": _offer_id(job.batch_id, offset), "email": email,
                           "credential_id": credential_id, "issuer": job.issuer_id, "type": job.type_slug,
                           "state": "offered", "sealed_credential": ctx.offers.seal(json.dumps(credential).encode()),
                           "offered_at": offered_at})
    if writer is not None:
        writer.sync()
    ctx.inbox.offer(offers)
    return len(offers), made


class DirectorySink:
    """One JSON file per credential, ``<out>/<credential id>.json``, readable by its owner only
    (it holds every field of the credential). :meth:`write` writes ``.<id>.json.part`` in the
    same directory; :meth:`sync` fsyncs those files, renames each over its final name and
    fsyncs the directory, so a ``.json`` file there is always whole, even after a crash. The
    fsyncs run on a few threads: concurrent fsyncs share the file system's journal commits
    (about 5x faster here than one after another), while the writes stay plain ``os.write``
    calls on the calling thread. One writer per batch at a time (the batch's owner), so the
    temporary name needs no randomness and a rerun reuses it."""

    SYNC_THREADS = 16

    def __init__(self, out: Path) -> None:
        self.directory = out
        self._written: list[tuple[str, str]] = []

    def write(self, credential: dict[str, Any]) -> None:
        """Write one credential; it appears under its final name at the next :meth:`sync`."""
        name = f"{credential['credential_id']}.json"
        final, partial = os.path.join(self.directory, name), os.path.join(self.directory, f".{name}.part")
        data = memoryview(json.dumps(credential).encode("utf-8"))
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            while data:
                data = data[os.write(fd, data):]
        finally:
            os.close(fd)
        self._written.append((partial, final))

    def sync(self) -> None:
        """Make every file written so far durable and give it its final name."""
        written, self._written = self._written, []
        if written and not _sync_filesystem(str(self.directory)):
            with ThreadPoolExecutor(min(self.SYNC_THREADS, len(written)), thread_name_prefix="credshare-fsync") as pool:
                list(pool.map(_fsync_path, (partial for partial, _ in written)))
        for partial, final in written:
            os.replace(partial, final)
        _fsync_path(str(self.directory))


def _sync_filesystem(path: str) -> bool:
    """Flush the file system holding ``path`` in one call (Linux ``syncfs(2)``): for a run of
    new files, far cheaper than an ``fsync`` each. False where there is no ``syncfs``."""
    libc = _libc()
    if libc is None or not hasattr(libc, "syncfs"):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        return bool(libc.syncfs(fd) == 0)
    finally:
        os.close(fd)


@functools.cache
def _libc() -> Any:
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name, use_errno=True) if name else None


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Workers:
    """Runs chunk functions in order, each with its context: on this process for small batches
    or an in-memory store, otherwise on worker processes (forkserver: no inherited threads or
    database handles) with a bounded number of chunks in flight, so memory stays flat. The
    context of this process is :attr:`context`; workers build theirs from the same job."""

    def __init__(self, job: _Job, store: Store, parallel: bool) -> None:
        count = min(os.cpu_count() or 1, 8)
        self.parallel = parallel and count > 1 and store.backend != "mongomock"
        self.count = count if self.parallel else 1
        self.context = _context(job, store)
        self._pool: ProcessPoolExecutor | None = None
        if self.parallel:
            mp_context = multiprocessing.get_context("forkserver")
            mp_context.set_forkserver_preload(["credshare.issuing.batch"])  # workers fork with the imports done
            self._pool = ProcessPoolExecutor(max_workers=count, mp_context=mp_context, initializer=_init_worker,
                                             initargs=(job,))

    def map(self, fn: Callable[..., Any], calls: Iterable[tuple[Any, ...]]) -> Iterator[Any]:
        if self._pool is None:
            yield from (fn(self.context, *args) for args in calls)
            return
        in_flight: deque[Future[Any]] = deque()
        for args in calls:
            in_flight.append(self._pool.submit(_in_worker, fn, self.context.job.batch_id, *args))
            if len(in_flight) >= 2 * self.count:
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
                 *, owners: OwnersFor, store_uri: str | None, data_dir: Path, secret_key: str,
                 cosigning: WitnessRequests | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        """``owners`` makes, from a store, what answers for the owner accounts (holding's
        ``OwnerDirectory``): every process working on a batch makes its own. ``cosigning``
        asks the remote witnesses to cosign each batch's checkpoint before it is delivered."""
        self._store = store
        self._cosigning = cosigning
        self._owners = owners
        self._clock = clock
        self._offer_key = sealing_key(secret_key, OFFER_PURPOSE)
        self._signed_key = sealing_key(secret_key, SIGNED_PURPOSE)
        self._signed = Sealer(self._signed_key)
        self._store_uri = store_uri  # worker processes open their own connection with these
        self._data_dir = str(data_dir)
        self._spool_root = Path(data_dir) / "batch-spool"
        self._credentials = store.collection(CREDENTIALS)
        self._batches = store.collection(BATCHES)
        self._issuers = issuers
        self._status = status
        self._log = log
        self._credentials.create_index([("issuer", 1), ("status_list", 1), ("status_idx", 1)], unique=True)
        self._credentials.create_index("batch")
        self._chunks = store.collection(CHUNKS)
        self._chunks.create_index("batch")
        WalletOffers(store).create_indexes()
        for old in self._batches.find({"request_key": {"$exists": False}}, fields=["state"]):  # made before keys
            done = {"state": "delivered"} if old.get("state") == "anchored" else {}  # delivery then came next
            self._batches.update_one({"_id": old["_id"]}, {"$set": {"request_key": f"batch:{old['_id']}", **done}})
        self._batches.create_index("request_key", unique=True)  # an issuer's idempotency key names one batch
        self._batches.create_index("state")

    # -- lookups ----------------------------------------------------------------------------

    def records(self, issuer_id: str, credential_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The issuer-side records of these credentials, by id, for those whose batch is in the
        log: records of a batch that never reached it (or is not yet known to) are never seen."""
        found = self._credentials.find({"_id": {"$in": [str(c) for c in credential_ids]}, "issuer": issuer_id},
                                       fields=["batch", "status_list", "status_idx", "type", "email"])
        batch_ids = list({r.get("batch") for r in found if r.get("batch")})
        logged = {b["_id"] for b in self._batches.find({"_id": {"$in": batch_ids}, "state": {"$in": list(LOGGED_STATES)}},
                                                       fields=["_id"])} if batch_ids else set()
        return {r["_id"]: r for r in found if r.get("batch") in logged}

    def change_status(self, issuer_id: str, credential_ids: Iterable[str], status: str) -> None:
        """Set the status (``valid``, ``revoked`` or ``suspended``) of the issuer's credentials,
        each changed status list published once: all of them or, when one is not the issuer's
        logged credential (``credential_unknown``) or the status is unknown, none."""
        wanted = [str(c) for c in credential_ids]
        found = self.records(issuer_id, wanted)
        missing = [c for c in wanted if c not in found]
        if missing:
            raise NotFoundError(f"issuer {issuer_id!r} has no credential {', '.join(map(repr, missing))}",
                                code="credential_unknown")
        self._status.set_statuses(issuer_id, [(found[c]["status_list"], found[c]["status_idx"], status) for c in wanted])

    def pending(self) -> list[dict[str, Any]]:
        """Batches in the log whose delivery has not completed (``resume`` completes them)."""
        return self._batches.find({"state": "anchored", "owner": None}, fields=["issuer", "type", "count"],
                                  sort=[("_id", 1)])

    # -- issuing ----------------------------------------------------------------------------

    def issue(
        self,
        issuer_id: str,
        ctype: CredentialType,
        rows: Rows,
        sink: CredentialSink,
        progress: Callable[[int], None] | None = None,
        expected_rows: int | None = None,
        request: BatchRequest | None = None,
        on_batch: Callable[[str], None] | None = None,
    ) -> BatchResult:
        """Validate ``rows`` (read once, streaming) whole, then issue one credential per row into ``sink``.
        ``expected_rows`` (a count the caller already has) lets large rosters use worker
        processes from the validation pass on. With ``request``, a batch under the same key is
        not issued again: its result is delivered again into ``sink`` (or refused, see
        :class:`BatchRequest`). ``on_batch`` learns the batch id once the batch exists."""
        started = time.perf_counter()
        self.recover()
        issuer = self._issuers.get(issuer_id)
        signer = self._issuers.active_signer(issuer_id)
        batch_id, owner, now = new_id(), lease_owner(), self._clock.seconds()
        doc = {"_id": batch_id, "issuer": issuer_id, "type": ctype.slug, "vct": ctype.vct, "iss": issuer["iss"],
               "issuer_name": issuer["name"], "state": "validating", "owner": owner,
               "lease_until": self._clock.utcnow() + timedelta(seconds=LEASE_SECONDS), "started_at": now,
               "kid": signer.private_jwk.get("kid"),
               "request_key": request.stored_key(issuer_id) if request else f"batch:{batch_id}",
               "fingerprint": request.fingerprint if request else None}
        try:
            self._batches.insert_one(doc)
        except DuplicateKeyError:
            if request is None:
                raise
            return self._again(issuer_id, request, sink)
        if on_batch:
            on_batch(batch_id)
        spool = self._spool_root / batch_id
        try:
            spool.mkdir(mode=0o700, parents=True, exist_ok=True)
            job = _Job(issuer_id, issuer["iss"], issuer["name"], batch_id, ctype.slug, ctype.vct, ctype, now,
                       str(spool), self._store_uri, self._data_dir, self._log.origin, self._owners, signer.private_jwk,
                       self._offer_key, self._signed_key, signer.alg)
            parallel = expected_rows is not None and expected_rows >= PARALLEL_MIN_ROWS
            with _Workers(job, self._store, parallel) as workers:
                beat = self._heartbeat(batch_id, owner)
                checked = (beat(result) for result in workers.map(_check_chunk, enumerate(_chunks(rows, _CHUNK))))
                sizes, problems = _merge_checks(checked)
                count = sum(sizes)
                if problems or count == 0:
                    self._batches.delete_one({"_id": batch_id, "owner": owner})  # nothing signed: no trace
                    raise RosterRejected(problems or [(0, ["the roster has no rows"])], count)
                return self._sign_anchor_deliver(job, owner, workers, sizes, sink, progress, started)
        except RosterRejected:
            raise
        except BaseException:
            self._settle(batch_id, owner)  # decided from the log: an append may have committed
            raise
        finally:
            shutil.rmtree(spool, ignore_errors=True)

    def resume(self, batch_id: str, sink: CredentialSink) -> BatchResult:
        """Complete (or repeat) the delivery of a logged batch into ``sink``, from the sealed
        credentials and the log; a batch whose process died first is settled from the log."""
        started = time.perf_counter()
        self.recover()
        doc = self._batches.find_one({"_id": str(batch_id)})
        if doc is None:
            raise NotFoundError(f"no batch {batch_id!r}", code="batch_unknown")
        return self._deliver_again(doc, sink, started)

    def _again(self, issuer_id: str, request: BatchRequest, sink: CredentialSink) -> BatchResult:
        """An issuer's retry: the batch its key names, delivered again, or why not."""
        started = time.perf_counter()
        doc = self._batches.find_one({"request_key": request.stored_key(issuer_id)})
        if doc is None:  # it failed and released its key just now: the retry may simply be sent again
            raise BatchInProgress("a batch under this idempotency key just ended; send the request again")
        if not hmac.compare_digest(str(doc.get("fingerprint")), request.fingerprint):
            raise IdempotencyKeyReused("this idempotency key was used for another batch; nothing was issued")
        return self._deliver_again(doc, sink, started)

    def _deliver_again(self, doc: dict[str, Any], sink: CredentialSink, started: float) -> BatchResult:
        if doc["state"] == "failed":
            raise BatchNotLogged(f"batch {doc['_id']} never reached the log; nothing of it was issued")
        if doc["state"] not in LOGGED_STATES or doc.get("owner"):
            raise BatchInProgress(f"batch {doc['_id']} is being worked on by another process; try again later")
        if (doc["state"] == "delivered" and not doc.get("keep_until")) or \
                self._chunks.find_one({"batch": doc["_id"]}, fields=["_id"]) is None:
            raise BatchExpired(f"batch {doc['_id']} was delivered more than {KEEP_SIGNED_SECONDS // 3600} hours ago;"
                               " its signed credentials are no longer kept, and nothing was issued again")
        owner = lease_owner()
        claimed = self._batches.find_one_and_update(
            {"_id": doc["_id"], "state": doc["state"], "owner": None},
            {"$set": {"owner": owner, "lease_until": self._clock.utcnow() + timedelta(seconds=LEASE_SECONDS)}})
        if claimed is None:
            raise BatchInProgress(f"batch {doc['_id']} is being worked on by another process; try again later")
        job = _Job(claimed["issuer"], claimed["iss"], claimed["issuer_name"], claimed["_id"], claimed["type"],
                   claimed["vct"], None, claimed["started_at"], "", self._store_uri, self._data_dir, self._log.origin,
                   self._owners, None, self._offer_key, self._signed_key)
        chunks = -(-claimed["count"] // _CHUNK)
        parallel = claimed["count"] >= PARALLEL_MIN_ROWS
        try:
            if claimed["state"] == "anchored":  # logged, then its process died: the witnesses may not know it
                self._ask_witnesses(claimed["tree_size"])
            with _Workers(job, self._store, parallel) as workers:
                offered = self._deliver(workers, owner, chunks, claimed["first_index"], claimed["tree_size"], sink)
            result = claimed.get("result") or {}
            if claimed["state"] == "anchored":
                result = {"offered": offered, "seconds": time.perf_counter() - started,
                          "workers": claimed.get("workers", 1)}
                self._finish(claimed["_id"], owner, result)
        finally:
            self._batches.update_one({"_id": claimed["_id"], "owner": owner}, {"$set": {"owner": None}})
        return BatchResult(claimed["_id"], claimed["issuer"], claimed["type"], claimed["count"], claimed["first_index"],
                           claimed["tree_size"], self._log.checkpoint(claimed["tree_size"])["note"],
                           result.get("offered", offered), result.get("seconds", 0.0), result.get("workers", 1),
                           replayed=True)

    def _heartbeat(self, batch_id: str, owner: str) -> Callable[[Any], Any]:
        """A pass-through that renews the batch's lease (at most every HEARTBEAT_SECONDS) and
        stops the work if the batch is no longer this process's."""
        last = [time.monotonic()]

        def beat(value: Any) -> Any:
            if time.monotonic() - last[0] >= HEARTBEAT_SECONDS:
                self._renew(batch_id, owner, LEASE_SECONDS)
                last[0] = time.monotonic()
            return value

        return beat

    def _renew(self, batch_id: str, owner: str, seconds: float, **fields: Any) -> None:
        moved = self._batches.update_one(
            {"_id": batch_id, "owner": owner},
            {"$set": {"lease_until": self._clock.utcnow() + timedelta(seconds=seconds), **fields}})
        if moved.matched != 1:
            raise BatchInProgress(f"batch {batch_id} was taken over by another process (this one was too slow)")

    def _sign_anchor_deliver(self, job: _Job, owner: str, workers: _Workers, sizes: list[int], sink: CredentialSink,
                             progress: Callable[[int], None] | None, started: float) -> BatchResult:
        count = sum(sizes)
        slots = iter(self._status.allocate(job.issuer_id, count))
        self._renew(job.batch_id, owner, LEASE_SECONDS, state="signing", count=count, workers=workers.count)
        beat = self._heartbeat(job.batch_id, owner)
        entries: list[bytes] = []
        work = enumerate([next(slots) for _ in range(size)] for size in sizes)
        for leaves, records, chunk in workers.map(_sign_chunk, work):
            try:
                with self._store.bulk():  # one writer while the workers sign; one transaction per run
                    self._credentials.insert_many(records)
                    self._chunks.insert_many([chunk])  # the store's fast path: one big document
            except DuplicateKeyError as exc:
                raise InputError("a credential_id in the roster is already issued; nothing was anchored",
                                 code="credential_id_taken") from exc
            entries.extend(leaves)
            beat(None)
            if progress:
                progress(len(leaves))
        # what tells, after a crash, whether this append happened; and a lease no append outlives
        self._renew(job.batch_id, owner, APPEND_LEASE_SECONDS, log_floor=self._log.head()[0],
                    leaf_first=b64_encode(merkle.leaf_hash(entries[0])),
                    leaf_last=b64_encode(merkle.leaf_hash(entries[-1])))
        appended = self._log.append_entries(entries, timeout=300)
        del entries
        self._renew(job.batch_id, owner, LEASE_SECONDS, state="anchored", first_index=appended.first_index,
                    tree_size=appended.size)
        self._ask_witnesses(appended.size)
        offered = self._deliver(workers, owner, len(sizes), appended.first_index, appended.size, sink)
        result = {"offered": offered, "seconds": time.perf_counter() - started, "workers": workers.count}
        self._finish(job.batch_id, owner, result)
        return BatchResult(job.batch_id, job.issuer_id, job.type_slug, count, appended.first_index, appended.size,
                           self._log.checkpoint(appended.size)["note"], offered, result["seconds"], workers.count)

    def _ask_witnesses(self, size: int) -> None:
        """Have the remote witnesses cosign checkpoint ``size``, if any are configured and none
        was asked yet; whatever they answer, or fail to, the batch goes on."""
        if self._cosigning is not None:
            self._cosigning.ask(size)

    def _deliver(self, workers: _Workers, owner: str, chunks: int, first_index: int, tree_size: int,
                 sink: CredentialSink) -> int:
        batch_id = workers.context.job.batch_id
        checkpoint = self._log.checkpoint(tree_size)
        anchoring = _Anchoring(first_index, tree_size, checkpoint["note"], list(checkpoint.get("anchors", {}).values()))
        beat = self._heartbeat(batch_id, owner)
        out_dir = str(sink.directory) if isinstance(sink, DirectorySink) else None
        offered_at = self._clock.seconds()
        offered = 0
        for offers, credentials in workers.map(_deliver_chunk, ((n, anchoring, out_dir, offered_at) for n in range(chunks))):
            for credential in credentials:
                sink.write(credential)
            offered += beat(offers)
        return offered

    def _finish(self, batch_id: str, owner: str, result: dict[str, Any]) -> None:
        now = self._clock.seconds()
        self._batches.update_one({"_id": batch_id, "owner": owner}, {"$set": {
            "state": "delivered", "owner": None, "result": result, "delivered_at": now,
            "keep_until": now + KEEP_SIGNED_SECONDS}})

    # -- crashes ----------------------------------------------------------------------------

    def recover(self) -> None:
        """Settle the batches of processes that died (gone from this host, or their lease ran
        out): unlogged ones lose their records, logged ones await ``resume``. Then drop the
        sealed credentials of batches delivered more than KEEP_SIGNED_SECONDS ago."""
        now = self._clock.utcnow()
        for doc in self._batches.find({"state": {"$in": list(_WORKING_STATES)}, "owner": {"$ne": None}},
                                      fields=["owner", "lease_until"]):
            lease = doc.get("lease_until")
            if not (lease_owner_gone(doc["owner"]) or (isinstance(lease, datetime) and lease < now)):
                continue
            owner = lease_owner()
            taken = self._batches.find_one_and_update(
                {"_id": doc["_id"], "owner": doc["owner"]},
                {"$set": {"owner": owner, "lease_until": now + timedelta(seconds=LEASE_SECONDS)}})
            if taken is not None:
                self._settle(doc["_id"], owner)
        legacy = now.timestamp() - LEGACY_STUCK_SECONDS  # no owner, no leaf hashes: never delivered to anyone
        for doc in self._batches.find({"state": "signing", "owner": {"$exists": False}, "started_at": {"$lt": legacy}},
                                      fields=["_id"]):
            self._credentials.delete_many({"batch": doc["_id"]})
            self._chunks.delete_many({"batch": doc["_id"]})
            self._batches.update_one({"_id": doc["_id"]}, {"$set": {"state": "failed"}})
        for doc in self._batches.find({"state": "delivered", "keep_until": {"$lt": int(now.timestamp())}}, fields=["_id"]):
            self._chunks.delete_many({"batch": doc["_id"]})
            self._batches.update_one({"_id": doc["_id"]}, {"$unset": {"keep_until": ""}})

    def _settle(self, batch_id: str, owner: str) -> None:
        """The batch's owner stopped (``owner`` holds it now): from the log, anchored, or failed
        with its records removed and its idempotency key free again. Releases the batch."""
        doc = self._batches.find_one({"_id": batch_id, "owner": owner})
        if doc is None:  # settled by another process; records this one stored since then go too
            if (self._batches.find_one({"_id": batch_id}, fields=["state"]) or {}).get("state") == "failed":
                self._credentials.delete_many({"batch": batch_id})
                self._chunks.delete_many({"batch": batch_id})
            return
        if doc["state"] in LOGGED_STATES:
            self._batches.update_one({"_id": batch_id, "owner": owner}, {"$set": {"owner": None}})
            return
        found = self._find_in_log(doc)
        if found is not None:
            self._batches.update_one({"_id": batch_id, "owner": owner}, {"$set": {
                "state": "anchored", "first_index": found[0], "tree_size": found[1], "owner": None}})
        else:
            self._credentials.delete_many({"batch": batch_id})
            self._chunks.delete_many({"batch": batch_id})
            self._batches.update_one({"_id": batch_id, "owner": owner}, {"$set": {
                "state": "failed", "owner": None, "request_key": f"batch:{batch_id}"}})
        shutil.rmtree(self._spool_root / batch_id, ignore_errors=True)

    def _find_in_log(self, doc: dict[str, Any]) -> tuple[int, int] | None:
        """``(first index, tree size)`` of the batch's append if the log holds it: an append
        (one per checkpoint) after the size the batch saw, of its count, whose first and last
        leaves are the batch's."""
        if "leaf_first" not in doc:
            return None  # it never got as far as appending
        floor, count = doc["log_floor"], doc["count"]
        first, last = b64_decode(doc["leaf_first"]), b64_decode(doc["leaf_last"])
        head, _ = self._log.head()
        boundaries = [floor] + self._log.checkpoint_sizes(floor, head)
        ends = set(boundaries)
        for start in boundaries:
            end = start + count
            if end > head:
                break
            if end in ends and next(self._log.leaf_hashes(start, start + 1)) == first \
                    and next(self._log.leaf_hashes(end - 1, end)) == last:
                return start, end
        return None
