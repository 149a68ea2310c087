"""Queries on events."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.store.tables import Event


async def get_by_slug(session: AsyncSession, slug: str) -> Event | None:
    return (await session.exec(select(Event).where(Event.slug == slug))).first()


async def list_all(session: AsyncSession) -> list[Event]:
    return list((await session.exec(select(Event).order_by(Event.created_at.desc()))).all())  # type: ignore[attr-defined]
