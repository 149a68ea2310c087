"""Group commit for attendees' notes: notes that arrive together are stored in one transaction.

Each note posted over HTTP used to be its own transaction (about ten statements and a commit, ~12 ms on
SQLite), so one process stored 50-85 notes a second and a keynote's burst queued up behind it. Here
every note for an event joins that event's queue and awaits its own outcome; one task per event
drains the queue: it takes everything waiting, applies it with the shared batch path (``PostBatch``:
a handful of statements however many notes) and commits once. While that commit is in flight, new
arrivals gather for the next group. A lone note goes out at once: the drain starts on the next turn
of the event loop, nothing waits for company.

Each note keeps the outcome it had alone: an empty note gets 422 naming ``text``, an unknown talk or
reply 404 naming ``talk_id`` or ``reply_to``, and those do not touch the rest of the group. When the
group's transaction fails as a whole, nothing of it is stored: with the store unavailable (disk full,
database down) every note gets that error (503); otherwise (a conflict, an unexpected error) each note
is retried in a transaction of its own, so only the note that causes it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.broadcast.broker import Broker
from app.errors import BackchannelError, Conflict, InvalidInput, NotFound, store_unavailable
from app.services.payloads import AuthorRead, AuthorView, PostRead, post_read
from app.services.posts import PostBatch
from app.services.unit_of_work import UnitOfWork
from app.store import posts as post_store
from app.store.tables import Event, Post
from ingest.items import SourceItem

logger = logging.getLogger(__name__)

MAX_GROUP = 500  # notes per transaction at most, as an ingest batch; more wait for the next group


@dataclass(slots=True)
class Note:
    """One attendee's note as the route built it (the item carries text, author, talk and kind)."""

    item: SourceItem  # from ``note_item``: a fresh native id, so it is a new post by construction
    delete_token_hash: str
    talk_id: int | None = None  # as the attendee named it: must be a talk of the event
    reply_to: int | None = None  # the post it answers: must be a visible post of the event


@dataclass(slots=True)
class _Waiting:
    note: Note
    outcome: asyncio.Future[PostRead]


@dataclass(slots=True)
class _Queue:
    waiting: list[_Waiting] = field(default_factory=list)
    drain: asyncio.Task[None] | None = None


class NoteWriter:
    """Stores notes in groups per event, each caller awaiting its own note's post or error."""

    def __init__(self, maker: async_sessionmaker[AsyncSession], broker: Broker, *, max_group: int = MAX_GROUP) -> None:
        self._maker = maker
        self._broker = broker
        self._max_group = max_group
        self._queues: dict[str, _Queue] = {}
        self._closed = False
        self.groups = 0  # transactions committed with notes in them (tests and benchmarks read these)
        self.notes = 0

    async def write(self, slug: str, note: Note) -> PostRead:
        """Store ``note`` in event ``slug`` (with whatever notes arrive with it); its post as followers see it."""
        if self._closed:
            raise BackchannelError("the server is shutting down; nothing was saved, please try again", status_code=503)
        outcome: asyncio.Future[PostRead] = asyncio.get_running_loop().create_future()
        queue = self._queues.setdefault(slug, _Queue())
        queue.waiting.append(_Waiting(note, outcome))
        if queue.drain is None:
            queue.drain = asyncio.create_task(self._drain(slug, queue), name=f"notes-{slug}")
        # A caller that goes away (client disconnect) cancels only its own outcome; its note is stored
        # with the group all the same, as it was when the client left after the commit.
        return await outcome

    async def close(self) -> None:
        """Refuse new notes and let the groups in flight finish (called before the engine is disposed)."""
        self._closed = True
        drains = [q.drain for q in self._queues.values() if q.drain is not None]
        if drains:
            await asyncio.wait(drains, timeout=30)

    async def _drain(self, slug: str, queue: _Queue) -> None:
        try:
            while queue.waiting:
                group, queue.waiting = queue.waiting[: self._max_group], queue.waiting[self._max_group :]
                await self._write_group(slug, group)
        finally:
            queue.drain = None
            if not queue.waiting:
                self._queues.pop(slug, None)
            else:  # only after a cancelled drain: the rest must not wait forever
                for waiting in queue.waiting:
                    _fail(waiting, BackchannelError("the note was not stored, please try again", status_code=503))
                queue.waiting.clear()

    async def _write_group(self, slug: str, group: list[_Waiting]) -> None:
        started = time.perf_counter()
        try:
            await self._transaction(slug, group)
        except BaseException as exc:
            # No event by that name, or a store that is down: every note alone would get the same error.
            every = isinstance(exc, asyncio.CancelledError | NotFound) or store_unavailable(exc)
            if every or len(group) == 1:
                for waiting in group:
                    _fail(waiting, _as_error(exc))
                if isinstance(exc, asyncio.CancelledError):
                    raise
                logger.warning(
                    "notes.group_failed", extra={"event": slug, "notes": len(group), "error": str(exc)[:200]}
                )
                return
            # Something in the group broke the whole transaction: each note alone, so only its own fails.
            logger.warning("notes.group_split", extra={"event": slug, "notes": len(group), "error": str(exc)[:200]})
            for waiting in group:
                await self._write_group(slug, [waiting])
            return
        logger.debug(
            "notes.group_stored",
            extra={"event": slug, "notes": len(group), "ms": round((time.perf_counter() - started) * 1000, 1)},
        )

    async def _transaction(self, slug: str, group: list[_Waiting]) -> None:
        """One transaction for the group; each waiter's outcome is set only once it has committed."""
        async with self._maker() as session:
            uow = UnitOfWork(session, self._broker)
            try:
                event = await _event(session, slug)
                # The answers are built from the values each note was inserted with, as its frame is:
                # loading the new posts back (an ORM insert … RETURNING) cost more than the insert.
                batch = PostBatch(uow, event, load_created=False)
                applying: list[_Waiting] = []
                refused: list[tuple[_Waiting, BackchannelError]] = []
                parents: dict[int, Post | None] = {}
                for waiting in group:
                    note = waiting.note
                    if note.talk_id is not None and await batch.talk(str(note.talk_id)) is None:
                        refused.append(
                            (waiting, NotFound(f"no talk {note.talk_id} in event {slug!r}", field="talk_id"))
                        )
                        continue
                    if note.reply_to is not None:
                        if note.reply_to not in parents:
                            parents[note.reply_to] = await post_store.get(session, note.reply_to)
                        parent = parents[note.reply_to]
                        if parent is None or parent.status == "deleted" or parent.event_id != event.id:
                            refused.append((waiting, NotFound(f"no post {note.reply_to}", field="reply_to")))
                            continue
                    applying.append(waiting)
                await batch.look_up([w.note.item for w in applying], fresh=True)  # each note has a new uuid
                for waiting in applying:
                    note = waiting.note
                    parent = parents.get(note.reply_to) if note.reply_to is not None else None
                    await batch.apply(note.item, delete_token_hash=note.delete_token_hash, parent=parent)
                await batch.finish()
                await uow.commit()
            except BaseException:
                await _discard(uow, session)
                raise
        self.groups += 1
        authors: dict[int, AuthorView] = {a.id: a for a in batch.authors.values()}
        for waiting, applied in zip(applying, batch.results, strict=True):
            if applied is None:  # a fresh note that applies to nothing: its text was empty once normalised
                _fail(waiting, InvalidInput("the note is empty once control characters are removed", field="text"))
                continue
            self.notes += 1
            post, inserted = applied.post, applied.inserted
            author_id = post.author_id if post is not None else inserted.row["author_id"] if inserted else None
            author = authors.get(author_id) if author_id is not None else None
            if author is None and author_id is not None:
                async with self._maker() as session:  # not foreseen by the batch's look-up (never for notes)
                    author = await post_store.get_author(session, author_id)
            if not waiting.outcome.done():
                if post is not None:
                    view = post_read(post, author, event.slug, reveal_handle=True)
                else:
                    assert inserted is not None  # a created post the batch did not load
                    view = inserted_read(inserted.id, inserted.row, author, event.slug)
                waiting.outcome.set_result(view)
        for waiting, error in refused:
            _fail(waiting, error)


def inserted_read(post_id: int, row: Mapping[str, Any], author: AuthorView | None, event_slug: str) -> PostRead:
    """``post_read(..., reveal_handle=True)`` of the post just inserted as ``post_id`` from ``row`` (the insert's
    column values; the table's defaults for the rest: version 1, no topic, no votes, not pinned), as the
    batch builds its frame (``new_post_data``): the same values the stored post reads back."""
    handle = author.handle if author else None
    view = PostRead(
        id=post_id,
        version=1,
        event=event_slug,
        source=row["source"],
        kind=row["kind"],
        text=row["text"],
        url=row["url"],
        language=row["language"],
        talk_id=row["talk_id"],
        talk_confidence=row["talk_confidence"],
        topic_id=None,
        reply_to_id=row["reply_to_id"],
        author=AuthorRead(
            name=author.display_name if author else None, handle=handle, url=author.url if author else None
        ),
        created_at=row["created_at"],
        edited_at=row["edited_at"],
        upvotes=0,
        boosts=row["boosts"],
        sensitive=row["sensitive"],
        spoiler_text=row["spoiler_text"],
        media_descriptions=list(row["media_descriptions"]),
        pinned=False,
        marked_answered=False,
        status=row["status"],
    )
    view._handle = handle
    return view


# ``app.services.events.get_event``'s query built once: built per group, constructing it and computing its cache key
# cost about as much as running it.
_EVENT_BY_SLUG = select(Event).where(Event.slug == bindparam("slug"))


async def _event(session: AsyncSession, slug: str) -> Event:
    """The event named ``slug``, or ``app.services.events.get_event``'s 404."""
    event = (await session.exec(_EVENT_BY_SLUG, params={"slug": slug})).first()
    if event is None:
        raise NotFound(f"no event {slug!r}", field="slug")
    return event


def _fail(waiting: _Waiting, error: BaseException) -> None:
    if not waiting.outcome.done():
        waiting.outcome.set_exception(error)


def _as_error(exc: BaseException) -> BaseException:
    """The error a note alone got before groups: a conflict at commit is 409, store errors pass through."""
    if isinstance(exc, IntegrityError):
        return Conflict("this change conflicts with one made at the same time; nothing was saved")
    if isinstance(exc, asyncio.CancelledError):
        return BackchannelError("the note was not stored, please try again", status_code=503)
    return exc


async def _discard(uow: UnitOfWork, session: AsyncSession) -> None:
    """Roll the group back; a connection that died with it (a database restart) is thrown away."""
    try:
        await uow.rollback()
    except (SQLAlchemyError, OSError) as exc:
        logger.warning("store.connection_lost", extra={"error": str(exc)[:200]})
        with contextlib.suppress(SQLAlchemyError, OSError):
            await session.invalidate()
