"""The standalone HTML summary: complete, self-contained, and attendee text cannot script or link out."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from app.export.html import render_event_html, render_talk_html
from app.export.summary import EventSummary, TalkSummary
from tests.app.export.examples import ANSWER_TEXT, ANSWERED_QUESTION, OPEN_QUESTION, TAKEAWAY_TEXT, TALK_TITLE


class Tags(HTMLParser):
    """Every start tag with its attributes, and the visible text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def values(self, attribute: str) -> list[str]:
        return [attrs[attribute] or "" for _, attrs in self.tags if attribute in attrs]

    @property
    def visible_text(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.text))


@pytest.fixture(scope="module")
def talk_html(talk: TalkSummary) -> str:
    return render_talk_html(talk)


@pytest.fixture(scope="module")
def event_html(event: EventSummary) -> str:
    return render_event_html(event)


@pytest.fixture(params=["talk", "event"])
def page(request: pytest.FixtureRequest, talk_html: str, event_html: str) -> Tags:
    return Tags(talk_html if request.param == "talk" else event_html)


def test_shows_title_takeaways_and_questions(talk_html: str) -> None:
    text = Tags(talk_html).visible_text
    for expected in (TALK_TITLE, TAKEAWAY_TEXT, ANSWERED_QUESTION, ANSWER_TEXT, OPEN_QUESTION):
        assert expected in text


def test_takeaways_link_to_numbered_sources(talk_html: str) -> None:
    tags = Tags(talk_html)
    assert {"#t-cite-1", "#t-cite-2", "#t-cite-3"} <= set(tags.values("href"))
    assert {"t-cite-1", "t-cite-9"} <= set(tags.values("id"))


def test_hostile_text_is_shown_as_text(talk_html: str) -> None:
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in talk_html
    assert "&lt;img src=x onerror=alert(1)&gt;" in talk_html


def test_no_script_anywhere(page: Tags, talk_html: str, event_html: str) -> None:
    assert "<script" not in talk_html.lower()
    assert "<script" not in event_html.lower()
    assert "script" not in [tag for tag, _ in page.tags]


def test_no_event_handler_attributes(page: Tags) -> None:
    assert [(tag, name) for tag, attrs in page.tags for name in attrs if name.startswith("on")] == []


def test_links_are_http_or_in_page(page: Tags) -> None:
    hrefs = page.values("href")
    assert hrefs
    assert all(h.startswith(("https://", "http://", "#")) for h in hrefs), hrefs


def test_no_javascript_urls(talk_html: str, event_html: str) -> None:
    assert "javascript:" not in "".join(Tags(talk_html).values("href") + Tags(event_html).values("href"))


def test_assets_are_embedded_not_fetched(page: Tags) -> None:
    assert all(src.startswith("data:image/") for src in page.values("src"))
    assert not [tag for tag, _ in page.tags if tag in ("link", "iframe", "object", "embed", "base", "frame")]


def test_stylesheet_loads_nothing(talk_html: str) -> None:
    style = re.search(r"<style>(.*?)</style>", talk_html, flags=re.DOTALL)
    assert style is not None
    assert "url(" not in style.group(1)
    assert "@import" not in style.group(1)


def test_content_security_policy_forbids_scripts_and_remote_loads(page: Tags) -> None:
    [policy] = [a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert policy is not None
    assert "default-src 'none'" in policy


def test_invisible_characters_are_removed(talk_html: str) -> None:
    assert "\u202e" not in talk_html
    assert "\u200b" not in talk_html


def test_has_a_print_stylesheet(talk_html: str) -> None:
    assert "@page" in talk_html
    assert "@media print" in talk_html


def test_chart_is_an_inline_svg_image(talk_html: str) -> None:
    [chart] = [a for t, a in Tags(talk_html).tags if t == "img"]
    assert (chart["src"] or "").startswith("data:image/svg+xml;base64,")
    assert "live demo" in (chart["alt"] or "")


def test_event_page_indexes_every_talk_and_links_to_its_section(event: EventSummary, event_html: str) -> None:
    tags = Tags(event_html)
    for number in range(1, len(event.all_talks) + 1):
        assert f"#t{number}" in tags.values("href")
        assert f"t{number}" in tags.values("id")


def test_event_page_can_link_to_separate_files(event: EventSummary) -> None:
    html = render_event_html(event, talk_links={t.guid: f"talks/{n}.html" for n, t in enumerate(event.all_talks)})
    tags = Tags(html)
    assert "talks/0.html" in tags.values("href")
    assert TAKEAWAY_TEXT not in tags.visible_text


def test_empty_talk_renders(empty_talk: TalkSummary) -> None:
    text = Tags(render_talk_html(empty_talk)).visible_text
    assert "No takeaways yet." in text
    assert "No questions were asked." in text


def test_people_are_named_with_their_handle_as_in_markdown(talk_html: str) -> None:
    text = Tags(talk_html).visible_text
    assert "Ada Lovelace (@ada@social.example)" in text  # a source, as the Markdown lists it
    assert "Speaker (@speaker@democon.example)" in text  # who answered
    assert "Ada Lovelace @ada@social.example 4" in text  # top contributors: name, handle, posts
