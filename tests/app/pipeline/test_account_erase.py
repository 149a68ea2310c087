"""An account deleted or taken down on Bluesky takes its posts off the event, out of the live log and exports."""

from __future__ import annotations

import json
from typing import Any

import anyio.from_thread
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.pipeline.ingest import StorePostSink
from app.services import privacy
from app.services.unit_of_work import UnitOfWork
from app.store.tables import AuditEntry, Event, LiveEvent, Post
from ingest.items import ItemAction, SourceItem, erase_author_item
from ingest.source import AcceptResult
from tests.app.pipeline.test_ingest_batches import RecordingBroker, upsert
from tests.app.pipeline.test_ingest_pipeline import add_source, live_client, portal, texts, wait_for
from tests.conftest import create_event
from tests.ingest.test_jetstream_accounts import account_frame
from tests.live import Follower
from tests.servers.jetstream import JetstreamServer

__all__ = ["live_client", "portal"]  # fixtures, used by name

ALICE, BOB = "did:plc:alice0000000000000000000", "did:plc:bob000000000000000000000"


def publish_account(jetstream: JetstreamServer, status: str, did: str) -> None:
    """The recorded account event's shape, inactive with ``status``, published live (a fresh ``time_us``)."""
    event = json.loads(account_frame(status, did=did))
    del event["time_us"]
    jetstream.publish_event(event)


def live_log(client: TestClient) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            rows = (await session.exec(select(LiveEvent).order_by(col(LiveEvent.seq)))).all()
            return [{"type": row.type, "data": row.data} for row in rows]

    return client.portal.call(read)  # type: ignore[union-attr,no-any-return]


def test_an_account_deleted_on_bluesky_takes_its_posts_off_the_event_page_and_out_of_the_live_log(
    live_client: TestClient, portal: anyio.from_thread.BlockingPortal
) -> None:
    token = create_event(live_client, hashtags=["pycon"])["organizer_token"]
    with portal.wrap_async_context_manager(JetstreamServer()) as jetstream:
        add_source(live_client, "testcon", "bluesky", {"jetstream_url": jetstream.url, "hashtags": ["pycon"]})
        portal.call(jetstream.wait_for_connections)
        portal.call(lambda: jetstream.publish_post("Slides are on the wiki #pycon", did=ALICE))
        portal.call(lambda: jetstream.publish_post("Indexes need CONCURRENTLY #pycon", did=ALICE))
        portal.call(lambda: jetstream.publish_post("Great keynote #pycon", did=BOB))
        wait_for(lambda: len(texts(live_client)) == 3)
        with live_client.websocket_connect("/ws/events/testcon") as ws:
            portal.call(lambda: publish_account(jetstream, "deleted", ALICE))
            wait_for(lambda: texts(live_client) == ["Great keynote #pycon"])
            deleted = Follower(ws).frames_until(lambda f: f["type"] == "post.redacted")
            assert sum(f["type"] == "post.deleted" for f in deleted) == 2
        log = live_log(live_client)
        assert "wiki" not in json.dumps(log) and "CONCURRENTLY" not in json.dumps(log), "a resume must not replay it"
        assert "Great keynote #pycon" in json.dumps(log)
        export = live_client.get(
            "/api/events/testcon/export", params={"format": "json"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert export.status_code == 200, export.text
        assert "Great keynote" in export.text and "wiki" not in export.text and "CONCURRENTLY" not in export.text


def test_a_deactivated_account_keeps_its_posts(
    live_client: TestClient, portal: anyio.from_thread.BlockingPortal
) -> None:
    create_event(live_client, hashtags=["pycon"])
    with portal.wrap_async_context_manager(JetstreamServer()) as jetstream:
        add_source(live_client, "testcon", "bluesky", {"jetstream_url": jetstream.url, "hashtags": ["pycon"]})
        portal.call(jetstream.wait_for_connections)
        portal.call(lambda: jetstream.publish_post("Taking a break soon #pycon", did=ALICE))
        wait_for(lambda: len(texts(live_client)) == 1)
        for status in ("deactivated", "suspended"):
            portal.call(lambda s=status: publish_account(jetstream, s, ALICE))
        # A later post shows every frame before it has been through the sink.
        portal.call(lambda: jetstream.publish_post("Back for the closing talk #pycon", did=BOB))
        wait_for(lambda: len(texts(live_client)) == 2)
        assert texts(live_client) == ["Back for the closing talk #pycon", "Taking a break soon #pycon"]


async def event_id(maker: async_sessionmaker[AsyncSession]) -> int:
    async with maker() as session:
        found = (await session.exec(select(Event).where(Event.slug == "testcon"))).one()
        assert found.id is not None
        return found.id


@pytest.mark.anyio
async def test_the_erase_applies_in_batch_order_and_a_replay_changes_nothing(
    store: tuple[AsyncEngine, async_sessionmaker[AsyncSession]],
) -> None:
    _, maker = store
    sink = StorePostSink(maker, RecordingBroker(), await event_id(maker))  # type: ignore[arg-type]
    a1, a2, b1 = f"at://{ALICE}/app.bsky.feed.post/1", f"at://{ALICE}/app.bsky.feed.post/2", f"at://{BOB}/x/1"
    erase = erase_author_item("bluesky", f"at://{ALICE}/", ALICE)
    result = await sink.accept(
        [
            upsert(a1, "Stored in an earlier batch", author=ALICE, n=0),
        ]
    )
    assert result.created == 1
    result = await sink.accept(
        [
            upsert(a2, "Stored just before the erase, same batch", author=ALICE, n=1),
            upsert(b1, "Bob stays", author=BOB, n=2),
            erase,
            upsert(a1, "A re-delivery after the erase does not bring it back", author=ALICE, n=0),
        ]
    )
    assert result == AcceptResult(created=2, updated=0, deleted=1, ignored=1)
    async with maker() as session:
        posts = {p.native_id: p for p in (await session.exec(select(Post))).all()}
        frames_before = len((await session.exec(select(LiveEvent))).all())
        audits = [a.action for a in (await session.exec(select(AuditEntry))).all()]
    assert {k: (p.status, p.text) for k, p in posts.items()} == {
        a1: ("deleted", ""),
        a2: ("deleted", ""),
        b1: ("visible", "Bob stays"),
    }
    assert audits.count("privacy.account_erased") == 1 and ALICE not in json.dumps(audits)

    assert await sink.accept([erase]) == AcceptResult(ignored=1)  # the replayed account event
    unknown = erase_author_item("bluesky", "at://did:plc:neverposted/", "did:plc:neverposted")
    assert await sink.accept([unknown, SourceItem(ItemAction.DELETE, "bluesky", a1)]) == AcceptResult(ignored=2)
    async with maker() as session:
        assert len((await session.exec(select(LiveEvent))).all()) == frames_before
        assert [a.action for a in (await session.exec(select(AuditEntry))).all()].count("privacy.account_erased") == 1
        assert (await session.get(Post, posts[b1].id)).status == "visible"  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_an_author_renamed_by_a_privacy_erase_elsewhere_is_still_found_by_the_account_event(
    client: TestClient, store: tuple[AsyncEngine, async_sessionmaker[AsyncSession]]
) -> None:
    _, maker = store
    create_event(client, slug="othercon")
    async with maker() as session:
        other = (await session.exec(select(Event).where(Event.slug == "othercon"))).one()
    here = StorePostSink(maker, RecordingBroker(), await event_id(maker))  # type: ignore[arg-type]
    there = StorePostSink(maker, RecordingBroker(), other.id)  # type: ignore[arg-type]
    mine, theirs = f"at://{ALICE}/app.bsky.feed.post/here", f"at://{ALICE}/app.bsky.feed.post/there"
    await here.accept([upsert(mine, "Posted at testcon", author=ALICE)])
    await there.accept([upsert(theirs, "Posted at othercon", author=ALICE)])
    async with maker() as session:  # othercon's organizer erases Alice there: her author row is renamed
        uow = UnitOfWork(session, RecordingBroker())  # type: ignore[arg-type]
        assert await privacy.erase_author(uow, other, "bluesky", ALICE) == 1
        await uow.commit()
    assert await here.accept([erase_author_item("bluesky", f"at://{ALICE}/", ALICE)]) == AcceptResult(deleted=1)
    async with maker() as session:
        post = (await session.exec(select(Post).where(Post.native_id == mine))).one()
        assert (post.status, post.text) == ("deleted", "")
