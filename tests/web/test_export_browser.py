"""The event's HTML export as a reader opens it in Chromium: on a phone and on a wide screen."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from app.export.html import render_event_html
from app.export.summary import EventSummary, TakeawayEntry, TopicSummary
from tests.app.export.examples import build_event_summary, cite

pytestmark = pytest.mark.browser

LAYOUT = """() => {
  const box = document.querySelector(".index table").parentElement;
  const first = [...document.querySelectorAll(".index tbody tr:first-child td")];
  const when = document.createRange();
  when.selectNodeContents(first[0]);
  return {
    page: document.documentElement.scrollWidth,
    box: {scroll: box.scrollWidth, client: box.clientWidth},
    cells: first.map((td) => Math.round(td.getBoundingClientRect().width)),
    whenLines: when.getClientRects().length,  // one rectangle per line the text takes
  };
}"""


def _crowded_event() -> EventSummary:
    """The examples, with a takeaway sourced from 40 posts (a long run of [n] references) and long titles."""
    event = build_event_summary()
    sources = tuple(cite(500 + n, f"Person {n}", f"p{n}@social.example", f"Post {n}", n) for n in range(40))
    widely = TopicSummary(id=77, label="Consensus", takeaways=(TakeawayEntry("Everyone agreed", citations=sources),))
    first = event.talks[0]
    first = replace(first, title="Zero-downtime schema migrations in PostgreSQL, " * 2, topics=(*first.topics, widely))
    return replace(event, talks=(first, *event.talks[1:]))


@pytest.fixture(scope="module")
def export_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export") / "summaries.html"
    path.write_text(render_event_html(_crowded_event()), encoding="utf-8")
    return path


@pytest.mark.parametrize("width", [390, 1400])
def test_the_html_export_reads_on_a_phone_and_a_wide_screen(browser: Any, export_file: Path, width: int) -> None:
    # at 390 px the talks table wrapped one letter per line and the page was 916 px wide
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        tab = context.new_page()
        tab.goto(export_file.as_uri())
        layout = tab.evaluate(LAYOUT)
    finally:
        context.close()
    assert layout["page"] <= width, f"the page scrolls sideways: {layout}"
    when, room, talk, *numbers = layout["cells"]
    assert when >= 120 and talk >= 150, f"a column was squeezed: {layout}"
    assert layout["whenLines"] == 1, layout  # "Thu 14 May 2026, 10:00" on one line
    if width == 390:
        assert layout["box"]["scroll"] > layout["box"]["client"], "the table scrolls in its own box"
    else:
        assert layout["box"]["scroll"] <= layout["box"]["client"], "a wide screen shows the whole table"
