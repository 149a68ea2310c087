"""Queries on talks."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.store.tables import Talk


async def list_for_event(session: AsyncSession, event_id: int) -> list[Talk]:
    stmt = select(Talk).where(Talk.event_id == event_id).order_by(Talk.start, Talk.room, Talk.id)  # type: ignore[arg-type]
    return list((await session.exec(stmt)).all())


async def get(session: AsyncSession, event_id: int, talk_id: int) -> Talk | None:
    return (await session.exec(select(Talk).where(Talk.event_id == event_id, Talk.id == talk_id))).first()


async def get_by_guid(session: AsyncSession, event_id: int, guid: str) -> Talk | None:
    return (await session.exec(select(Talk).where(Talk.event_id == event_id, Talk.guid == guid))).first()
