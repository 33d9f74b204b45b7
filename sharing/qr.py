"""A link as a QR code, drawn as inline SVG for the share-link page.

``qr_svg(url)`` returns an ``<svg>`` element to put in a template with ``|safe``: no XML
declaration, no script, no external reference, ``role="img"`` with an ``aria-label`` and a
``<title>`` for screen readers. The symbol uses error correction level M or better (segno raises
the level for free when the same symbol size allows it) and the standard 4-module quiet zone.
Dark modules are black on an opaque white background, quiet zone included, so phones can read it
whatever colour the page behind it has.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

import segno

from credshare.foundation.errors import InputError

QUIET_ZONE = 4  # modules; ISO/IEC 18004 asks for at least 4 around a QR code
DEFAULT_LABEL = "QR code of the link"
MAX_SCALE = 32


def qr_code(text: str) -> segno.QRCode:
    """The QR code symbol of ``text``: error correction M or better, the smallest version that fits."""
    if not isinstance(text, str) or not text:
        raise ValueError("qr_code needs a non-empty string")
    try:
        return segno.make_qr(text, error="m", boost_error=True)
    except segno.DataOverflowError as exc:
        raise InputError(f"{len(text)} characters do not fit in a QR code", code="qr_too_long") from exc


def qr_svg(text: str, *, scale: int = 4, label: str = DEFAULT_LABEL) -> str:
    """``text`` (a URL) as an inline ``<svg>`` string, ``scale`` pixels per module.

    The element has ``width``/``height`` in px and a ``viewBox``, so CSS may resize it. ``label``
    becomes the ``aria-label`` and the ``<title>`` (escaped); it should say what the code is for
    rather than repeat the URL, which may carry a secret token.
    """
    if isinstance(scale, bool) or not isinstance(scale, int) or not 1 <= scale <= MAX_SCALE:
        raise ValueError(f"scale must be an integer from 1 to {MAX_SCALE}, got {scale!r}")
    if not isinstance(label, str) or not label.strip():
        raise ValueError("label must be a non-empty string")
    svg = qr_code(text).svg_inline(
        scale=scale,
        border=QUIET_ZONE,
        dark="#000",
        light="#fff",
        unit="px",  # with a unit, segno adds the viewBox
        title=label,
        svgclass="qr",
        lineclass=None,
    )
    if not svg.startswith("<svg "):
        raise RuntimeError("segno's SVG did not start with an <svg> element")
    return f'<svg role="img" aria-label={quoteattr(label)} {svg[len("<svg "):]}'


__all__ = ["QUIET_ZONE", "qr_code", "qr_svg"]
