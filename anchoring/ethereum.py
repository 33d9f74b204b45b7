"""Ethereum JSON-RPC adapter for chain anchors: publish and verify checkpoint anchors.

A checkpoint is anchored by a zero-value transaction from the anchoring account to itself
whose calldata is the C2SP tlog-checkpoint body (:func:`anchoring.chain.anchor_payload`).
Transactions are signed locally with eth-account (EIP-1559 type-2 where the chain has a
base fee, legacy EIP-155 otherwise) and submitted with ``eth_sendRawTransaction``; node
managed accounts are never used. Verification reads ``eth_chainId``, ``eth_blockNumber``,
``eth_getTransactionByHash``, ``eth_getTransactionReceipt`` and ``eth_getBlockByNumber``
from every endpoint given and never trusts one endpoint for another.

Endpoints are HTTP(S) JSON-RPC URLs or web3 provider objects (for instance
``EthereumTesterProvider`` in tests). web3 and eth-account are optional dependencies
(the ``ethereum`` extra); :mod:`anchoring.chain` works without them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, cast

from credshare.anchoring.chain import (
    AnchorError,
    AnchorPublishError,
    ChainAnchor,
    ChainVerdict,
    anchor_payload,
    redact_endpoint_url,
)
from credshare.foundation.checks import Status
from credshare.foundation.errors import ConfigError
from credshare.foundation.runtime import keep_recursion_limit

try:  # optional dependency: pip install 'credshare[ethereum]'
    with keep_recursion_limit():  # web3 imports py_ecc, which raises it
        import requests
        from eth_account import Account
        from web3 import Web3
        from web3.exceptions import (
            BlockNotFound,
            ProviderConnectionError,
            RequestTimedOut,
            TimeExhausted,
            TransactionNotFound,
            Web3RPCError,
        )
        from web3.providers import BaseProvider, HTTPProvider
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    _IMPORT_ERROR: ImportError | None = _exc
else:
    _IMPORT_ERROR = None

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from eth_typing import Hash32, HexStr
    from web3.types import Wei

    Endpoint = str | BaseProvider  # an HTTP(S) JSON-RPC URL or a web3 provider

log = logging.getLogger(__name__)

DEFAULT_RECEIPT_TIMEOUT = 120.0
DEFAULT_REQUEST_TIMEOUT = 30.0
DEFAULT_VERIFY_TIMEOUT = 10.0
_RPC_MESSAGE_LIMIT = 200


def _require_web3() -> None:
    if _IMPORT_ERROR is not None:
        raise ConfigError(
            f"Ethereum anchoring needs web3 and eth-account ({_IMPORT_ERROR.name} is missing): "
            "pip install 'credshare[ethereum]'"
        )


def _describe(endpoint: Any) -> str:
    """A label for an endpoint that never carries credentials."""
    if isinstance(endpoint, str):
        return redact_endpoint_url(endpoint)
    uri = getattr(endpoint, "endpoint_uri", None)
    if isinstance(uri, str):
        return redact_endpoint_url(uri)
    return f"<{type(endpoint).__name__}>"


def _web3_for(endpoint: Any, timeout: float, *, retry: bool) -> Web3:
    """A Web3 client for an HTTP(S) URL or a provider; AnchorError for anything else."""
    _require_web3()
    if isinstance(endpoint, str):
        scheme = endpoint.split(":", 1)[0].lower()
        if scheme not in ("http", "https"):
            raise AnchorError(
                f"endpoint {_describe(endpoint)} is not an http(s) JSON-RPC URL",
                code="anchor_endpoint_invalid",
            )
        kwargs: dict[str, Any] = {"request_kwargs": {"timeout": timeout}}
        if not retry:
            kwargs["exception_retry_configuration"] = None
        return Web3(HTTPProvider(endpoint, **kwargs))
    if isinstance(endpoint, BaseProvider):
        return Web3(endpoint)
    raise AnchorError(
        f"endpoint of type {type(endpoint).__name__} is neither an RPC URL nor a web3 provider",
        code="anchor_endpoint_invalid",
    )


def _hex(value: Any) -> str:
    """Lowercase 0x-hex of a HexBytes/bytes/str value from a node."""
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    text = str(value).lower()
    return text if text.startswith("0x") else "0x" + text


def _rpc_message(exc: BaseException) -> str:
    """The node's own error message (never our URL, which may hold credentials)."""
    response = getattr(exc, "rpc_response", None)
    message = None
    if isinstance(response, dict) and isinstance(response.get("error"), dict):
        message = response["error"].get("message")
    if not isinstance(message, str):
        message = getattr(exc, "user_message", None) or type(exc).__name__
    return str(message)[:_RPC_MESSAGE_LIMIT]


def _is_unreachable(exc: BaseException) -> bool:
    """Connection-level failures: the endpoint could not be asked at all."""
    if _IMPORT_ERROR is None and isinstance(
        exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
              ProviderConnectionError, RequestTimedOut)
    ):
        return True
    return isinstance(exc, (ConnectionError, TimeoutError))


def _calldata_gas_floor(payload: bytes) -> int:
    """The most a plain transfer carrying ``payload`` can need: 21000 plus calldata cost
    priced as before Prague (4 gas a zero byte, 16 a non-zero byte) or by the EIP-7623 floor
    (10 gas a token, a non-zero byte counting as 4 tokens), whichever is higher.

    Used as a lower bound on the gas limit, because some nodes' estimates leave out the
    EIP-7623 floor; unused gas is never charged.
    """
    zeros = payload.count(0)
    nonzero = len(payload) - zeros
    return 21_000 + max(4 * zeros + 16 * nonzero, 10 * (zeros + 4 * nonzero))


class EthereumAnchorer:
    """Publishes checkpoint anchors from one locally held account.

    ``endpoint`` is an HTTP(S) JSON-RPC URL or a web3 provider; ``private_key`` is the
    anchoring account's secp256k1 key as hex (with or without ``0x``). The key never
    leaves this object and appears in no message or repr.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        private_key: str,
        *,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    ) -> None:
        _require_web3()
        self._w3 = _web3_for(endpoint, request_timeout, retry=True)
        self._label = _describe(endpoint)
        if not isinstance(private_key, str):
            raise AnchorError("the anchoring key must be a hex string", code="anchor_key_invalid")
        try:
            self._account: LocalAccount = Account.from_key(private_key)
        except Exception:  # noqa: BLE001 - never echo the key or its parse error
            raise AnchorError(
                "the anchoring key is not a valid secp256k1 private key", code="anchor_key_invalid"
            ) from None

    def __repr__(self) -> str:
        return f"EthereumAnchorer(endpoint={self._label!r}, address={self.address!r})"

    @property
    def address(self) -> str:
        """The checksummed address anchors are sent from (and to)."""
        return str(self._account.address)

    def publish(
        self,
        origin: str,
        tree_size: int,
        root_hash: bytes,
        *,
        timeout: float = DEFAULT_RECEIPT_TIMEOUT,
        poll_interval: float = 1.0,
    ) -> ChainAnchor:
        """Anchor one checkpoint and wait (up to ``timeout`` seconds) until it is mined.

        The receipt is asked for at once and then every ``poll_interval`` seconds. The
        anchor records the block that first included the transaction; on a public chain,
        wait for enough confirmations before relying on it (a reorganisation moves it).

        Raises :class:`AnchorError` for bad input and :class:`AnchorPublishError` when the
        node cannot be reached, rejects the transaction (``anchor_publish_failed``), the
        transaction reverts (``anchor_publish_reverted``) or no receipt arrives in time
        (``anchor_publish_timeout``).
        """
        payload = anchor_payload(origin, tree_size, root_hash)
        w3 = self._w3
        sender = self._account.address
        try:
            chain_id = int(w3.eth.chain_id)
            tx: dict[str, Any] = {
                "chainId": chain_id,
                "from": sender,
                "to": sender,
                "value": 0,
                "data": payload,
                "nonce": w3.eth.get_transaction_count(sender, "pending"),
            }
            estimate = int(w3.eth.estimate_gas({"from": sender, "to": sender, "value": cast("Wei", 0), "data": payload}))
            tx["gas"] = max(estimate, _calldata_gas_floor(payload))
            base_fee = w3.eth.get_block("latest").get("baseFeePerGas")
            if base_fee is not None:
                tip = int(w3.eth.max_priority_fee)
                tx["type"] = 2
                tx["maxPriorityFeePerGas"] = tip
                tx["maxFeePerGas"] = 2 * int(base_fee) + tip
            else:
                tx["gasPrice"] = int(w3.eth.gas_price)
            signed = self._account.sign_transaction(tx)
            tx_hash = bytes(signed.hash)
            try:
                w3.eth.send_raw_transaction(signed.raw_transaction)
            except Web3RPCError as exc:
                # A retried submission may find its first attempt already accepted.
                if not self._known(tx_hash):
                    raise AnchorPublishError(
                        f"{self._label} rejected the anchor transaction: {_rpc_message(exc)}"
                    ) from None
            try:
                receipt = w3.eth.wait_for_transaction_receipt(
                    cast("Hash32", tx_hash), timeout=timeout, poll_latency=poll_interval
                )
            except TimeExhausted:
                raise AnchorPublishError(
                    f"anchor transaction {_hex(tx_hash)} was not mined within {timeout:g} s",
                    code="anchor_publish_timeout",
                ) from None
            if receipt.get("status") != 1:
                raise AnchorPublishError(
                    f"anchor transaction {_hex(tx_hash)} failed (receipt status {receipt.get('status')})",
                    code="anchor_publish_reverted",
                )
            block = w3.eth.get_block(receipt["blockHash"])
        except AnchorError:
            raise
        except Web3RPCError as exc:
            raise AnchorPublishError(f"{self._label}: {_rpc_message(exc)}") from None
        except Exception as exc:
            if _is_unreachable(exc):
                # requests' messages repeat the URL, which may hold credentials: drop them.
                raise AnchorPublishError(f"{self._label} could not be reached") from None
            raise AnchorPublishError(
                f"{self._label} refused the anchor transaction ({type(exc).__name__})"
            ) from exc
        return ChainAnchor(
            chain_id=chain_id,
            tx_hash=_hex(receipt["transactionHash"]),
            block_number=int(receipt["blockNumber"]),
            block_time=int(block["timestamp"]),
            origin=origin,
            tree_size=tree_size,
            root_hash=bytes(root_hash),
        )

    def _known(self, tx_hash: bytes) -> bool:
        try:
            self._w3.eth.get_transaction(cast("Hash32", tx_hash))
        except Exception:  # noqa: BLE001 - any failure means "not known to be accepted"
            return False
        return True


class _Contradiction(Exception):
    """An endpoint answered, and its answer contradicts the anchor."""


@dataclass
class _EndpointResult:
    index: int
    url: str
    outcome: str
    detail: str
    block_hash: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "url": self.url, "outcome": self.outcome, "detail": self.detail}


def _check_endpoint(w3: Web3, anchor: ChainAnchor, payload: bytes) -> tuple[str, str]:
    """Confirm ``anchor`` on one node; returns (detail, block hash) or raises _Contradiction."""
    chain_id = int(w3.eth.chain_id)
    if chain_id != anchor.chain_id:
        raise _Contradiction(f"node is on chain {chain_id}, the anchor names chain {anchor.chain_id}")
    latest = int(w3.eth.block_number)
    if anchor.block_number > latest:
        raise _Contradiction(f"anchor block {anchor.block_number} is beyond the node's latest block {latest}")
    try:
        tx = w3.eth.get_transaction(cast("HexStr", anchor.tx_hash))  # 0x and 64 hex digits (ChainAnchor)
    except TransactionNotFound:
        raise _Contradiction(f"transaction {anchor.tx_hash} is not on this chain") from None
    if _hex(tx.get("hash")) != anchor.tx_hash:
        raise _Contradiction(f"node returned another transaction for {anchor.tx_hash}")
    if tx.get("blockNumber") is None:
        raise _Contradiction(f"transaction {anchor.tx_hash} is still pending")
    if tx.get("chainId") is not None and int(tx["chainId"]) != anchor.chain_id:
        raise _Contradiction(f"transaction is signed for chain {int(tx['chainId'])}")
    if bytes(tx.get("input") or b"") != payload:
        raise _Contradiction(
            "transaction data is not the checkpoint body of the expected origin, tree size and root hash"
        )
    if int(tx["blockNumber"]) != anchor.block_number:
        raise _Contradiction(
            f"transaction is in block {int(tx['blockNumber'])}, the anchor names block {anchor.block_number}"
        )
    try:
        receipt = w3.eth.get_transaction_receipt(cast("HexStr", anchor.tx_hash))
    except TransactionNotFound:
        raise _Contradiction(f"transaction {anchor.tx_hash} has no receipt") from None
    if receipt.get("status") != 1:
        raise _Contradiction(f"transaction failed (receipt status {receipt.get('status')})")
    if int(receipt["blockNumber"]) != anchor.block_number:
        raise _Contradiction(f"receipt is in block {int(receipt['blockNumber'])}, not {anchor.block_number}")
    try:
        block = w3.eth.get_block(anchor.block_number)
    except BlockNotFound:
        raise _Contradiction(f"block {anchor.block_number} is not on this chain") from None
    if int(block["number"]) != anchor.block_number:
        raise _Contradiction(f"node returned block {int(block['number'])} for {anchor.block_number}")
    if int(block["timestamp"]) != anchor.block_time:
        raise _Contradiction(
            f"block {anchor.block_number} has timestamp {int(block['timestamp'])}, "
            f"the anchor says {anchor.block_time}"
        )
    block_hash = _hex(block["hash"])
    if _hex(receipt["blockHash"]) != block_hash or _hex(tx.get("blockHash")) != block_hash:
        raise _Contradiction(f"transaction is not in the canonical block {anchor.block_number}")
    if anchor.tx_hash not in {_hex(h) for h in block.get("transactions", [])}:
        raise _Contradiction(f"block {anchor.block_number} does not list transaction {anchor.tx_hash}")
    confirmations = latest - anchor.block_number + 1
    return f"confirmed with {confirmations} confirmation(s), block hash {block_hash}", block_hash


def _test_suffix(anchor: ChainAnchor) -> str:
    if not anchor.is_test_anchor:
        return ""
    return f" (test anchor: chain {anchor.chain_id} is a development chain, not a public ledger)"


def verify_chain_anchor(
    anchor: ChainAnchor,
    *,
    origin: str,
    tree_size: int,
    root_hash: bytes,
    endpoints: Sequence[Endpoint],
    timeout: float = DEFAULT_VERIFY_TIMEOUT,
) -> ChainVerdict:
    """Check that ``anchor`` anchors the checkpoint (origin, tree_size, root_hash) on every endpoint.

    Each endpoint must be on the anchor's chain and show the transaction, mined with
    status 1 in the anchor's block (number and timestamp as recorded, not beyond the head),
    carrying exactly the expected checkpoint body; all endpoints must agree on that block's
    hash. Any contradiction gives ``failed``; endpoints that cannot be asked (connection
    error, time-out after ``timeout`` seconds per request, error answers) give
    ``unchecked`` when nothing contradicts; so does an empty ``endpoints``. Network
    problems never raise; :class:`AnchorError` is raised only for misuse (a non-anchor, bad
    expected values, an endpoint that is neither an http(s) URL nor a web3 provider).
    """
    if not isinstance(anchor, ChainAnchor):
        raise AnchorError("verify_chain_anchor needs a ChainAnchor")
    payload = anchor_payload(origin, tree_size, root_hash)
    endpoint_list = list(endpoints)
    clients = [_web3_for(e, timeout, retry=False) for e in endpoint_list] if endpoint_list else []
    labels = [_describe(e) for e in endpoint_list]
    test_anchor = anchor.is_test_anchor
    suffix = _test_suffix(anchor)

    claimed = []
    if anchor.origin != origin:
        claimed.append("origin")
    if anchor.tree_size != tree_size:
        claimed.append("tree size")
    if anchor.root_hash != bytes(root_hash):
        claimed.append("root hash")
    if claimed:
        detail = f"the anchor is for another checkpoint: its {', '.join(claimed)} differ from the expected"
        skipped = [
            {"index": i, "url": labels[i], "outcome": "skipped", "detail": "not queried"}
            for i in range(len(endpoint_list))
        ]
        return ChainVerdict("failed", detail + suffix, test_anchor, skipped)
    if not endpoint_list:
        return ChainVerdict("unchecked", "no endpoints to check the anchor against" + suffix, test_anchor, [])

    results: list[_EndpointResult] = []
    for index, (w3, label) in enumerate(zip(clients, labels, strict=True)):
        try:
            detail, block_hash = _check_endpoint(w3, anchor, payload)
            results.append(_EndpointResult(index, label, "passed", detail, block_hash))
        except _Contradiction as exc:
            results.append(_EndpointResult(index, label, "failed", str(exc)))
        except Exception as exc:  # noqa: BLE001 - a node's failure must not become ours
            if _is_unreachable(exc):
                outcome, detail = "unreachable", f"could not be reached ({type(exc).__name__})"
            elif _IMPORT_ERROR is None and isinstance(exc, Web3RPCError):
                outcome, detail = "error", f"answered with an error: {_rpc_message(exc)}"
            else:
                outcome, detail = "error", f"gave an unusable answer ({type(exc).__name__})"
            log.debug("anchor check on endpoint %d (%s): %s", index, label, outcome)
            results.append(_EndpointResult(index, label, outcome, detail))

    report = [r.to_dict() for r in results]
    return ChainVerdict(*_judge(anchor, results, suffix), test_anchor, report)


def _endpoints(count: int, total: int) -> str:
    return f"{count} of {total} endpoint{'' if total == 1 else 's'}"


def _judge(anchor: ChainAnchor, results: list[_EndpointResult], suffix: str) -> tuple[Status, str]:
    """The verdict's status and its detail, which says which endpoints were read and whether
    they agree, and names each one that contradicted the anchor or could not be read."""
    total = len(results)
    passed = [r for r in results if r.outcome == "passed"]
    failed = [r for r in results if r.outcome == "failed"]
    unread = [r for r in results if r.outcome not in ("passed", "failed")]
    when = datetime.fromtimestamp(anchor.block_time, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    what = f"chain {anchor.chain_id}, tx {anchor.tx_hash} in block {anchor.block_number} at {when}"
    not_read = "; could not read " + ", ".join(f"endpoint {r.index} ({r.url}): {r.detail}" for r in unread) \
        if unread else ""
    if failed:
        first = failed[0]
        others = f" ({len(failed)} of {total} endpoints contradict it)" if len(failed) > 1 else ""
        return "failed", (f"endpoint {first.index} ({first.url}): {first.detail}{others}; the anchor claims {what}"
                          f"{not_read}{suffix}")
    hashes = {r.block_hash for r in passed}
    if len(hashes) > 1:
        listing = ", ".join(f"endpoint {r.index}: {r.block_hash}" for r in passed)
        return "failed", (f"endpoints disagree on block {anchor.block_number}: {listing}; read from "
                          f"{_endpoints(len(passed), total)}{not_read}{suffix}")
    if not passed:
        return "unchecked", (f"the anchor ({what}) could not be looked up: none of the {total} endpoint(s) "
                             f"could be read{not_read}{suffix}")
    agree = "all agree" if len(passed) > 1 else "which confirms it"
    if unread:
        return "unchecked", (f"anchored on {what}: read from {_endpoints(len(passed), total)}, {agree}, none "
                             f"contradicts it{not_read}{suffix}")
    return "passed", f"anchored on {what}: read from {_endpoints(len(passed), total)}, {agree}{suffix}"


__all__ = ["EthereumAnchorer", "verify_chain_anchor"]


def chain_checker(endpoints: Sequence[Endpoint], timeout: float = DEFAULT_VERIFY_TIMEOUT) -> Any:
    """A ``chain_check`` for :func:`anchoring.proof.verify_anchor_proof`: each anchor of a proof
    looked up on every endpoint. Refuses at once (ConfigError) when web3 is not installed."""
    _require_web3()
    endpoint_list = list(endpoints)

    def check(anchor_json: dict[str, Any], checkpoint: Any) -> tuple[str, str]:
        try:
            anchor = ChainAnchor.from_json(anchor_json)
        except AnchorError as exc:
            return "failed", exc.detail
        verdict = verify_chain_anchor(anchor, origin=checkpoint.origin, tree_size=checkpoint.size,
                                      root_hash=checkpoint.root, endpoints=endpoint_list, timeout=timeout)
        return verdict.status, verdict.detail

    return check
