"""Untrusted post HTML in, plain text and sanitised HTML out.

>>> html_to_text('<p>Hi <a href="https://x.example/tags/pycon">#<span>pycon</span></a></p><p>second&amp;last</p>')
'Hi #pycon\\n\\nsecond&last'
>>> sanitise_html('<p onclick="x()">ok<script>alert(1)</script><a href="javascript:alert(1)">a</a></p>')
'<p>ok<a rel="nofollow noopener noreferrer">a</a></p>'
"""

from __future__ import annotations

from html.parser import HTMLParser

import nh3

from ingest.text import normalise_text

# What Mastodon emits (see its Sanitize config) plus common fediverse markup; everything else
# is unwrapped to its text. Attributes are limited to what rendering a link needs.
_ALLOWED_TAGS = frozenset(
    {"p", "br", "a", "span", "strong", "b", "em", "i", "u", "del", "s", "code", "pre", "blockquote"}
    | {"ul", "ol", "li"}
)
_ALLOWED_ATTRIBUTES = {"a": {"href", "class", "translate"}, "span": {"class", "translate"}}
_URL_SCHEMES = frozenset({"http", "https", "mailto"})
# Every link the sanitiser keeps gets this rel (markup built already safe writes it itself).
LINK_REL = "nofollow noopener noreferrer"
# Their content is code or styling, never something the poster said.
_DROPPED_CONTENT = frozenset({"script", "style", "template", "noscript", "iframe", "object", "title"})

_CLEANER = nh3.Cleaner(
    tags=set(_ALLOWED_TAGS),
    clean_content_tags=set(_DROPPED_CONTENT),
    attributes={tag: set(attrs) for tag, attrs in _ALLOWED_ATTRIBUTES.items()},
    url_schemes=set(_URL_SCHEMES),
    link_rel=LINK_REL,
    strip_comments=True,
)

_BLOCK_BREAK = frozenset({"p", "blockquote", "pre", "ul", "ol", "div", "h1", "h2", "h3", "h4", "h5", "h6"})
_LINE_BREAK = frozenset({"br", "li"})


def sanitise_html(html: str) -> str:
    """Keep only safe tags, attributes and URL schemes; scripts and handlers vanish with their content."""
    return _CLEANER.clean(html)


class _TextCollector(HTMLParser):
    """Collects visible text; paragraphs become blank lines, ``<br>`` a newline."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED_CONTENT:
            self._hidden_depth += 1
        elif tag in _LINE_BREAK:
            self.parts.append("\n")
        elif tag in _BLOCK_BREAK:
            self.parts.append("\n\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _LINE_BREAK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROPPED_CONTENT:
            self._hidden_depth = max(0, self._hidden_depth - 1)
        elif tag in _BLOCK_BREAK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        # Mastodon splits long links into "invisible" and "ellipsis" spans for display only;
        # keeping every span's text gives back the full URL.
        if not self._hidden_depth:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Visible text of an HTML fragment, entities decoded, whitespace normalised."""
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    return normalise_text("".join(collector.parts))
