"""User text and links in, display-safe text and http(s)-only links out, shared by every renderer."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote, urlsplit

# Bidi embeddings, overrides and isolates can visually reorder what follows them ("RTLO" spoofing);
# zero-width spaces, word joiners, BOMs and tag characters hide content. ZWJ/ZWNJ stay: emoji
# sequences and Persian or Indic scripts need them.
_INVISIBLE = re.compile("[\u202a-\u202e\u2066-\u2069\u200b\u2060\ufeff\u180e\U000e0000-\U000e007f]")
_LINE_SEPARATORS = re.compile("\r\n|[\r\u2028\u2029\x85]")
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_ANY_WHITESPACE = re.compile(r"\s+")
# Characters a link target must never contain raw: they end a Markdown destination or an attribute.
_URL_SAFE = ":/?#[]@!$&'*+,;=%~-._"


def clean_text(text: str) -> str:
    """Drop control and invisible characters, collapse spaces, keep paragraph breaks."""
    text = unicodedata.normalize("NFC", _LINE_SEPARATORS.sub("\n", text))
    text = _INVISIBLE.sub("", text)
    text = "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cs"))
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def clean_line(text: str) -> str:
    """Like :func:`clean_text`, but on one line: headings, table cells and list items need that."""
    return _ANY_WHITESPACE.sub(" ", clean_text(text)).strip()


def truncate(text: str, limit: int) -> str:
    """Shorten to at most ``limit`` characters at a word boundary, marking the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if not text[limit - 1].isspace() and space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def http_url(url: str | None) -> str | None:
    """The URL, percent-encoded, if it is an absolute http(s) URL with a host; otherwise None.

    Everything else (``javascript:``, ``data:``, relative paths, whitespace tricks) is refused, so
    a renderer can put the result in a link target without further checks.
    """
    if not url:
        return None
    url = url.strip()
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return quote(url, safe=_URL_SAFE)


def noun(n: int, singular: str, plural: str | None = None) -> str:
    """The noun for ``n`` of a thing: "post" for 1, "posts" for 0 or 2 (a tile shows the number above it)."""
    return singular if n == 1 else plural or singular + "s"


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """ "1 post", "2 posts", "0 open questions": a count in a sentence of a summary or a page."""
    return f"{n} {noun(n, singular, plural)}"


def handle_text(handle: str) -> str:
    """A handle as the summaries show it, ``@ada`` or ``@ada@social.example``: stored as the source gave it,
    with or without its ``@``."""
    handle = clean_line(handle)
    return handle if not handle or handle.startswith("@") else "@" + handle
