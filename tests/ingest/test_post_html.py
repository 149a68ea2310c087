"""Post HTML from the network is untrusted: readers get plain text and HTML that cannot run anything."""

from __future__ import annotations

import pytest

from ingest.html import html_to_text, sanitise_html
from ingest.sources.sse import SseDecoder


@pytest.mark.parametrize(
    "hostile",
    [
        "<p>hi<script>document.cookie</script></p>",
        '<p><img src="x" onerror="alert(1)">hi</p>',
        '<p><a href="javascript:alert(1)">hi</a></p>',
        '<p><a href="JaVaScRiPt:alert(1)">hi</a></p>',
        '<p><a href="data:text/html,<script>alert(1)</script>">hi</a></p>',
        '<p onmouseover="alert(1)" style="position:fixed">hi</p>',
        '<p><iframe src="https://evil.example"></iframe>hi</p>',
        "<p>hi<style>body{display:none}</style></p>",
    ],
)
def test_nothing_executable_survives_sanitising(hostile: str) -> None:
    cleaned = sanitise_html(hostile).lower()
    for marker in ("<script", "onerror", "javascript:", "data:", "onmouseover", "style", "<iframe", "<img"):
        assert marker not in cleaned
    assert "hi" in cleaned


def test_links_keep_their_target_and_gain_nofollow() -> None:
    cleaned = sanitise_html('<a href="https://example.org/talk" target="_blank">talk</a>')
    assert cleaned == '<a href="https://example.org/talk" rel="nofollow noopener noreferrer">talk</a>'


def test_plain_text_keeps_paragraphs_line_breaks_and_decoded_entities() -> None:
    html = "<p>Q&amp;A at 3pm<br>room B</p><p>bring &lt;questions&gt;</p><script>x()</script>"
    assert html_to_text(html) == "Q&A at 3pm\nroom B\n\nbring <questions>"


def test_sse_events_split_across_chunks_and_crlf_lines_are_reassembled() -> None:
    decoder = SseDecoder()
    events = []
    for chunk in (b":)\r\nevent: upd", b'ate\r\ndata: {"a":', b" 1}\r\n", b"\r\n"):
        events.extend(decoder.feed(chunk))
    assert [(e.event, e.data) for e in events] == [("update", '{"a": 1}')]


def test_an_sse_event_over_the_limit_is_reported_once_and_not_buffered() -> None:
    decoder = SseDecoder(max_event_bytes=1_000)
    events = decoder.feed(b"event: update\ndata: " + b"x" * 5_000)
    events += decoder.feed(b"x" * 5_000 + b"\n\nevent: delete\ndata: 7\n\n")
    assert [(e.event, e.oversized) for e in events] == [("update", True), ("delete", False)]
    assert len(decoder._line) == 0
