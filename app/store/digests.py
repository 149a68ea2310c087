"""Queries on talk digests (the clustering stage's per-talk output)."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.store.tables import TalkDigest


async def list_for_event(session: AsyncSession, event_id: int) -> list[TalkDigest]:
    return list((await session.exec(select(TalkDigest).where(TalkDigest.event_id == event_id))).all())


async def get(session: AsyncSession, event_id: int, talk_id: int | None) -> TalkDigest | None:
    stmt = select(TalkDigest).where(TalkDigest.event_id == event_id, TalkDigest.talk_key == (talk_id or 0))
    return (await session.exec(stmt)).first()
