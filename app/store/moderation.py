"""Queries for moderation: the event's policy, blocked authors, the audit log, held and per-author posts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Table, bindparam
from sqlalchemy import select as sa_select
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.store.tables import AuditEntry, Author, BlockedAuthor, Event, LiveEvent, ModerationPolicy, Post


async def get_policy(session: AsyncSession, event_id: int) -> ModerationPolicy | None:
    # session.get hits the identity map after the first call: cheap enough for every arriving post.
    return await session.get(ModerationPolicy, event_id)


_BLOCKED: Table = BlockedAuthor.__table__  # type: ignore[attr-defined]
# Built once: every ingest batch and every group of notes asks it, and building the statement and its cache
# key cost as much as running it (~0.15 ms a group).
_BLOCKED_HANDLES = sa_select(_BLOCKED.c.source, _BLOCKED.c.handle).where(_BLOCKED.c.event_id == bindparam("event_id"))


async def blocked_handles(session: AsyncSession, event_id: int) -> set[tuple[str, str]]:
    rows = (await session.execute(_BLOCKED_HANDLES, {"event_id": event_id})).all()
    return {(source, handle) for source, handle in rows}


async def get_block(session: AsyncSession, event_id: int, source: str, handle: str) -> BlockedAuthor | None:
    stmt = select(BlockedAuthor).where(
        BlockedAuthor.event_id == event_id, BlockedAuthor.source == source, BlockedAuthor.handle == handle
    )
    return (await session.exec(stmt)).first()


async def list_blocks(session: AsyncSession, event_id: int) -> list[BlockedAuthor]:
    stmt = select(BlockedAuthor).where(BlockedAuthor.event_id == event_id).order_by(col(BlockedAuthor.id))
    return list((await session.exec(stmt)).all())


async def find_author(session: AsyncSession, source: str, handle: str) -> Author | None:
    return (await session.exec(select(Author).where(Author.source == source, Author.handle == handle))).first()


async def author_posts(
    session: AsyncSession, event_id: int, author_id: int, statuses: Sequence[str] | None = None
) -> list[Post]:
    stmt = select(Post).where(Post.event_id == event_id, Post.author_id == author_id)
    if statuses is not None:
        stmt = stmt.where(col(Post.status).in_(statuses))
    return list((await session.exec(stmt.order_by(col(Post.id)))).all())


async def replies_to(session: AsyncSession, event_id: int, post_id: int) -> list[Post]:
    """The posts replying to ``post_id``, deleted ones left out, oldest first."""
    stmt = select(Post).where(Post.event_id == event_id, Post.reply_to_id == post_id, Post.status != "deleted")
    return list((await session.exec(stmt.order_by(col(Post.id)))).all())


async def any_author(session: AsyncSession, source: str, handles: Sequence[str]) -> bool:
    """Whether an author row of ``source`` goes by one of ``handles``."""
    stmt = select(Author.id).where(Author.source == source, col(Author.handle).in_(handles)).limit(1)
    return (await session.exec(stmt)).first() is not None


async def posts_by_native_prefix(session: AsyncSession, event_id: int, source: str, prefix: str) -> list[Post]:
    """The event's posts of ``source`` not yet deleted whose native id starts with ``prefix`` (one account's)."""
    stmt = select(Post).where(
        Post.event_id == event_id,
        Post.source == source,
        col(Post.native_id).startswith(prefix, autoescape=True),
        Post.status != "deleted",
    )
    return list((await session.exec(stmt.order_by(col(Post.id)))).all())


async def count_author_posts_between(
    session: AsyncSession, event_id: int, author_id: int, start: datetime, end: datetime
) -> int:
    stmt = select(func.count()).where(
        Post.event_id == event_id,
        Post.author_id == author_id,
        Post.created_at >= start,
        Post.created_at <= end,
        Post.status != "deleted",
    )
    return int((await session.exec(stmt)).one())


async def held_posts(session: AsyncSession, event_id: int, limit: int) -> list[Post]:
    stmt = select(Post).where(Post.event_id == event_id, Post.status == "held").order_by(col(Post.id)).limit(limit)
    return list((await session.exec(stmt)).all())


async def hidden_posts(session: AsyncSession, event_id: int, limit: int) -> list[Post]:
    stmt = (
        select(Post)
        .where(Post.event_id == event_id, Post.status == "hidden")
        .order_by(col(Post.id).desc())
        .limit(limit)
    )
    return list((await session.exec(stmt)).all())


async def audit_entries(session: AsyncSession, event_id: int, *, before_id: int | None, limit: int) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.event_id == event_id)
    if before_id is not None:
        stmt = stmt.where(col(AuditEntry.id) < before_id)
    return list((await session.exec(stmt.order_by(col(AuditEntry.id).desc()).limit(limit))).all())


async def posts_created_before(session: AsyncSession, event_id: int, cutoff: datetime, limit: int) -> list[Post]:
    stmt = (
        select(Post)
        .where(Post.event_id == event_id, Post.created_at < cutoff, Post.status != "deleted")
        .order_by(col(Post.id))
        .limit(limit)
    )
    return list((await session.exec(stmt)).all())


async def post_frames(session: AsyncSession, event_id: int, *, since: datetime) -> list[LiveEvent]:
    """Frames logged since ``since`` that carry a post's text (created/updated), for redaction after a removal."""
    stmt = select(LiveEvent).where(
        LiveEvent.event_id == event_id,
        col(LiveEvent.type).in_(("post.created", "post.updated")),
        col(LiveEvent.created_at) >= since,
    )
    return list((await session.exec(stmt)).all())


async def events_with_retention(session: AsyncSession) -> list[Event]:
    return list((await session.exec(select(Event).where(col(Event.retention_days).is_not(None)))).all())
