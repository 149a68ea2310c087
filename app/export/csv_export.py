"""Talk or event posts in, a UTF-8 CSV (header row, one post per row) out, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC

from app.export.summary import EventSummary, PostRow, TalkSummary
from app.export.text import clean_text, http_url

COLUMNS = (
    "id",
    "created_at",
    "source",
    "author",
    "handle",
    "kind",
    "talk_guid",
    "topic",
    "upvotes",
    "boosts",
    "text",
    "url",
    "reply_to",  # last: a column added later must not move the ones readers index
)
# A spreadsheet evaluates a cell starting with one of these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """Prefix a leading quote to a would-be formula so spreadsheets show it as text."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _row(post: PostRow) -> list[str | int]:
    def text(value: str | None) -> str:
        return neutralise(clean_text(value or ""))

    return [
        post.id,
        post.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        text(post.source),
        text(post.author),
        text(post.handle),
        text(post.kind),
        text(post.talk_guid),
        text(post.topic_label),
        post.upvotes,
        post.boosts,
        text(post.text),
        http_url(post.url) or "",
        "" if post.reply_to_id is None else post.reply_to_id,
    ]


def render_posts_csv(posts: Iterable[PostRow]) -> bytes:
    """Posts as CSV bytes (RFC 4180 quoting, CRLF rows, UTF-8 without BOM), oldest first."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    for post in sorted(posts, key=lambda p: (p.created_at, p.id)):
        writer.writerow(_row(post))
    return buffer.getvalue().encode("utf-8")


def render_talk_csv(talk: TalkSummary) -> bytes:
    return render_posts_csv(talk.posts)


def render_event_csv(event: EventSummary) -> bytes:
    """Every talk's posts and the hallway's, in one table."""
    return render_posts_csv(post for talk in event.all_talks for post in talk.posts)
