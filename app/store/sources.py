"""Queries on configured sources."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.store.tables import Source


async def list_for_event(session: AsyncSession, event_id: int) -> list[Source]:
    stmt = select(Source).where(Source.event_id == event_id).order_by(col(Source.id))
    return list((await session.exec(stmt)).all())


async def get(session: AsyncSession, event_id: int, source_id: int) -> Source | None:
    return (await session.exec(select(Source).where(Source.event_id == event_id, Source.id == source_id))).first()


async def get_any(session: AsyncSession, source_id: int) -> Source | None:
    return await session.get(Source, source_id)
