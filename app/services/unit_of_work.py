"""A unit of work: one session plus the live frames to publish once it has committed."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from app.broadcast.broker import Broker
from app.broadcast.hub import Frame, channel_name
from app.errors import Conflict
from app.store import live as live_store
from app.store.tables import Event

logger = logging.getLogger(__name__)


class UnitOfWork:
    def __init__(self, session: AsyncSession, broker: Broker) -> None:
        self.session = session
        self.broker = broker
        self._pending: list[tuple[str, Frame]] = []

    async def emit(self, event: Event, type_: str, data: dict[str, Any]) -> Frame:
        """Record a live frame in the same transaction as the change it describes.

        A frame whose data has a ``talk_id`` key concerns that talk (or the hallway when None);
        frames without one go to every follower of the event.
        """
        return (await self.emit_many(event, [(type_, data)]))[0]

    async def emit_many(self, event: Event, frames: list[tuple[str, dict[str, Any]]]) -> list[Frame]:
        """Record several frames, in order, under one contiguous id range (one id allocation, one insert)."""
        return await self.emit_encoded(event, live_store.encode_frames(frames))

    async def emit_encoded(self, event: Event, frames: list[tuple[str, int | None, str]]) -> list[Frame]:
        """``emit_many`` of frames ``app.store.live.encode_frames`` made (before the transaction's first write)."""
        assert event.id is not None
        logged = await live_store.append_encoded(self.session, event.id, frames)
        channel = channel_name(event.slug)
        self._pending.extend((channel, frame) for frame in logged)
        return logged

    async def commit(self) -> None:
        """Commit, then publish. A failed publish loses nothing: followers catch up from the log."""
        try:
            await self.session.commit()
        except IntegrityError as exc:
            await self.session.rollback()
            self._pending.clear()
            raise Conflict("this change conflicts with one made at the same time; nothing was saved") from exc
        pending, self._pending = self._pending, []
        # One publish per run of frames on the same channel (an ingest batch is one run), in order.
        start = 0
        while start < len(pending):
            channel = pending[start][0]
            end = start
            while end < len(pending) and pending[end][0] == channel:
                end += 1
            try:
                await self.broker.publish_many(channel, [frame.text for _, frame in pending[start:end]])
            except Exception as exc:  # the broker is best-effort by design
                logger.warning("live.publish_failed", extra={"channel": channel, "error": str(exc)})
            start = end

    async def rollback(self) -> None:
        self._pending.clear()
        await self.session.rollback()
