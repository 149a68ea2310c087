"""The demo event: a generated conference whose schedule is anchored at now, fed by the demo source."""

from __future__ import annotations

from sqlmodel import select

from app.services import events as event_service
from app.services.talks import upsert_talk
from app.services.unit_of_work import UnitOfWork
from app.store import events as event_store
from app.store import talks as talk_store
from app.store.tables import Event, Source
from app.store.types import utcnow
from ingest.sources.demo import generate_schedule


async def ensure_demo_event(uow: UnitOfWork, *, slug: str, seed: int, speed: float) -> tuple[Event, str | None]:
    """Create the demo event (or re-anchor a finished one at now) with its demo source.

    Returns the event and, when it was just created, its organizer token.
    """
    now = utcnow()
    event = await event_store.get_by_slug(uow.session, slug)
    token = None
    if event is None:
        event, token = await event_service.create_event(
            uow.session,
            slug=slug,
            name="DemoCon",
            hashtags=["democon"],
            time_zone="UTC",
            starts_on=now.date(),
            ends_on=now.date(),
            description="A generated conference: three rooms in parallel, replayed live by Backchannel's demo.",
        )
    assert event.id is not None
    talks = await talk_store.list_for_event(uow.session, event.id)
    if not talks or max(t.end for t in talks) <= now:
        for talk in generate_schedule(now).talks:
            await upsert_talk(
                uow,
                event,
                talk.guid,
                {
                    "title": talk.title,
                    "start": talk.start,
                    "end": talk.end,
                    "room": talk.room,
                    "track": talk.track,
                    "abstract": talk.abstract,
                    "speakers": [p.name for p in talk.speakers],
                    "code": talk.code,
                },
            )
    source = (await uow.session.exec(select(Source).where(Source.event_id == event.id, Source.kind == "demo"))).first()
    config = {"seed": seed, "speed": speed}
    if source is None:
        uow.session.add(Source(event_id=event.id, kind="demo", config=config))
    elif source.config != config or source.paused:
        source.config = config
        source.paused = False
        uow.session.add(source)
    return event, token
