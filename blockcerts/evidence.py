"""What a Blockcerts record is verified from: the record itself and the issuer's documents as
they were fetched once and kept (snapshots), plus the anchoring transactions as a blockchain
endpoint reported them. Pure data: whoever gathers it (the wallet at upload, a share link's
verifier, ``credshare verify`` with ``--issuer-profile``) builds it; the verification
(blockcerts/verification.py) judges it with no network.

Blockcerts v2 (``MerkleProof2017``, cert-schema 2.x) and v3 (W3C VC with ``MerkleProof2019``,
cert-schema 3.x): an issuer profile lists its issuing keys (``publicKey`` with ``created``,
``revoked``, ``expires``) and may name a revocation list (Open Badges v2 ``RevocationList``);
a v3 record may point at a W3C StatusList2021 credential instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Snapshot:
    """A JSON document from the issuer's server (issuer profile, revocation list, status list
    credential), as fetched from ``source_url`` at ``fetched_at`` (unix seconds), or given by
    the verifier from a file (``source_url`` ``file:<name>``, ``fetched_at`` when it was read).
    ``kept_by``: who fetched it, when not the verifier itself (a bundle's snapshots were fetched
    by the wallet server it came from; issuer documents are unsigned, so that is its word)."""

    document: dict[str, Any]
    source_url: str
    fetched_at: int
    kept_by: str = ""

    def to_json(self) -> dict[str, Any]:
        out = {"document": self.document, "source_url": self.source_url, "fetched_at": self.fetched_at}
        return {**out, "kept_by": self.kept_by} if self.kept_by else out

    @classmethod
    def from_json(cls, doc: Any) -> Snapshot | None:
        """The snapshot of :meth:`to_json`, or ``None`` for anything else (a bundle's member is
        judged, not trusted: a malformed snapshot is as good as none)."""
        if not isinstance(doc, dict):
            return None
        document, url, at = doc.get("document"), doc.get("source_url"), doc.get("fetched_at")
        if not isinstance(document, dict) or not isinstance(url, str) or type(at) is not int:
            return None
        kept_by = doc.get("kept_by")
        return cls(document, url, at, kept_by[:200] if isinstance(kept_by, str) else "")


@dataclass(frozen=True)
class Anchor:
    """Where a Blockcerts batch's Merkle root was written: ``chain`` in the Blockcerts
    vocabulary (``bitcoinMainnet``, ``bitcoinTestnet``, ``bitcoinRegtest``, ``ethereumMainnet``,
    ``ethereumSepolia``, ... ``mockchain``), the transaction id ``txid`` (Ethereum with ``0x``),
    and ``test``: a mock or test chain, never a public blockchain (mockchain, regtest)."""

    chain: str
    txid: str
    test: bool


@dataclass(frozen=True)
class Transaction:
    """An anchoring transaction as a blockchain endpoint reported it: the 32 bytes it carries
    (Bitcoin OP_RETURN, Ethereum input data; lower-case hex, no ``0x``), the address that sent
    it (Bitcoin: the first input's address; Ethereum: ``from``), its block time (unix seconds),
    and which endpoints said so (``sources``; more than one when several were asked and agreed)."""

    chain: str
    txid: str
    data_hex: str
    sender: str
    time: int
    sources: tuple[str, ...]


@dataclass(frozen=True)
class TransactionLookup:
    """The anchor lookup's result for one anchor: the transaction, or why there is none
    (``problem``: no endpoint configured for the chain, endpoints unreachable or disagreeing,
    transaction unknown). ``refuted``: an endpoint answered and the answer disproves the
    anchor (unknown transaction, unconfirmed), a failed check rather than an unchecked one."""

    anchor: Anchor
    transaction: Transaction | None = None
    problem: str = ""
    refuted: bool = False


@dataclass(frozen=True)
class BlockcertsEvidence:
    """Everything a Blockcerts record is verified from. ``issuer_profile`` ``None``: the profile
    could not be had (``profile_problem`` says why), so the issuing key cannot be judged.
    ``revocation_list``: the Open Badges v2 RevocationList the profile names (``None``, with
    ``revocation_problem``, when it names one that could not be had; ``None`` and no problem
    when it names none). ``status_list``: the v3 record's StatusList2021 credential, likewise.
    ``lookups``: one per anchor the record names, when endpoints were asked (none: the anchor
    is listed unchecked)."""

    document: dict[str, Any]
    issuer_profile: Snapshot | None = None
    profile_problem: str = ""
    revocation_list: Snapshot | None = None
    revocation_problem: str = ""
    status_list: Snapshot | None = None
    status_problem: str = ""
    lookups: tuple[TransactionLookup, ...] = field(default_factory=tuple)


def evidence_to_json(evidence: BlockcertsEvidence) -> dict[str, Any]:
    """What a wallet keeps and a bundle carries: the record and the snapshots, never the
    transaction lookups (they are made again by whoever verifies, against their own endpoints)."""
    def snap(s: Snapshot | None) -> dict[str, Any] | None:
        return s.to_json() if s is not None else None
    return {"document": evidence.document,
            "issuer_profile": snap(evidence.issuer_profile), "profile_problem": evidence.profile_problem,
            "revocation_list": snap(evidence.revocation_list), "revocation_problem": evidence.revocation_problem,
            "status_list": snap(evidence.status_list), "status_problem": evidence.status_problem}


def evidence_from_json(doc: Any) -> BlockcertsEvidence | None:
    """The evidence of :func:`evidence_to_json`, or ``None`` when ``doc`` holds no record."""
    if not isinstance(doc, dict) or not isinstance(doc.get("document"), dict):
        return None

    def text(name: str) -> str:
        value = doc.get(name)
        return value[:500] if isinstance(value, str) else ""
    return BlockcertsEvidence(
        document=doc["document"],
        issuer_profile=Snapshot.from_json(doc.get("issuer_profile")), profile_problem=text("profile_problem"),
        revocation_list=Snapshot.from_json(doc.get("revocation_list")), revocation_problem=text("revocation_problem"),
        status_list=Snapshot.from_json(doc.get("status_list")), status_problem=text("status_problem"))
