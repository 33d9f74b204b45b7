"""The hash of a Blockcerts record, recomputed exactly as Blockcerts computes it, with no network.

The record minus its proof is canonicalised with JSON-LD RDF Dataset Canonicalization (URDNA2015,
as cert-schema's ``normalize_jsonld`` and cert-verifier-js do) to N-Quads, and hashed with
SHA-256 (lower-case hex): the ``targetHash`` of its Merkle proof.

- The proof is removed first: v2's ``signature`` (MerkleProof2017); v3's ``proof``, or, when the
  record holds several proofs, every proof from the Merkle one on (the proofs before it were part
  of what was anchored).
- Blockcerts appends ``{"@vocab": "http://fallback.org/"}`` to ``@context`` when no inline
  context sets ``@vocab``, so a member the contexts do not define shows up under that IRI; such a
  record is refused (``jsonld_unmapped_field``): the hash would not cover what it says.
- The contexts come only from ``contexts/`` (``index.json``: URL to file); any other context is
  refused (``jsonld_context_unknown``), never fetched.
- Stricter than Blockcerts: a relative IRI (an ``id`` such as ``"1234"``) is dropped from the
  N-Quads by JSON-LD processors, so every statement about it would escape the hash; such a record
  is refused (``jsonld_relative_iri``). The documents are canonicalised against a base IRI no
  absolute IRI can start with, which makes any relative one visible.
- Canonicalisation work grows fast with blank nodes that look alike: at most
  :data:`MAX_BLANK_NODES` are accepted (records have a handful), counted before canonicalising.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
from importlib import resources
from typing import Any

from pyld import jsonld

from credshare.blockcerts.errors import BlockcertsError

FALLBACK_VOCAB = "http://fallback.org/"
_RELATIVE_BASE = "https://relative-iri.credshare.invalid/"
MAX_BLANK_NODES = 64
_BLANK = re.compile(r"_:b\d+")
_MERKLE_2019 = "MerkleProof2019"


@functools.cache
def _contexts() -> dict[str, dict[str, Any]]:
    folder = resources.files("credshare.blockcerts") / "contexts"
    index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    return {url: json.loads((folder / name).read_text(encoding="utf-8")) for url, name in index.items()}


def known_contexts() -> frozenset[str]:
    """The context URLs a record may use."""
    return frozenset(_contexts())


def is_merkle_proof(proof: Any) -> bool:
    """A v3 proof object that is a Blockcerts Merkle proof (MerkleProof2019, as its own type,
    a chained proof of it, or a Data Integrity proof with the ``merkle-proof-2019`` cryptosuite)."""
    if not isinstance(proof, dict):
        return False
    return (proof.get("type") == _MERKLE_2019
            or (proof.get("type") == "ChainedProof2021" and proof.get("chainedProofType") == _MERKLE_2019)
            or (proof.get("type") == "DataIntegrityProof" and proof.get("cryptosuite") == "merkle-proof-2019"))


def unsigned(document: dict[str, Any]) -> dict[str, Any]:
    """The record as it was before its Merkle proof was added."""
    doc = copy.deepcopy(document)
    if "signature" in doc and "proof" not in doc:
        del doc["signature"]
        return doc
    proof = doc.get("proof")
    if isinstance(proof, list):
        index = next((i for i, p in enumerate(proof) if is_merkle_proof(p)), None)
        if index is None:
            raise BlockcertsError("The record holds no Blockcerts Merkle proof", code="blockcerts_proof_missing")
        doc["proof"] = proof[:index]
        if not doc["proof"]:
            del doc["proof"]
        elif len(doc["proof"]) == 1:
            doc["proof"] = doc["proof"][0]
    else:
        doc.pop("proof", None)
    return doc


def _with_fallback_vocab(doc: dict[str, Any]) -> None:
    context = doc.get("@context")
    contexts = context if isinstance(context, list) else [context]
    if not any(isinstance(c, dict) and "@vocab" in c for c in contexts):
        doc["@context"] = [*contexts, {"@vocab": FALLBACK_VOCAB}]


def canonical_nquads(document: dict[str, Any]) -> str:
    """The URDNA2015 canonical N-Quads of the record minus its proof, as Blockcerts hashes them."""
    doc = unsigned(document)
    _with_fallback_vocab(doc)
    contexts = _contexts()
    unknown: list[str] = []

    def loader(url: str, options: Any = None) -> dict[str, Any]:
        if url not in contexts:
            unknown.append(url)
            raise BlockcertsError(f"unknown JSON-LD context {url}", code="jsonld_context_unknown", stage="document_hash")
        return {"contextUrl": None, "documentUrl": url, "document": copy.deepcopy(contexts[url])}

    try:
        dataset: str = jsonld.to_rdf(doc, {"format": "application/n-quads", "documentLoader": loader,
                                           "base": _RELATIVE_BASE})
    except jsonld.JsonLdError as exc:
        if unknown:
            raise BlockcertsError(f"The record uses a JSON-LD context this verifier does not ship: {unknown[0][:200]}",
                                  code="jsonld_context_unknown", stage="document_hash") from None
        raise BlockcertsError(f"The record is not valid JSON-LD ({str(exc).splitlines()[0][:200]})",
                              code="jsonld_invalid", stage="document_hash") from None
    if _RELATIVE_BASE in dataset:
        raise BlockcertsError("The record uses a relative identifier, which the record's hash would leave out",
                              code="jsonld_relative_iri", stage="document_hash")
    if FALLBACK_VOCAB in dataset:
        names = sorted({line.split("<" + FALLBACK_VOCAB, 1)[1].split(">", 1)[0]
                        for line in dataset.splitlines() if "<" + FALLBACK_VOCAB in line})
        raise BlockcertsError(f"The record has fields its JSON-LD contexts do not define ({', '.join(names)[:200]}): "
                              "the issuer's hash would not cover them", code="jsonld_unmapped_field", stage="document_hash")
    if len(set(_BLANK.findall(dataset))) > MAX_BLANK_NODES:
        raise BlockcertsError(f"The record has more than {MAX_BLANK_NODES} unnamed parts", code="jsonld_too_complex",
                              stage="document_hash")
    nquads: str = jsonld.normalize(dataset, {"algorithm": "URDNA2015", "inputFormat": "application/n-quads",
                                             "format": "application/n-quads"})
    return nquads


def document_hash(document: dict[str, Any]) -> str:
    """SHA-256 (lower-case hex) of the record's canonical N-Quads: what its ``targetHash`` must be."""
    return hashlib.sha256(canonical_nquads(document).encode("utf-8")).hexdigest()
