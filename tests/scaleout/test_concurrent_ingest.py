"""Two ingest batches carrying the same post at the same moment store it once (PostgreSQL, many writers)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest
from sqlalchemy import func, select, text

from app.services.posts import apply_items
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings
from app.store.db import create_engine, sessionmaker
from app.store.tables import Author, Event, Post
from ingest.items import IncomingPost, ItemAction, SourceItem

pytestmark = pytest.mark.anyio


def status(native_id: str) -> SourceItem:
    post = IncomingPost(
        source="mastodon",
        native_id=native_id,
        text="Partial indexes are underrated #testcon",
        created_at=datetime(2026, 5, 1, 10, 0, tzinfo=UTC),
        author_handle="ana@example.social",
        author_name="Ana",
    )
    return SourceItem(action=ItemAction.UPSERT, source="mastodon", native_id=native_id, post=post)


async def test_the_same_post_from_two_concurrent_batches_is_stored_once(
    settings: Settings, event: dict[str, Any]
) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("concurrent writers need PostgreSQL (BACKCHANNEL_TEST_DATABASE_URL); SQLite has one writer")
    engine = create_engine(settings)
    maker = sessionmaker(engine)
    broker = _NullBroker()
    try:
        async with maker() as session:
            event_id = (await session.execute(select(Event.id).where(Event.slug == "testcon"))).scalar_one()
        async with maker() as first_session, maker() as second_session:
            first = UnitOfWork(first_session, broker)
            second = UnitOfWork(second_session, broker)
            first_result = await apply_items(first, await first_session.get(Event, event_id), [status("109")])
            assert first_result.created == 1
            second_event = await second_session.get(Event, event_id)
            racing = asyncio.create_task(apply_items(second, second_event, [status("109")]))
            await _until_blocked_on_a_lock(maker)  # the second insert waits for the first transaction
            await first.commit()
            second_result = await racing
            await second.commit()
        assert second_result.created == 0
        async with maker() as session:
            posts = await session.execute(select(func.count()).select_from(Post).where(Post.native_id == "109"))
            authors = await session.execute(select(func.count()).select_from(Author))
            assert posts.scalar_one() == 1
            assert authors.scalar_one() == 1
    finally:
        await engine.dispose()


async def _until_blocked_on_a_lock(maker: Any) -> None:
    with anyio.fail_after(10):
        while True:
            async with maker() as session:
                waiting = await session.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND wait_event_type = 'Lock'"
                    )
                )
                if waiting.scalar_one():
                    return
            await asyncio.sleep(0.02)


class _NullBroker:
    """Publishing is not under test here."""

    async def publish(self, channel: str, message: str) -> str:
        return "0"

    async def publish_many(self, channel: str, messages: list[str]) -> list[str]:
        return ["0"] * len(messages)
