"""In-process broker for the embedded mode: a bounded history per channel and asyncio wake-ups."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from app.broadcast.broker import ResumeGap


@dataclass
class _Channel:
    history: deque[tuple[int, str]]
    next_id: int = 1
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)


class InMemoryBroker:
    def __init__(self, *, history: int = 10_000) -> None:
        self.history = history
        self._channels: dict[str, _Channel] = {}
        self._closed = False

    async def connect(self) -> None:
        self._closed = False

    async def close(self) -> None:
        self._closed = True
        for channel in self._channels.values():
            async with channel.changed:
                channel.changed.notify_all()

    async def ping(self) -> bool:
        return not self._closed

    def _channel(self, name: str) -> _Channel:
        channel = self._channels.get(name)
        if channel is None:
            channel = self._channels[name] = _Channel(history=deque(maxlen=self.history))
        return channel

    async def publish_many(self, channel: str, messages: Sequence[str]) -> list[str]:
        """Every message appended, then the channel's followers woken once, not a lock and a wake-up per message
        (~1.3 µs each, an ingest batch publishes hundreds): they read the same messages under the same ids."""
        if not messages:
            return []
        ch = self._channel(channel)
        first = ch.next_id
        ch.history.extend(enumerate(messages, start=first))
        ch.next_id = first + len(messages)
        async with ch.changed:
            ch.changed.notify_all()
        return [str(message_id) for message_id in range(first, ch.next_id)]

    async def publish(self, channel: str, message: str) -> str:
        ch = self._channel(channel)
        message_id = ch.next_id
        ch.next_id += 1
        ch.history.append((message_id, message))
        async with ch.changed:
            ch.changed.notify_all()
        return str(message_id)

    async def subscribe(self, channel: str, after: str | None = None) -> AsyncIterator[tuple[str, str]]:
        ch = self._channel(channel)
        if after is None:
            position = ch.next_id - 1
        else:
            try:
                position = int(after)
            except ValueError as exc:
                raise ResumeGap(f"unknown position {after!r}") from exc
            oldest = ch.history[0][0] if ch.history else ch.next_id
            if position < oldest - 1 or position >= ch.next_id:
                raise ResumeGap(f"history after {after} is not retained")
        while not self._closed:
            oldest = ch.history[0][0] if ch.history else ch.next_id
            if position < oldest - 1:
                raise ResumeGap("subscriber fell behind the retained history")
            start = position - oldest + 1
            pending = [ch.history[i] for i in range(max(start, 0), len(ch.history))]
            for message_id, message in pending:
                position = message_id
                yield str(message_id), message
            if not pending:
                async with ch.changed:
                    if position == ch.next_id - 1 and not self._closed:
                        await ch.changed.wait()
