"""A post changed by someone else while the clustering stage attributes it: followers end with it as stored.

The stage reads a batch, clusters it, then writes; an organizer who hides or pins one of its posts in
between, or an attendee's upvotes, must not be undone on followers' screens by the stage's frame.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import col, select

from app.pipeline.cluster import ClusterPipeline
from app.services import moderation as moderation_service
from app.services import posts as post_service
from app.services.unit_of_work import UnitOfWork
from app.store import clustering as cluster_store
from app.store.tables import Event, LiveEvent, Post
from ingest.items import IncomingPost, ItemAction, SourceItem
from tests.app.pipeline.test_ingest_batches import RecordingBroker, ingest


def _items(*texts: str) -> list[SourceItem]:
    now = datetime.now(UTC)
    posts = [IncomingPost(source="bluesky", native_id=f"p{i}", text=t, created_at=now) for i, t in enumerate(texts)]
    return [SourceItem(ItemAction.UPSERT, "bluesky", p.native_id, post=p) for p in posts]


async def _step_with(maker: Any, meanwhile: Any) -> None:
    """One clustering step, with ``meanwhile`` run (and committed) right after the step read its posts."""
    broker = RecordingBroker()
    async with maker() as session:
        event_id = (await cluster_store.event_ids(session))[0]
    pipeline = ClusterPipeline(maker, broker)  # type: ignore[arg-type]
    async with maker() as session:
        cursor = await pipeline._open(session, event_id)
    read = cluster_store.cluster_posts
    done = []

    async def read_then_change(*args: Any, **kwargs: Any) -> Any:
        posts = await read(*args, **kwargs)
        if not done:
            done.append(True)
            async with maker() as other:
                event = (await other.exec(select(Event).where(Event.id == event_id))).one()
                uow = UnitOfWork(other, broker)  # type: ignore[arg-type]
                await meanwhile(uow, event)
                await uow.commit()
        return posts

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cluster_store, "cluster_posts", read_then_change)
        while await pipeline.step(event_id, cursor):
            pass
    assert done, "the step read its posts"


async def _frames(maker: Any, post_id: int) -> list[tuple[str, dict[str, Any]]]:
    async with maker() as session:
        rows = (await session.exec(select(LiveEvent).order_by(col(LiveEvent.seq)))).all()
    return [(r.type, r.data) for r in rows if (r.data or {}).get("id") == post_id]


async def _post(maker: Any, native_id: str) -> Post:
    async with maker() as session:
        return (await session.exec(select(Post).where(Post.native_id == native_id))).one()


@pytest.mark.anyio
async def test_a_post_hidden_while_the_stage_attributes_it_stays_hidden_for_followers(store: tuple[Any, Any]) -> None:
    _, maker = store
    await ingest(maker, RecordingBroker(), _items("Buy cheap followers now", "Indexes must be built concurrently"))
    spam = await _post(maker, "p0")

    async def hide(uow: UnitOfWork, event: Event) -> None:
        await moderation_service.hide_post(uow, event, spam.id, "spam")  # type: ignore[arg-type]

    await _step_with(maker, hide)
    frames = await _frames(maker, spam.id)  # type: ignore[arg-type]
    kinds = [kind for kind, _ in frames]
    assert "post.hidden" in kinds
    after = kinds[kinds.index("post.hidden") + 1 :]
    assert "post.updated" not in after, f"the stage's frame showed the hidden post again: {kinds}"
    assert (await _post(maker, "p0")).status == "hidden"


@pytest.mark.anyio
async def test_a_post_pinned_while_the_stage_attributes_it_stays_pinned_and_attributed(
    store: tuple[Any, Any],
) -> None:
    _, maker = store
    await ingest(maker, RecordingBroker(), _items("Set a lock timeout on every migration", "Great keynote"))
    post = await _post(maker, "p0")

    async def pin(uow: UnitOfWork, event: Event) -> None:
        await moderation_service.pin_post(uow, event, post.id, True)  # type: ignore[arg-type]

    await _step_with(maker, pin)
    stored = await _post(maker, "p0")
    last_kind, last = (await _frames(maker, post.id))[-1]  # type: ignore[arg-type]
    assert last_kind == "post.updated"
    assert last["pinned"] is True, "the stage's frame took the organizer's pin away"
    assert last["version"] == stored.version == 3  # stored, pinned, attributed: one version each
    assert last["topic_id"] == stored.topic_id is not None
    versions = [data["version"] for _, data in await _frames(maker, post.id)]  # type: ignore[arg-type]
    assert versions == sorted(set(versions)), f"two frames claim one version: {versions}"


@pytest.mark.anyio
async def test_upvotes_while_the_stage_attributes_a_post_all_count(store: tuple[Any, Any]) -> None:
    _, maker = store
    await ingest(maker, RecordingBroker(), _items("Which registry do you use for models?"))
    post = await _post(maker, "p0")

    async def upvote(uow: UnitOfWork, event: Event) -> None:
        fresh = await uow.session.get(Post, post.id)
        await post_service.upvote(uow, event, fresh, "voter-1")  # type: ignore[arg-type]

    await _step_with(maker, upvote)
    stored = await _post(maker, "p0")
    last_kind, last = (await _frames(maker, post.id))[-1]  # type: ignore[arg-type]
    assert stored.upvotes == last["upvotes"] == 1
    assert last["version"] == stored.version == 3
