"""Chain anchors of Merkle-log checkpoints: the pure, network-free half.

An anchor is an Ethereum transaction whose calldata is exactly the body of a C2SP
checkpoint (c2sp.org/tlog-checkpoint): the origin line, the tree size in ASCII decimal and
the standard-base64 (RFC 4648 §4, padded) RFC 9162 root hash, each ended by a newline, with
no extension lines and no signatures. This module builds that payload, holds the record of
a published anchor (:class:`ChainAnchor`, with its JSON form) and the outcome of checking
one against chain nodes (:class:`ChainVerdict`). It imports neither web3 nor anything that
touches the network: the adapter that talks JSON-RPC lives in :mod:`anchoring.ethereum`.

Anchors on development chains (ganache's 1337, Hardhat/Anvil's 31337, eth-tester's
131277322940537) prove nothing to a third party; they are flagged as *test anchors*
everywhere they surface.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from credshare.anchoring.errors import AnchoringError
from credshare.foundation.b64 import b64_decode, b64_encode
from credshare.foundation.checks import Status

#: Chain id of py-evm's chain as served by eth-tester (``EthereumTesterProvider``).
ETH_TESTER_CHAIN_ID = 131277322940537

#: Chain ids of local development chains: ganache (1337), Hardhat and Anvil (31337),
#: eth-tester. Anchors on them are test anchors.
DEV_CHAIN_IDS: frozenset[int] = frozenset({1337, 31337, ETH_TESTER_CHAIN_ID})

ROOT_HASH_SIZE = 32
MAX_TREE_SIZE = 2**64 - 1  # checkpoints carry a uint64 tree size

EndpointOutcome = Literal["passed", "failed", "unreachable", "error", "skipped"]

_TX_HASH = re.compile(r"^0x[0-9a-f]{64}$")
_ANCHOR_FIELDS = ("chain_id", "tx_hash", "block_number", "block_time", "origin", "tree_size", "root_hash")


class AnchorError(AnchoringError):
    """A malformed anchor or payload input, or a chain anchor that could not be published.

    The code is refined per instance: ``anchor_malformed`` (default) for bad input or a bad
    anchor record, ``anchor_endpoint_invalid`` for an endpoint that is neither an HTTP(S)
    URL nor a web3 provider, ``anchor_key_invalid`` for an unusable signing key, and the
    ``anchor_publish_*`` codes of :class:`AnchorPublishError`.
    """

    code = "anchor_malformed"
    http_status = 400


class AnchorPublishError(AnchorError):
    """Publishing an anchor failed at the node: unreachable, rejected, reverted or too slow.

    Codes: ``anchor_publish_failed`` (default), ``anchor_publish_reverted``,
    ``anchor_publish_timeout``.
    """

    code = "anchor_publish_failed"
    http_status = 502


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_checkpoint_fields(origin: Any, tree_size: Any, root_hash: Any) -> None:
    if not isinstance(origin, str) or not origin:
        raise AnchorError("origin must be a non-empty string")
    if "\n" in origin:
        raise AnchorError("origin must not contain a newline")
    if not _is_int(tree_size) or tree_size < 0:
        raise AnchorError("tree_size must be a non-negative integer")
    if tree_size > MAX_TREE_SIZE:
        raise AnchorError("tree_size does not fit in 64 bits")
    if not isinstance(root_hash, (bytes, bytearray)) or len(root_hash) != ROOT_HASH_SIZE:
        raise AnchorError(f"root_hash must be {ROOT_HASH_SIZE} bytes")


def anchor_payload(origin: str, tree_size: int, root_hash: bytes) -> bytes:
    """The transaction calldata anchoring a checkpoint: the C2SP tlog-checkpoint body.

    ``origin\\n<tree_size>\\n<base64(root_hash)>\\n`` in UTF-8, exactly the text a signed
    checkpoint note carries before its blank line and signatures.
    """
    _check_checkpoint_fields(origin, tree_size, root_hash)
    root_b64 = b64_encode(bytes(root_hash))
    return f"{origin}\n{tree_size}\n{root_b64}\n".encode()


@dataclass(frozen=True)
class ChainAnchor:
    """A checkpoint anchored in an Ethereum transaction, as recorded by the publisher.

    ``tx_hash`` is lowercase 0x-prefixed hex; ``block_time`` is the block's timestamp in
    Unix seconds. ``origin``/``tree_size``/``root_hash`` name the anchored checkpoint.
    """

    chain_id: int
    tx_hash: str
    block_number: int
    block_time: int
    origin: str
    tree_size: int
    root_hash: bytes

    def __post_init__(self) -> None:
        if not _is_int(self.chain_id) or self.chain_id <= 0:
            raise AnchorError("chain_id must be a positive integer")
        if not isinstance(self.tx_hash, str) or not _TX_HASH.match(self.tx_hash):
            raise AnchorError("tx_hash must be 0x followed by 64 lowercase hex digits")
        if not _is_int(self.block_number) or self.block_number < 0:
            raise AnchorError("block_number must be a non-negative integer")
        if not _is_int(self.block_time) or self.block_time < 0:
            raise AnchorError("block_time must be a non-negative integer")
        _check_checkpoint_fields(self.origin, self.tree_size, self.root_hash)
        if isinstance(self.root_hash, bytearray):
            object.__setattr__(self, "root_hash", bytes(self.root_hash))

    @property
    def is_test_anchor(self) -> bool:
        """True when the anchor lives on a local development chain and proves nothing."""
        return self.chain_id in DEV_CHAIN_IDS

    @property
    def payload(self) -> bytes:
        """The calldata this anchor claims its transaction carries."""
        return anchor_payload(self.origin, self.tree_size, self.root_hash)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; ``root_hash`` in standard base64, plus ``test_anchor``."""
        return {
            "chain_id": self.chain_id,
            "tx_hash": self.tx_hash,
            "block_number": self.block_number,
            "block_time": self.block_time,
            "origin": self.origin,
            "tree_size": self.tree_size,
            "root_hash": b64_encode(self.root_hash),
            "test_anchor": self.is_test_anchor,
        }

    @classmethod
    def from_json(cls, data: Any) -> ChainAnchor:
        """Parse :meth:`to_json` output strictly: exact keys and types, canonical base64.

        ``test_anchor`` may be omitted (it is derived from ``chain_id``) but, when present,
        must be a bool that agrees with the chain id. Anything else raises
        :class:`AnchorError` with code ``anchor_malformed``.
        """
        if not isinstance(data, dict):
            raise AnchorError("a chain anchor must be a JSON object")
        missing = [name for name in _ANCHOR_FIELDS if name not in data]
        if missing:
            raise AnchorError(f"chain anchor lacks {', '.join(missing)}")
        unknown = sorted(str(k) for k in data if k not in _ANCHOR_FIELDS and k != "test_anchor")
        if unknown:
            raise AnchorError(f"chain anchor has unknown members {', '.join(unknown)}")
        for name in ("chain_id", "block_number", "block_time", "tree_size"):
            if not _is_int(data[name]):
                raise AnchorError(f"chain anchor {name} must be an integer")
        for name in ("tx_hash", "origin", "root_hash"):
            if not isinstance(data[name], str):
                raise AnchorError(f"chain anchor {name} must be a string")
        try:
            root_hash = b64_decode(data["root_hash"])
        except ValueError:
            raise AnchorError("root_hash is not canonical standard base64") from None
        anchor = cls(
            chain_id=data["chain_id"],
            tx_hash=data["tx_hash"],
            block_number=data["block_number"],
            block_time=data["block_time"],
            origin=data["origin"],
            tree_size=data["tree_size"],
            root_hash=root_hash,
        )
        if "test_anchor" in data:
            if not isinstance(data["test_anchor"], bool):
                raise AnchorError("chain anchor test_anchor must be a boolean")
            if data["test_anchor"] != anchor.is_test_anchor:
                raise AnchorError("chain anchor test_anchor contradicts its chain_id")
        return anchor


@dataclass(frozen=True)
class ChainVerdict:
    """The outcome of checking a :class:`ChainAnchor` against chain nodes.

    ``status`` is ``passed`` only when every endpoint was reached and confirmed the anchor;
    ``failed`` when the anchor contradicts the expected checkpoint or any endpoint
    contradicts the anchor; ``unchecked`` otherwise (no endpoints, or some unreachable and
    none contradicting). ``endpoints`` has one dict per endpoint, in the order given:
    ``index``, ``url`` (credentials, path, query and fragment removed), ``outcome``
    (``passed``/``failed``/``unreachable``/``error``/``skipped``) and ``detail``.
    """

    status: Status
    detail: str
    test_anchor: bool
    endpoints: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "detail": self.detail,
            "test_anchor": self.test_anchor,
            "endpoints": [dict(e) for e in self.endpoints],
        }


def redact_endpoint_url(url: str) -> str:
    """``scheme://host[:port]`` of an RPC URL, for reports and logs.

    User info, query and fragment can hold credentials, and so can the path (hosted nodes
    put API keys there: ``/v3/<key>``), so all of them are dropped; a dropped non-root path
    is shown as ``/…``.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparsable url>"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    suffix = "/\u2026" if parts.path not in ("", "/") else ""
    return f"{parts.scheme}://{netloc}{suffix}"
