"""The CSV of posts: parses with any CSV reader, and no cell can run as a spreadsheet formula."""

from __future__ import annotations

import csv
import io

import pytest

from app.export.csv_export import COLUMNS, neutralise, render_event_csv, render_talk_csv
from app.export.summary import EventSummary, TalkSummary
from tests.app.export.examples import FORMULAS


def read(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def test_csv_has_a_header_row(talk: TalkSummary) -> None:
    header = render_talk_csv(talk).decode("utf-8").splitlines()[0]
    assert header == ",".join(COLUMNS)


def test_every_post_becomes_one_row(talk: TalkSummary) -> None:
    rows = read(render_talk_csv(talk))
    assert sorted(int(r["id"]) for r in rows) == sorted(p.id for p in talk.posts)


def test_multiline_text_survives_a_round_trip(talk: TalkSummary) -> None:
    rows = {r["id"]: r for r in read(render_talk_csv(talk))}
    assert rows["105"]["text"].startswith("a | b\n# not a heading\n| c |")


@pytest.mark.parametrize("formula", FORMULAS)
def test_formula_cells_are_neutralised(talk: TalkSummary, formula: str) -> None:
    rows = read(render_talk_csv(talk))
    assert "'" + formula in [r["text"] for r in rows]
    assert formula not in [value for r in rows for value in r.values()]


def test_no_cell_starts_like_a_formula(talk: TalkSummary) -> None:
    cells = [value for r in read(render_talk_csv(talk)) for value in r.values()]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@A1", "\t=1", "\r=1"])
def test_neutralise_prefixes_a_quote(value: str) -> None:
    assert neutralise(value) == "'" + value


def test_neutralise_leaves_ordinary_text(talk: TalkSummary) -> None:
    assert neutralise("hashing trick = no refit") == "hashing trick = no refit"


def test_unsafe_post_links_are_dropped(talk: TalkSummary) -> None:
    rows = {r["id"]: r for r in read(render_talk_csv(talk))}
    assert rows["103"]["url"] == ""
    assert rows["101"]["url"] == "https://social.example/@ada@social.example/101"


def test_empty_talk_gives_only_the_header(empty_talk: TalkSummary) -> None:
    assert read(render_talk_csv(empty_talk)) == []


def test_event_csv_has_every_talks_posts(event: EventSummary) -> None:
    rows = read(render_event_csv(event))
    assert len(rows) == sum(len(t.posts) for t in event.all_talks)
