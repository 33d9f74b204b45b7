"""Ethereum anchoring of C2SP checkpoints (anchoring.chain, anchoring.ethereum).

Two real EVM back ends: eth-tester with py-evm in process (through web3's
EthereumTesterProvider) and ganache 7 as a separate process spoken to over HTTP JSON-RPC.
Every check the verifier makes is driven to ``failed`` at least once.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from eth_account import Account
from web3 import EthereumTesterProvider, Web3
from web3.middleware.base import Web3Middleware

from credshare.anchoring.chain import (
    DEV_CHAIN_IDS,
    ETH_TESTER_CHAIN_ID,
    AnchorError,
    ChainAnchor,
    ChainVerdict,
    anchor_payload,
    redact_endpoint_url,
)
from credshare.anchoring.ethereum import EthereumAnchorer, verify_chain_anchor
from tests.conftest import Ganache, free_port

ORIGIN = "credshare.example/log"
SIZE = 42
ROOT_HASH = hashlib.sha256(b"credshare test root").digest()
OTHER_ROOT = hashlib.sha256(b"another root").digest()


def funded_key(provider: EthereumTesterProvider) -> str:
    """eth-tester's first funded account key, read from the backend rather than assumed."""
    return provider.ethereum_tester.backend.account_keys[0].to_hex()


def verify(anchor: ChainAnchor, endpoints: list[Any], **expected: Any) -> ChainVerdict:
    want = {"origin": ORIGIN, "tree_size": SIZE, "root_hash": ROOT_HASH, **expected}
    return verify_chain_anchor(anchor, endpoints=endpoints, timeout=5.0, **want)


@dataclasses.dataclass
class AnchoredChain:
    provider: EthereumTesterProvider
    anchorer: EthereumAnchorer
    anchor: ChainAnchor


@pytest.fixture(scope="module")
def chain() -> AnchoredChain:
    """One eth-tester chain with one published anchor; tests may add transactions, never change it."""
    provider = EthereumTesterProvider()
    anchorer = EthereumAnchorer(provider, funded_key(provider))
    anchor = anchorer.publish(ORIGIN, SIZE, ROOT_HASH)
    return AnchoredChain(provider, anchorer, anchor)


# -- the payload and the records (pure) -------------------------------------------------


def test_payload_is_the_checkpoint_body() -> None:
    root_b64 = base64.standard_b64encode(ROOT_HASH).decode()
    assert anchor_payload(ORIGIN, SIZE, ROOT_HASH) == f"{ORIGIN}\n{SIZE}\n{root_b64}\n".encode()
    assert anchor_payload("o", 0, bytes(32)) == b"o\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
    assert anchor_payload("h\u00e9.example", 1, bytes(32)).startswith("h\u00e9.example\n".encode("utf-8"))


@pytest.mark.parametrize(
    ("origin", "size", "root"),
    [
        ("", 1, ROOT_HASH),
        ("a\nb", 1, ROOT_HASH),
        (None, 1, ROOT_HASH),
        (ORIGIN, -1, ROOT_HASH),
        (ORIGIN, True, ROOT_HASH),
        (ORIGIN, 1.0, ROOT_HASH),
        (ORIGIN, 2**64, ROOT_HASH),
        (ORIGIN, 1, ROOT_HASH[:31]),
        (ORIGIN, 1, ROOT_HASH + b"\x00"),
        (ORIGIN, 1, ROOT_HASH.hex()),
    ],
)
def test_payload_rejects_bad_input(origin: Any, size: Any, root: Any) -> None:
    with pytest.raises(AnchorError) as info:
        anchor_payload(origin, size, root)
    assert info.value.code == "anchor_malformed"
    assert info.value.http_status == 400


def test_anchor_json_round_trip(chain: AnchoredChain) -> None:
    data = chain.anchor.to_json()
    assert data["root_hash"] == base64.standard_b64encode(ROOT_HASH).decode()
    assert data["test_anchor"] is True
    assert json.loads(json.dumps(data)) == data
    assert ChainAnchor.from_json(data) == chain.anchor
    without_flag = {k: v for k, v in data.items() if k != "test_anchor"}
    assert ChainAnchor.from_json(without_flag) == chain.anchor


@pytest.mark.parametrize(
    "change",
    [
        {"chain_id": "131277322940537"},
        {"chain_id": True},
        {"chain_id": 0},
        {"tx_hash": 5},
        {"tx_hash": "0x1234"},
        {"tx_hash": "0x" + "AB" * 32},
        {"block_number": 1.0},
        {"block_time": None},
        {"origin": ""},
        {"tree_size": "42"},
        {"tree_size": -1},
        {"root_hash": base64.standard_b64encode(ROOT_HASH[:31]).decode()},
        {"root_hash": base64.urlsafe_b64encode(b"\xff" * 32).decode()},
        {"root_hash": base64.standard_b64encode(ROOT_HASH).decode().rstrip("=")},
        {"root_hash": list(ROOT_HASH)},
        {"test_anchor": "yes"},
        {"test_anchor": False},
        {"extra": 1},
    ],
)
def test_anchor_from_json_is_strict(chain: AnchoredChain, change: dict[str, Any]) -> None:
    data = {**chain.anchor.to_json(), **change}
    with pytest.raises(AnchorError) as info:
        ChainAnchor.from_json(data)
    assert info.value.code == "anchor_malformed"


@pytest.mark.parametrize("missing", ["chain_id", "tx_hash", "block_number", "block_time", "origin", "tree_size", "root_hash"])
def test_anchor_from_json_needs_every_member(chain: AnchoredChain, missing: str) -> None:
    data = chain.anchor.to_json()
    del data[missing]
    with pytest.raises(AnchorError, match=missing) as info:
        ChainAnchor.from_json(data)
    assert info.value.code == "anchor_malformed"
    with pytest.raises(AnchorError):
        ChainAnchor.from_json([data])


def test_test_anchor_flag_follows_chain_id(chain: AnchoredChain) -> None:
    assert ETH_TESTER_CHAIN_ID == Web3(chain.provider).eth.chain_id
    assert {1337, 31337, ETH_TESTER_CHAIN_ID} <= DEV_CHAIN_IDS
    assert chain.anchor.is_test_anchor
    for chain_id, flag in ((1, False), (11155111, False), (1337, True), (31337, True)):
        anchor = dataclasses.replace(chain.anchor, chain_id=chain_id)
        assert anchor.is_test_anchor is flag
        assert anchor.to_json()["test_anchor"] is flag


def test_redacted_urls_keep_no_credentials() -> None:
    assert redact_endpoint_url("https://user:pw@node.example:8545/v3/KEY?apikey=SECRET#x") == "https://node.example:8545/\u2026"
    assert redact_endpoint_url("http://127.0.0.1:8545") == "http://127.0.0.1:8545"
    assert redact_endpoint_url("http://[::1]:8545/") == "http://[::1]:8545"


# -- publish and verify on eth-tester ---------------------------------------------------


def test_publish_then_verify_passes(chain: AnchoredChain) -> None:
    anchor = chain.anchor
    w3 = Web3(chain.provider)
    assert anchor.chain_id == ETH_TESTER_CHAIN_ID
    assert (anchor.origin, anchor.tree_size, anchor.root_hash) == (ORIGIN, SIZE, ROOT_HASH)
    tx = w3.eth.get_transaction(anchor.tx_hash)
    assert bytes(tx["input"]) == anchor_payload(ORIGIN, SIZE, ROOT_HASH)
    assert tx["from"] == tx["to"] == chain.anchorer.address
    assert tx["value"] == 0
    assert w3.eth.get_block(anchor.block_number)["timestamp"] == anchor.block_time

    verdict = verify(anchor, [chain.provider])
    assert verdict.status == "passed", verdict.detail
    assert verdict.passed
    assert verdict.test_anchor is True
    assert "test anchor" in verdict.detail
    assert [e["outcome"] for e in verdict.endpoints] == ["passed"]
    assert verdict.to_json()["status"] == "passed"

    # A stored anchor (JSON) verifies the same way.
    assert verify(ChainAnchor.from_json(json.loads(json.dumps(anchor.to_json()))), [chain.provider]).passed


def test_every_anchor_gets_its_own_transaction(chain: AnchoredChain) -> None:
    second = chain.anchorer.publish(ORIGIN, SIZE + 1, OTHER_ROOT)
    assert second.tx_hash != chain.anchor.tx_hash
    assert second.block_number > chain.anchor.block_number
    assert verify(second, [chain.provider], tree_size=SIZE + 1, root_hash=OTHER_ROOT).passed
    # The first anchor still verifies, with more confirmations now.
    assert verify(chain.anchor, [chain.provider]).passed


@pytest.mark.parametrize(
    ("expected", "word"),
    [
        ({"root_hash": OTHER_ROOT}, "root hash"),
        ({"tree_size": SIZE + 1}, "tree size"),
        ({"origin": "evil.example/log"}, "origin"),
    ],
)
def test_anchor_for_another_checkpoint_fails(chain: AnchoredChain, expected: dict[str, Any], word: str) -> None:
    """The expected checkpoint differs from the one the (genuine) anchor names."""
    verdict = verify(chain.anchor, [chain.provider], **expected)
    assert verdict.status == "failed"
    assert word in verdict.detail and "another checkpoint" in verdict.detail
    assert "test anchor" in verdict.detail
    assert [e["outcome"] for e in verdict.endpoints] == ["skipped"]


@pytest.mark.parametrize(
    "forged",
    [{"root_hash": OTHER_ROOT}, {"tree_size": SIZE + 1}, {"origin": "evil.example/log"}],
)
def test_forged_anchor_claims_fail_on_chain(chain: AnchoredChain, forged: dict[str, Any]) -> None:
    """An anchor edited to claim another checkpoint, checked against that claim: the chain says no."""
    anchor = dataclasses.replace(chain.anchor, **forged)
    expected = {"origin": anchor.origin, "tree_size": anchor.tree_size, "root_hash": anchor.root_hash}
    verdict = verify(anchor, [chain.provider], **expected)
    assert verdict.status == "failed"
    assert "transaction data is not the checkpoint body" in verdict.detail
    assert verdict.endpoints[0]["outcome"] == "failed"


def test_tampered_tx_hash_fails(chain: AnchoredChain) -> None:
    bogus = "0x" + hashlib.sha256(b"no such transaction").hexdigest()
    verdict = verify(dataclasses.replace(chain.anchor, tx_hash=bogus), [chain.provider])
    assert verdict.status == "failed"
    assert "is not on this chain" in verdict.detail


def test_tx_hash_of_another_anchor_fails(chain: AnchoredChain) -> None:
    other = chain.anchorer.publish(ORIGIN, SIZE, OTHER_ROOT)
    swapped = dataclasses.replace(chain.anchor, tx_hash=other.tx_hash, block_number=other.block_number,
                                  block_time=other.block_time)
    verdict = verify(swapped, [chain.provider])
    assert verdict.status == "failed"
    assert "transaction data is not the checkpoint body" in verdict.detail


@pytest.mark.parametrize("chain_id", [1, 1337, ETH_TESTER_CHAIN_ID + 1])
def test_tampered_chain_id_fails(chain: AnchoredChain, chain_id: int) -> None:
    anchor = dataclasses.replace(chain.anchor, chain_id=chain_id)
    verdict = verify(anchor, [chain.provider])
    assert verdict.status == "failed"
    assert f"node is on chain {ETH_TESTER_CHAIN_ID}, the anchor names chain {chain_id}" in verdict.detail
    assert verdict.test_anchor is (chain_id in DEV_CHAIN_IDS)
    assert ("test anchor" in verdict.detail) is (chain_id in DEV_CHAIN_IDS)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"block_number": 10_000}, "beyond the node's latest block"),
        ({"block_number": 0}, "transaction is in block"),
        ({"block_time": 1}, "has timestamp"),
    ],
)
def test_tampered_block_fails(chain: AnchoredChain, change: dict[str, int], reason: str) -> None:
    verdict = verify(dataclasses.replace(chain.anchor, **change), [chain.provider])
    assert verdict.status == "failed"
    assert reason in verdict.detail


def lying_view(chain: AnchoredChain, method: str, patch: Callable[[dict[str, Any]], dict[str, Any]]) -> EthereumTesterProvider:
    """A provider on the same chain whose answers to ``method`` pass through ``patch``:
    a node that lies, or is broken, in one specific way."""

    class Lie(Web3Middleware):
        def response_processor(self, called: str, response: Any) -> Any:
            return patch(dict(response)) if called == method else response

    provider = EthereumTesterProvider(ethereum_tester=chain.provider.ethereum_tester)
    provider._middleware = (Lie, *EthereumTesterProvider._middleware)
    return provider


def _result(**changes: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda response: {**response, "result": {**response["result"], **changes}}


OTHER_HASH = "0x" + "22" * 32


@pytest.mark.parametrize(
    ("method", "patch", "reason"),
    [
        ("eth_getTransactionByHash", _result(blockNumber=None, blockHash=None), "is still pending"),
        ("eth_getTransactionByHash", _result(hash=OTHER_HASH), "returned another transaction"),
        ("eth_getTransactionByHash", _result(chainId=1), "signed for chain 1"),
        ("eth_getTransactionByHash", _result(input="0x"), "transaction data is not the checkpoint body"),
        ("eth_getTransactionByHash", _result(blockHash=OTHER_HASH), "not in the canonical block"),
        ("eth_getTransactionReceipt", _result(status=0), "receipt status 0"),
        ("eth_getTransactionReceipt", _result(blockNumber=0), "receipt is in block 0"),
        ("eth_getTransactionReceipt", _result(blockHash=OTHER_HASH), "not in the canonical block"),
        ("eth_getTransactionReceipt", lambda r: {**r, "result": None}, "has no receipt"),
        ("eth_getBlockByNumber", _result(number=0), "returned block 0"),
        ("eth_getBlockByNumber", _result(hash=OTHER_HASH), "not in the canonical block"),
        ("eth_getBlockByNumber", _result(transactions=[]), "does not list transaction"),
        ("eth_getBlockByNumber", _result(timestamp=7), "has timestamp 7"),
        ("eth_blockNumber", lambda r: {**r, "result": 0}, "beyond the node's latest block 0"),
        ("eth_chainId", lambda r: {**r, "result": 1}, "node is on chain 1"),
    ],
)
def test_every_node_answer_is_checked(
    chain: AnchoredChain, method: str, patch: Callable[[dict[str, Any]], dict[str, Any]], reason: str
) -> None:
    honest = verify(chain.anchor, [chain.provider])
    assert honest.passed, honest.detail
    verdict = verify(chain.anchor, [chain.provider, lying_view(chain, method, patch)])
    assert verdict.status == "failed"
    assert reason in verdict.detail
    assert [e["outcome"] for e in verdict.endpoints] == ["passed", "failed"]


def test_error_answers_make_unchecked(chain: AnchoredChain) -> None:
    def overloaded(response: dict[str, Any]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": response["id"], "error": {"code": -32005, "message": "backend overloaded"}}

    verdict = verify(chain.anchor, [chain.provider, lying_view(chain, "eth_getTransactionByHash", overloaded)])
    assert verdict.status == "unchecked"
    assert [e["outcome"] for e in verdict.endpoints] == ["passed", "error"]
    assert "backend overloaded" in verdict.endpoints[1]["detail"]


def test_no_endpoints_is_unchecked(chain: AnchoredChain) -> None:
    verdict = verify(chain.anchor, [])
    assert verdict.status == "unchecked"
    assert verdict.endpoints == []
    assert verdict.test_anchor and "test anchor" in verdict.detail


def test_unreachable_endpoint_is_unchecked(chain: AnchoredChain) -> None:
    url = f"http://anchor-user:s3cret-pw@127.0.0.1:{free_port()}/v3/API-KEY-123?token=tok-456"
    started = time.monotonic()
    verdict = verify(chain.anchor, [url])
    assert time.monotonic() - started < 5, "an unreachable endpoint must not be retried at length"
    assert verdict.status == "unchecked"
    assert verdict.endpoints[0]["outcome"] == "unreachable"
    text = json.dumps(verdict.to_json())
    for secret in ("s3cret-pw", "anchor-user", "API-KEY-123", "tok-456"):
        assert secret not in text

    # Reachable and confirming + unreachable: still unchecked, not passed.
    both = verify(chain.anchor, [chain.provider, url])
    assert both.status == "unchecked"
    assert [e["outcome"] for e in both.endpoints] == ["passed", "unreachable"]


def test_contradiction_beats_unreachable(chain: AnchoredChain) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    verdict = verify(chain.anchor, [url, EthereumTesterProvider()])
    assert verdict.status == "failed"
    assert [e["outcome"] for e in verdict.endpoints] == ["unreachable", "failed"]


def test_one_disagreeing_endpoint_fails(chain: AnchoredChain) -> None:
    """A second, independent chain with the same chain id has never seen the transaction."""
    other = EthereumTesterProvider()
    other.ethereum_tester.mine_blocks(chain.anchor.block_number + 3)
    verdict = verify(chain.anchor, [chain.provider, other])
    assert verdict.status == "failed"
    assert verdict.detail.startswith("endpoint 1 ")
    assert "is not on this chain" in verdict.detail
    assert [e["outcome"] for e in verdict.endpoints] == ["passed", "failed"]


def test_endpoints_must_agree_on_the_block() -> None:
    """Two chains that each hold the same signed transaction in a block of the same number
    and timestamp, but in different blocks: each passes alone, together they fail."""
    when = int(time.time()) + 1_000_000
    published = []
    for _ in range(2):
        provider = EthereumTesterProvider()
        provider.ethereum_tester.time_travel(when)
        published.append((provider, EthereumAnchorer(provider, funded_key(provider)).publish(ORIGIN, SIZE, ROOT_HASH)))
    (first, anchor), (second, twin) = published
    assert anchor == twin  # same key, nonce, fees and payload: the very same transaction
    assert verify(anchor, [first]).passed
    assert verify(anchor, [second]).passed
    verdict = verify(anchor, [first, second])
    assert verdict.status == "failed"
    assert "endpoints disagree on block" in verdict.detail and "read from 2 of 2 endpoints" in verdict.detail


def _when(anchor: ChainAnchor) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(anchor.block_time, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def test_the_detail_says_what_was_read_from_how_many_endpoints(chain: AnchoredChain) -> None:
    """Issue 12 item 6: the chain_anchor detail names the anchor (chain, tx, block, time), how
    many of the endpoints were read and whether they agree; an unreadable or contradicting
    endpoint is named plainly."""
    anchor = chain.anchor
    what = f"chain {anchor.chain_id}, tx {anchor.tx_hash} in block {anchor.block_number} at {_when(anchor)}"
    one = verify(anchor, [chain.provider])
    assert one.detail.startswith(f"anchored on {what}: read from 1 of 1 endpoint, which confirms it (test anchor")
    two = verify(anchor, [chain.provider, chain.provider])
    assert two.passed and two.detail.startswith(f"anchored on {what}: read from 2 of 2 endpoints, all agree")

    dead = f"http://127.0.0.1:{free_port()}"
    partly = verify(anchor, [chain.provider, dead, chain.provider])
    assert partly.status == "unchecked"
    assert partly.detail.startswith(f"anchored on {what}: read from 2 of 3 endpoints, all agree, none contradicts it; "
                                    f"could not read endpoint 1 ({dead}): could not be reached")
    none = verify(anchor, [dead])
    assert none.status == "unchecked"
    assert none.detail.startswith(f"the anchor ({what}) could not be looked up: none of the 1 endpoint(s) could be read; "
                                  f"could not read endpoint 0 ({dead})")

    other = EthereumTesterProvider()
    other.ethereum_tester.mine_blocks(anchor.block_number + 3)
    contradicted = verify(anchor, [chain.provider, other, dead])
    assert contradicted.status == "failed"
    assert contradicted.detail.startswith(f"endpoint 1 (<EthereumTesterProvider>): transaction {anchor.tx_hash} "
                                          f"is not on this chain; the anchor claims {what}; could not read endpoint 2")


def test_misuse_raises(chain: AnchoredChain) -> None:
    for endpoint in (42, "ws://127.0.0.1:8546", "ftp://x"):
        with pytest.raises(AnchorError) as info:
            verify(chain.anchor, [endpoint])
        assert info.value.code == "anchor_endpoint_invalid"
    with pytest.raises(AnchorError):
        verify_chain_anchor(chain.anchor.to_json(), origin=ORIGIN, tree_size=SIZE,  # type: ignore[arg-type]
                            root_hash=ROOT_HASH, endpoints=[chain.provider])
    with pytest.raises(AnchorError) as info:
        verify(chain.anchor, [chain.provider], root_hash=b"short")
    assert info.value.code == "anchor_malformed"
    with pytest.raises(AnchorError) as info:
        chain.anchorer.publish("bad\norigin", SIZE, ROOT_HASH)
    assert info.value.code == "anchor_malformed"


def test_bad_key_is_refused_without_echo() -> None:
    for key in ("0x1234", "zz" * 32, "0x" + "00" * 32):
        with pytest.raises(AnchorError) as info:
            EthereumAnchorer(EthereumTesterProvider(), key)
        assert info.value.code == "anchor_key_invalid"
        assert key not in str(info.value)


def test_unreachable_publish_raises_publish_error() -> None:
    anchorer = EthereumAnchorer(f"http://127.0.0.1:{free_port()}", Account.create().key.hex(), request_timeout=2)
    with pytest.raises(AnchorError) as info:
        anchorer.publish(ORIGIN, SIZE, ROOT_HASH)
    assert info.value.code == "anchor_publish_failed"
    assert info.value.http_status == 502


def test_unfunded_account_is_rejected(chain: AnchoredChain) -> None:
    anchorer = EthereumAnchorer(chain.provider, Account.create().key.hex())
    with pytest.raises(AnchorError) as info:
        anchorer.publish(ORIGIN, SIZE, ROOT_HASH)
    assert info.value.code == "anchor_publish_failed"


# -- ganache 7 over HTTP ----------------------------------------------------------------


@pytest.mark.slow
def test_ganache_publish_and_verify_over_http(ganache: Ganache) -> None:
    anchorer = EthereumAnchorer(ganache.url, ganache.private_key)
    assert anchorer.address == ganache.address
    anchor = anchorer.publish(ORIGIN, SIZE, ROOT_HASH, timeout=30)
    assert anchor.chain_id == 1337 and anchor.is_test_anchor
    assert bytes(Web3(Web3.HTTPProvider(ganache.url)).eth.get_transaction(anchor.tx_hash)["input"]) == (
        anchor_payload(ORIGIN, SIZE, ROOT_HASH)
    )

    verdict = verify(anchor, [ganache.url])
    assert verdict.status == "passed", verdict.detail
    assert verdict.test_anchor is True
    assert "test anchor" in verdict.detail
    assert verdict.endpoints == [
        {"index": 0, "url": ganache.url, "outcome": "passed", "detail": verdict.endpoints[0]["detail"]}
    ]
    # The stored form verifies too; a provider object for the same node agrees with the URL.
    stored = ChainAnchor.from_json(json.loads(json.dumps(anchor.to_json())))
    assert verify(stored, [ganache.url, Web3.HTTPProvider(ganache.url)]).passed

    assert verify(anchor, [ganache.url], root_hash=OTHER_ROOT).status == "failed"
    forged = dataclasses.replace(anchor, tree_size=SIZE + 1)
    assert verify(forged, [ganache.url], tree_size=SIZE + 1).status == "failed"


@pytest.mark.slow
def test_ganache_and_a_wrong_chain_endpoint_fail(ganache: Ganache) -> None:
    anchor = EthereumAnchorer(ganache.url, ganache.private_key).publish(ORIGIN, SIZE + 7, OTHER_ROOT, timeout=30)
    expected = {"tree_size": SIZE + 7, "root_hash": OTHER_ROOT}
    assert verify(anchor, [ganache.url], **expected).passed
    verdict = verify(anchor, [ganache.url, EthereumTesterProvider()], **expected)
    assert verdict.status == "failed"
    assert [e["outcome"] for e in verdict.endpoints] == ["passed", "failed"]
    assert f"node is on chain {ETH_TESTER_CHAIN_ID}, the anchor names chain 1337" in verdict.detail
    assert verdict.test_anchor and "test anchor" in verdict.detail
