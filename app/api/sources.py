"""Source routes (organizer): add, list with status, pause/resume/change and remove an event's feeds."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field

from app.api.deps import BearerToken, UoW
from app.api.events import Slug
from app.api.schemas import Strict
from app.services import events as event_service
from app.services import sources as source_service
from app.store.tables import Event, Source
from ingest.runner import SourceStatus

router = APIRouter(prefix="/api/events/{slug}/sources", tags=["organizer"])

SourceId = Annotated[int, Path(ge=1, le=2**53)]


class SourceCreate(Strict):
    kind: Literal["mastodon", "bluesky"]
    config: dict[str, Any] = Field(
        description="mastodon: instance_url, hashtag, access_token (optional, never returned); "
        "bluesky: jetstream_url (ws:// or wss://), hashtags. Both: backfill_from (ISO time, optional)."
    )
    paused: bool = False


class SourceUpdate(Strict):
    paused: bool | None = None
    config: dict[str, Any] | None = Field(default=None, description="Settings to change; the rest stay")


class SourceStatusRead(BaseModel):
    state: str
    connected: bool
    lag_seconds: float | None
    last_item_at: datetime | None
    last_error: str | None
    accepted: int
    skipped: int
    malformed: int
    reconnects: int
    reported_at: datetime | None


class SourceRead(BaseModel):
    id: int
    kind: str
    config: dict[str, Any]
    paused: bool
    created_at: datetime
    status: SourceStatusRead


class SourceList(BaseModel):
    items: list[SourceRead]


def _live(request: Request) -> dict[int, SourceStatus]:
    supervisor = getattr(request.app.state, "ingest", None)
    return supervisor.statuses() if supervisor is not None else {}


def _read(source: Source, live: dict[int, SourceStatus]) -> SourceRead:
    assert source.id is not None
    view = source_service.status_view(source, live.get(source.id))
    return SourceRead(
        id=source.id,
        kind=source.kind,
        config=source_service.public_config(source),
        paused=source.paused,
        created_at=source.created_at,
        status=SourceStatusRead.model_validate(view, from_attributes=True),
    )


async def _organizer_event(uow: UoW, slug: str, token: str | None) -> Event:
    event = await event_service.get_event(uow.session, slug)
    event_service.require_organizer(event, token)
    return event


@router.post("", status_code=201, response_model=SourceRead)
async def add_source(slug: Slug, body: SourceCreate, uow: UoW, token: BearerToken, request: Request) -> SourceRead:
    """Add a Mastodon or Bluesky feed to the event (organizer); ingest picks it up within seconds."""
    event = await _organizer_event(uow, slug, token)
    source = await source_service.add_source(uow, event, body.kind, body.config, body.paused)
    await uow.commit()
    return _read(source, _live(request))


@router.get("", response_model=SourceList)
async def list_sources(slug: Slug, uow: UoW, token: BearerToken, request: Request) -> SourceList:
    """The event's sources with their status (organizer)."""
    event = await _organizer_event(uow, slug, token)
    live = _live(request)
    return SourceList(items=[_read(s, live) for s in await source_service.list_sources(uow, event)])


@router.get("/{source_id}", response_model=SourceRead)
async def read_source(slug: Slug, source_id: SourceId, uow: UoW, token: BearerToken, request: Request) -> SourceRead:
    """One source with its status (organizer)."""
    event = await _organizer_event(uow, slug, token)
    return _read(await source_service.get_source(uow, event, source_id), _live(request))


@router.patch("/{source_id}", response_model=SourceRead)
async def update_source(
    slug: Slug, source_id: SourceId, body: SourceUpdate, uow: UoW, token: BearerToken, request: Request
) -> SourceRead:
    """Pause, resume or change a source's settings (organizer)."""
    event = await _organizer_event(uow, slug, token)
    source = await source_service.update_source(uow, event, source_id, paused=body.paused, config=body.config)
    await uow.commit()
    return _read(source, _live(request))


@router.delete("/{source_id}", status_code=204, response_class=Response)
async def remove_source(slug: Slug, source_id: SourceId, uow: UoW, token: BearerToken) -> Response:
    """Remove a source; the posts it brought stay (organizer)."""
    event = await _organizer_event(uow, slug, token)
    await source_service.remove_source(uow, event, source_id)
    await uow.commit()
    return Response(status_code=204)
