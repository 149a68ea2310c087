"""The whole-event ZIP: an index, every talk's summary, all posts, under safe deterministic names."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import zipfile

import pytest

from app.export.archive import archive_names, render_event_archive, safe_name, talk_file_stems
from app.export.summary import EventSummary

SAFE_ENTRY = re.compile(r"(index\.(md|html)|posts\.csv|(talks/[a-z0-9]+(-[a-z0-9]+)*|hallway)\.(md|html|json|pdf))")


@pytest.fixture(scope="module")
def archive(event: EventSummary) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(render_event_archive(event)))


def test_has_the_index_posts_and_every_talk(archive: zipfile.ZipFile) -> None:
    assert archive.namelist() == [
        "index.md",
        "index.html",
        "posts.csv",
        "talks/streaming-topic-models.md",
        "talks/streaming-topic-models.html",
        "talks/streaming-topic-models.json",
        "talks/empty-talk.md",
        "talks/empty-talk.html",
        "talks/empty-talk.json",
        "talks/evil.md",
        "talks/evil.html",
        "talks/evil.json",
        "hallway.md",
        "hallway.html",
        "hallway.json",
    ]


def test_every_name_is_safe(archive: zipfile.ZipFile) -> None:
    assert all(SAFE_ENTRY.fullmatch(name) for name in archive.namelist())


def test_archive_is_intact(archive: zipfile.ZipFile) -> None:
    assert archive.testzip() is None


def test_index_links_to_files_in_the_archive(archive: zipfile.ZipFile) -> None:
    names = set(archive.namelist())
    md_links = re.findall(r"\]\(<([^>]+)>\)", archive.read("index.md").decode("utf-8"))
    html_links = re.findall(r'href="([^"#]+)"', archive.read("index.html").decode("utf-8"))
    assert md_links
    assert html_links
    assert set(md_links) | set(html_links) <= names


def test_posts_csv_parses(archive: zipfile.ZipFile, event: EventSummary) -> None:
    rows = list(csv.DictReader(io.StringIO(archive.read("posts.csv").decode("utf-8"), newline="")))
    assert len(rows) == sum(len(t.posts) for t in event.all_talks)


def test_pdfs_only_when_asked(event: EventSummary) -> None:
    with_pdf = zipfile.ZipFile(io.BytesIO(render_event_archive(event, include_pdf=True)))
    pdfs = [name for name in with_pdf.namelist() if name.endswith(".pdf")]
    assert len(pdfs) == len(event.all_talks)
    assert all(with_pdf.read(name).startswith(b"%PDF-") for name in pdfs)


def test_listing_is_deterministic(event: EventSummary, archive: zipfile.ZipFile) -> None:
    assert archive_names(event) == archive.namelist()
    assert [i.date_time for i in archive.infolist()] == [(2000, 1, 1, 0, 0, 0)] * len(archive.namelist())


def test_progress_reports_each_file(event: EventSummary) -> None:
    seen: list[str] = []
    render_event_archive(event, progress=seen.append)
    assert seen == archive_names(event)


def test_talks_sharing_a_slug_get_distinct_files(event: EventSummary) -> None:
    twin = dataclasses.replace(event.talks[0], guid="other-guid")
    stems = talk_file_stems(dataclasses.replace(event, talks=(event.talks[0], twin)))
    assert list(stems.values()) == ["talks/streaming-topic-models", "talks/streaming-topic-models-2", "hallway"]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("../../etc/passwd", "etc-passwd"),
        ("C:\\Windows\\system32", "c-windows-system32"),
        ("Grüße aus Köln", "grusse-aus-koln"),
        ("invoice\u202egnp.exe", "invoicegnp-exe"),
    ],
)
def test_safe_name_keeps_letters_and_digits_only(text: str, name: str) -> None:
    assert safe_name(text, text) == name


def test_safe_name_falls_back_to_a_hash_for_unspellable_titles() -> None:
    assert re.fullmatch(r"talk-[0-9a-f]{12}", safe_name("山田 ../..", "guid-1"))
