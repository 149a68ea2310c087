"""Test data for pages: store a talk digest (what the clustering stage would write) straight into the database."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.broadcast.broker import Broker
from app.services.payloads import digest_read, frame_data
from app.services.unit_of_work import UnitOfWork
from app.store import digests as digest_store
from app.store import events as event_store
from app.store.tables import TalkDigest


def sample_digest(post_ids: list[int], start: datetime) -> dict[str, Any]:
    """Two topics, each with one takeaway citing the given posts, five minutes of activity and one burst."""
    return {
        "topics": [
            {
                "id": 11,
                "talk_id": None,
                "label": "Alert thresholds",
                "keyphrases": ["p99 latency", "error budget"],
                "size": 7,
            },
            {"id": 12, "talk_id": None, "label": "Log retention", "keyphrases": ["cold storage"], "size": 3},
        ],
        "takeaways": [
            {
                "topic_id": 11,
                "label": "Alert thresholds",
                "keyphrases": ["p99 latency"],
                "text": "Alert on the error budget burn rate, not on raw p99 latency.",
                "kind": "takeaway",
                "count": len(post_ids),
                "votes": 2,
                "score": 0.9,
                "post_ids": post_ids,
            },
            {
                "topic_id": 12,
                "label": "Log retention",
                "keyphrases": ["cold storage"],
                "text": "Keep thirty days hot, the rest in cold storage.",
                "kind": "takeaway",
                "count": 1,
                "votes": 0,
                "score": 0.4,
                "post_ids": post_ids[:1],
            },
        ],
        "activity": [[(start + timedelta(minutes=m)).isoformat(), c] for m, c in enumerate([1, 3, 9, 4, 2])],
        "bursts": [
            {
                "start": (start + timedelta(minutes=2)).isoformat(),
                "end": (start + timedelta(minutes=3)).isoformat(),
                "peak": 9,
                "label": "error budget",
            }
        ],
    }


async def put_digest(
    maker: async_sessionmaker[AsyncSession],
    slug: str,
    talk_id: int | None,
    digest: dict[str, Any],
    version: int = 1,
    broker: Broker | None = None,
) -> None:
    """Write the digest row; with a broker, also emit `digest.updated` as the clustering stage does."""
    async with maker() as session:
        event = await event_store.get_by_slug(session, slug)
        assert event is not None and event.id is not None
        row = await digest_store.get(session, event.id, talk_id)
        if row is None:
            row = TalkDigest(event_id=event.id, talk_id=talk_id, talk_key=talk_id or 0)
        row.topics = [dict(t, talk_id=talk_id) for t in digest["topics"]]
        row.takeaways = digest["takeaways"]
        row.activity = digest["activity"]
        row.bursts = digest["bursts"]
        row.questions = digest.get("questions", [])
        row.version = version
        session.add(row)
        if broker is None:
            await session.commit()
            return
        uow = UnitOfWork(session, broker)
        await session.flush()
        await uow.emit(event, "digest.updated", frame_data(digest_read(row)))
        await uow.commit()
