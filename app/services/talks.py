"""Talk use cases: create or update talks and tell live followers."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import InvalidInput, NotFound
from app.services.payloads import frame_data, talk_read
from app.services.unit_of_work import UnitOfWork
from app.store import talks as talk_store
from app.store.tables import Event, Talk
from app.store.types import utcnow
from ingest.schedules.records import Schedule, ScheduledPerson, ScheduledTalk

TALK_FIELDS = (
    "title", "subtitle", "abstract", "description", "room", "track", "start", "end",
    "speakers", "code", "url", "feedback_url", "language", "cancelled",
)  # fmt: skip


async def upsert_talk(uow: UnitOfWork, event: Event, guid: str, fields: dict[str, object]) -> tuple[Talk, bool]:
    """Create the talk with this guid, or update it in place; posts stay attached either way."""
    assert event.id is not None
    start, end = fields.get("start"), fields.get("end")
    if isinstance(start, datetime) and isinstance(end, datetime) and end <= start:
        raise InvalidInput("a talk must end after it starts", field="end")
    talk = await talk_store.get_by_guid(uow.session, event.id, guid)
    created = talk is None
    if talk is None:
        talk = Talk(event_id=event.id, guid=guid, **{k: v for k, v in fields.items() if k in TALK_FIELDS})
    else:
        changed = False
        for key, value in fields.items():
            if key in TALK_FIELDS and getattr(talk, key) != value:
                setattr(talk, key, value)
                changed = True
        if not changed:
            return talk, False
        talk.version += 1
        talk.updated_at = utcnow()
    uow.session.add(talk)
    await uow.session.flush()
    await uow.emit(event, "talk.updated", frame_data(talk_read(talk)))
    return talk, created


async def get_talk(uow: UnitOfWork, event: Event, talk_id: int) -> Talk:
    assert event.id is not None
    talk = await talk_store.get(uow.session, event.id, talk_id)
    if talk is None:
        raise NotFound(f"no talk {talk_id} in event {event.slug!r}", field="talk_id")
    return talk


def scheduled_talk(talk: Talk) -> ScheduledTalk:
    """The stage-neutral record of a talk, as sources and the clusterer see it."""
    return ScheduledTalk(
        guid=talk.guid,
        title=talk.title,
        start=talk.start,
        end=talk.end,
        room=talk.room,
        track=talk.track,
        subtitle=talk.subtitle,
        abstract=talk.abstract,
        description=talk.description,
        speakers=tuple(ScheduledPerson(name=name) for name in talk.speakers),
        code=talk.code,
        url=talk.url,
        feedback_url=talk.feedback_url,
        language=talk.language,
        cancelled=talk.cancelled,
    )


async def schedule_of(session: AsyncSession, event: Event) -> Schedule:
    assert event.id is not None
    talks = await talk_store.list_for_event(session, event.id)
    rooms = tuple(dict.fromkeys(t.room for t in talks if t.room))
    return Schedule(
        title=event.name,
        acronym=event.slug,
        time_zone=event.time_zone,
        talks=tuple(scheduled_talk(t) for t in talks),
        rooms=rooms,
    )
