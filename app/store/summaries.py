"""Queries for session summaries: an event's (or one talk's) visible posts and their authors."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.store.tables import Post


async def visible_posts(
    session: AsyncSession, event_id: int, *, talk_ids: list[int | None] | None = None
) -> list[Post]:
    """Visible posts in creation order; ``talk_ids`` limits them to those talks (None in it: the hallway)."""
    stmt = select(Post).where(Post.event_id == event_id, Post.status == "visible")
    if talk_ids is not None:
        ids = [t for t in talk_ids if t is not None]
        condition = col(Post.talk_id).in_(ids)
        if None in talk_ids:
            condition = condition | col(Post.talk_id).is_(None)
        stmt = stmt.where(condition)
    return list((await session.exec(stmt.order_by(col(Post.created_at), col(Post.id)))).all())


async def visible_replies(session: AsyncSession, event_id: int, parent_ids: list[int]) -> list[Post]:
    if not parent_ids:
        return []
    stmt = select(Post).where(
        Post.event_id == event_id, Post.status == "visible", col(Post.reply_to_id).in_(set(parent_ids))
    )
    return list((await session.exec(stmt.order_by(col(Post.created_at), col(Post.id)))).all())


async def posts_by_id(session: AsyncSession, event_id: int, ids: list[int]) -> dict[int, Post]:
    if not ids:
        return {}
    stmt = select(Post).where(Post.event_id == event_id, Post.status == "visible", col(Post.id).in_(set(ids)))
    return {p.id: p for p in (await session.exec(stmt)).all() if p.id is not None}
