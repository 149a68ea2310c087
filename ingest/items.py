"""What a source yields: posts seen, edited or deleted, as frozen pipeline records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class ItemAction(StrEnum):
    UPSERT = "upsert"  # a post seen for the first time, or seen again / edited
    DELETE = "delete"  # removed at its source: it must vanish everywhere
    # The author's account is gone at its source (deleted, or taken down by its host): every post of theirs
    # must vanish everywhere. ``native_id`` is the prefix all their posts' native_ids share (Bluesky:
    # ``at://{did}/``) and ``author_handle`` names them as their posts' ``IncomingPost.author_handle`` does.
    ERASE_AUTHOR = "erase_author"


@dataclass(frozen=True, slots=True)
class IncomingPost:
    """One attendee contribution as a source saw it, before it is stored.

    ``(source, native_id)`` is the identity: a second delivery of the same pair is an update,
    never a second post. Sources choose a ``native_id`` that is the same wherever the post is
    seen (Mastodon: the status ``uri``, identical on every instance; Bluesky: the ``at://`` uri).
    """

    source: str
    native_id: str
    text: str
    created_at: datetime
    html: str | None = None
    url: str | None = None
    language: str | None = None
    author_handle: str | None = None
    author_name: str | None = None
    author_url: str | None = None
    reply_to: str | None = None  # native_id of the parent post in the same source
    talk_ref: str | None = None  # an explicit talk id/guid chosen by the poster (in-app notes)
    kind_hint: str | None = None  # "question" when the poster said so (in-app notes)
    sensitive: bool = False
    spoiler_text: str | None = None
    media_descriptions: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    boosts: int = 0
    likes: int = 0
    replies: int = 0
    edited_at: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class SourceItem:
    """One change a source observed. ``cursor`` is where to resume *after* this item."""

    action: ItemAction
    source: str
    native_id: str
    post: IncomingPost | None = None
    cursor: str | None = None
    author_handle: str | None = None  # ERASE_AUTHOR only: whose posts


def erase_author_item(source: str, native_prefix: str, author_handle: str) -> SourceItem:
    """Every post of ``author_handle`` (native_ids starting with ``native_prefix``) must vanish."""
    return SourceItem(ItemAction.ERASE_AUTHOR, source, native_prefix, author_handle=author_handle)
