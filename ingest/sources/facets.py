"""Bluesky rich text: post text plus facets (UTF-8 byte ranges) in, hashtags and safe HTML out.

Facets are JSON as decoded (objects are dicts, arrays lists: ``isinstance(x, dict)`` is the cheap check, an
ABC's is not). Facet indices count UTF-8 bytes, not characters, so slicing the Python string would cut
"café #talk" in the wrong place; every range is applied to ``text.encode()``.

>>> text = "café 🎤 #Talk"
>>> facets = [{"index": {"byteStart": 11, "byteEnd": 16},
...            "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "Talk"}]}]
>>> facet_tags(text, facets)
['talk']
>>> render_html(text, facets)
'<p>café 🎤 <a href="https://bsky.app/hashtag/Talk" rel="nofollow noopener noreferrer">#Talk</a></p>'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from html import escape
from typing import Any
from urllib.parse import quote

from ingest.html import LINK_REL, sanitise_html
from ingest.sources.consent import normalise_tag

TAG = "app.bsky.richtext.facet#tag"
LINK = "app.bsky.richtext.facet#link"
MENTION = "app.bsky.richtext.facet#mention"
# The hrefs ``_href`` builds for tags and mentions (``quote`` leaves only these characters).
_BUILT_HREF = re.compile(r"https://bsky\.app/(?:hashtag|profile)/[A-Za-z0-9_.~%:-]*")


def _features(facet: dict[str, Any]) -> Iterable[dict[str, Any]]:
    features = facet.get("features")
    return [f for f in features if isinstance(f, dict)] if isinstance(features, list) else []


def _byte_range(facet: dict[str, Any], size: int) -> tuple[int, int] | None:
    index = facet.get("index")
    if not isinstance(index, dict):
        return None
    start, end = index.get("byteStart"), index.get("byteEnd")
    if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end <= size:
        return None
    return start, end


def facet_tags(text: str, facets: object) -> list[str]:
    """Normalised hashtags declared by ``#tag`` facets (the tag feature names the tag itself)."""
    if not isinstance(facets, list):
        return []
    tags = []
    for facet in facets:
        if not isinstance(facet, dict):
            continue
        for feature in _features(facet):
            tag = feature.get("tag")
            if feature.get("$type") == TAG and isinstance(tag, str) and normalise_tag(tag):
                tags.append(normalise_tag(tag))
    return tags


def _href(feature: dict[str, Any]) -> str | None:
    kind = feature.get("$type")
    if kind == LINK and isinstance(uri := feature.get("uri"), str):
        return uri
    if kind == TAG and isinstance(tag := feature.get("tag"), str):
        return _tag_href(tag) if len(tag) <= _CACHED_LENGTH else _tag_href.__wrapped__(tag)
    if kind == MENTION and isinstance(did := feature.get("did"), str):
        return _profile_href(did) if len(did) <= _CACHED_LENGTH else _profile_href.__wrapped__(did)
    return None


# The same few tags and people recur post after post, and ``quote`` costs more than the rest of ``_href``.
# Only short ones are kept (real tags are at most 64 graphemes, DIDs rarely 100 characters): a hostile
# frame's megabyte-long tags must not stay in memory, 1,024 of them.
_CACHED_LENGTH = 256


@lru_cache(maxsize=1024)
def _tag_href(tag: str) -> str:
    return f"https://bsky.app/hashtag/{quote(tag.lstrip('#'), safe='')}"


@lru_cache(maxsize=1024)
def _profile_href(did: str) -> str:
    return f"https://bsky.app/profile/{quote(did, safe=':')}"


def render_html(text: str, facets: object) -> str:
    """The text as one escaped paragraph with links, mentions and tags linked; then sanitised.

    Facets that overlap, run past the text or split a multi-byte character are ignored.

    The sanitiser (a full HTML parse and serialisation, most of this function's cost) is skipped where it
    could change nothing: text of printable characters and line breaks only, escaped here, which the HTML
    parser reads back as the same characters and the serialiser writes as the same escapes, and only the
    ``bsky.app`` tag and profile links built here (percent-encoded, an allowed scheme), to which it would
    only add the ``rel``, written here instead. Anything else (link facets, control, format, private-use or
    unassigned characters, no-break spaces, lone surrogates) goes through the sanitiser. Tests compare both
    ways over every printable code point and random posts.
    """
    data = text.encode("utf-8")
    spans = _spans(data, facets)
    if _is_inert(text, spans):
        return _paragraph(data, spans, f' rel="{LINK_REL}"')
    return sanitise_html(_paragraph(data, spans, ""))


def _spans(data: bytes, facets: object) -> list[tuple[int, int, str]]:
    """``(byte start, byte end, href)`` of every facet with a range inside ``data`` and a feature to link."""
    spans: list[tuple[int, int, str]] = []
    for facet in facets if isinstance(facets, list) else []:
        if not isinstance(facet, dict) or (span := _byte_range(facet, len(data))) is None:
            continue
        href = next((h for f in _features(facet) if (h := _href(f)) is not None), None)
        if href is not None:
            spans.append((span[0], span[1], href))
    return spans


def _is_inert(text: str, spans: list[tuple[int, int, str]]) -> bool:
    """True when ``_paragraph`` builds exactly what the sanitiser would return for it (see ``render_html``)."""
    return (text.isprintable() or text.replace("\n", "").isprintable()) and all(
        _BUILT_HREF.fullmatch(href) for _, _, href in spans
    )


def _paragraph(data: bytes, spans: list[tuple[int, int, str]], rel: str) -> str:
    """The escaped paragraph with an ``<a href=… {rel}>`` per span that fits (unsanitised)."""
    spans.sort()
    out: list[str] = []
    position = 0
    for start, end, href in spans:
        if start < position:
            continue
        try:
            before, label = data[position:start].decode(), data[start:end].decode()
        except UnicodeDecodeError:
            continue
        out.append(escape(before, quote=False))
        out.append(f'<a href="{escape(href)}"{rel}>{escape(label, quote=False)}</a>')
        position = end
    out.append(escape(data[position:].decode("utf-8", "replace"), quote=False))
    body = "".join(out).replace("\n", "<br>")
    return f"<p>{body}</p>"
