"""The in-process rate limit decides as the `limits` moving window does, and costs the same for many clients."""

from __future__ import annotations

import asyncio
import math
import random
import time

import pytest
from limits import parse_many
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from app.services.ratelimits import Decision, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.anyio
async def test_the_local_window_allows_and_refuses_exactly_as_the_limits_moving_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    monkeypatch.setattr(time, "time", clock)
    rules = "3/minute;5/hour"
    ours = RateLimiter({"posts": rules})
    reference = MovingWindowRateLimiter(MemoryStorage())
    items = parse_many(rules)

    async def theirs(client: str) -> Decision:
        for item in items:
            if not await reference.hit(item, "posts", client):
                stats = await reference.get_window_stats(item, "posts", client)
                return Decision(False, max(1, math.ceil(stats.reset_time - clock.now)))
        return Decision(True)

    rng = random.Random(8)
    refused = 0
    for _ in range(400):
        clock.now += rng.choice([0.5, 2.0, 7.0, 30.0, 200.0])
        client = rng.choice(["ana", "bo", "cy"])
        mine = await ours.hit("posts", client)
        assert mine == await theirs(client), (clock.now, client)
        refused += not mine.allowed
    assert 20 < refused < 380  # both allowing and refusing were compared


@pytest.mark.anyio
async def test_a_hit_does_not_sweep_every_client_through_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    hops = 0
    to_thread = asyncio.to_thread

    async def counting(*args: object, **kwargs: object) -> object:
        nonlocal hops
        hops += 1
        return await to_thread(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(asyncio, "to_thread", counting)
    limiter = RateLimiter({"posts": "30/minute;600/hour"})
    for n in range(2_000):  # a keynote's audience, one note each
        assert (await limiter.hit("posts", f"phone-{n}")).allowed
    await asyncio.sleep(0)
    assert hops == 0
