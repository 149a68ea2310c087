"""Redis-specific promises: an unreachable Redis is BrokerUnavailable, an injected client is used as is."""

from __future__ import annotations

import uuid

import anyio
import pytest
from redis.asyncio import Redis

from app.broadcast.broker import BrokerUnavailable, ResumeGap, create_broker
from app.broadcast.redis import RedisStreamsBroker, parse_stream_id, split_prefix
from tests.app.broadcast.conftest import NO_REDIS, REDIS_URL
from tests.ports import closed_port

pytestmark = pytest.mark.anyio


async def test_a_redis_that_is_down_makes_publish_and_subscribe_raise_broker_unavailable() -> None:
    broker = RedisStreamsBroker(f"redis://127.0.0.1:{closed_port()}/0")
    await broker.connect()  # does not raise: the API starts and keeps accepting posts
    assert not await broker.ping()
    with pytest.raises(BrokerUnavailable):
        await broker.publish("event:a", "m")
    with pytest.raises(BrokerUnavailable), anyio.fail_after(5):
        async for _ in broker.subscribe("event:a", after="1-0"):
            pass
    await broker.close()


def test_the_url_scheme_picks_redis_and_the_prefix_option_is_ours() -> None:
    broker = create_broker("redis://127.0.0.1:6379/2?prefix=conf1:", history=50)
    assert isinstance(broker, RedisStreamsBroker)
    assert broker.key("event:x") == "conf1:event:x"
    assert broker.history == 50
    assert split_prefix("redis://h:1/0?prefix=p:&ssl_cert_reqs=none") == ("redis://h:1/0?ssl_cert_reqs=none", "p:")


def test_stream_ids_compare_as_numbers() -> None:
    assert parse_stream_id("10-2") > parse_stream_id("9-30")
    assert parse_stream_id("5") == (5, 0)
    with pytest.raises(ValueError, match="x"):
        parse_stream_id("x-1")


@pytest.mark.skipif(not REDIS_URL, reason=NO_REDIS)
async def test_an_injected_client_is_used_and_left_open() -> None:
    client = Redis.from_url(REDIS_URL or "", decode_responses=True)
    prefix = f"bc-test-{uuid.uuid4().hex[:12]}:"
    broker = RedisStreamsBroker(client=client, key_prefix=prefix)
    message_id = await broker.publish("event:a", "hello")
    assert await client.xrange(f"{prefix}event:a") == [(message_id, {"m": "hello"})]
    await broker.close()
    assert await client.delete(f"{prefix}event:a") == 1  # still usable: the broker did not close it
    await client.aclose()


@pytest.mark.skipif(not REDIS_URL, reason=NO_REDIS)
async def test_a_stream_lost_with_a_redis_restart_is_a_resume_gap() -> None:
    broker = RedisStreamsBroker(REDIS_URL or "", key_prefix=f"bc-test-{uuid.uuid4().hex[:12]}:")
    message_id = await broker.publish("event:a", "m")
    await broker.client.delete(broker.key("event:a"))  # what a restart without persistence leaves
    with pytest.raises(ResumeGap), anyio.fail_after(5):
        async for _ in broker.subscribe("event:a", after=message_id):
            pass
    await broker.close()


@pytest.mark.skipif(not REDIS_URL, reason=NO_REDIS)
async def test_age_trimming_drops_old_entries() -> None:
    broker = RedisStreamsBroker(REDIS_URL or "", key_prefix=f"bc-test-{uuid.uuid4().hex[:12]}:", max_age=0.0)
    key = broker.key("event:a")
    await broker.client.xadd(key, {"m": "ancient"}, id="1-1")
    await broker.publish("event:a", "now")
    assert [m["m"] for _, m in await broker.client.xrange(key)] == ["now"]
    await broker.client.delete(key)
    await broker.close()
