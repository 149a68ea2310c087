"""Queries on posts, authors and votes."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, Table, any_, bindparam, func, literal_column, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.store.db import one_of
from app.store.inserts import CHUNK, RowsInsert
from app.store.tables import Author, Post, PostAlias, Vote

INSERT_CHUNK = CHUNK  # rows per multi-row INSERT


async def get(session: AsyncSession, post_id: int) -> Post | None:
    return await session.get(Post, post_id)


async def bump(session: AsyncSession, post: Post, /, *, votes: int = 0, **values: Any) -> Post:
    """Write ``values`` to the stored post and count one more version (and ``votes`` more upvotes) in one
    statement, from the row as it is stored now, not as ``post`` was read: requests that change one post at
    once (sixty people upvoting the question on screen, an organizer's pin beside the clustering stage's
    attribution) each add theirs, where writing back what each had read kept one of them. ``post`` takes the
    stored row's values, its new version among them, for the frame that tells followers."""
    changes: dict[str, Any] = {"version": _POSTS.c.version + 1, **values}
    if votes:
        changes["upvotes"] = _POSTS.c.upvotes + votes
    # Core, not the ORM's bulk update: the returned row is given to ``post`` as stored, not as a change to flush.
    stmt = update(_POSTS).where(_POSTS.c.id == post.id).values(changes).returning(*_POSTS.columns)
    row = (await session.execute(stmt)).one()
    for key, value in row._asdict().items():
        set_committed_value(post, key, value)
    return post


async def get_by_native(session: AsyncSession, source: str, native_id: str) -> Post | None:
    return (await session.exec(select(Post).where(Post.source == source, Post.native_id == native_id))).first()


async def insert_unique(session: AsyncSession, row: SQLModel) -> bool:
    """Insert ``row``; False when a concurrent transaction already stored the same unique key.

    On PostgreSQL the insert runs in a savepoint, so losing the race (the other transaction's
    insert commits first) undoes only this row and the caller can read the winner's. SQLite
    serialises writers, so there the race cannot reach this point; and pysqlite's SAVEPOINT
    would commit early when it is the outermost statement, so it is not used there.
    """
    bind = session.bind
    if bind is None or bind.dialect.name != "postgresql":
        session.add(row)
        await session.flush()
        return True
    try:
        async with session.begin_nested():  # flushes what is pending first, so only ``row`` is in it
            session.add(row)
            await session.flush()
    except IntegrityError:
        return False
    return True


async def get_author(session: AsyncSession, author_id: int | None) -> Author | None:
    return None if author_id is None else await session.get(Author, author_id)


async def upsert_author(
    session: AsyncSession, source: str, handle: str, display_name: str | None, url: str | None
) -> Author:
    author = (await session.exec(select(Author).where(Author.source == source, Author.handle == handle))).first()
    if author is None:
        author = Author(source=source, handle=handle, display_name=display_name, url=url)
        if await insert_unique(session, author):
            return author
        author = (await session.exec(select(Author).where(Author.source == source, Author.handle == handle))).one()
    if (display_name and display_name != author.display_name) or (url and url != author.url):
        author.display_name = display_name or author.display_name
        author.url = url or author.url
        session.add(author)
    return author


async def authors_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Author]:
    if not ids:
        return {}
    rows = (await session.exec(select(Author).where(col(Author.id).in_(set(ids))))).all()
    return {a.id: a for a in rows if a.id is not None}


async def gone_among(session: AsyncSession, event_id: int, ids: Sequence[int]) -> dict[int, int]:
    """This event's posts among ``ids`` that are no longer shown (deleted, hidden, held): id -> upvotes."""
    if not ids:
        return {}
    stmt = sa_select(Post.id, Post.upvotes).where(
        col(Post.event_id) == event_id, col(Post.id).in_(set(ids)), col(Post.status) != "visible"
    )
    return {post_id: upvotes for post_id, upvotes in (await session.execute(stmt)).all()}


async def list_posts(
    session: AsyncSession,
    event_id: int,
    *,
    talk_id: int | None = None,
    hallway: bool = False,
    kind: str | None = None,
    since: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
    statuses: Sequence[str] = ("visible",),
) -> list[Post]:
    stmt = select(Post).where(Post.event_id == event_id, col(Post.status).in_(statuses))
    if talk_id is not None:
        stmt = stmt.where(Post.talk_id == talk_id)
    elif hallway:
        stmt = stmt.where(col(Post.talk_id).is_(None))
    if kind is not None:
        stmt = stmt.where(Post.kind == kind)
    if since is not None:
        stmt = stmt.where(Post.created_at >= since)
    if before_id is not None:
        stmt = stmt.where(col(Post.id) < before_id)
    stmt = stmt.order_by(col(Post.id).desc()).limit(limit)
    return list((await session.exec(stmt)).all())


async def link_orphan_replies(session: AsyncSession, source: str, native_id: str, parent_id: int) -> list[int]:
    """Replies that arrived before their parent (``native_id``, stored as ``parent_id``) point at it now."""
    rows = (
        await session.exec(
            select(Post.id).where(
                Post.source == source,
                Post.reply_to_native == native_id,
                col(Post.reply_to_id).is_(None),
            )
        )
    ).all()
    ids = [i for i in rows if i is not None]
    if ids:
        await session.execute(
            update(Post).where(col(Post.id).in_(ids)).values(reply_to_id=parent_id, version=Post.version + 1)
        )
    return ids


async def has_vote(session: AsyncSession, post_id: int, client_key: str) -> bool:
    stmt = select(Vote.id).where(Vote.post_id == post_id, Vote.client_key == client_key)
    return (await session.exec(stmt)).first() is not None


def _by_source(keys: Sequence[tuple[str, str]]) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = {}
    for source, native_id in keys:
        grouped.setdefault(source, set()).add(native_id)
    return grouped


def _among_strings(column: Any, name: str, postgres: bool) -> ColumnElement[bool]:
    """``column`` among the strings of the parameter ``name``, as ``one_of`` renders them: an array on PostgreSQL,
    a JSON array on SQLite (``_strings`` makes the value)."""
    if postgres:
        return column == any_(bindparam(name, type_=ARRAY(String())))
    values = sa_select(literal_column("value")).select_from(func.json_each(bindparam(name, type_=String())))
    return column.in_(values.scalar_subquery())  # type: ignore[no-any-return]


def _strings(postgres: bool, values: Collection[str]) -> Any:
    # ensure_ascii off, as ``one_of``: a string the driver cannot encode fails as it does in an IN list.
    return list(values) if postgres else json.dumps(list(values), ensure_ascii=False)


def _is_postgres(session: AsyncSession) -> bool:
    bind = session.bind
    return bind is not None and bind.dialect.name == "postgresql"


# An ingest batch's look-ups, each built once per dialect with the source and the native ids as parameters:
# built per call, constructing a statement and computing its cache key cost more than running it (each
# batch, and each group of notes).
_POSTS: Table = Post.__table__  # type: ignore[attr-defined]
_BY_NATIVE_IDS = {
    postgres: select(Post).where(
        col(Post.source) == bindparam("source"), _among_strings(col(Post.native_id), "ids", postgres)
    )
    for postgres in (False, True)
}
_AWAITED_PARENTS = {
    postgres: sa_select(_POSTS.c.reply_to_native).where(
        _POSTS.c.source == bindparam("source"),
        _among_strings(_POSTS.c.reply_to_native, "ids", postgres),
        _POSTS.c.reply_to_id.is_(None),
    )
    for postgres in (False, True)
}


async def by_native_ids(session: AsyncSession, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Post]:
    """The stored posts among these (source, native_id) pairs, in one query per source."""
    found: dict[tuple[str, str], Post] = {}
    postgres = _is_postgres(session)
    for source, ids in _by_source(keys).items():
        params = {"source": source, "ids": _strings(postgres, ids)}
        rows = (await session.execute(_BY_NATIVE_IDS[postgres], params)).scalars().all()
        found.update({(p.source, p.native_id): p for p in rows})
    return found


async def awaited_parents(session: AsyncSession, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (source, native_id) pairs stored replies are still waiting for, as their parent."""
    awaited: set[tuple[str, str]] = set()
    postgres = _is_postgres(session)
    for source, ids in _by_source(keys).items():
        params = {"source": source, "ids": _strings(postgres, ids)}
        rows = (await session.execute(_AWAITED_PARENTS[postgres], params)).scalars()
        awaited.update((source, r) for r in rows if r is not None)
    return awaited


def _insert_skipping_duplicates(session: AsyncSession, table: Table | type[SQLModel], unique: Sequence[str]) -> Any:
    """``INSERT … ON CONFLICT (unique) DO NOTHING`` in the session's dialect (SQLite and PostgreSQL both have it).

    On PostgreSQL a row whose key a concurrent, uncommitted transaction has just inserted waits
    for it: when that one commits the row is skipped (and not returned), so losing the race is
    an outcome, not an error that aborts the whole batch.
    """
    bind = session.bind
    dialect = postgresql if bind is not None and bind.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing(index_elements=list(unique))


async def insert_new(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], Post]:
    """Insert posts given as column values, skipping (source, native_id) pairs already stored.

    Returns the inserted posts by (source, native_id), loaded from ``RETURNING`` into the session
    (as a query would load them), so later changes to them are ordinary updates. A skipped pair
    lost a race to a concurrent transaction: the caller reads the stored row and applies its item to that.
    """
    inserted: dict[tuple[str, str], Post] = {}
    stmt = _insert_skipping_duplicates(session, Post, ("source", "native_id")).returning(Post)
    for start in range(0, len(rows), INSERT_CHUNK):
        # executemany form: SQLAlchemy sends it as multi-row VALUES ("insertmanyvalues") from a cached compile.
        for post in (await session.execute(stmt, list(rows[start : start + INSERT_CHUNK]))).scalars():
            inserted[(post.source, post.native_id)] = post
    return inserted


# The columns an ingest batch gives a new post (``PostBatch._stage``'s row); the table's defaults fill the rest.
NEW_POST_COLUMNS = (
    "event_id", "source", "native_id", "author_id", "text", "html", "url", "language", "talk_id", "talk_confidence",
    "reply_to_native", "reply_to_id", "boosts", "likes", "replies", "sensitive", "spoiler_text",
    "media_descriptions", "tags", "status", "moderation_reason", "delete_token_hash", "created_at", "edited_at",
    "received_at", "kind",
)  # fmt: skip
_INSERT_POSTS = RowsInsert(_POSTS, NEW_POST_COLUMNS, ("id", "source", "native_id"), unique=("source", "native_id"))


async def insert_rows(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """``insert_new`` without loading the posts: the inserted ones' ids by (source, native_id).

    For a caller that already holds every column's value (an ingest batch, each row with ``NEW_POST_COLUMNS``):
    loading ~30 columns back into a ``Post`` per row cost about as much as the insert itself, and SQLAlchemy's
    executemany about as much again (``RowsInsert``). The posts are not in the session; a caller that
    changes one later in the transaction reads it first (``get``).
    """
    return {(source, native_id): post_id for post_id, source, native_id in await _INSERT_POSTS.run(session, rows)}


@dataclass(slots=True)
class StoredAuthor:
    """An author as a batch of new posts needs one: the id, and what the posts' frames show of them.

    Plain values, not an ``Author`` loaded into the session: loading a few hundred per batch cost
    three times as much as reading the rows.
    """

    id: int
    source: str
    handle: str
    display_name: str | None
    url: str | None


_AUTHORS: Table = Author.__table__  # type: ignore[attr-defined]
_AUTHOR_COLUMNS = (_AUTHORS.c.id, _AUTHORS.c.source, _AUTHORS.c.handle, _AUTHORS.c.display_name, _AUTHORS.c.url)
_INSERT_AUTHORS = RowsInsert(
    _AUTHORS,
    ("source", "handle", "display_name", "url", "opted_out"),
    ("id", "source", "handle", "display_name", "url"),
    unique=("source", "handle"),
)


# ``authors_by_handle``'s query, built once per dialect (as ``by_native_ids``'s: ~0.2 ms of a note group's CPU).
_AUTHORS_BY_HANDLE = {
    postgres: sa_select(*_AUTHOR_COLUMNS).where(
        _AUTHORS.c.source == bindparam("source"), _among_strings(_AUTHORS.c.handle, "handles", postgres)
    )
    for postgres in (False, True)
}


async def authors_by_handle(
    session: AsyncSession, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], StoredAuthor]:
    """The stored authors among these (source, handle) pairs, in one query per source."""
    found: dict[tuple[str, str], StoredAuthor] = {}
    postgres = _is_postgres(session)
    stmt = _AUTHORS_BY_HANDLE[postgres]
    for source, handles in _by_source(keys).items():
        for row in await session.execute(stmt, {"source": source, "handles": _strings(postgres, handles)}):
            found[(row[1], row[2])] = StoredAuthor(*row)
    return found


async def upsert_authors(
    session: AsyncSession, authors: Sequence[tuple[str, str, str | None, str | None]]
) -> dict[tuple[str, str], StoredAuthor]:
    """Every (source, handle, display name, url) of ``authors`` stored: the missing ones inserted in one statement.

    A display name or profile url that changed is updated, as ``upsert_author`` does.
    """
    wanted = {(source, handle): (name, url) for source, handle, name, url in authors}
    if not wanted:
        return {}
    found = await authors_by_handle(session, list(wanted))
    missing = [
        {"source": source, "handle": handle, "display_name": name, "url": url, "opted_out": False}
        for (source, handle), (name, url) in wanted.items()
        if (source, handle) not in found
    ]
    if missing:
        # A pair a concurrent transaction stored first is skipped by the insert (not returned) and read after.
        for row in await _INSERT_AUTHORS.run(session, missing):
            found[(row[1], row[2])] = StoredAuthor(*row)
        raced = [(row["source"], row["handle"]) for row in missing if (row["source"], row["handle"]) not in found]
        if raced:
            found.update(await authors_by_handle(session, raced))
    for key, (name, url) in wanted.items():
        author = found[key]
        if (name and name != author.display_name) or (url and url != author.url):
            author.display_name = name or author.display_name
            author.url = url or author.url
            await session.execute(
                update(Author)
                .where(col(Author.id) == author.id)
                .values(display_name=author.display_name, url=author.url)
            )
    return found


async def known_aliases(session: AsyncSession, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (source, alias) pairs are already stored as aliases."""
    known: set[tuple[str, str]] = set()
    for source, aliases in _by_source(keys).items():
        stmt = select(PostAlias.alias).where(
            PostAlias.source == source, one_of(session, PostAlias.alias, aliases, String())
        )
        known.update((source, alias) for alias in (await session.exec(stmt)).all())
    return known
