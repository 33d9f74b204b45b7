"""The errors of the Blockcerts core, each with a stable code and the check it belongs to."""

from __future__ import annotations

from credshare.foundation.errors import CredshareError, Stage


class BlockcertsError(CredshareError):
    """A Blockcerts record, issuer profile or list that does not verify or cannot be read.
    ``stage`` names the report check it fails (``document_hash``, ``merkle_proof``, ...)."""

    code = "blockcerts_invalid"
    http_status = 422
    stage: Stage = "proof_format"
