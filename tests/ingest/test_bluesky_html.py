"""Bluesky post HTML is built escaped; the sanitiser is skipped only where it would return the markup unchanged."""

from __future__ import annotations

import sys
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.html import sanitise_html
from ingest.sources.facets import LINK, MENTION, TAG, _paragraph, _spans, _tag_href, render_html

_PRINTABLE = [chr(code) for code in range(sys.maxunicode + 1) if chr(code).isprintable()]


def sanitised(text: str, facets: object) -> str:
    """What ``render_html`` gave before it skipped anything: its markup, always through the sanitiser."""
    data = text.encode()
    return sanitise_html(_paragraph(data, _spans(data, facets), ""))


def tag(start: int, end: int, name: str) -> dict[str, Any]:
    return {"index": {"byteStart": start, "byteEnd": end}, "features": [{"$type": TAG, "tag": name}]}


def test_every_printable_character_renders_as_the_sanitiser_writes_it() -> None:
    for first in range(0, len(_PRINTABLE), 2_000):
        text = "".join(_PRINTABLE[first : first + 2_000])
        size = len(text.encode())
        for facets in ([], [tag(0, size, "x")], [tag(size - len(text[-1].encode()), size, "x")]):
            assert render_html(text, facets) == sanitised(text, facets)


def test_text_the_parser_would_change_still_goes_through_the_sanitiser() -> None:
    for text in ["a\x00b", "a\rb\r\nc", "no\xa0break", "tab\there", "zero\u200bwidth", "rtl \u202eevil", "\ue000"]:
        assert render_html(text, [tag(0, 1, "x")]) == sanitised(text, [tag(0, 1, "x")])
    assert render_html("a\x00b", []) == "<p>ab</p>"  # the sanitiser's work shows


def test_link_facets_go_through_the_sanitiser() -> None:
    link = {"index": {"byteStart": 0, "byteEnd": 4}, "features": [{"$type": LINK, "uri": "javascript:alert(1)"}]}
    assert render_html("evil", [link]) == '<p><a rel="nofollow noopener noreferrer">evil</a></p>'


_PIECES = st.one_of(
    st.characters(blacklist_categories=["Cs"]),
    st.sampled_from(list("#&<>\"'; \n\r\t\x00\xa0\u202e") + ["&amp;", "<br>", "</a>", "<!--", "https://"]),
)
_TEXT = st.lists(_PIECES, max_size=30).map("".join)


@st.composite
def posts(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]]]:
    text = draw(_TEXT)
    size = len(text.encode())
    facets = []
    for _ in range(draw(st.integers(0, 3))):
        start = draw(st.integers(0, size))
        end = draw(st.integers(start, size + 1))
        value = draw(_TEXT)
        kind = draw(st.sampled_from([TAG, MENTION, LINK]))
        feature = {
            "$type": kind,
            "tag": value,
            "did": value,
            "uri": draw(st.sampled_from([value, f"https://x.org/{value}"])),
        }
        facets.append({"index": {"byteStart": start, "byteEnd": end}, "features": [feature]})
    return text, facets


@settings(max_examples=500, deadline=None)
@given(post=posts())
def test_random_posts_render_as_through_the_sanitiser(post: tuple[str, list[dict[str, Any]]]) -> None:
    text, facets = post
    assert render_html(text, facets) == sanitised(text, facets)


def test_long_tags_are_linked_but_not_kept_in_the_href_cache() -> None:
    before = _tag_href.cache_info().currsize
    long_tag = "é" * 10_000
    html = render_html(f"#{long_tag}", [tag(0, len(f"#{long_tag}".encode()), long_tag)])
    assert f'href="https://bsky.app/hashtag/{"%C3%A9" * 10_000}"' in html
    assert _tag_href.cache_info().currsize == before
