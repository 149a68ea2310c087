"""Per-client rate limits with the `limits` library: a client key and a category in, allowed or retry-after out.

In-memory counters in embedded mode; Redis when the broker is Redis, so every replica shares counts.
A failing Redis lets requests through (logged) rather than taking posting down with it.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from app.broadcast.redis import split_prefix
from app.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after: int = 0  # seconds until the client may try again


def storage_url(broker_url: str) -> str:
    for scheme in ("redis://", "rediss://"):
        if broker_url.startswith(scheme):
            return "async+" + split_prefix(broker_url)[0]  # redis-py rejects the broker's own ?prefix=
    return "async+memory://"


def storage_key_prefix(broker_url: str) -> str:
    """Rate-limit keys live beside the broker's streams, under the same prefix."""
    return (split_prefix(broker_url)[1] or "backchannel:") + "limits"


class LocalMovingWindow:
    """The `limits` moving window in this process's memory: the same decisions, without its sweeps.

    `limits`' async memory storage starts a sweep of every client's window on each hit, one thread
    round trip per client: once a keynote's audience has posted (a key per phone, kept an hour),
    every note cost thousands of thread hops and the post path several ms of CPU. Here a window
    is trimmed when its client hits again, and windows gone quiet are dropped once a minute.
    """

    SWEEP_SECONDS = 60.0

    def __init__(self) -> None:
        self._events: dict[str, list[float]] = {}  # per key, newest first, at most the limit's amount
        self._expiry: dict[str, int] = {}
        self._swept = time.time()

    def hit(self, item: RateLimitItem, *identifiers: str) -> bool:
        """Take one entry if fewer than ``item.amount`` were taken within the window (as MovingWindowRateLimiter)."""
        if item.amount < 1:
            return False  # as `limits`: nothing is ever allowed under a limit of 0
        key = item.key_for(*identifiers)
        now = time.time()
        self._sweep(now)
        events = self._events.setdefault(key, [])
        self._expiry[key] = item.get_expiry()
        if len(events) >= item.amount and events[item.amount - 1] >= now - item.get_expiry():
            return False
        events.insert(0, now)
        del events[item.amount :]  # older entries can no longer decide anything
        return True

    def reset_time(self, item: RateLimitItem, *identifiers: str) -> float:
        """When the oldest entry in the window leaves it (``get_window_stats(...).reset_time``)."""
        now = time.time()
        within = [t for t in self._events.get(item.key_for(*identifiers), []) if t > now - item.get_expiry()]
        return (within[-1] if within else now) + item.get_expiry()

    def _sweep(self, now: float) -> None:
        if now - self._swept < self.SWEEP_SECONDS:
            return
        self._swept = now
        for key in [k for k, events in self._events.items() if not events or events[0] <= now - self._expiry[k]]:
            del self._events[key]
            del self._expiry[key]


class RateLimiter:
    """Named categories (``posts``, ``votes``, ``exports`` per client; ``posts_per_address``, ``votes_per_address``,
    ``exports_per_address``, ``events_per_address`` per network address), each a list of limits that must all pass."""

    def __init__(self, limits: dict[str, str], url: str = "async+memory://", *, key_prefix: str = "LIMITS") -> None:
        self.limits: dict[str, list[RateLimitItem]] = {name: parse_many(value) for name, value in limits.items()}
        self.local: LocalMovingWindow | None = None
        self.storage: Storage | None = None
        if url.startswith("async+memory://"):
            self.local = LocalMovingWindow()
        else:
            options = {"implementation": "redispy", "key_prefix": key_prefix} if "redis" in url else {}
            self.storage = storage_from_string(url, **options)  # type: ignore[assignment, arg-type]
            self.strategy = MovingWindowRateLimiter(self.storage)

    async def close(self) -> None:
        """Close the Redis connection pool, if the storage has one (memory storage has nothing to close)."""
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        if client is not None:
            await client.aclose()

    async def hit(self, category: str, client: str) -> Decision:
        if self.local is not None:
            for item in self.limits.get(category, []):
                if not self.local.hit(item, category, client):
                    return Decision(
                        False, max(1, math.ceil(self.local.reset_time(item, category, client) - time.time()))
                    )
            return Decision(True)
        try:
            for item in self.limits.get(category, []):
                if not await self.strategy.hit(item, category, client):
                    stats = await self.strategy.get_window_stats(item, category, client)
                    return Decision(False, max(1, math.ceil(stats.reset_time - time.time())))
        except Exception as exc:  # a storage outage must not turn every post into an error
            logger.warning("ratelimit.storage_failed", extra={"category": category, "error": str(exc)})
        return Decision(True)


def create_rate_limiter(settings: Settings) -> RateLimiter:
    return RateLimiter(
        {
            "posts": settings.rate_limit_posts,
            "votes": settings.rate_limit_votes,
            "exports": settings.rate_limit_exports,
            "posts_per_address": settings.rate_limit_posts_per_address,
            "votes_per_address": settings.rate_limit_votes_per_address,
            "exports_per_address": settings.rate_limit_exports_per_address,
            "events_per_address": settings.rate_limit_events_per_address,
        },
        storage_url(settings.broker_url),
        key_prefix=storage_key_prefix(settings.broker_url),
    )
