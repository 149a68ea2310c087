"""The one entry point the API and CLI call: a summary and a format name in, bytes out."""

from __future__ import annotations

import io
import zipfile

import pytest

from app.export.formats import (
    CONTENT_TYPES,
    FILE_EXTENSIONS,
    TALK_FORMATS,
    ExportFormat,
    event_filename,
    export_event,
    export_talk,
    parse_format,
    talk_filename,
)
from app.export.summary import EventSummary, TalkSummary

MAGIC = {
    ExportFormat.MD: b"# ",
    ExportFormat.HTML: b"<!DOCTYPE html>",
    ExportFormat.PDF: b"%PDF-",
    ExportFormat.JSON: b"{",
    ExportFormat.CSV: b"id,created_at,",
    ExportFormat.ZIP: b"PK\x03\x04",
}


def test_every_format_has_a_content_type_and_extension() -> None:
    assert set(CONTENT_TYPES) == set(ExportFormat) == set(FILE_EXTENSIONS)
    assert FILE_EXTENSIONS[ExportFormat.MD] == ".md"
    assert CONTENT_TYPES[ExportFormat.PDF] == "application/pdf"


@pytest.mark.parametrize("fmt", TALK_FORMATS)
def test_talk_exports_in_every_format(talk: TalkSummary, fmt: ExportFormat) -> None:
    assert export_talk(talk, fmt).startswith(MAGIC[fmt])


@pytest.mark.parametrize("fmt", TALK_FORMATS)
def test_empty_talk_exports_in_every_format(empty_talk: TalkSummary, fmt: ExportFormat) -> None:
    assert export_talk(empty_talk, fmt).startswith(MAGIC[fmt])


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_event_exports_in_every_format(event: EventSummary, fmt: ExportFormat) -> None:
    assert export_event(event, fmt).startswith(MAGIC[fmt])


def test_event_zip_can_include_pdfs(event: EventSummary) -> None:
    names = zipfile.ZipFile(io.BytesIO(export_event(event, "zip", include_pdf=True))).namelist()
    assert "hallway.pdf" in names


def test_format_names_are_forgiving() -> None:
    assert parse_format("PDF") is ExportFormat.PDF
    assert parse_format(".md") is ExportFormat.MD


def test_unknown_format_names_the_choices(talk: TalkSummary) -> None:
    with pytest.raises(ValueError, match="^unknown export format 'x'; expected one of md, html, pdf, json, csv, zip$"):
        export_talk(talk, "x")


def test_a_talk_cannot_be_zipped(talk: TalkSummary) -> None:
    with pytest.raises(ValueError, match="'zip' is only for a whole event"):
        export_talk(talk, ExportFormat.ZIP)


def test_download_names_are_safe(talk: TalkSummary, event: EventSummary) -> None:
    assert talk_filename(talk, "pdf") == "democon-2026-streaming-topic-models.pdf"
    assert event_filename(event, "zip") == "democon-2026-summaries.zip"
    assert event_filename(event, "csv") == "democon-2026-posts.csv"
