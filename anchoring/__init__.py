"""Anchoring core: the RFC 9162 Merkle log's hashing and proofs, C2SP signed checkpoints,
witness co-signatures and chain anchors. Its pure parts import neither Flask nor the store."""
