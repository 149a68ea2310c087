"""Queries the clustering arrow needs: posts by id, saved model state, digests, topics (a batch's in one query each)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import Dialect, Integer, Select, Table, bindparam, insert, literal_column, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.store.db import among
from app.store.tables import Author, Event, LiveEvent, ModelState, Post, TalkDigest, Topic
from app.store.types import utcnow


@dataclass(slots=True)
class PostAuthor:
    """A post's author as its live frame names them (an ``AuthorView``)."""

    display_name: str | None
    handle: str | None
    url: str | None


@dataclass(slots=True)
class ClusterPost:
    """A post as the clustering arrow reads, attributes and announces it: plain values, not an ORM object.

    The fields up to ``status`` are its live frame's (``PostRead``'s); the rest is what the model also
    takes in. Loading a batch's posts and authors as ORM
    objects, and setting attributions through their instrumented attributes, cost about as much as
    clustering them.
    """

    id: int
    version: int
    event: str
    source: str
    kind: str
    text: str
    url: str | None
    language: str | None
    talk_id: int | None
    talk_confidence: float | None
    topic_id: int | None
    reply_to_id: int | None
    author: PostAuthor
    created_at: datetime
    edited_at: datetime | None
    upvotes: int
    boosts: int
    sensitive: bool
    spoiler_text: str | None
    media_descriptions: list[str]
    pinned: bool
    marked_answered: bool
    status: str
    author_id: int | None
    replies: int
    received_at: datetime


_POST_COLUMNS = (
    Post.id, Post.version, Post.source, Post.kind, Post.text, Post.url, Post.language, Post.talk_id,
    Post.talk_confidence, Post.topic_id, Post.reply_to_id, Post.created_at, Post.edited_at, Post.upvotes,
    Post.boosts, Post.sensitive, Post.spoiler_text, Post.media_descriptions, Post.pinned, Post.marked_answered,
    Post.status, Post.author_id, Post.replies, Post.received_at, Author.display_name, Author.handle, Author.url,
)  # fmt: skip


def _posts_statement(postgresql: bool) -> Select[Any]:
    """This event's posts among the ``ids`` parameter, each with its author: built once per dialect."""
    return (
        select(*_POST_COLUMNS)
        .outerjoin(Author, col(Post.author_id) == col(Author.id))
        .where(
            col(Post.event_id) == bindparam("event_id"), among(col(Post.id), "ids", Integer(), postgresql=postgresql)
        )
    )


# A batch's statements, built once: building and coercing a 500-id IN list and its cache key on every
# step cost about as much as running it.
_POSTS = {postgresql: _posts_statement(postgresql) for postgresql in (False, True)}
_VERSIONS = {
    postgresql: select(Post.id, Post.version).where(among(col(Post.id), "ids", Integer(), postgresql=postgresql))
    for postgresql in (False, True)
}


async def cluster_posts(session: AsyncSession, event_id: int, ids: list[int], event_slug: str) -> list[ClusterPost]:
    """This event's posts among ``ids``, in the order of ``ids``, each with its author (one query)."""
    if not ids:
        return []
    connection = await session.connection()
    stmt = _POSTS[connection.dialect.name == "postgresql"]
    found: dict[int, ClusterPost] = {}
    for (
        id_, version, source, kind, text, url, language, talk_id, talk_confidence, topic_id, reply_to_id,
        created_at, edited_at, upvotes, boosts, sensitive, spoiler_text, media, pinned, marked_answered, status,
        author_id, replies, received_at, author_name, author_handle, author_url,
    ) in (await connection.execute(stmt, {"event_id": event_id, "ids": ids})).all():  # fmt: skip
        found[id_] = ClusterPost(
            id_, version, event_slug, source, kind, text, url, language, talk_id, talk_confidence, topic_id,
            reply_to_id, PostAuthor(author_name, author_handle, author_url), created_at, edited_at, upvotes,
            boosts, sensitive, spoiler_text, list(media or []), pinned, marked_answered, status, author_id, replies,
            received_at,
        )  # fmt: skip
    return [found[i] for i in ids if i in found]


_LOG_AFTER = (
    select(
        LiveEvent.seq,
        LiveEvent.type,
        col(LiveEvent.data)["id"].as_integer(),
        col(LiveEvent.data)["upvotes"].as_integer(),
    )
    .where(
        col(LiveEvent.event_id) == bindparam("event_id"),
        col(LiveEvent.seq) > bindparam("after"),
        col(LiveEvent.type).in_(bindparam("types", expanding=True)),
    )
    .order_by(LiveEvent.seq)
    .limit(bindparam("limit"))
)


async def log_after(
    session: AsyncSession, event_id: int, after: int, limit: int, types: Collection[str]
) -> list[tuple[int, str, int | None, int | None]]:
    """Up to ``limit`` of the event's live frames of ``types`` after ``after``, in seq order, as
    (seq, type, data's ``id``, data's ``upvotes``): all the arrow reads of a frame. The database picks the
    two values out; decoding each ``post.created`` frame's whole post only to read its id cost more."""
    params = {"event_id": event_id, "after": after, "types": list(types), "limit": limit}
    return [
        (seq, kind, post_id, upvotes)
        for seq, kind, post_id, upvotes in (await (await session.connection()).execute(_LOG_AFTER, params)).all()
    ]


async def event_ids(session: AsyncSession) -> list[int]:
    return [i for i in (await session.exec(select(Event.id))).all() if i is not None]


async def load_state(session: AsyncSession, event_id: int) -> ModelState | None:
    return await session.get(ModelState, event_id)


async def save_state(session: AsyncSession, event_id: int, blob: bytes, last_post_id: int) -> None:
    """Write the event's saved model state over the old one (or insert it) without loading the old blob."""
    stmt = (
        update(ModelState)
        .where(col(ModelState.event_id) == event_id)
        .values(state=blob, last_post_id=last_post_id, updated_at=utcnow())
    )
    if (await session.execute(stmt)).rowcount == 0:  # type: ignore[attr-defined]
        session.add(ModelState(event_id=event_id, state=blob, last_post_id=last_post_id))
        await session.flush()


_ATTRIBUTED = (
    update(Post.__table__)  # type: ignore[arg-type]
    .where(Post.__table__.c.id == bindparam("post_id"))  # type: ignore[attr-defined]
    .values(
        # counted from the stored version (an organizer's pin or hide, or an edit, may have come since the
        # read); the 1 written out, not a parameter, so the driver's executemany takes each post's own values
        version=Post.__table__.c.version + literal_column("1"),  # type: ignore[attr-defined]
        talk_id=bindparam("talk_id"),
        talk_confidence=bindparam("talk_confidence"),
        topic_id=bindparam("topic_id"),
        kind=bindparam("kind"),
    )
)


# ``_ATTRIBUTED`` as each dialect's driver runs it, with its parameters' order as ClusterPost names them.
_ATTRIBUTED_SQL: dict[tuple[str, str], tuple[str, Any]] = {}


def _attributed_sql(dialect: Dialect) -> tuple[str, Any]:
    key = (dialect.name, dialect.driver)
    if key not in _ATTRIBUTED_SQL:
        compiled = _ATTRIBUTED.compile(dialect=dialect)
        order = ["id" if name == "post_id" else name for name in compiled.positiontup or ()]
        _ATTRIBUTED_SQL[key] = (compiled.string, attrgetter(*order) if compiled.positional else None)
    return _ATTRIBUTED_SQL[key]


async def save_attributions(session: AsyncSession, posts: list[ClusterPost]) -> None:
    """Write the posts' talk, confidence, topic and kind, as they are on ``posts``, each one version on from
    the stored one, in one executemany."""
    if not posts:
        return
    # On the connection: through the session, an UPDATE is matched against the objects it holds.
    connection = await session.connection()
    sql, values = _attributed_sql(connection.dialect)
    if values is not None:
        # The driver's own executemany over plain tuples: SQLAlchemy's parameter processing, a dict per
        # row, cost about a third of a batch's writes (none of these columns needs a type conversion).
        await connection.exec_driver_sql(sql, [values(p) for p in posts])
        return
    rows = [
        {
            "post_id": p.id,
            "talk_id": p.talk_id,
            "talk_confidence": p.talk_confidence,
            "topic_id": p.topic_id,
            "kind": p.kind,
        }
        for p in posts
    ]
    await connection.execute(_ATTRIBUTED, rows)


async def changed_meanwhile(session: AsyncSession, expected: dict[int, int]) -> list[int]:
    """Of the posts just attributed (id → the version the step gave it), those another writer changed
    between the step's read and its write: their stored version is past it."""
    if not expected:
        return []
    connection = await session.connection()
    stmt = _VERSIONS[connection.dialect.name == "postgresql"]
    rows = (await connection.execute(stmt, {"ids": list(expected)})).all()
    return [post_id for post_id, version in rows if version != expected[post_id]]


async def digest_versions(session: AsyncSession, event_id: int, talk_keys: Collection[int]) -> dict[int, int]:
    """The versions of this event's stored digests among ``talk_keys`` (a talk's id, 0 for the hallway), by key."""
    if not talk_keys:
        return {}
    stmt = select(TalkDigest.talk_key, TalkDigest.version).where(
        TalkDigest.event_id == event_id, col(TalkDigest.talk_key).in_(set(talk_keys))
    )
    return {key: version for key, version in (await session.execute(stmt)).all()}


async def stored_topics(session: AsyncSession, event_id: int, model_ids: Collection[int]) -> set[int]:
    """Which of ``model_ids`` this event has a topic row for."""
    if not model_ids:
        return set()
    stmt = select(Topic.model_id).where(Topic.event_id == event_id, col(Topic.model_id).in_(set(model_ids)))
    return set((await session.execute(stmt)).scalars().all())


_TOPICS: Table = Topic.__table__  # type: ignore[attr-defined]
_DIGESTS: Table = TalkDigest.__table__  # type: ignore[attr-defined]
_TOPIC_FIELDS = ("talk_id", "label", "keyphrases", "size", "updated_at")
_DIGEST_FIELDS = ("version", "topics", "takeaways", "activity", "bursts", "questions", "updated_at")
_TOPIC_UPDATED = (
    update(_TOPICS)
    .where(_TOPICS.c.event_id == bindparam("row_event"), _TOPICS.c.model_id == bindparam("row_model"))
    .values({name: bindparam(name) for name in _TOPIC_FIELDS})
)
_DIGEST_UPDATED = (
    update(_DIGESTS)
    .where(_DIGESTS.c.event_id == bindparam("row_event"), _DIGESTS.c.talk_key == bindparam("row_key"))
    .values({name: bindparam(name) for name in _DIGEST_FIELDS})
)


async def save_topics(session: AsyncSession, event_id: int, rows: list[dict[str, Any]], stored: set[int]) -> None:
    """Write topic ``rows`` (``model_id`` and ``_TOPIC_FIELDS``): over the ``stored`` ones, the others new.

    One executemany each, on the connection: building an ORM object per topic through the model's
    constructor cost about a third of a millisecond, and the session's flush as much again."""
    connection = await session.connection()
    old = [
        {"row_event": event_id, "row_model": r["model_id"], **{k: r[k] for k in _TOPIC_FIELDS}}
        for r in rows
        if r["model_id"] in stored
    ]
    new = [{"event_id": event_id, "version": 1, **r} for r in rows if r["model_id"] not in stored]
    if old:
        await connection.execute(_TOPIC_UPDATED, old)
    if new:
        await connection.execute(insert(_TOPICS), new)


async def save_digests(
    session: AsyncSession, event_id: int, rows: list[dict[str, Any]], stored: dict[int, int]
) -> None:
    """Write digest ``rows`` (``talk_id``, ``talk_key`` and ``_DIGEST_FIELDS``): over the ``stored`` ones (by
    talk key), the others new; as ``save_topics`` does."""
    connection = await session.connection()
    old = [
        {"row_event": event_id, "row_key": r["talk_key"], **{k: r[k] for k in _DIGEST_FIELDS}}
        for r in rows
        if r["talk_key"] in stored
    ]
    new = [{"event_id": event_id, **r} for r in rows if r["talk_key"] not in stored]
    if old:
        await connection.execute(_DIGEST_UPDATED, old)
    if new:
        await connection.execute(insert(_DIGESTS), new)
