"""Event routes: create an event (organizer token shown once) and read it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from app.api.deps import BearerToken, SettingsDep, UoW
from app.api.schemas import SLUG_PATTERN, EventCreate, EventCreated, EventList, EventUpdate
from app.api.throttle import count_event_creation
from app.services import events as event_service
from app.services.payloads import EventRead, event_read
from app.store import events as event_store

router = APIRouter(prefix="/api/events", tags=["events"])

Slug = Annotated[str, Path(pattern=SLUG_PATTERN, max_length=64)]


@router.post("", status_code=201, response_model=EventCreated)
async def create_event(
    request: Request, body: EventCreate, uow: UoW, settings: SettingsDep, token: BearerToken
) -> EventCreated:
    """Create an event. Returns its organizer token once; only a hash is stored."""
    event_service.require_admin(settings.admin_token, token)
    await count_event_creation(request, settings)
    event, organizer_token = await event_service.create_event(uow.session, **body.model_dump())
    await uow.commit()
    return EventCreated(event=event_read(event), organizer_token=organizer_token)


@router.get("", response_model=EventList)
async def list_events(uow: UoW) -> EventList:
    """List events, newest first."""
    return EventList(items=[event_read(e) for e in await event_store.list_all(uow.session)])


@router.get("/{slug}", response_model=EventRead)
async def read_event(slug: Slug, uow: UoW) -> EventRead:
    """Read one event; `last_id` is the newest live frame id, for resuming the WebSocket."""
    return event_read(await event_service.get_event(uow.session, slug))


@router.patch("/{slug}", response_model=EventRead)
async def update_event(slug: Slug, body: EventUpdate, uow: UoW, token: BearerToken) -> EventRead:
    """Correct the event's name, hashtags, time zone, dates or description (organizer); only the fields sent
    change, and null clears a date. The slug, the event's address, stays."""
    event = await event_service.get_event(uow.session, slug)
    event_service.require_organizer(event, token)
    await event_service.update_event(uow, event, body.model_dump(exclude_unset=True))
    await uow.commit()
    return event_read(event)
