"""The organizer audit log: every change an organizer makes to an event, its posts or its rules, with who and what.

Moderation, event details, sources and retention all write here; the console's Audit tab reads it.
"""

from __future__ import annotations

import logging
from typing import Any

from app.services.unit_of_work import UnitOfWork
from app.store import moderation as moderation_store
from app.store.tables import AuditEntry, Event

logger = logging.getLogger(__name__)

ACTOR = "organizer"  # one token per event: every change is the organizer's


async def record(uow: UnitOfWork, event: Event, action: str, target: str = "", **details: Any) -> AuditEntry:
    """Add an entry to the caller's transaction: it is stored with the change it describes, or not at all."""
    assert event.id is not None
    entry = AuditEntry(event_id=event.id, actor=ACTOR, action=action, target=target[:400], details=details)
    uow.session.add(entry)
    logger.info("organizer.action", extra={"event": event.slug, "action": action, "target": target})
    return entry


async def entries(uow: UnitOfWork, event: Event, *, before_id: int | None, limit: int) -> list[AuditEntry]:
    """Newest first, below ``before_id`` when given."""
    assert event.id is not None
    return await moderation_store.audit_entries(uow.session, event.id, before_id=before_id, limit=limit)
