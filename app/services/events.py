"""Event use cases: create an event, correct its details, find it, check the organizer and admin tokens."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from app.services import audit
from app.services.tokens import hash_token, new_token, token_matches
from app.services.unit_of_work import UnitOfWork
from app.store import events as event_store
from app.store.tables import Event


async def create_event(
    session: AsyncSession,
    *,
    slug: str,
    name: str,
    hashtags: list[str],
    time_zone: str = "UTC",
    starts_on: date | None = None,
    ends_on: date | None = None,
    description: str = "",
) -> tuple[Event, str]:
    """Create an event and return it with its organizer token (shown once, stored hashed)."""
    if await event_store.get_by_slug(session, slug) is not None:
        raise Conflict(f"an event with slug {slug!r} already exists", field="slug")
    token = new_token()
    event = Event(
        slug=slug,
        name=name,
        hashtags=hashtags,
        time_zone=time_zone,
        starts_on=starts_on,
        ends_on=ends_on,
        description=description,
        organizer_token_hash=hash_token(token),
    )
    session.add(event)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"an event with slug {slug!r} already exists", field="slug") from exc
    return event, token


# What an organizer may change after creating the event; null clears only what may be empty.
EDITABLE = ("name", "hashtags", "time_zone", "starts_on", "ends_on", "description")
_NOT_NULL = {"name", "hashtags", "time_zone", "description"}


async def update_event(uow: UnitOfWork, event: Event, changes: dict[str, Any]) -> Event:
    """Apply the organizer's changes to the event's details and log them; the slug (its address) stays."""
    for field in EDITABLE:
        if field in changes and changes[field] is None and field in _NOT_NULL:
            raise InvalidInput(f"{field} cannot be empty", field=field)
    merged = {field: changes.get(field, getattr(event, field)) for field in EDITABLE}
    if merged["starts_on"] and merged["ends_on"] and merged["ends_on"] < merged["starts_on"]:
        raise InvalidInput("ends_on must not be before starts_on", field="ends_on")
    changed = {field: value for field, value in merged.items() if value != getattr(event, field)}
    if changed:
        for field, value in changed.items():
            setattr(event, field, value)
        uow.session.add(event)
        await audit.record(uow, event, "event.update", event.slug, fields=sorted(changed))
    return event


async def get_event(session: AsyncSession, slug: str) -> Event:
    event = await event_store.get_by_slug(session, slug)
    if event is None:
        raise NotFound(f"no event {slug!r}", field="slug")
    return event


def require_admin(admin_token: str | None, token: str | None) -> None:
    """Where the instance sets an admin token, creating an event needs it (API, web form alike)."""
    if not admin_token:
        return
    if not token:
        raise Unauthorized("creating events needs the instance admin token", field="admin_token")
    if not token_matches(token, hash_token(admin_token)):
        raise Forbidden("wrong admin token", field="admin_token")


def is_organizer(event: Event, token: str | None) -> bool:
    return token is not None and token != "" and token_matches(token, event.organizer_token_hash)


def require_organizer(event: Event, token: str | None) -> None:
    if not token:
        raise Unauthorized("organizer token required (Authorization: Bearer <token>)")
    if not is_organizer(event, token):
        raise Forbidden("this token does not organize this event")
