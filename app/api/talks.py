"""Talk routes: list the schedule, add or update a talk by hand."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response

from app.api.deps import BearerToken, UoW
from app.api.events import Slug
from app.api.schemas import TalkCreate, TalkList
from app.services import events as event_service
from app.services import talks as talk_service
from app.services.payloads import TalkRead, talk_read
from app.store import talks as talk_store

router = APIRouter(prefix="/api/events/{slug}/talks", tags=["talks"])

TalkId = Annotated[int, Path(ge=1, le=2**53)]


@router.get("", response_model=TalkList)
async def list_talks(slug: Slug, uow: UoW) -> TalkList:
    """The event's talks in schedule order."""
    event = await event_service.get_event(uow.session, slug)
    assert event.id is not None
    return TalkList(items=[talk_read(t) for t in await talk_store.list_for_event(uow.session, event.id)])


@router.post("", status_code=201, response_model=TalkRead)
async def create_talk(slug: Slug, body: TalkCreate, uow: UoW, token: BearerToken, response: Response) -> TalkRead:
    """Add a talk (organizer). Posting again with the same guid updates it in place."""
    event = await event_service.get_event(uow.session, slug)
    event_service.require_organizer(event, token)
    fields = body.model_dump(exclude={"guid"})
    talk, created = await talk_service.upsert_talk(uow, event, body.guid or str(uuid.uuid4()), fields)
    await uow.commit()
    if not created:
        response.status_code = 200
    return talk_read(talk)


@router.get("/{talk_id}", response_model=TalkRead)
async def read_talk(slug: Slug, talk_id: TalkId, uow: UoW) -> TalkRead:
    """One talk."""
    event = await event_service.get_event(uow.session, slug)
    return talk_read(await talk_service.get_talk(uow, event, talk_id))
