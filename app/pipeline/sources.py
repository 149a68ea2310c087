"""Turn a configured Source row into the ingest Source object that reads it."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.services.talks import schedule_of
from app.store.tables import Event, Source
from ingest.source import Source as IngestSource
from ingest.sources.bluesky import JetstreamSource
from ingest.sources.demo import DemoSource
from ingest.sources.mastodon import MastodonSource


def backfill_start(event: Event) -> datetime:
    """How far back a new source reads: the event's first day, or a day before it was created."""
    if event.starts_on is not None:
        try:
            return datetime.combine(event.starts_on, time.min, tzinfo=ZoneInfo(event.time_zone)) - timedelta(days=1)
        except OverflowError:
            pass  # a date stored before starts_on was checked (1970-9000): the event's creation decides
    return event.created_at - timedelta(days=1)


def configured_backfill(config: dict[str, object]) -> datetime | None:
    """An organizer's explicit ``backfill_from`` (ISO time with offset), validated when the source was added."""
    value = config.get("backfill_from")
    moment = datetime.fromisoformat(value) if isinstance(value, str) and value else None
    return moment if moment is not None and moment.tzinfo is not None else None


async def build_source(row: Source, maker: async_sessionmaker[AsyncSession]) -> IngestSource:
    config = row.config or {}
    async with maker() as session:
        event = await session.get(Event, row.event_id)
        if event is None:
            raise ValueError(f"source {row.id} belongs to no event")
        schedule = await schedule_of(session, event) if row.kind == "demo" else None
    if row.kind == "demo" and schedule is not None:
        return DemoSource(schedule, seed=int(config.get("seed", 7)), speed=float(config.get("speed", 5.0)))
    if row.kind == "mastodon":
        return MastodonSource(
            str(config["instance_url"]),
            str(config["hashtag"]),
            access_token=config.get("access_token") or None,
            backfill_from=configured_backfill(config) or backfill_start(event),
        )
    if row.kind == "bluesky":
        return JetstreamSource(
            str(config["jetstream_url"]),
            [str(tag) for tag in config.get("hashtags") or event.hashtags],
            backfill_from=configured_backfill(config) or backfill_start(event),
        )
    raise ValueError(f"unknown source kind {row.kind!r}")
