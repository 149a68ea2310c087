"""Queries on the live-event log: allocate ids, append frames, read them back for resume."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

from sqlalchemy import JSON, Dialect, Table, bindparam, delete, func, insert, inspect, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.types import TypeDecorator
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from app.broadcast.hub import Frame, frame_scope
from app.store import jsontext
from app.store.tables import Event, LiveEvent
from app.store.types import utcnow


def encode_frame(seq: int, type_: str, data: dict[str, Any]) -> str:
    return _frame_text(seq, type_, jsontext.dumps(data))


def _frame_text(seq: int, type_: str, data_text: str) -> str:
    """The frame followers get around its data, already encoded: what encoding the whole frame gives
    (json writes an int and a str alone as it does inside an object), with the data encoded only once."""
    return f'{{"id":{seq},"type":{jsontext.dumps(type_)},"data":{data_text}}}'


class _EncodedJSON(TypeDecorator[str]):
    """A JSON column's value as text already encoded: bound as it is, not encoded again."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None


_LIVE_EVENTS: Table = LiveEvent.__table__  # type: ignore[attr-defined]
# A frame's data is encoded once, for the text followers get; the log row stores that same text.
_APPEND = insert(_LIVE_EVENTS).values(data=bindparam("data_text", type_=_EncodedJSON()))
_APPEND_ORDER = ("event_id", "seq", "type", "talk_id", "data_text", "created_at")
_APPEND_SQL: dict[tuple[str, str], tuple[str, Callable[[Any], Any] | None] | None] = {}


def _append_sql(dialect: Dialect) -> tuple[str, Callable[[Any], Any] | None] | None:
    """``_APPEND`` as the dialect's driver runs it, its parameters in ``_APPEND_ORDER``, and the conversion of
    ``created_at`` (the one column that needs one); None where the driver takes other parameters."""
    key = (dialect.name, dialect.driver)
    if key not in _APPEND_SQL:
        compiled = _APPEND.compile(dialect=dialect, column_keys=[k for k in _APPEND_ORDER if k != "data_text"])
        names = tuple(compiled.positiontup or ())
        converted = [n for n in names if compiled.binds[n].type.bind_processor(dialect) is not None]
        plain = compiled.positional and names == _APPEND_ORDER and converted in ([], ["created_at"])
        stamp = compiled.binds["created_at"].type.bind_processor(dialect) if plain else None
        _APPEND_SQL[key] = (compiled.string, stamp) if plain else None
    return _APPEND_SQL[key]


_EVENTS: Table = Event.__table__  # type: ignore[attr-defined]
_ALLOCATE = (
    update(_EVENTS)
    .where(_EVENTS.c.id == bindparam("event_id"))
    .values(last_seq=_EVENTS.c.last_seq + bindparam("count"))
    .returning(_EVENTS.c.last_seq)
)


async def allocate_seq(session: AsyncSession, event_id: int, count: int = 1) -> int:
    """Reserve ``count`` consecutive ids; returns the last (the first is ``last - count + 1``).

    The UPDATE takes the event row's lock until commit, so ids are handed out in commit order
    per event: once id n is visible, every smaller id is visible too, and a range never has a gap.

    A Core UPDATE (the ORM's bulk UPDATE cost ~0.5 ms more a call, most of it keeping the session's
    objects in step), doing what that one did around it: pending changes are flushed first (so row
    locks are still taken before the event's), and the event, when this session has it loaded and
    unchanged, takes the new ``last_seq`` as its stored value.
    """
    if session.sync_session.autoflush:
        await session.flush()
    connection = await session.connection()
    last = int((await connection.execute(_ALLOCATE, {"event_id": event_id, "count": count})).scalar_one())
    event = session.sync_session.identity_map.get(session.identity_key(Event, event_id))
    if event is not None:
        state = inspect(event)
        if "last_seq" in state.dict and "last_seq" in state.unmodified:
            set_committed_value(event, "last_seq", last)
    return last


async def append(session: AsyncSession, event_id: int, type_: str, data: dict[str, Any]) -> Frame:
    return (await append_many(session, event_id, [(type_, data)]))[0]


async def append_many(
    session: AsyncSession, event_id: int, frames: Sequence[tuple[str, dict[str, Any]]]
) -> list[Frame]:
    """Log ``frames`` in order under one contiguous id range: one UPDATE and one multi-row INSERT."""
    return await append_encoded(session, event_id, encode_frames(frames))


def encode_frames(frames: Sequence[tuple[str, dict[str, Any]]]) -> list[tuple[str, int | None, str]]:
    """Each frame's type, scope and encoded data, ready for ``append_encoded``: a writer encodes before its
    first write, not while it holds SQLite's one write lock (ingest waits for it meanwhile)."""
    return [(type_, frame_scope(type_, data), jsontext.dumps(data)) for type_, data in frames]


async def append_encoded(
    session: AsyncSession, event_id: int, frames: Sequence[tuple[str, int | None, str]]
) -> list[Frame]:
    """``append_many`` of frames ``encode_frames`` made."""
    if not frames:
        return []
    first = await allocate_seq(session, event_id, len(frames)) - len(frames) + 1
    now = utcnow()
    connection = await session.connection()
    driver = _append_sql(connection.dialect)
    # The whole batch shares one time: converted once, not once a row.
    created_at = driver[1](now) if driver is not None and driver[1] is not None else now
    rows: list[tuple[Any, ...]] = []
    out: list[Frame] = []
    for seq, (type_, talk_id, data_text) in enumerate(frames, start=first):
        rows.append((event_id, seq, type_, talk_id, data_text, created_at))
        out.append(Frame(seq=seq, talk_id=talk_id, text=_frame_text(seq, type_, data_text)))
    if driver is not None:
        # The driver's own executemany over plain tuples: SQLAlchemy's parameter processing, a dict and a
        # datetime conversion per row, cost about as much as encoding the frames.
        await connection.exec_driver_sql(driver[0], rows)
    else:
        await session.execute(_APPEND, [dict(zip(_APPEND_ORDER, row, strict=True)) for row in rows])
    return out


async def prune(session: AsyncSession, event_id: int, keep: int) -> int:
    newest = (await session.execute(select(Event.last_seq).where(Event.id == event_id))).scalar_one()
    result = await session.execute(
        delete(LiveEvent).where(LiveEvent.event_id == event_id, LiveEvent.seq <= newest - keep)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


class StoreLiveLog:
    """The hub's window on the durable log (implements app.broadcast.hub.LiveLog)."""

    def __init__(self, maker: async_sessionmaker[AsyncSession]) -> None:
        self.maker = maker

    async def frames_after(
        self, event_id: int, after: int, limit: int, *, types: Collection[str] | None = None
    ) -> Sequence[Frame]:
        """Up to ``limit`` frames after ``after``, in seq order; given ``types``, only frames of those types.

        A reader of some types (the clustering arrow, which skips its own outputs) resumes from the
        last frame it was given: frames become visible in seq order, so none before it can appear later.
        """
        rows = await self.entries_after(event_id, after, limit, types=types)
        return [Frame(seq=r.seq, talk_id=r.talk_id, text=encode_frame(r.seq, r.type, r.data)) for r in rows]

    async def entries_after(
        self, event_id: int, after: int, limit: int, *, types: Collection[str] | None = None
    ) -> Sequence[Any]:
        """``frames_after`` as rows (``seq``, ``type``, ``data``, ``talk_id``), for a reader that wants the
        data, not the text sent to followers."""
        stmt = select(LiveEvent.seq, LiveEvent.type, LiveEvent.data, LiveEvent.talk_id).where(
            LiveEvent.event_id == event_id, LiveEvent.seq > after
        )
        if types is not None:
            stmt = stmt.where(col(LiveEvent.type).in_(types))
        async with self.maker() as session:
            return (await session.execute(stmt.order_by(LiveEvent.seq).limit(limit))).all()

    async def last_seq(self, event_id: int) -> int:
        async with self.maker() as session:
            value = (await session.execute(select(Event.last_seq).where(Event.id == event_id))).scalar_one_or_none()
        return int(value or 0)

    async def count(self, event_id: int) -> int:
        async with self.maker() as session:
            return int((await session.execute(select(func.count()).where(LiveEvent.event_id == event_id))).scalar_one())
