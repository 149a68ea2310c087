"""Queries the clustering arrow needs: new posts by id, saved model state, digests, topics."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.store.tables import Event, ModelState, Post, TalkDigest, Topic


async def event_ids(session: AsyncSession) -> list[int]:
    return [i for i in (await session.exec(select(Event.id))).all() if i is not None]


async def posts_by_ids(session: AsyncSession, event_id: int, ids: list[int]) -> list[Post]:
    """This event's posts among ``ids``, in the order of ``ids``."""
    if not ids:
        return []
    stmt = select(Post).where(Post.event_id == event_id, col(Post.id).in_(ids))
    found = {p.id: p for p in (await session.exec(stmt))}
    return [found[i] for i in ids if i in found]


async def posts_after(session: AsyncSession, event_id: int, after_id: int, limit: int) -> list[Post]:
    stmt = select(Post).where(Post.event_id == event_id, col(Post.id) > after_id).order_by(col(Post.id)).limit(limit)
    return list((await session.exec(stmt)).all())


async def load_state(session: AsyncSession, event_id: int) -> ModelState | None:
    return await session.get(ModelState, event_id)


async def digest(session: AsyncSession, event_id: int, talk_id: int | None) -> TalkDigest | None:
    stmt = select(TalkDigest).where(TalkDigest.event_id == event_id, TalkDigest.talk_key == (talk_id or 0))
    return (await session.exec(stmt)).first()


async def topic(session: AsyncSession, event_id: int, model_id: int) -> Topic | None:
    return (await session.exec(select(Topic).where(Topic.event_id == event_id, Topic.model_id == model_id))).first()
