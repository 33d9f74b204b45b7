"""Errors of the anchoring core, with stable codes."""

from __future__ import annotations

from credshare.foundation.errors import CredshareError


class AnchoringError(CredshareError):
    """A malformed or unverifiable checkpoint, note, cosignature or anchor proof."""

    code = "anchor_invalid"
    http_status = 400

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail or code, code=code)
