"""The seams of the ingest stage: Source (what yields items), PostSink and CursorStore (what app implements)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ingest.items import SourceItem


@dataclass(slots=True)
class SourceStats:
    """Counters a source keeps for the organizer's status view."""

    accepted: int = 0
    skipped: int = 0
    malformed: int = 0


@runtime_checkable
class Source(Protocol):
    """A configured feed. Backfills from ``since`` then streams until cancelled.

    Raises ``SourceUnavailable`` (retry later) or ``SourceRejected`` (stop, tell the organizer).
    Malformed items are skipped and counted in ``stats``; they never end the iterator.
    Reconnection is the runner's job, not the source's.
    """

    name: str
    stats: SourceStats

    def items(self, since: str | None) -> AsyncIterator[SourceItem]: ...


@dataclass(frozen=True, slots=True)
class AcceptResult:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    ignored: int = 0

    def __add__(self, other: AcceptResult) -> AcceptResult:
        return AcceptResult(
            self.created + other.created,
            self.updated + other.updated,
            self.deleted + other.deleted,
            self.ignored + other.ignored,
        )


class PostSink(Protocol):
    """Where items go. ``accept`` is idempotent and has committed when it returns."""

    async def accept(self, batch: Sequence[SourceItem]) -> AcceptResult: ...


class CursorStore(Protocol):
    """Durable per-source positions, saved only after the sink has committed."""

    async def load(self, source_key: str) -> str | None: ...

    async def save(self, source_key: str, cursor: str) -> None: ...
