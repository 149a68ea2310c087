"""Per-process fan-out: one feed per event channel, one bounded queue per WebSocket.

Frames carry the event's live-event id (the database sequence), so the same id means the same
frame on every replica. A feed delivers frames strictly in id order: an out-of-order or missing
id is filled from the database, a repeated id is dropped. Followers resume from a ring of recent
frames in memory (no database query per client) and fall back to the database log, and get a
``resync`` frame only when neither holds the gap any more.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from app.broadcast.broker import Broker, BrokerUnavailable, ResumeGap

logger = logging.getLogger(__name__)

RESYNC = json.dumps({"id": None, "type": "resync", "data": {"reason": "gap"}}, separators=(",", ":"))
_CLOSE: None = None


HALLWAY = 0  # the scope of a post tied to no talk


def frame_scope(type_: str, data: dict[str, object]) -> int | None:
    """Which talk a frame concerns: a talk id, HALLWAY, or None for event-wide frames."""
    if "talk_id" not in data:
        return None
    talk_id = data["talk_id"]
    if talk_id is None:
        return HALLWAY if type_.startswith("post.") else None
    return int(talk_id)  # type: ignore[call-overload]


@dataclass(frozen=True, slots=True)
class Frame:
    seq: int
    talk_id: int | None  # the frame's scope, see frame_scope
    text: str  # encoded once, sent to every follower as is

    @classmethod
    def decode(cls, text: str) -> Frame:
        payload = json.loads(text)
        data = payload.get("data") or {}
        return cls(seq=int(payload["id"]), talk_id=frame_scope(str(payload.get("type", "")), data), text=text)


class LiveLog(Protocol):
    """What the hub needs from the store: the durable frame log of an event."""

    async def frames_after(self, event_id: int, after: int, limit: int) -> Sequence[Frame]: ...

    async def last_seq(self, event_id: int) -> int: ...


def channel_name(slug: str) -> str:
    return f"event:{slug}"


@dataclass(eq=False)
class Subscriber:
    """One follower's socket: a bounded queue the writer drains; fan-out never awaits it."""

    queue_size: int
    talk_id: int | None = None
    last: int = 0
    queue: asyncio.Queue[str | None] = field(init=False)
    overflowed: bool = False
    _buffer: list[Frame] | None = None

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(maxsize=self.queue_size)

    def offer(self, frame: Frame) -> None:
        if self.overflowed or frame.seq <= self.last:
            return
        if self._buffer is not None:
            self._buffer.append(frame)
            return
        self.last = frame.seq
        if self.talk_id is not None and frame.talk_id is not None and frame.talk_id != self.talk_id:
            return
        try:
            self.queue.put_nowait(frame.text)
        except asyncio.QueueFull:
            self.cut_off()

    def cut_off(self) -> None:
        """Drop what is queued and tell the client to reload: it fell too far behind."""
        self.overflowed = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(RESYNC)
        self.queue.put_nowait(_CLOSE)


class ChannelFeed:
    def __init__(self, hub: Hub, event_id: int, slug: str) -> None:
        self.hub = hub
        self.event_id = event_id
        self.channel = channel_name(slug)
        self.ring: deque[Frame] = deque(maxlen=hub.ring_size)
        self.last_seq = 0
        self.subscribers: set[Subscriber] = set()
        self.ready = asyncio.Event()
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.last_seq = await self.hub.log.last_seq(self.event_id)
        self._tasks = [
            asyncio.create_task(self._follow_broker(), name=f"feed:{self.channel}"),
            asyncio.create_task(self._poll_store(), name=f"feed-poll:{self.channel}"),
        ]
        self.ready.set()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for sub in list(self.subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                sub.queue.put_nowait(_CLOSE)

    def _deliver(self, frame: Frame) -> None:
        self.ring.append(frame)
        self.last_seq = frame.seq
        for sub in tuple(self.subscribers):
            sub.offer(frame)
            if sub.overflowed:
                self.subscribers.discard(sub)
                self.hub.frames_dropped += 1
        self.hub.frames_fanned_out += 1

    async def _fill_from_store(self) -> None:
        async with self._lock:
            while True:
                frames = await self.hub.log.frames_after(self.event_id, self.last_seq, 1000)
                for frame in frames:
                    if frame.seq > self.last_seq:
                        self._deliver(frame)
                if len(frames) < 1000:
                    return

    async def _accept(self, frame: Frame) -> None:
        if frame.seq <= self.last_seq:
            return
        if frame.seq == self.last_seq + 1 and not self._lock.locked():
            self._deliver(frame)
            return
        # A gap: another writer committed an earlier id that has not reached us yet. The
        # database has it (ids are allocated under the event row's lock, so a visible id
        # means every smaller id is committed too).
        await self._fill_from_store()
        if frame.seq > self.last_seq:
            self._deliver(frame)

    async def _follow_broker(self) -> None:
        position: str | None = None
        delay = 0.5
        while True:
            try:
                async for message_id, message in self.hub.broker.subscribe(self.channel, after=position):
                    position = message_id
                    delay = 0.5
                    try:
                        frame = Frame.decode(message)
                    except (ValueError, KeyError, TypeError):
                        logger.warning("hub.bad_frame", extra={"channel": self.channel})
                        continue
                    await self._accept(frame)
            except ResumeGap:
                position = None
                await self._fill_from_store()
            except asyncio.CancelledError:
                raise
            except (BrokerUnavailable, ConnectionError, OSError) as exc:
                logger.warning("hub.broker_unavailable", extra={"channel": self.channel, "error": str(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                with contextlib.suppress(Exception):
                    await self._fill_from_store()
            else:
                await asyncio.sleep(delay)

    async def _poll_store(self) -> None:
        # A frame whose publish was lost (crash after commit, broker down) still reaches
        # followers: the database is the truth and is checked every few seconds.
        while True:
            await asyncio.sleep(self.hub.poll_interval)
            try:
                if await self.hub.log.last_seq(self.event_id) > self.last_seq:
                    await self._fill_from_store()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("hub.poll_failed", extra={"channel": self.channel})

    async def attach(self, sub: Subscriber, after: int | None) -> bool:
        """Register a follower; replay what it missed first. False means: send resync."""
        if after is None or after >= self.last_seq:
            if after is not None and after > self.last_seq and after > await self.hub.log.last_seq(self.event_id):
                return False  # an id this event never issued: the client's state is from elsewhere
            sub.last = self.last_seq if after is None else after
            self.subscribers.add(sub)
            return True
        if self.ring and self.ring[0].seq <= after + 1:
            sub.last = after
            for frame in self.ring:
                sub.offer(frame)
            if sub.overflowed:
                return True
            self.subscribers.add(sub)
            return True
        # Older than the ring: buffer live frames while the log is read, then merge by id.
        sub.last = after
        sub._buffer = []
        self.subscribers.add(sub)
        try:
            frames = await self.hub.log.frames_after(self.event_id, after, sub.queue_size)
        except BaseException:
            self.subscribers.discard(sub)
            raise
        buffered, sub._buffer = sub._buffer, None
        if (
            not frames
            or frames[0].seq != after + 1
            or (len(frames) == sub.queue_size and frames[-1].seq < self.last_seq)
        ):
            self.subscribers.discard(sub)
            return False
        for frame in (*frames, *buffered):
            sub.offer(frame)
        return True


class Hub:
    def __init__(
        self,
        broker: Broker,
        log: LiveLog,
        *,
        ring_size: int = 5000,
        queue_size: int = 512,
        poll_interval: float = 3.0,
    ) -> None:
        self.broker = broker
        self.log = log
        self.ring_size = ring_size
        self.queue_size = queue_size
        self.poll_interval = poll_interval
        self._feeds: dict[int, ChannelFeed] = {}
        self._starting: dict[int, asyncio.Task[ChannelFeed]] = {}
        self.frames_fanned_out = 0
        self.frames_dropped = 0

    @property
    def connections(self) -> int:
        return sum(len(f.subscribers) for f in self._feeds.values())

    async def feed(self, event_id: int, slug: str) -> ChannelFeed:
        feed = self._feeds.get(event_id)
        if feed is not None:
            return feed
        task = self._starting.get(event_id)
        if task is None:
            task = self._starting[event_id] = asyncio.create_task(self._start_feed(event_id, slug))
        return await asyncio.shield(task)

    async def _start_feed(self, event_id: int, slug: str) -> ChannelFeed:
        feed = ChannelFeed(self, event_id, slug)
        try:
            await feed.start()
        finally:
            self._starting.pop(event_id, None)
        self._feeds[event_id] = feed
        return feed

    async def attach(self, event_id: int, slug: str, *, after: int | None, talk_id: int | None) -> Subscriber | None:
        feed = await self.feed(event_id, slug)
        sub = Subscriber(queue_size=self.queue_size, talk_id=talk_id)
        return sub if await feed.attach(sub, after) else None

    def detach(self, event_id: int, sub: Subscriber) -> None:
        feed = self._feeds.get(event_id)
        if feed is not None:
            feed.subscribers.discard(sub)

    async def close(self) -> None:
        for feed in list(self._feeds.values()):
            await feed.stop()
        self._feeds.clear()
