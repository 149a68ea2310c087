"""The Jetstream connection: a silent relay is noticed without a timer per frame; a slow consumer is not silence."""

from __future__ import annotations

import time
from contextlib import aclosing
from datetime import UTC, datetime

import anyio
import pytest

from ingest.errors import SourceUnavailable
from ingest.items import SourceItem
from ingest.sources.bluesky import JetstreamSource
from tests.ingest.runs import DEADLINE
from tests.servers.jetstream import JetstreamServer

pytestmark = pytest.mark.anyio


async def test_a_relay_that_sends_nothing_is_unavailable_after_the_receive_timeout() -> None:
    async with JetstreamServer() as server:
        source = JetstreamSource(server.url, ["pycon"], recv_timeout=0.4)
        started = time.monotonic()
        with anyio.fail_after(DEADLINE), pytest.raises(SourceUnavailable, match="silent for 0.4s"):
            async with aclosing(source.items(None)) as stream:  # type: ignore[type-var]
                await anext(stream)
        assert 0.4 <= time.monotonic() - started
        assert not source.connected


async def test_time_spent_by_the_consumer_between_frames_is_not_silence() -> None:
    async with JetstreamServer() as server:
        server.publish_post("first #pycon")
        since = datetime(2020, 1, 1, tzinfo=UTC)
        source = JetstreamSource(server.url, ["pycon"], recv_timeout=0.4, backfill_from=since)
        received: list[SourceItem] = []

        async def publish_later() -> None:
            await anyio.sleep(0.2)  # the receive waits, but less than the timeout
            server.publish_post("third #pycon", rkey="third")

        with anyio.fail_after(DEADLINE):
            async with aclosing(source.items(None)) as stream, anyio.create_task_group() as tg:  # type: ignore[type-var]
                received.append(await anext(stream))
                server.publish_post("second #pycon")
                await anyio.sleep(1.0)  # the consumer is busy (backpressure), longer than the timeout
                received.append(await anext(stream))
                tg.start_soon(publish_later)
                received.append(await anext(stream))
        assert [item.post.text for item in received if item.post] == ["first #pycon", "second #pycon", "third #pycon"]
        assert source.progress is not None and source.progress.isdigit()
