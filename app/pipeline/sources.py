"""Turn a configured Source row into the ingest Source object that reads it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.services.talks import schedule_of
from app.store.tables import Event, Source
from ingest.source import Source as IngestSource
from ingest.sources.demo import DemoSource
from ingest.sources.mastodon import MastodonSource


async def build_source(row: Source, maker: async_sessionmaker[AsyncSession]) -> IngestSource:
    config = row.config or {}
    if row.kind == "demo":
        async with maker() as session:
            event = await session.get(Event, row.event_id)
            if event is None:
                raise ValueError(f"source {row.id} belongs to no event")
            schedule = await schedule_of(session, event)
        return DemoSource(schedule, seed=int(config.get("seed", 7)), speed=float(config.get("speed", 5.0)))
    if row.kind == "mastodon":
        return MastodonSource(
            str(config["instance_url"]),
            str(config["hashtag"]),
            access_token=config.get("access_token") or None,
        )
    raise ValueError(f"unknown source kind {row.kind!r}")
