"""Brokers under test: the in-memory one always, Redis Streams when BACKCHANNEL_TEST_REDIS_URL is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest

from app.broadcast.broker import Broker
from app.broadcast.memory import InMemoryBroker
from app.broadcast.redis import RedisStreamsBroker

REDIS_URL = os.environ.get("BACKCHANNEL_TEST_REDIS_URL")
NO_REDIS = "Redis broker tests need BACKCHANNEL_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0)"


def make_broker(kind: str, history: int) -> Broker:
    if kind == "memory":
        return InMemoryBroker(history=history)
    if not REDIS_URL:
        pytest.skip(NO_REDIS)
    return RedisStreamsBroker(REDIS_URL, history=history, key_prefix=f"bc-test-{uuid.uuid4().hex[:12]}:", block_ms=500)


async def drop_keys(broker: Broker) -> None:
    if isinstance(broker, RedisStreamsBroker):
        async for key in broker.client.scan_iter(match=f"{broker.key_prefix}*"):
            await broker.client.delete(key)


@pytest.fixture(params=["memory", "redis"])
def broker_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def broker(broker_kind: str) -> AsyncIterator[Broker]:
    instance = make_broker(broker_kind, history=10_000)
    await instance.connect()
    try:
        yield instance
    finally:
        await drop_keys(instance)
        await instance.close()


@pytest.fixture
async def small_broker(broker_kind: str) -> AsyncIterator[Broker]:
    """A broker that keeps only ten messages per channel (Redis: about ten, it trims by whole nodes)."""
    instance = make_broker(broker_kind, history=10)
    await instance.connect()
    try:
        yield instance
    finally:
        await drop_keys(instance)
        await instance.close()
