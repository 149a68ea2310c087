"""In-app notes: a note typed into Backchannel becomes a SourceItem like any other post."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from ingest.items import IncomingPost, ItemAction, SourceItem
from ingest.text import normalise_text

SOURCE = "notes"


def note_item(
    text: str,
    *,
    client_handle: str | None,
    display_name: str | None = None,
    talk_ref: str | None = None,
    question: bool = False,
    reply_to: str | None = None,
    now: datetime | None = None,
    native_id: str | None = None,
) -> SourceItem:
    """Build the item for one note; the native id is fresh, so every submission is a new post."""
    native_id = native_id or uuid.uuid4().hex
    post = IncomingPost(
        source=SOURCE,
        native_id=native_id,
        text=normalise_text(text),
        created_at=now or datetime.now(UTC),
        author_handle=client_handle,
        author_name=normalise_text(display_name) if display_name else None,
        talk_ref=talk_ref,
        kind_hint="question" if question else None,
        reply_to=reply_to,
    )
    return SourceItem(action=ItemAction.UPSERT, source=SOURCE, native_id=native_id, post=post)
