"""A Blockcerts record's Merkle proof: reading it, and following its path to the root.

- v2, ``signature`` of type ``MerkleProof2017`` (Blockcerts v2 schema): ``targetHash``,
  ``merkleRoot``, ``proof`` (the path: ``{"left": hex}`` / ``{"right": hex}``) and ``anchors``
  (``{"sourceId": txid, "type": "BTCOpReturn" | "ETHData" | "Mock", "chain": ...}``).
- v3, ``proof`` of type ``MerkleProof2019`` (W3C CCG LD Merkle Proof 2019; also as the
  ``merkle-proof-2019`` Data Integrity cryptosuite or a ``ChainedProof2021``): ``proofValue`` is
  multibase base58btc (``z``) of CBOR, an array of ``[key, value]`` pairs: 0 merkleRoot,
  1 targetHash, 2 anchors, 3 path. Hashes are CBOR items inside byte strings (a text string of
  hex from cert-issuer, raw bytes from the JavaScript encoder); a path step is ``[0 | 1, hash]``
  (0 left, 1 right); an anchor is ``[[0, chain id], [1, network id], [2, transaction]]``
  (Blockchain Link ``blink:<chain>:<network>:<tx>``). The mock chain is written two ways:
  ``[[0, -1], [1, tx]]`` (cert-issuer) and ``[[0, -1], [1, -1], [2, tx]]`` (JavaScript).

The root is ``SHA-256(left || right)`` over raw bytes, up the path from ``targetHash``
(blockcerts-merkletools; an odd node is carried up unchanged when the tree is built, so a path
may be shorter than the tree's height).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Literal

import cbor2

from credshare.blockcerts.errors import BlockcertsError
from credshare.blockcerts.evidence import Anchor
from credshare.blockcerts.jsonld import is_merkle_proof

Suite = Literal["MerkleProof2017", "MerkleProof2019"]
Side = Literal["left", "right"]
MAX_PROOF_VALUE = 16 * 1024  # characters of base58btc: a path of 60 steps and a few anchors fit many times over
MAX_PATH = 64  # a batch of 2**64 records
MAX_ANCHORS = 8
_HEX64 = re.compile(r"[0-9a-f]{64}")
_TXID = re.compile(r"(0x)?[0-9A-Za-z]{1,128}")
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_VALUE = {c: i for i, c in enumerate(_B58)}

# (Blockcerts chain name, is a test chain with no public record) for v2's ``chain`` values
V2_CHAINS: dict[str, bool] = {
    "bitcoinMainnet": False, "bitcoinTestnet": False, "bitcoinRegtest": True,
    "ethereumMainnet": False, "ethereumRopsten": False, "ethereumRinkeby": False, "ethereumGoerli": False,
    "ethereumSepolia": False, "mockchain": True,
}
# v3 (chain id, network id) -> Blockcerts chain name
_V3_CHAINS: dict[tuple[int, int], str] = {
    (0, 1): "bitcoinMainnet", (0, 2): "bitcoinRegtest", (0, 3): "bitcoinTestnet",
    (1, 1): "ethereumMainnet", (1, 3): "ethereumRopsten", (1, 4): "ethereumRinkeby", (1, 5): "ethereumGoerli",
    (1, 11155111): "ethereumSepolia",
    (2, 137): "polygonMainnet", (2, 80001): "polygonMumbai", (3, 8453): "baseMainnet", (3, 84532): "baseSepolia",
}
_MOCK_CHAIN = -1


@dataclass(frozen=True)
class MerkleReceipt:
    """The record's Merkle proof. ``proof``: the v3 proof object (its ``verificationMethod``,
    ``created``, ``proofPurpose``) or the v2 ``signature``."""

    suite: Suite
    target_hash: str
    merkle_root: str
    path: tuple[tuple[Side, str], ...]
    anchors: tuple[Anchor, ...]
    proof: dict[str, Any]


def _invalid(detail: str) -> BlockcertsError:
    return BlockcertsError(detail, code="blockcerts_proof_malformed", stage="proof_format")


def _hex(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _HEX64.fullmatch(value.lower()):
        raise _invalid(f"{what} is not a SHA-256 hash in hex")
    return value.lower()


def _anchor(chain: str, txid: Any) -> Anchor:
    if not isinstance(txid, str) or not txid:
        raise _invalid("an anchor has no transaction")
    test = V2_CHAINS.get(chain, False)
    if not test and not _TXID.fullmatch(txid):
        raise _invalid("an anchor's transaction id is malformed")
    return Anchor(chain, txid[:200], test)


def _v2_anchor(anchor: Any, document: dict[str, Any]) -> Anchor:
    if not isinstance(anchor, dict):
        raise _invalid("an anchor is not an object")
    kind, chain = anchor.get("type"), anchor.get("chain")
    if chain is None:  # records from before ``chain``: the network follows the issuing address (as cert-verifier-js)
        if kind == "BTCOpReturn":
            verification = document.get("verification")
            key = verification.get("publicKey", "") if isinstance(verification, dict) else ""
            address = str(key).removeprefix("ecdsa-koblitz-pubkey:")
            chain = "bitcoinTestnet" if address[:1] in ("m", "n", "2") or address.startswith("tb1") else "bitcoinMainnet"
        elif kind == "ETHData":
            chain = "ethereumMainnet"
        elif kind == "Mock":
            chain = "mockchain"
    if chain not in V2_CHAINS:
        raise _invalid(f"the anchor's chain {str(chain)[:40]!r} is not one Blockcerts defines")
    return _anchor(str(chain), anchor.get("sourceId"))


def _v2(document: dict[str, Any]) -> MerkleReceipt:
    signature = document["signature"]
    if not isinstance(signature, dict):
        raise _invalid("the signature is not an object")
    kinds = signature.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "MerkleProof2017" not in kinds:
        raise _invalid("the signature is not a MerkleProof2017")
    steps = signature.get("proof") or []
    anchors = signature.get("anchors")
    if not isinstance(steps, list) or len(steps) > MAX_PATH:
        raise _invalid("the Merkle path is not a list of steps")
    if not isinstance(anchors, list) or not 1 <= len(anchors) <= MAX_ANCHORS:
        raise _invalid("the signature names no anchor")
    path: list[tuple[Side, str]] = []
    for step in steps:
        if not isinstance(step, dict) or len(step) != 1 or not ({"left", "right"} & set(step)):
            raise _invalid("a Merkle path step is neither left nor right")
        side: Side = "left" if "left" in step else "right"
        path.append((side, _hex(step[side], "a Merkle path step")))
    return MerkleReceipt("MerkleProof2017", _hex(signature.get("targetHash"), "targetHash"),
                         _hex(signature.get("merkleRoot"), "merkleRoot"), tuple(path),
                         tuple(_v2_anchor(a, document) for a in anchors), signature)


def base58btc_decode(text: str) -> bytes:
    """Base58 with the Bitcoin alphabet (multibase ``z``), leading ``1`` = a zero byte."""
    number = 0
    for char in text:
        value = _B58_VALUE.get(char)
        if value is None:
            raise _invalid("proofValue is not base58btc")
        number = number * 58 + value
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\x00" * (len(text) - len(text.lstrip("1"))) + body


def _inner(value: Any, what: str) -> Any:
    """A proofValue item: a CBOR item inside a byte string."""
    if not isinstance(value, bytes) or len(value) > 256:
        raise _invalid(f"{what} is not an encoded item")
    try:
        return cbor2.loads(value)
    except (cbor2.CBORDecodeError, ValueError, TypeError) as exc:
        raise _invalid(f"{what} is not CBOR") from exc


def _inner_hash(value: Any, what: str) -> str:
    inner = _inner(value, what)
    return inner.hex() if isinstance(inner, bytes) and len(inner) == 32 else _hex(inner, what)


def _pairs(value: Any, what: str) -> dict[int, Any]:
    if not isinstance(value, list) or not all(isinstance(p, list) and len(p) == 2 and type(p[0]) is int for p in value):
        raise _invalid(f"{what} is not a list of [key, value] pairs")
    pairs = {p[0]: p[1] for p in value}
    if len(pairs) != len(value):
        raise _invalid(f"{what} repeats a key")
    return pairs


def _v3_anchor(value: Any) -> Anchor:
    parts = _pairs(value, "an anchor")
    chain_id = parts.get(0)
    if chain_id == _MOCK_CHAIN:
        tx = parts[2] if 2 in parts else parts.get(1)
        inner = _inner(tx, "the mock anchor")
        return _anchor("mockchain", inner.hex() if isinstance(inner, bytes) else str(inner))
    network = parts.get(1)
    if type(chain_id) is not int or type(network) is not int or (chain_id, network) not in _V3_CHAINS:
        raise _invalid("an anchor names a chain Blockcerts does not define")
    tx = _inner(parts.get(2), "an anchor's transaction")
    txid = tx.hex() if isinstance(tx, bytes) else tx
    chain = _V3_CHAINS[(chain_id, network)]
    if chain.startswith("ethereum") and isinstance(txid, str) and not txid.startswith("0x"):
        txid = "0x" + txid
    return _anchor(chain, txid)


def _v3(document: dict[str, Any]) -> MerkleReceipt:
    proofs = document["proof"] if isinstance(document["proof"], list) else [document["proof"]]
    proof = next((p for p in proofs if is_merkle_proof(p)), None)
    if proof is None:
        raise _invalid("the record's proof is not a Blockcerts Merkle proof (MerkleProof2019)")
    value = proof.get("proofValue")
    if not isinstance(value, str) or not value.startswith("z") or len(value) > MAX_PROOF_VALUE:
        raise _invalid("proofValue is not multibase base58btc")
    try:
        decoded = cbor2.loads(base58btc_decode(value[1:]))
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError) as exc:
        raise _invalid("proofValue is not CBOR") from exc
    parts = _pairs(decoded, "proofValue")
    if set(parts) - {0, 1, 2, 3} or not {0, 1, 2} <= set(parts):
        raise _invalid("proofValue lacks merkleRoot, targetHash or anchors, or has unknown members")
    steps, anchors = parts.get(3, []), parts[2]
    if not isinstance(steps, list) or len(steps) > MAX_PATH:
        raise _invalid("the Merkle path is not a list of steps")
    if not isinstance(anchors, list) or not 1 <= len(anchors) <= MAX_ANCHORS:
        raise _invalid("proofValue names no anchor")
    path: list[tuple[Side, str]] = []
    for step in steps:
        if not isinstance(step, list) or len(step) != 2 or step[0] not in (0, 1) or type(step[0]) is not int:
            raise _invalid("a Merkle path step is neither left nor right")
        path.append(("left" if step[0] == 0 else "right", _inner_hash(step[1], "a Merkle path step")))
    return MerkleReceipt("MerkleProof2019", _inner_hash(parts[1], "targetHash"), _inner_hash(parts[0], "merkleRoot"),
                         tuple(path), tuple(_v3_anchor(a) for a in anchors), proof)


def read_receipt(document: dict[str, Any]) -> MerkleReceipt:
    """The record's Merkle proof, or :class:`BlockcertsError` (``blockcerts_proof_malformed``,
    ``blockcerts_proof_missing``) when it has none this verifier reads."""
    if "proof" in document:
        return _v3(document)
    if "signature" in document:
        return _v2(document)
    raise BlockcertsError("The record has no Blockcerts proof", code="blockcerts_proof_missing", stage="proof_format")


def merkle_root(target_hash: str, path: tuple[tuple[Side, str], ...]) -> str:
    """The root the path leads to from ``target_hash`` (lower-case hex)."""
    node = bytes.fromhex(target_hash)
    for side, sibling in path:
        node = hashlib.sha256(bytes.fromhex(sibling) + node if side == "left" else node + bytes.fromhex(sibling)).digest()
    return node.hex()
