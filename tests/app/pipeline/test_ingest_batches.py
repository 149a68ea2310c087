"""A batch of source items is stored as if applied one by one, with frames in order under contiguous ids."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.services.payloads import frame_data, post_read
from app.services.posts import apply_items
from app.services.unit_of_work import UnitOfWork
from app.store.tables import Author, Event, LiveEvent, Post
from ingest.items import IncomingPost, ItemAction, SourceItem
from ingest.text import normalise_text
from tests.app.organizer.conftest import auth
from tests.ingest.test_text import texts_to_normalise

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def upsert(native_id: str, text: str, *, author: str = "ana", reply_to: str | None = None, n: int = 0) -> SourceItem:
    post = IncomingPost(
        source="bluesky",
        native_id=native_id,
        text=text,
        created_at=T0 + timedelta(seconds=n),
        author_handle=author,
        reply_to=reply_to,
        language="en",
    )
    return SourceItem(ItemAction.UPSERT, "bluesky", native_id, post=post)


def delete(native_id: str) -> SourceItem:
    return SourceItem(ItemAction.DELETE, "bluesky", native_id)


@dataclass
class Published:
    channel: str
    message: str


class RecordingBroker:
    def __init__(self) -> None:
        self.published: list[Published] = []

    async def publish(self, channel: str, message: str) -> str:
        self.published.append(Published(channel, message))
        return str(len(self.published))

    async def publish_many(self, channel: str, messages: list[str]) -> list[str]:
        return [await self.publish(channel, message) for message in messages]


async def ingest(maker: async_sessionmaker[AsyncSession], broker: RecordingBroker, items: list[SourceItem]) -> Any:
    async with maker() as session:
        event = (await session.exec(select(Event).where(Event.slug == "testcon"))).one()
        uow = UnitOfWork(session, broker)  # type: ignore[arg-type]
        result = await apply_items(uow, event, items)
        await uow.commit()
    return result


async def stored(maker: async_sessionmaker[AsyncSession]) -> dict[str, Post]:
    async with maker() as session:
        return {p.native_id: p for p in (await session.exec(select(Post))).all()}


async def logged(maker: async_sessionmaker[AsyncSession]) -> list[LiveEvent]:
    async with maker() as session:
        return list((await session.exec(select(LiveEvent).order_by(col(LiveEvent.seq)))).all())


async def test_creates_replies_edits_and_deletes_in_one_batch_end_as_they_would_one_by_one(
    store: tuple[AsyncEngine, async_sessionmaker[AsyncSession]],
) -> None:
    _, maker = store
    broker = RecordingBroker()
    result = await ingest(
        maker,
        broker,
        [
            upsert("q", "Where are the slides?", n=0),
            upsert("a", "On the conference wiki", author="bo", reply_to="q", n=1),
            upsert("q", "Where are the slides for the keynote?", n=0),
            upsert("gone", "Oops, wrong thread", n=2),
            delete("gone"),
            upsert("c", "Great keynote", author="cy", n=3),
        ],
    )
    assert (result.created, result.updated, result.deleted, result.ignored) == (4, 1, 1, 0)
    posts = await stored(maker)
    assert posts["q"].text == "Where are the slides for the keynote?" and posts["q"].version == 2
    assert posts["a"].reply_to_id == posts["q"].id and posts["a"].kind == "answer"
    assert posts["gone"].status == "deleted" and posts["gone"].text == ""
    assert posts["c"].status == "visible"
    log = await logged(maker)
    frames = [(f.type, f.data.get("id", f.data.get("ids"))) for f in log]
    assert frames == [
        ("post.created", posts["q"].id),
        ("post.created", posts["a"].id),
        ("post.updated", posts["q"].id),
        ("post.created", posts["gone"].id),
        ("post.deleted", posts["gone"].id),
        ("post.created", posts["c"].id),
        ("post.redacted", [posts["gone"].id]),
    ]
    assert "Oops" not in str([f.data for f in log]), "a deleted post's text is not kept in the live log"


async def test_frames_get_contiguous_ids_after_the_previous_batch_and_are_published_in_that_order(
    store: tuple[AsyncEngine, async_sessionmaker[AsyncSession]],
) -> None:
    _, maker = store
    broker = RecordingBroker()
    await ingest(maker, broker, [upsert("one", "First")])
    await ingest(maker, broker, [upsert(f"p{n}", f"Post {n}", n=n) for n in range(5)] + [delete("one")])
    seqs = [f.seq for f in await logged(maker)]
    assert seqs == list(range(seqs[0], seqs[0] + 8))  # 6 created, "one" deleted, its text redacted
    published = [int(m.message.split('"id":', 1)[1].split(",", 1)[0]) for m in broker.published]
    assert published == seqs
    async with maker() as session:
        event = (await session.exec(select(Event).where(Event.slug == "testcon"))).one()
    assert event.last_seq == seqs[-1]


async def test_a_reply_that_arrives_before_its_parent_in_the_same_batch_is_linked_to_it(
    store: tuple[AsyncEngine, async_sessionmaker[AsyncSession]],
) -> None:
    _, maker = store
    broker = RecordingBroker()
    await ingest(
        maker, broker, [upsert("child", "Same here", author="bo", reply_to="parent"), upsert("parent", "Loved it")]
    )
    posts = await stored(maker)
    assert posts["child"].reply_to_id == posts["parent"].id
    frames = [(f.type, f.data["id"]) for f in await logged(maker)]
    assert ("post.updated", posts["child"].id) in frames


async def test_a_new_posts_live_frame_shows_it_exactly_as_the_api_does(
    store: tuple[AsyncEngine, async_sessionmaker[AsyncSession]],
) -> None:
    _, maker = store
    broker = RecordingBroker()
    await ingest(maker, broker, [upsert("q", "Where are the slides?")])
    berlin = timezone(timedelta(hours=2))
    rich = IncomingPost(
        source="bluesky",
        native_id="rich",
        text="Slides are up: https://example.org (spoilers!)",
        created_at=datetime(2026, 5, 1, 12, 0, 1, 250, tzinfo=berlin),
        edited_at=datetime(2026, 5, 1, 12, 5, tzinfo=berlin),
        html="<p>Slides are up</p>",
        url="https://bsky.app/rich",
        author_handle="bo.example",
        author_name="Bo",
        author_url="https://bsky.app/profile/bo.example",
        reply_to="q",
        sensitive=True,
        spoiler_text="keynote spoilers",
        media_descriptions=("a slide", "the speaker"),
        tags=("pycon",),
        boosts=3,
        likes=7,
    )
    await ingest(
        maker,
        broker,
        [
            SourceItem(ItemAction.UPSERT, "bluesky", "rich", post=rich),
            SourceItem(
                ItemAction.UPSERT,
                "bluesky",
                "anon",
                post=IncomingPost(source="bluesky", native_id="anon", text="Nobody's post", created_at=T0),
            ),
        ],
    )
    created = {f.data["id"]: f.data for f in await logged(maker) if f.type == "post.created"}
    async with maker() as session:
        for post in (await session.exec(select(Post))).all():
            author = await session.get(Author, post.author_id) if post.author_id is not None else None
            # Same keys, values and order as the API's view of the stored post (order: the text followers get).
            expected = frame_data(post_read(post, author, "testcon"))
            assert json.dumps(created[post.id]) == json.dumps(expected), post.native_id
    published = [m.message for m in broker.published]
    assert any(
        '"spoiler_text":"keynote spoilers"' in m and '"created_at":"2026-05-01T10:00:01.000250Z"' in m
        for m in published
    )


async def test_a_posts_text_is_stored_as_normalising_gives_it_whether_or_not_its_source_normalised_it(
    store: tuple[AsyncEngine, async_sessionmaker[AsyncSession]],
) -> None:
    _, maker = store
    raw = texts_to_normalise(8, 400)
    texts = raw + [normalise_text(text) for text in raw]  # as a source that normalises hands them over
    await ingest(maker, RecordingBroker(), [upsert(f"p{n}", text, n=n) for n, text in enumerate(texts)])
    posts = await stored(maker)
    for n, text in enumerate(texts):
        expected = normalise_text(text)
        assert (posts[f"p{n}"].text if f"p{n}" in posts else "") == expected, repr(text)


async def test_the_same_batch_twice_stores_nothing_new_and_tells_followers_nothing(
    store: tuple[AsyncEngine, async_sessionmaker[AsyncSession]],
) -> None:
    _, maker = store
    broker = RecordingBroker()
    batch = [upsert(f"p{n}", f"Post {n}", author=f"a{n % 3}", n=n) for n in range(20)]
    await ingest(maker, broker, batch)
    frames_before = len(await logged(maker))
    again = await ingest(maker, broker, batch)
    assert (again.created, again.updated, again.ignored) == (0, 0, 20)
    assert len(await stored(maker)) == 20
    assert len(await logged(maker)) == frames_before


async def test_moderation_rules_apply_to_each_post_of_a_batch(
    client: TestClient, event: dict[str, Any], store: tuple[AsyncEngine, async_sessionmaker[AsyncSession]]
) -> None:
    _, maker = store
    headers = auth(event)
    policy = {"keywords": ["spam"], "max_posts_per_minute": 2}
    assert client.patch("/api/events/testcon/moderation/policy", json=policy, headers=headers).status_code == 200
    block = {"source": "bluesky", "handle": "troll"}
    assert client.post("/api/events/testcon/moderation/blocks", json=block, headers=headers).status_code in (200, 201)
    await ingest(
        maker,
        RecordingBroker(),
        [
            upsert("c1", "first note", author="chatty", n=0),
            upsert("c2", "second note", author="chatty", n=1),
            upsert("c3", "third note", author="chatty", n=2),
            upsert("s", "buy spam now", author="quiet"),
            upsert("t", "hello", author="troll"),
            upsert("ok", "a fine question?", author="quiet", n=5),
        ],
    )
    posts = await stored(maker)
    assert [posts[k].status for k in ("c1", "c2", "c3", "s", "t", "ok")] == [
        "visible",
        "visible",
        "held",
        "held",
        "hidden",
        "visible",
    ]
    assert {f.data["id"] for f in await logged(maker)} == {posts["c1"].id, posts["c2"].id, posts["ok"].id}


async def test_a_batch_of_new_posts_costs_a_few_statements_not_a_few_per_post(
    store: tuple[AsyncEngine, async_sessionmaker[AsyncSession]],
) -> None:
    engine, maker = store
    broker = RecordingBroker()
    await ingest(maker, broker, [upsert("warm", "warm-up")])
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement.split(None, 1)[0].upper())

    sa_event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        await ingest(maker, broker, [upsert(f"p{n}", f"Post {n}", author=f"a{n}", n=n) for n in range(200)])
    finally:
        sa_event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert len(statements) <= 15, statements
    assert len(await stored(maker)) == 201
