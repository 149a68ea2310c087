"""A summary and a format name in, the export's bytes out: the one entry point for the API and the CLI."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from app.export.archive import render_event_archive, safe_name
from app.export.csv_export import render_event_csv, render_talk_csv
from app.export.html import render_event_html, render_talk_html
from app.export.json_export import render_event_json, render_talk_json
from app.export.markdown import render_event_markdown, render_talk_markdown
from app.export.summary import EventSummary, TalkSummary


class ExportFormat(StrEnum):
    MD = "md"
    HTML = "html"
    PDF = "pdf"
    JSON = "json"
    CSV = "csv"
    ZIP = "zip"


CONTENT_TYPES: dict[ExportFormat, str] = {
    ExportFormat.MD: "text/markdown; charset=utf-8",
    ExportFormat.HTML: "text/html; charset=utf-8",
    ExportFormat.PDF: "application/pdf",
    ExportFormat.JSON: "application/json",
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.ZIP: "application/zip",
}
FILE_EXTENSIONS: dict[ExportFormat, str] = {fmt: f".{fmt.value}" for fmt in ExportFormat}
TALK_FORMATS = tuple(fmt for fmt in ExportFormat if fmt is not ExportFormat.ZIP)


def render_talk_pdf(summary: TalkSummary) -> bytes:
    # Imported on use: WeasyPrint needs the Pango system library, and the other formats must keep
    # working on a machine without it (and start faster).
    from app.export.pdf import render_talk_pdf as render

    return render(summary)


def render_event_pdf(summary: EventSummary) -> bytes:
    from app.export.pdf import render_event_pdf as render  # on use: see render_talk_pdf

    return render(summary)


def _utf8(render: Callable[[TalkSummary], str]) -> Callable[[TalkSummary], bytes]:
    return lambda summary: render(summary).encode("utf-8")


_TALK_RENDERERS: dict[ExportFormat, Callable[[TalkSummary], bytes]] = {
    ExportFormat.MD: _utf8(render_talk_markdown),
    ExportFormat.HTML: _utf8(render_talk_html),
    ExportFormat.PDF: render_talk_pdf,
    ExportFormat.JSON: render_talk_json,
    ExportFormat.CSV: render_talk_csv,
}


def parse_format(value: str | ExportFormat) -> ExportFormat:
    """The format named ``value`` (case-insensitive, a leading dot allowed), or ValueError naming the choices."""
    try:
        return ExportFormat(str(value).strip().lower().removeprefix("."))
    except ValueError:
        choices = ", ".join(fmt.value for fmt in ExportFormat)
        raise ValueError(f"unknown export format {str(value)!r}; expected one of {choices}") from None


def export_talk(summary: TalkSummary, fmt: str | ExportFormat) -> bytes:
    """One talk's summary in ``fmt`` (md, html, pdf, json, csv); zip is only for a whole event."""
    chosen = parse_format(fmt)
    if chosen is ExportFormat.ZIP:
        choices = ", ".join(f.value for f in TALK_FORMATS)
        raise ValueError(f"export format 'zip' is only for a whole event; a talk exports as one of {choices}")
    return _TALK_RENDERERS[chosen](summary)


def export_event(summary: EventSummary, fmt: str | ExportFormat, *, include_pdf: bool = False) -> bytes:
    """The whole event in ``fmt``: one document (md, html, pdf, json), every post (csv), or a ZIP of
    per-talk files plus an index (``include_pdf`` adds a PDF per talk to the ZIP only)."""
    chosen = parse_format(fmt)
    if chosen is ExportFormat.ZIP:
        return render_event_archive(summary, include_pdf=include_pdf)
    if chosen is ExportFormat.MD:
        return render_event_markdown(summary).encode("utf-8")
    if chosen is ExportFormat.HTML:
        return render_event_html(summary).encode("utf-8")
    if chosen is ExportFormat.PDF:
        return render_event_pdf(summary)
    if chosen is ExportFormat.JSON:
        return render_event_json(summary)
    return render_event_csv(summary)


def talk_filename(summary: TalkSummary, fmt: str | ExportFormat) -> str:
    """A safe download name, e.g. ``democon-2026-streaming-topic-models.pdf`` (Content-Disposition)."""
    chosen = parse_format(fmt)
    stem = safe_name(f"{summary.event_slug}-{summary.slug or summary.guid}", summary.guid)
    return stem + FILE_EXTENSIONS[chosen]


def event_filename(summary: EventSummary, fmt: str | ExportFormat) -> str:
    chosen = parse_format(fmt)
    suffix = "posts" if chosen is ExportFormat.CSV else "summaries"
    return safe_name(f"{summary.slug}-{suffix}", summary.slug) + FILE_EXTENSIONS[chosen]
