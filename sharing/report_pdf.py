"""The printable verification report as a PDF (PDF 1.7, ISO 32000-1), rendered from the same
HTML as the page by WeasyPrint under the print stylesheet (static/print.css).

The document's title becomes the PDF's Title metadata; the signed receipt (the compact JWS) is
embedded as a file attachment (ISO 32000-1 section 7.11.4, embedded file streams), so the PDF
alone can be checked against the published receipt key. WeasyPrint fetches nothing: every
resource is inline (the QR code is an inline SVG), and any URL it would fetch is refused.

WeasyPrint needs Pango (Debian: libpango-1.0-0, libpangoft2-1.0-0; scripts/setup.sh installs
them); without it the PDF fails with :class:`PdfUnavailableError` (503), and the page still prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from credshare.foundation.errors import CredshareError

STATIC = Path(__file__).resolve().parent.parent / "static"
PRINT_CSS = STATIC / "print.css"
Paper = Literal["a4", "letter"]


class PdfUnavailableError(CredshareError):
    """The PDF renderer (WeasyPrint and the Pango library it needs) is not installed here."""

    code = "pdf_unavailable"
    http_status = 503


def _weasyprint() -> Any:
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: Pango's shared library is missing
        raise PdfUnavailableError("The PDF cannot be made on this server (its PDF renderer is not installed); "
                                  "print the report page instead.") from exc
    return weasyprint


def render_pdf(html: str, *, attachment: str, attachment_name: str, paper: Paper = "a4") -> bytes:
    """``html`` as PDF bytes on ``paper``, with ``attachment`` (text) embedded as ``attachment_name``."""
    weasyprint = _weasyprint()
    from weasyprint.urls import URLFetcher, URLFetchingError

    class _NoFetch(URLFetcher):  # WeasyPrint ships no types (pyproject: ignore_missing_imports)
        def fetch(self, url: str, headers: Any = None) -> Any:
            raise URLFetchingError("the report fetches nothing")

    fetcher = _NoFetch()
    page = "@page { size: A4; }" if paper == "a4" else "@page { size: letter; }"
    stylesheets = [weasyprint.CSS(string=PRINT_CSS.read_text(encoding="utf-8"), url_fetcher=fetcher),
                   weasyprint.CSS(string=page, url_fetcher=fetcher)]
    attached = weasyprint.Attachment(string=attachment, name=attachment_name, url_fetcher=fetcher,
                                     description="The signed verification receipt (compact JWS)")
    pdf: bytes = weasyprint.HTML(string=html, url_fetcher=fetcher, base_url=None).write_pdf(
        stylesheets=stylesheets, attachments=[attached])
    return pdf
