"""A status published on a (local) Mastodon instance shows up on the event page in a real browser."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio.from_thread
import pytest
import uvicorn

from app.main import create_app
from app.settings import Settings
from tests.servers.mastodon import MastodonServer
from tests.web.conftest import LiveServer, _free_port

pytestmark = pytest.mark.browser


@pytest.fixture
def ingesting_server(database_url: str, broker_url: str) -> Iterator[LiveServer]:
    """The real app with its ingest and clustering workers running in process (SQLite, or PostgreSQL and Redis)."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        broker_url=broker_url,
        pipeline_in_process=True,
        ingest_reconcile_seconds=0.2,
    )
    port = _free_port()
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the test server did not start"
        time.sleep(0.05)
    live = LiveServer(url=f"http://127.0.0.1:{port}", settings=settings, app=app, loop=loop, slug="fedicon")
    live.token = live.call("POST", "/api/events", {"slug": "fedicon", "name": "FediCon", "hashtags": ["fedicon"]})[
        "organizer_token"
    ]
    try:
        yield live
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        loop.close()


def test_a_mastodon_status_under_the_hashtag_appears_on_the_open_page(ingesting_server: LiveServer, page: Any) -> None:
    live = ingesting_server
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(MastodonServer(hashtag="fedicon")) as mastodon,
    ):
        live.call(
            "POST",
            "/api/events/fedicon/sources",
            {"kind": "mastodon", "config": {"instance_url": mastodon.url, "hashtag": "fedicon"}},
            {"Authorization": f"Bearer {live.token}"},
        )
        page.goto(f"{live.url}/e/fedicon")
        page.wait_for_selector("#conn.live", timeout=10_000)
        portal.call(lambda: mastodon.publish("Seen in the browser: the federated timeline works #fedicon"))
        page.wait_for_selector("text=Seen in the browser: the federated timeline works", timeout=20_000)
        assert page.locator("text=Seen in the browser: the federated timeline works").count() >= 1
