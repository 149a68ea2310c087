"""Posts published on Mastodon instances and Bluesky reach the store and the followers once each."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import anyio.from_thread
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.main import create_app
from app.settings import Settings
from app.store.events import get_by_slug
from app.store.tables import Source
from tests.conftest import create_event
from tests.live import Follower
from tests.servers.jetstream import JetstreamServer
from tests.servers.mastodon import MastodonServer


@pytest.fixture
def portal() -> Iterator[anyio.from_thread.BlockingPortal]:
    with anyio.from_thread.start_blocking_portal() as blocking_portal:
        yield blocking_portal


@pytest.fixture
def live_client(settings: Settings) -> Iterator[TestClient]:
    running = settings.model_copy(update={"pipeline_in_process": True, "ingest_reconcile_seconds": 0.1})
    with TestClient(create_app(running)) as client:
        yield client


def add_source(client: TestClient, event_slug: str, kind: str, config: dict[str, Any]) -> None:
    async def insert() -> None:
        async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            event = await get_by_slug(session, event_slug)
            assert event is not None and event.id is not None
            session.add(Source(event_id=event.id, kind=kind, config=config))
            await session.commit()

    client.portal.call(insert)  # type: ignore[union-attr]


def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def texts(client: TestClient) -> list[str]:
    return sorted(p["text"] for p in client.get("/api/events/testcon/posts", params={"limit": 200}).json()["items"])


def test_statuses_from_two_instances_are_stored_once_and_follow_edits_and_deletes(
    live_client: TestClient, portal: anyio.from_thread.BlockingPortal
) -> None:
    create_event(live_client, hashtags=["pycon"])
    with (
        portal.wrap_async_context_manager(MastodonServer(hashtag="pycon")) as home,
        portal.wrap_async_context_manager(MastodonServer(hashtag="pycon")) as remote,
    ):
        portal.call(home.federate_to, remote)
        for server in (home, remote):
            add_source(live_client, "testcon", "mastodon", {"instance_url": server.url, "hashtag": "pycon"})
        with live_client.websocket_connect("/ws/events/testcon") as ws:
            first = portal.call(lambda: home.publish("Indexes must be built concurrently #pycon"))
            second = portal.call(lambda: home.publish("Lock timeouts save the day #pycon"))
            wait_for(lambda: len(texts(live_client)) == 2)
            created = Follower(ws).frames_until(lambda f: f["type"] == "post.created" and "Lock" in f["data"]["text"])
            assert sum(f["type"] == "post.created" for f in created) == 2
        portal.call(lambda: home.edit(first, "Indexes must be built CONCURRENTLY #pycon"))
        portal.call(lambda: home.delete(second))
        wait_for(lambda: texts(live_client) == ["Indexes must be built CONCURRENTLY #pycon"])


def test_bluesky_posts_under_the_hashtag_arrive_and_others_do_not(
    live_client: TestClient, portal: anyio.from_thread.BlockingPortal
) -> None:
    create_event(live_client, hashtags=["pycon"])
    with portal.wrap_async_context_manager(JetstreamServer()) as jetstream:
        add_source(live_client, "testcon", "bluesky", {"jetstream_url": jetstream.url, "hashtags": ["pycon"]})
        portal.call(lambda: jetstream.publish_post("Great keynote #pycon"))
        portal.call(lambda: jetstream.publish_post("Unrelated lunch photo #food"))
        wait_for(lambda: texts(live_client) == ["Great keynote #pycon"])


def test_a_running_source_reports_its_status_on_its_row_for_every_replica(
    live_client: TestClient, portal: anyio.from_thread.BlockingPortal
) -> None:
    create_event(live_client, hashtags=["pycon"])
    with portal.wrap_async_context_manager(JetstreamServer()) as jetstream:
        add_source(live_client, "testcon", "bluesky", {"jetstream_url": jetstream.url, "hashtags": ["pycon"]})
        portal.call(lambda: jetstream.publish_post("Status check #pycon"))

        async def row() -> Source | None:
            async with live_client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
                return (await session.exec(select(Source))).first()

        def reported() -> bool:
            source = live_client.portal.call(row)  # type: ignore[union-attr]
            return source is not None and source.state == "connected" and source.accepted >= 1

        wait_for(reported)
