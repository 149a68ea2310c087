"""Digest routes: the takeaways, topics, activity and bursts of each talk."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from app.api.deps import UoW
from app.api.events import Slug
from app.api.talks import TalkId
from app.services import events as event_service
from app.services import talks as talk_service
from app.services.payloads import DigestRead, digest_read
from app.store import digests as digest_store
from app.store.types import utcnow

router = APIRouter(prefix="/api/events/{slug}", tags=["digests"])


class DigestList(BaseModel):
    items: list[DigestRead]


def _empty(talk_id: int | None) -> DigestRead:
    return DigestRead(talk_id=talk_id, version=0, topics=[], takeaways=[], activity=[], bursts=[], updated_at=utcnow())


@router.get("/digests", response_model=DigestList)
async def list_digests(slug: Slug, uow: UoW) -> DigestList:
    """Every talk's digest (and the hallway's, with talk_id null)."""
    event = await event_service.get_event(uow.session, slug)
    assert event.id is not None
    return DigestList(items=[digest_read(d) for d in await digest_store.list_for_event(uow.session, event.id)])


@router.get("/talks/{talk_id}/digest", response_model=DigestRead)
async def read_digest(slug: Slug, talk_id: TalkId, uow: UoW) -> DigestRead:
    """One talk's takeaways by topic, its activity per minute and its bursts."""
    event = await event_service.get_event(uow.session, slug)
    talk = await talk_service.get_talk(uow, event, talk_id)
    assert event.id is not None
    digest = await digest_store.get(uow.session, event.id, talk.id)
    return digest_read(digest) if digest else _empty(talk.id)


@router.get("/hallway/digest", response_model=DigestRead)
async def read_hallway_digest(slug: Slug, uow: UoW) -> DigestRead:
    """Topics and takeaways of the posts tied to no talk."""
    event = await event_service.get_event(uow.session, slug)
    assert event.id is not None
    digest = await digest_store.get(uow.session, event.id, None)
    return digest_read(digest) if digest else _empty(None)
