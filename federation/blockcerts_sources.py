"""What a Blockcerts record is verified from, gathered over HTTP: the issuer's documents as
snapshots (the issuer profile, the Open Badges v2 ``RevocationList`` it names, a v3 record's
W3C VC Status List 2021 credential) and the anchoring transactions as configured blockchain
endpoints report them (blockcerts/evidence.py holds the types; blockcerts/verification.py
judges them, with no network).

Snapshots (:func:`fetch_snapshot`): ``GET`` of the URL the record or the profile names,
through :func:`credshare.foundation.http_client.fetch` (https, or http to loopback only;
2 s to connect, 5 s in all, at most :data:`MAX_SNAPSHOT_BYTES`, no redirects; the URL came
from the record, so only to public addresses, ``public_only``, unless the operator allows a
host by name, ``CREDSHARE_FETCH_ALLOW_HOSTS``), parsed as strict
JSON (foundation/strict_json.py) that must be an object. A revocation list is fetched whole,
never with Blockcerts' ``?assertionId=``: the issuer does not learn which record is checked.

Transactions (:meth:`BlockcertsSources.lookup`), on the endpoints configured per chain
(``CREDSHARE_BLOCKCERTS_ENDPOINTS``, foundation/config.py), as blockchain-certificates/
explorer-lookup reads them:

* Ethereum JSON-RPC (ethereum.org JSON-RPC API): ``eth_chainId`` (must be the chain's),
  ``eth_getTransactionByHash`` (``input`` = the Merkle root, ``from`` = the issuing address,
  ``blockNumber``), ``eth_blockNumber`` (confirmations) and ``eth_getBlockByNumber`` (its
  ``timestamp``, its ``hash`` the transaction's ``blockHash``).
* Bitcoin, Esplora REST (``GET /tx/<txid>``, github.com/Blockstream/esplora API.md): the
  ``OP_RETURN`` output ``6a20<root>``, the first input's ``prevout.scriptpubkey_address``
  and ``status.block_time``; an unconfirmed transaction is refused.
* Bitcoin Core JSON-RPC: ``getrawtransaction <txid> 2`` (verbosity 2, Bitcoin Core 25 or
  later, so that the first input's ``prevout`` names the sender: the address of an output is
  no sender, anyone can pay to the issuer's address).

What was fetched or looked up is kept for ``max_age`` seconds (``CREDSHARE_REMOTE_STATUS_MAX_AGE``;
0: never kept), a failure for at most :data:`FAILED_SECONDS`, so a wallet page listing many
records, or an issuer that is down, does not cost a fetch (and its timeout) per record and view;
a kept snapshot still says when it was fetched.

Every endpoint of the chain is asked; all that answer must agree, else the lookup says
"endpoints disagree" (unchecked, never passed). An answer that disproves the anchor
(unknown transaction, unconfirmed) is a refutation. Test anchors (mockchain, bitcoinRegtest)
are never looked up. Network trouble is never raised: it is a ``problem`` in words, which
never carries an endpoint's URL beyond scheme and host (paths and user info may hold keys).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping
from urllib.parse import unquote, urlsplit, urlunsplit

from credshare.anchoring.chain import redact_endpoint_url
from credshare.blockcerts.evidence import Anchor, BlockcertsEvidence, Snapshot, Transaction, TransactionLookup
from credshare.blockcerts.issuer_profile import revocation_list_url
from credshare.blockcerts.record import parse_record
from credshare.federation.remote import RemoteAnswerError
from credshare.foundation import strict_json
from credshare.foundation.b64 import b64_encode
from credshare.foundation.cache import BoundedCache
from credshare.foundation.config import BITCOIND_PREFIX, BLOCKCERTS_BITCOIN_CHAINS, BLOCKCERTS_ETHEREUM_CHAINS
from credshare.foundation.errors import CredshareError
from credshare.foundation.http_client import Answer, check_remote_url, fetch as http_fetch, request as http_request

MAX_SNAPSHOT_BYTES = 256 * 1024  # an issuer profile, a revocation list, a status list credential
MAX_TX_BYTES = 256 * 1024  # one transaction (or one JSON-RPC answer about it)
MAX_JSON_DEPTH = 16  # a profile's keys, a signed status list credential: a handful of levels
SNAPSHOT_ACCEPT = "application/ld+json, application/json;q=0.9, */*;q=0.1"
FUTURE_SLACK = 2 * 3600  # seconds a block time may lie ahead of this server's clock
FAILED_SECONDS = 60  # a failed fetch or lookup is tried again after this, not on every page
MAX_KEPT = 1024  # snapshots and lookups kept (BoundedCache: least recently used dropped first)

#: EIP-155 chain ids of the Ethereum chains in the Blockcerts vocabulary: an endpoint on
#: another chain is not asked.
ETHEREUM_CHAIN_IDS: Mapping[str, int] = {"ethereumMainnet": 1, "ethereumRopsten": 3, "ethereumRinkeby": 4,
                                         "ethereumGoerli": 5, "ethereumSepolia": 11155111}
assert set(ETHEREUM_CHAIN_IDS) == set(BLOCKCERTS_ETHEREUM_CHAINS)

_HEX = re.compile(r"^[0-9a-f]*$")
_BTC_TXID = re.compile(r"^[0-9a-f]{64}$")
_ETH_TXID = re.compile(r"^0x[0-9a-f]{64}$")

Fetch = Callable[..., Answer]  # as foundation.http_client.fetch(url, *, max_bytes, accept)
Request = Callable[..., Answer]  # as foundation.http_client.request(method, url, *, body, ...)


def _date(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _host(url: str) -> str:
    return urlsplit(url).netloc or url[:80]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _why(exc: CredshareError, url: str, label: str) -> str:
    """An error's words with the endpoint's URL (which may hold a key) replaced by its label."""
    words = exc.detail or exc.code
    return words.removeprefix(f"{url}: ").replace(url, label)


# -- snapshots ------------------------------------------------------------------------------

def fetch_snapshot(url: str, now: int, *, fetch: Fetch = http_fetch, allowed_hosts: frozenset[str] = frozenset()
                   ) -> Snapshot:
    """The JSON object at ``url`` as fetched now, from a public address (or a host in
    ``allowed_hosts``). Raises :class:`RemoteError` (cannot be asked, a private address,
    answered other than 200, too big) or :class:`RemoteAnswerError` (not a JSON object)."""
    answer = fetch(check_remote_url(url), max_bytes=MAX_SNAPSHOT_BYTES, accept=SNAPSHOT_ACCEPT, public_only=True,
                   allowed_hosts=allowed_hosts)
    if len(answer.body) > MAX_SNAPSHOT_BYTES:  # a fetch that did not hold to its bound
        raise RemoteAnswerError(f"{url}: the answer is more than {MAX_SNAPSHOT_BYTES} bytes")
    try:
        document = strict_json.loads(answer.body, max_depth=MAX_JSON_DEPTH)
    except CredshareError as exc:
        raise RemoteAnswerError(f"{url}: the answer is not JSON ({exc.detail or exc.code})") from None
    if not isinstance(document, dict):
        raise RemoteAnswerError(f"{url}: the answer is not a JSON object")
    return Snapshot(document, url, now)


# -- transactions ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Seen:
    """One endpoint's answer: the transaction it reports, or why it disproves the anchor."""

    data_hex: str = ""
    sender: str = ""
    time: int = 0
    refutation: str = ""

    def key(self) -> tuple[str, str, int, str]:
        return self.data_hex, self.sender.lower(), self.time, self.refutation


class _Unusable(Exception):
    """An endpoint that could not be asked, or answered out of bounds (not an answer)."""


class BlockcertsSources:
    """Gathers a Blockcerts record's evidence. ``endpoints``: chain name -> endpoint URLs
    (:attr:`Settings.blockcerts_endpoints`); ``fetch`` / ``request``: how other servers are
    asked (foundation.http_client's, tests may give their own); ``min_confirmations``: blocks
    an anchoring transaction must be under (counting its own) to count as in the chain;
    ``allowed_hosts``: local or private hosts a record's URLs may name all the same
    (:attr:`Settings.fetch_allow_hosts`; the endpoints are the operator's and never checked so)."""

    def __init__(self, endpoints: Mapping[str, tuple[str, ...]] | None = None, *, fetch: Fetch = http_fetch,
                 request: Request = http_request, min_confirmations: int = 1,
                 allowed_hosts: frozenset[str] = frozenset(), max_age: int = 0) -> None:
        self._endpoints = {chain: tuple(urls) for chain, urls in (endpoints or {}).items()}
        self._allowed_hosts = allowed_hosts
        self._max_age = max(0, max_age)
        self._kept: BoundedCache[tuple[int, Any, bool]] = BoundedCache(MAX_KEPT)
        self._fetch, self._request = fetch, request
        self.min_confirmations = max(1, min_confirmations)

    def chains(self) -> tuple[str, ...]:
        """The chains endpoints are configured for."""
        return tuple(self._endpoints)

    # -- the issuer's documents --------------------------------------------------------------

    def gather(self, document: dict[str, Any], *, now: int, profile: Snapshot | None = None,
               lookups: bool = True) -> BlockcertsEvidence:
        """The record's evidence: its issuer profile (``profile``, or fetched from the issuer URL
        the record names), the revocation list the profile (else the v2 record's embedded issuer)
        names, the StatusList2021 credential a v3 record names, and (``lookups``) one lookup per
        anchor. Raises ``BlockcertsError`` for a document that is no Blockcerts record; what
        cannot be fetched is a ``*_problem``."""
        named = parse_record(document)
        profile_problem = ""
        if profile is None:
            profile, profile_problem = self._snapshot(named.issuer_id, "the issuer profile", now)
        revocation_url = named.revocation_list_url
        if profile is not None:
            revocation_url = revocation_list_url(profile.document) or revocation_url
        revocation_list, revocation_problem = (None, "") if revocation_url is None else \
            self._snapshot(revocation_url, "the revocation list", now)
        status_list, status_problem = (None, "") if named.status_list_url is None else \
            self._snapshot(named.status_list_url, "the status list", now)
        found = tuple(self.lookup(a, now) for a in named.anchors) if lookups else ()
        return BlockcertsEvidence(document=document, issuer_profile=profile, profile_problem=profile_problem,
                                  revocation_list=revocation_list, revocation_problem=revocation_problem,
                                  status_list=status_list, status_problem=status_problem, lookups=found)

    def _remembered(self, key: tuple[str, ...], now: int, make: Callable[[], tuple[Any, bool]]) -> Any:
        """``make()``'s value (with whether it succeeded), kept for ``max_age`` seconds if it did,
        else for at most :data:`FAILED_SECONDS`."""
        found = self._kept.get(key) if self._max_age else None
        if found is not None:
            at, value, ok = found
            if 0 <= now - at < (self._max_age if ok else min(self._max_age, FAILED_SECONDS)):
                return value
        value, ok = make()
        if self._max_age:
            self._kept.put(key, (now, value, ok))
        return value

    def _snapshot(self, url: str | None, what: str, now: int) -> tuple[Snapshot | None, str]:
        if not url:
            return None, f"{what} could not be fetched: the record names no URL for it"

        def fetch() -> tuple[tuple[Snapshot | None, str], bool]:
            found = self._fetched(url, what, now)
            return found, found[0] is not None
        kept: tuple[Snapshot | None, str] = self._remembered(("snapshot", url), now, fetch)
        return kept

    def _fetched(self, url: str, what: str, now: int) -> tuple[Snapshot | None, str]:
        if url.startswith("did:"):
            return None, (f"{what} could not be fetched: the issuer is a DID ({url[:80]}), which is not resolved "
                          "here; give the issuer profile as a file")
        try:
            return fetch_snapshot(url, now, fetch=self._fetch, allowed_hosts=self._allowed_hosts), ""
        except CredshareError as exc:
            words = (exc.detail or exc.code).removeprefix(f"{url}: ")
            return None, f"{what} could not be fetched from {_host(url)}: {words}"[:500]

    # -- anchors -----------------------------------------------------------------------------

    def lookup(self, anchor: Anchor, now: int) -> TransactionLookup:
        """``anchor``'s transaction on every endpoint configured for its chain (see the module)."""

        def look() -> tuple[TransactionLookup, bool]:
            found = self._looked_up(anchor, now)
            return found, found.transaction is not None
        kept: TransactionLookup = self._remembered(("lookup", anchor.chain, anchor.txid), now, look)
        return kept

    def _looked_up(self, anchor: Anchor, now: int) -> TransactionLookup:
        if anchor.test:
            return TransactionLookup(anchor, problem=f"test anchor ({anchor.chain}), not a public chain: not looked up")
        urls = self._endpoints.get(anchor.chain, ())
        if not urls:
            return TransactionLookup(anchor, problem=f"no endpoint configured for {anchor.chain}")
        txid = anchor.txid.lower()
        ethereum = anchor.chain in ETHEREUM_CHAIN_IDS
        if anchor.chain not in ETHEREUM_CHAIN_IDS and anchor.chain not in BLOCKCERTS_BITCOIN_CHAINS:
            return TransactionLookup(anchor, problem=f"transactions on {anchor.chain} cannot be looked up here")
        if not (_ETH_TXID if ethereum else _BTC_TXID).match(txid):
            return TransactionLookup(anchor, problem=f"{anchor.txid[:80]!r} is not a transaction id on "
                                                     f"{anchor.chain}", refuted=True)
        seen: list[tuple[str, _Seen]] = []
        unusable: list[str] = []
        for url in urls:
            label = redact_endpoint_url(url[len(BITCOIND_PREFIX):] if url.startswith(BITCOIND_PREFIX) else url)
            try:
                if ethereum:
                    answer = self._ethereum(url, label, anchor.chain, txid)
                elif url.startswith(BITCOIND_PREFIX):
                    answer = self._bitcoind(url[len(BITCOIND_PREFIX):], label, txid)
                else:
                    answer = self._esplora(url, label, txid)
                if answer.time > now + FUTURE_SLACK:
                    raise _Unusable(f"{label}: the block time {_date(answer.time)} is in the future")
                seen.append((label, answer))
            except _Unusable as exc:
                unusable.append(str(exc)[:300])
        return self._judge(anchor, txid, seen, unusable)

    @staticmethod
    def _judge(anchor: Anchor, txid: str, seen: list[tuple[str, _Seen]], unusable: list[str]) -> TransactionLookup:
        not_asked = "; could not ask " + "; ".join(unusable) if unusable else ""
        if not seen:
            return TransactionLookup(anchor, problem=f"no endpoint for {anchor.chain} could be asked: "
                                                     f"{'; '.join(unusable)}"[:500])
        if len({answer.key() for _, answer in seen}) > 1:
            said = "; ".join(f"{label}: {a.refutation or f'data {a.data_hex[:16]}…, sender {a.sender}, ' + _date(a.time)}"
                             for label, a in seen)
            return TransactionLookup(anchor, problem=f"endpoints disagree on {txid}: {said}{not_asked}"[:500])
        labels = tuple(label for label, _ in seen)
        first = seen[0][1]
        if first.refutation:
            return TransactionLookup(anchor, problem=f"{first.refutation} (said by {', '.join(labels)})"[:500],
                                     refuted=True)
        return TransactionLookup(anchor, Transaction(anchor.chain, txid, first.data_hex, first.sender, first.time,
                                                     labels))

    # -- Ethereum JSON-RPC -------------------------------------------------------------------

    def _ethereum(self, url: str, label: str, chain: str, txid: str) -> _Seen:
        chain_id = _quantity(self._rpc(url, label, "eth_chainId", []), label, "eth_chainId")
        if chain_id != ETHEREUM_CHAIN_IDS[chain]:
            raise _Unusable(f"{label} is on chain id {chain_id}, not {chain} ({ETHEREUM_CHAIN_IDS[chain]})")
        tx = self._rpc(url, label, "eth_getTransactionByHash", [txid])
        if tx is None:
            return _Seen(refutation=f"transaction {txid} is not on {chain}")
        if not isinstance(tx, dict) or str(tx.get("hash", "")).lower() != txid:
            raise _Unusable(f"{label} answered with another transaction than {txid}")
        if tx.get("blockNumber") is None:
            return _Seen(refutation=f"transaction {txid} is not in a block yet (unconfirmed)")
        number = _quantity(tx.get("blockNumber"), label, "blockNumber")
        head = _quantity(self._rpc(url, label, "eth_blockNumber", []), label, "eth_blockNumber")
        if head < number:
            raise _Unusable(f"{label} reports the transaction in block {number}, beyond its latest block {head}")
        if head - number + 1 < self.min_confirmations:
            return _Seen(refutation=f"transaction {txid} has {head - number + 1} confirmation(s), fewer than "
                                    f"{self.min_confirmations}")
        block = self._rpc(url, label, "eth_getBlockByNumber", [hex(number), False])
        if not isinstance(block, dict) or str(block.get("hash", "")).lower() != str(tx.get("blockHash", "")).lower():
            raise _Unusable(f"{label}: block {number} is not the block the transaction names")
        data, sender = str(tx.get("input", "")).lower(), str(tx.get("from", "")).lower()
        if not data.startswith("0x") or not _HEX.match(data[2:]) or not re.match(r"^0x[0-9a-f]{40}$", sender):
            raise _Unusable(f"{label}: the transaction's input or sender is malformed")
        return _Seen(data[2:], sender, _quantity(block.get("timestamp"), label, "timestamp"))

    def _rpc(self, url: str, label: str, method: str, params: list[Any], headers: dict[str, str] | None = None) -> Any:
        """One JSON-RPC 2.0 call (jsonrpc.org/specification); its ``result``."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, separators=(",", ":")).encode()
        try:
            answer = self._request("POST", check_remote_url(url), body=body, content_type="application/json",
                                   max_bytes=MAX_TX_BYTES, headers={"Accept": "application/json", **(headers or {})})
        except CredshareError as exc:
            raise _Unusable(f"{label}: {_why(exc, url, label)}") from None
        doc = _answer_json(answer, label, ok=(200, 404, 500))  # bitcoind answers errors with 404/500
        if not isinstance(doc, dict) or doc.get("id") != 1:
            raise _Unusable(f"{label}: {method}: the answer is not a JSON-RPC response")
        error = doc.get("error")
        if error is not None:
            code = error.get("code") if isinstance(error, dict) else None
            message = str(error.get("message") if isinstance(error, dict) else error)[:120]
            raise _RpcError(f"{label}: {method}: {message}", code)
        if answer.status != 200:
            raise _Unusable(f"{label}: {method}: answered {answer.status}")
        return doc.get("result")

    # -- Bitcoin: Esplora REST ------------------------------------------------------------------

    def _esplora(self, base: str, label: str, txid: str) -> _Seen:
        url = base.rstrip("/") + "/tx/" + txid
        try:
            answer = self._request("GET", check_remote_url(url), max_bytes=MAX_TX_BYTES,
                                   headers={"Accept": "application/json"})
        except CredshareError as exc:
            raise _Unusable(f"{label}: {_why(exc, url, label)}") from None
        if answer.status == 404:
            return _Seen(refutation=f"transaction {txid} is not on the chain")
        tx = _answer_json(answer, label)
        if not isinstance(tx, dict) or tx.get("txid") != txid:
            raise _Unusable(f"{label} answered with another transaction than {txid}")
        status = tx.get("status")
        if not isinstance(status, dict) or status.get("confirmed") is not True:
            return _Seen(refutation=f"transaction {txid} is not in a block yet (unconfirmed)")
        time = _int(status.get("block_time"))
        if time is None:
            raise _Unusable(f"{label}: the transaction has no block time")
        outputs = [o.get("scriptpubkey") for o in tx.get("vout", []) if isinstance(o, dict)] \
            if isinstance(tx.get("vout"), list) else []
        return _Seen(_op_return(outputs, label), _text(_dig(tx, "vin", 0, "prevout", "scriptpubkey_address")), time)

    # -- Bitcoin: Bitcoin Core JSON-RPC ----------------------------------------------------------

    def _bitcoind(self, url: str, label: str, txid: str) -> _Seen:
        parts = urlsplit(url)
        headers: dict[str, str] = {}
        if parts.username is not None:
            secret = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            headers["Authorization"] = "Basic " + b64_encode(secret)
            netloc = parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else ""
            url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        try:
            tx = self._rpc(url, label, "getrawtransaction", [txid, 2], headers)
        except _RpcError as exc:
            if exc.code == -5:  # RPC_INVALID_ADDRESS_OR_KEY: "No such mempool or blockchain transaction"
                return _Seen(refutation=f"transaction {txid} is not on the chain")
            raise _Unusable(str(exc)) from None
        if not isinstance(tx, dict) or tx.get("txid") != txid:
            raise _Unusable(f"{label} answered with another transaction than {txid}")
        confirmations = _int(tx.get("confirmations")) or 0
        if confirmations < 1:
            return _Seen(refutation=f"transaction {txid} is not in a block yet (unconfirmed)")
        if confirmations < self.min_confirmations:
            return _Seen(refutation=f"transaction {txid} has {confirmations} confirmation(s), fewer than "
                                    f"{self.min_confirmations}")
        time = _int(tx.get("blocktime"))
        if time is None:
            raise _Unusable(f"{label}: the transaction has no block time")
        outputs = [o.get("scriptPubKey", {}).get("hex") for o in tx.get("vout", [])
                   if isinstance(o, dict) and isinstance(o.get("scriptPubKey"), dict)] \
            if isinstance(tx.get("vout"), list) else []
        if _dig(tx, "vin", 0, "coinbase") is None and not isinstance(_dig(tx, "vin", 0, "prevout"), dict):
            raise _Unusable(f"{label}: getrawtransaction names no prevout (Bitcoin Core 25 or later is needed)")
        return _Seen(_op_return(outputs, label), _text(_dig(tx, "vin", 0, "prevout", "scriptPubKey", "address")), time)


class _RpcError(_Unusable):
    def __init__(self, message: str, code: Any) -> None:
        super().__init__(message)
        self.code = code


def _answer_json(answer: Answer, label: str, ok: tuple[int, ...] = (200,)) -> Any:
    if answer.status not in ok:
        raise _Unusable(f"{label}: answered {answer.status}")
    try:
        return strict_json.loads(answer.body, max_depth=MAX_JSON_DEPTH)
    except CredshareError as exc:
        raise _Unusable(f"{label}: the answer is not JSON ({exc.detail or exc.code})") from None


def _dig(value: Any, *path: str | int) -> Any:
    """``value[p0][p1]...`` through objects and arrays, ``None`` where the path does not lead."""
    for step in path:
        if isinstance(step, int) and isinstance(value, list) and -len(value) <= step < len(value):
            value = value[step]
        elif isinstance(step, str) and isinstance(value, dict):
            value = value.get(step)
        else:
            return None
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _quantity(value: Any, label: str, what: str) -> int:
    """An Ethereum JSON-RPC QUANTITY (``0x``-hex, no leading zeros beyond ``0x0``)."""
    if not isinstance(value, str) or not re.match(r"^0x(0|[1-9a-f][0-9a-f]{0,63})$", value):
        raise _Unusable(f"{label}: {what} is not a number")
    return int(value, 16)


def _op_return(scripts: list[Any], label: str) -> str:
    """The data of the transaction's OP_RETURN output (``6a`` and a push of up to 75 bytes),
    lower-case hex; ``""`` when it has none (the anchor check then fails)."""
    found = [s.lower() for s in scripts if isinstance(s, str) and s.lower().startswith("6a")]
    if len(found) > 1:
        raise _Unusable(f"{label}: the transaction has {len(found)} OP_RETURN outputs")
    if not found:
        return ""
    script = found[0]
    if not _HEX.match(script) or len(script) < 4 or int(script[2:4], 16) > 75 \
            or len(script) != 4 + 2 * int(script[2:4], 16):
        return ""
    return script[4:]


__all__ = ["BlockcertsSources", "ETHEREUM_CHAIN_IDS", "MAX_SNAPSHOT_BYTES", "fetch_snapshot"]
