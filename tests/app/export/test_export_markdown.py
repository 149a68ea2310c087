"""The Markdown summary: what a reader sees, and that attendee text cannot add markup."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from app.export.html import render_talk_html
from app.export.markdown import escape, render_event_markdown, render_talk_markdown
from app.export.summary import EventSummary, TalkSummary
from tests.app.export.examples import (
    ANSWER_TEXT,
    ANSWERED_QUESTION,
    EVENT_NAME,
    OPEN_QUESTION,
    TAKEAWAY_TEXT,
    TALK_TITLE,
)


def section(markdown: str, heading: str) -> str:
    """The text under ``heading`` up to the next heading of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    start = markdown.index(heading + "\n")
    rest = markdown[start + len(heading) + 1 :]
    end = re.search(rf"^#{{1,{level}}} ", rest, flags=re.MULTILINE)
    return rest[: end.start()] if end else rest


def test_talk_starts_with_its_title_and_details(talk: TalkSummary) -> None:
    markdown = render_talk_markdown(talk)
    assert markdown.startswith(f"# {TALK_TITLE}\n")
    assert "**When:** Thu 14 May 2026, 10:00–10:45 (Europe/Berlin)" in markdown
    assert "**Speakers:** Dr. Jane Example, Bob \\<script\\>alert(1)\\</script\\>" in markdown
    assert "**Talk page:** <https://democon.example/2026/talk/STM42/>" in markdown


def test_takeaways_are_grouped_by_topic_and_cite_numbered_sources(talk: TalkSummary) -> None:
    takeaways = section(render_talk_markdown(talk), "## Takeaways")
    hashing = section(takeaways, "### Hashing features")
    assert f"1. {TAKEAWAY_TEXT} *(merged from 3 posts, 7 votes)* \\[1\\] \\[2\\] \\[3\\]" in hashing
    assert "*Keyphrases:* hashing trick, no refit, partial\\_fit" in hashing


def test_sources_list_names_authors_and_links_posts(talk: TalkSummary) -> None:
    sources = section(render_talk_markdown(talk), "## Sources")
    first = sources.strip().splitlines()[0]
    assert first.startswith("1. Ada Lovelace (@ada@social.example) · mastodon · Thu 14 May 2026, 10:05")
    assert first.endswith("[post](<https://social.example/@ada@social.example/101>)")


def test_answered_questions_show_their_answers(talk: TalkSummary) -> None:
    answered = section(render_talk_markdown(talk), "### Answered (1)")
    assert f"- **{ANSWERED_QUESTION}**" in answered
    assert f"  - {ANSWER_TEXT} — Speaker (@speaker@democon.example)" in answered


def test_open_questions_are_listed_apart(talk: TalkSummary) -> None:
    still_open = section(render_talk_markdown(talk), "### Still open (2)")
    assert f"- **{OPEN_QUESTION}**" in still_open
    assert ANSWERED_QUESTION not in still_open


def test_activity_lists_bursts_and_counts(talk: TalkSummary) -> None:
    activity = section(render_talk_markdown(talk), "## Activity")
    assert "- 10:05–10:09: live demo (peak 11/min)" in activity
    assert "**By source:** mastodon 10, notes 6, bluesky 4" in activity


def test_empty_talk_says_there_is_nothing_yet(empty_talk: TalkSummary) -> None:
    markdown = render_talk_markdown(empty_talk)
    assert "*No takeaways yet.*" in markdown
    assert "*No questions were asked.*" in markdown
    assert "## Sources" not in markdown


def test_event_document_has_an_index_and_every_talk(event: EventSummary) -> None:
    markdown = render_event_markdown(event)
    assert markdown.startswith(f"# {EVENT_NAME}\n")
    for talk in event.all_talks:
        assert f"## {escape(talk.title)}\n" in markdown
    assert "### Takeaways\n\n#### Hashing features\n\n*Keyphrases:*" in markdown


@pytest.mark.parametrize(
    ("text", "literal"),
    [
        ("<script>alert(1)</script>", "\\<script\\>alert(1)\\</script\\>"),
        ("[click](javascript:alert(1))", "\\[click\\](javascript:alert(1))"),
        ("# heading", "\\# heading"),
        ("1. list", "1\\. list"),
        ("- item", "\\- item"),
        ("a | b\nc", "a \\| b c"),
        ("&#106;avascript", "\\&#106;avascript"),
        ("![x](http://e.example/x.png)", "\\!\\[x\\](http://e.example/x.png)"),
    ],
)
def test_escape_makes_markup_literal(text: str, literal: str) -> None:
    assert escape(text) == literal


@pytest.fixture(scope="module")
def html(talk: TalkSummary) -> str:
    """The talk's Markdown turned into HTML by a real CommonMark + GFM tables parser."""
    markdown_it = pytest.importorskip("markdown_it")
    return markdown_it.MarkdownIt("commonmark").enable("table").render(render_talk_markdown(talk))


class TestRenderedThroughACommonMarkParser:
    """Attendee text, once the Markdown is rendered, carries no injected markup."""

    def test_no_raw_html_survives(self, html: str) -> None:
        assert "<script" not in html
        assert "<img" not in html

    def test_links_are_http_only(self, html: str) -> None:
        hrefs = re.findall(r'href="([^"]*)"', html)
        assert hrefs
        assert all(href.startswith(("https://", "http://")) for href in hrefs)

    def test_headings_are_only_ours(self, html: str) -> None:
        headings = re.findall(r"<h(\d)>(.*?)</h\1>", html)
        assert headings == [
            ("1", TALK_TITLE),
            ("2", "Takeaways"),
            ("3", "Hashing features"),
            ("3", "# Stable ids a | b # not a heading | c |"),
            ("2", "Questions"),
            ("3", "Answered (1)"),
            ("3", "Still open (2)"),
            ("2", "Activity"),
            ("2", "Top contributors"),
            ("2", "Sources"),
        ]

    def test_table_rows_keep_their_columns(self, html: str) -> None:
        rows = re.findall(r"<tr>(.*?)</tr>", html, flags=re.DOTALL)
        assert rows
        assert all(row.count("<td") in (0, 3) and row.count("<th") in (0, 3) for row in rows)


def test_a_question_among_the_takeaways_is_marked_as_asked(talk: TalkSummary) -> None:
    first = talk.topics[0]
    asked = replace(first.takeaways[0], text="How do ids stay stable?", kind="question")
    marked = replace(talk, topics=(replace(first, takeaways=(asked, *first.takeaways[1:])), *talk.topics[1:]))
    hashing = section(section(render_talk_markdown(marked), "## Takeaways"), "### Hashing features")
    assert "1. **Asked:** How do ids stay stable? *(merged from 3 posts, 7 votes)*" in hashing
    assert "2. **Asked:**" not in hashing
    html = render_talk_html(marked)
    assert '<strong class="asked">Asked:</strong> <span class="user" dir="auto">How do ids stay stable?</span>' in html


def test_an_answer_the_room_echoed_reads_once_with_everyone_who_gave_it(talk: TalkSummary) -> None:
    from app.export.summary import QuestionEntry
    from tests.app.export.examples import cite

    question = cite(900, "Li", "li", "How do you roll back the contract step?", 10)
    said = "You don't: contract only after the new code has been live long enough."
    echoes = (
        cite(901, "Finn", "finn", said, 11),
        cite(902, "Zoe", "zoe", said.upper().replace(".", ""), 12),  # case and the closing stop aside
        cite(903, "Finn", "finn", f"  {said}  ", 13),  # Finn again: named once
        cite(904, "Mira", "mira", "Keep the old columns until every reader moved.", 14),
    )
    entry = QuestionEntry(question=question, answers=echoes)
    echoed = replace(talk, questions=(entry,))

    markdown = section(render_talk_markdown(echoed), "### Answered (1)")
    lines = [line for line in markdown.splitlines() if line.startswith("  - ")]
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"  - {escape(said)} — Finn (@finn), Zoe (@zoe) ")
    assert len(re.findall(r"\\\[\d+\\\]", lines[0])) == 3  # every echo still cited
    answers = render_talk_html(echoed).split('<ul class="answers">')[1].split("</ul>")[0]
    assert answers.count("<li>") == 2 and answers.count("live long enough") == 1
    assert answers.count('class="who"') == 3  # Finn, Zoe; Mira
    assert answers.count("-cite-") == 4


def test_a_one_minute_burst_reads_as_that_minute(talk: TalkSummary) -> None:
    """A burst is its first to its last minute, both included: one minute is "10:05", not "10:05–10:05"."""
    [first, *rest] = talk.bursts
    short = replace(talk, bursts=(replace(first, end=first.start), *rest))
    markdown = render_talk_markdown(short)
    assert "- 10:05: live demo (peak 11/min)" in section(markdown, "## Activity")
    html = " ".join(render_talk_html(short).split())
    assert "10:05–10:05" not in html and 'shaded bursts: 10:05 <span dir="auto">live demo</span>' in html


def _one_of_each(talk: TalkSummary) -> TalkSummary:
    """The talk cut down to one post, one takeaway and one open question."""
    return replace(
        talk,
        topics=(replace(talk.topics[0], takeaways=talk.topics[0].takeaways[:1]),),
        questions=tuple(q for q in talk.questions if not q.answered)[:1],
        posts=talk.posts[:1],
    )


def test_the_activity_line_counts_in_words_a_reader_would_write(talk: TalkSummary) -> None:
    assert "**Activity:** 15 posts · 4 takeaways · 1 answered and 2 open questions" in render_talk_markdown(talk)
    one_of_each = _one_of_each(talk)
    assert "**Activity:** 1 post · 1 takeaway · 0 answered and 1 open question" in render_talk_markdown(one_of_each)


def test_the_html_tiles_name_one_of_a_thing_in_the_singular(talk: TalkSummary) -> None:
    tiles = " ".join(render_talk_html(talk).split())
    assert "<strong>15</strong>posts" in tiles and "<strong>2</strong>open questions" in tiles
    one_of_each = _one_of_each(talk)
    tiles = " ".join(render_talk_html(one_of_each).split())
    assert "<strong>1</strong>post</li>" in tiles and "<strong>1</strong>takeaway</li>" in tiles
    assert "<strong>1</strong>open question</li>" in tiles
