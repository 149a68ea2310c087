"""Talk and event summaries in, PDF bytes out, printed from the standalone HTML with WeasyPrint.

WeasyPrint lays out the HTML's print stylesheet with Pango; it never runs scripts. Its URL fetcher
is replaced by one that refuses every URL except ``data:``, so rendering makes no network or file
requests, whatever a summary contains.
"""

from __future__ import annotations

import logging
from typing import Any

from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from app.export.html import render_event_html, render_talk_html
from app.export.summary import EventSummary, TalkSummary

logger = logging.getLogger(__name__)


class DataOnlyURLFetcher(URLFetcher):
    """Serves ``data:`` URLs (the embedded chart) and refuses everything else."""

    def __init__(self) -> None:
        super().__init__(allowed_protocols=("data",), allow_redirects=False, timeout=1)

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        if not url.lower().startswith("data:"):
            logger.warning("refused to fetch %.80r while rendering a PDF", url)
            raise ValueError("only data: URLs may be fetched while rendering a PDF")
        return super().fetch(url, headers)


def html_to_pdf(html: str) -> bytes:
    """Print an HTML document (from :mod:`app.export.html`) to PDF, fetching nothing."""
    document = HTML(string=html, base_url="about:blank", url_fetcher=DataOnlyURLFetcher(), media_type="print")
    return document.write_pdf()


def render_talk_pdf(talk: TalkSummary) -> bytes:
    return html_to_pdf(render_talk_html(talk))


def render_event_pdf(event: EventSummary) -> bytes:
    """The event's index and every talk, each talk starting on a new page."""
    return html_to_pdf(render_event_html(event))
