"""Redaction: blank removed posts' text in the stored live log, so a resuming follower never replays it.

The hub's in-memory rings are blanked by the ``post.redacted`` frame this emits, on every replica.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from app.services.unit_of_work import UnitOfWork
from app.store import moderation as moderation_store
from app.store.tables import Event, Post

_ANONYMOUS = {"name": None, "handle": None, "url": None}
# A post's frames are logged after it was received; the margin covers clocks of different replicas/workers.
_CLOCK_SKEW = timedelta(minutes=5)


async def redact_frames(uow: UnitOfWork, event: Event, posts: Sequence[Post]) -> int:
    """Blank the text and author of ``posts`` in the stored live log and in every replica's memory."""
    assert event.id is not None
    wanted = {p.id for p in posts if p.id is not None}
    if not wanted:
        return 0
    since = min(p.received_at for p in posts) - _CLOCK_SKEW
    redacted = 0
    for frame in await moderation_store.post_frames(uow.session, event.id, since=since):
        data = frame.data
        if isinstance(data, dict) and data.get("id") in wanted and data.get("text") != "":
            frame.data = {**data, "text": "", "author": dict(_ANONYMOUS), "url": None, "media_descriptions": []}
            uow.session.add(frame)
            redacted += 1
    await uow.emit(event, "post.redacted", {"ids": sorted(wanted)})
    return redacted
