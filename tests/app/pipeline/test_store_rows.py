"""An ingest batch's rows go to the driver as SQLAlchemy would send them, and its look-ups find what is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.store import live as live_store
from app.store import posts as post_store
from app.store.inserts import CHUNK
from app.store.tables import Event, Post

pytestmark = pytest.mark.anyio

Store = tuple[AsyncEngine, async_sessionmaker[AsyncSession]]
_POSTS: Table = Post.__table__  # type: ignore[attr-defined]


def rows(event_id: int, prefix: str, count: int) -> list[dict[str, Any]]:
    """New posts' rows with every kind of value a column converts: JSON lists, booleans, floats, None, datetimes
    in other zones, text beyond ASCII."""
    out = []
    for n in range(count):
        out.append(
            {
                "event_id": event_id,
                "source": "bluesky",
                "native_id": f"{prefix}-{n}",
                "author_id": None,
                "text": f'café 🎤 テスト "quoted" {n}',
                "html": None if n % 2 else f"<p>{n}</p>",
                "url": f"https://example.org/{n}",
                "language": "en" if n % 3 else None,
                "talk_id": None,
                "talk_confidence": 1.0 if n % 4 == 0 else None,
                "reply_to_native": f"parent-{n - 1}" if n % 5 == 1 else None,
                "reply_to_id": None,
                "boosts": n,
                "likes": n * 2,
                "replies": 0,
                "sensitive": n % 2 == 0,
                "spoiler_text": "cw" if n % 7 == 0 else None,
                "media_descriptions": [f"image {n}", "ünïcode"] if n % 3 == 0 else [],
                "tags": ["pycon", f"t{n % 4}"],
                "status": "visible" if n % 6 else "held",
                "moderation_reason": None if n % 6 else "pre-moderation",
                "delete_token_hash": None,
                "created_at": datetime(2026, 5, 1, 10, 0, n % 60, n, tzinfo=timezone(timedelta(hours=n % 5 - 2))),
                "edited_at": datetime(2026, 5, 1, 11, tzinfo=UTC) + timedelta(microseconds=n) if n % 2 else None,
                "received_at": datetime(2026, 5, 1, 12, tzinfo=UTC) + timedelta(seconds=n),
                "kind": "question" if n % 2 else "other",
            }
        )
    return out


async def stored_rows(session: AsyncSession, prefix: str) -> list[dict[str, Any]]:
    """The posts under ``prefix`` as the database holds them (raw: SQLite's text for datetimes and JSON)."""
    result = await session.execute(
        text("SELECT * FROM post WHERE native_id LIKE :prefix ORDER BY id"), {"prefix": f"{prefix}-%"}
    )
    return [{k: v for k, v in row.items() if k not in ("id", "native_id")} for row in result.mappings()]


async def test_a_batchs_posts_are_stored_as_sqlalchemys_executemany_stores_them(store: Store) -> None:
    _, maker = store
    count = CHUNK * 2 + 3  # two full statements and an odd one
    async with maker() as session:
        event = (await session.exec(select(Event).where(Event.slug == "testcon"))).one()
        assert event.id is not None
        ids = await post_store.insert_rows(session, rows(event.id, "driver", count))
        dialect = (await session.connection()).dialect.name
        reference = post_store._insert_skipping_duplicates(session, _POSTS, ("source", "native_id"))
        await session.execute(reference, rows(event.id, "sqlalchemy", count))
        assert sorted(ids) == [("bluesky", f"driver-{n}") for n in sorted(range(count), key=lambda n: f"driver-{n}")]
        assert len(set(ids.values())) == count
        assert await stored_rows(session, "driver") == await stored_rows(session, "sqlalchemy"), dialect
        await session.commit()


async def test_posts_already_stored_are_skipped_and_not_returned(store: Store) -> None:
    _, maker = store
    async with maker() as session:
        event = (await session.exec(select(Event).where(Event.slug == "testcon"))).one()
        assert event.id is not None
        first = await post_store.insert_rows(session, rows(event.id, "dup", 5))
        again = await post_store.insert_rows(session, rows(event.id, "dup", 8))
        await session.commit()
    assert sorted(again) == [("bluesky", f"dup-{n}") for n in (5, 6, 7)]
    assert not set(first.values()) & set(again.values())
    async with maker() as session:
        found = await post_store.by_native_ids(session, [("bluesky", f"dup-{n}") for n in range(10)])
    assert sorted(k[1] for k in found) == [f"dup-{n}" for n in range(8)]


async def test_look_ups_find_ids_with_quotes_and_text_beyond_ascii(store: Store) -> None:
    _, maker = store
    odd = ['at://did:plc:x/app.bsky.feed.post/"quoted"', "at://é/🎤/テスト", "back\\slash", "[1, 2]", "null"]
    async with maker() as session:
        event = (await session.exec(select(Event).where(Event.slug == "testcon"))).one()
        assert event.id is not None
        batch = rows(event.id, "odd", len(odd))
        for row, native_id in zip(batch, odd, strict=True):
            row["native_id"], row["reply_to_native"] = native_id, native_id
        await post_store.insert_rows(session, batch)
        await session.commit()
    keys = [("bluesky", native_id) for native_id in [*odd, "absent", ""]]
    async with maker() as session:
        assert sorted(k[1] for k in await post_store.by_native_ids(session, keys)) == sorted(odd)
        assert sorted(k[1] for k in await post_store.awaited_parents(session, keys)) == sorted(odd)
        assert await post_store.by_native_ids(session, []) == {}


async def test_ids_allocated_keep_the_loaded_event_in_step_and_flush_pending_changes_first(store: Store) -> None:
    _, maker = store
    async with maker() as session:
        event = (await session.exec(select(Event).where(Event.slug == "testcon"))).one()
        assert event.id is not None
        before = event.last_seq
        post = Post(event_id=event.id, source="notes", native_id="p", text="pending", created_at=datetime.now(UTC))
        session.add(post)
        last = await live_store.allocate_seq(session, event.id, 3)
        assert post.id is not None, "the pending post was flushed before the event's row was locked"
        assert last == before + 3 and event.last_seq == last
        assert event not in session.dirty
        await session.commit()
    async with maker() as session:
        assert (await session.exec(select(Event.last_seq).where(Event.id == event.id))).one() == last
