"""Text safety shared by every format: only http(s) links, no invisible or control characters."""

from __future__ import annotations

import pytest

from app.export.text import clean_line, clean_text, http_url, truncate


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        " JaVaScRiPt:alert(1)",
        "java\u0000script:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox",
        "file:///etc/passwd",
        "//evil.example/x",
        "/relative/path",
        "https://",
        "https://evil.example/\u202egnp.exe",
        None,
        "",
    ],
)
def test_http_url_refuses_anything_but_absolute_http(url: str | None) -> None:
    assert http_url(url) is None


def test_http_url_keeps_http_links_and_encodes_quotes_and_spaces() -> None:
    assert http_url('https://e.example/a b?q="x"&y=<1>') == "https://e.example/a%20b?q=%22x%22&y=%3C1%3E"


def test_clean_text_removes_bidi_overrides_and_zero_width_characters() -> None:
    assert clean_text("invoice\u202egnp.exe pay\u200bpal\u2060\ufeff") == "invoicegnp.exe paypal"


def test_clean_text_keeps_emoji_joiners_and_paragraphs() -> None:
    assert clean_text("👩\u200d💻 hi\r\n\r\n\r\nthere\x00") == "👩\u200d💻 hi\n\nthere"


def test_clean_line_puts_everything_on_one_line() -> None:
    assert clean_line("a\n\nb\u2028c") == "a b c"


def test_truncate_cuts_at_a_word_and_marks_it() -> None:
    assert truncate("the quick brown fox jumps", 16) == "the quick brown…"
