"""The Broker seam: publish messages to a channel, subscribe from a position, chosen by URL scheme."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from app.settings import Settings


class ResumeGap(Exception):
    """The history after the requested position was trimmed: reload a snapshot instead."""


class BrokerUnavailable(ConnectionError):
    """The broker cannot be reached right now; the database still has everything."""


class Broker(Protocol):
    """Carries messages that can be rebuilt from the database; publishes happen after commit.

    Message ids are opaque strings that increase per channel. ``subscribe(after=None)`` follows
    only new messages; ``subscribe(after=id)`` first replays everything after ``id`` (or raises
    ``ResumeGap`` when that history is gone), then follows live.
    """

    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, channel: str, message: str) -> str: ...

    async def publish_many(self, channel: str, messages: Sequence[str]) -> list[str]:
        """Publish ``messages`` in order (one round trip where the broker allows); their ids."""
        ...

    def subscribe(self, channel: str, after: str | None = None) -> AsyncIterator[tuple[str, str]]: ...

    async def ping(self) -> bool: ...


def create_broker(url: str, *, history: int = 10_000, max_age: float | None = None) -> Broker:
    """Pick the implementation from the URL scheme; imports are lazy so Redis stays optional."""
    scheme = url.split("://", 1)[0].lower()
    if scheme == "memory":
        from app.broadcast.memory import InMemoryBroker

        return InMemoryBroker(history=history)
    if scheme in {"redis", "rediss"}:
        from app.broadcast.redis import RedisStreamsBroker

        return RedisStreamsBroker(url, history=history, max_age=max_age)
    raise ValueError(f"unknown broker URL scheme {scheme!r}; expected memory:// or redis://")


def broker_for(settings: Settings) -> Broker:
    """The broker ``settings`` configure, retaining what they say: every process must trim a Redis stream alike."""
    return create_broker(settings.broker_url, history=settings.broker_history, max_age=settings.broker_max_age_seconds)
