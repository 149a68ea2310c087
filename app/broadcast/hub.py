"""Per-process fan-out: one feed per event channel; each message encoded once and written to every socket.

Frames carry the event's live-event id (the database sequence), so the same id means the same
frame on every replica. A feed delivers frames strictly in id order: an out-of-order or missing
id is filled from the database, a repeated id is dropped. Followers resume from a ring of recent
frames in memory (no database query per client) and fall back to the database log, and get a
``resync`` frame only when neither holds the gap any more.

Frames that arrive within a window of the last write go out together as one JSON-array message, so a
burst costs one write per socket; a frame after a quiet spell goes out at once. The window adapts: it
is ``coalesce_seconds`` while fan-out is cheap and widens (up to ``coalesce_max_seconds``) when a round
of writes takes long or starts late (``LOAD_FACTOR``), so under load each follower gets fewer, fuller
messages and the writes stay a bounded share of the loop; when rounds get cheap again, it narrows back.
Fan-out never awaits a socket: a follower with more than ``queue_size`` frames waiting is cut off
with ``resync``. A deleted or erased post's text is also blanked in the ring (``post.deleted``,
``post.redacted``), on every replica, since those frames reach every replica's feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from app.broadcast.broker import Broker, BrokerUnavailable, ResumeGap
from app.broadcast.sinks import Message, Sink
from app.stopping import cancel_and_wait

logger = logging.getLogger(__name__)

RESYNC = json.dumps({"id": None, "type": "resync", "data": {"reason": "gap"}}, separators=(",", ":"))
MAX_BATCH = 64  # frames per message when several go out at once
# The coalescing window is this many times what the last round of writes cost, so fan-out keeps to about
# a third of the loop (the publisher, the rest of the app and, on a shared machine, the followers' own
# reads need the rest): the dearer a round (more followers, a busier loop), the fewer rounds, each
# carrying more frames. A lone frame after a quiet spell still goes out at once.
LOAD_FACTOR = 3.0
# A feed's tasks hold nothing to save: past this, shutdown goes on without one that ignores its cancellation.
STOP_SECONDS = 5.0
MAX_REPLAY_BATCH = 256  # frames per message of a replay (one write for all of them)
REPLAY_CACHE_FRAMES = 1000  # replays up to this long are built once for every follower resuming from the same id
# Frames that take a post's text out of the ring: a delete, or an erase's redaction (``data.ids``).
_REDACTING = re.compile(r'"type":"post\.(?:deleted|redacted)"')
_ANONYMOUS = {"name": None, "handle": None, "url": None}


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


def batch(texts: Sequence[str], size: int = MAX_BATCH) -> Message | None:
    """Frames as JSON-array messages of up to ``size`` frames, bundled into one write when there are several."""
    if len(texts) <= size:
        return Message.of(texts) if texts else None
    return Message.bundle([Message.of(texts[i : i + size]) for i in range(0, len(texts), size)])


def concerns(talk_id: int | None, frame: Frame) -> bool:
    """Whether a follower of ``talk_id`` (None: the whole event) gets ``frame``."""
    return talk_id is None or frame.talk_id is None or frame.talk_id == talk_id


class Subscriber:
    """One follower's socket: the last frame id it was given, its talk filter, where its messages go."""

    __slots__ = ("_buffer", "last", "overflowed", "queue_size", "sent", "sink", "talk_id")

    def __init__(self, sink: Sink, *, queue_size: int, talk_id: int | None = None) -> None:
        self.sink = sink
        self.queue_size = queue_size
        self.talk_id = talk_id
        self.last = 0
        self.overflowed = False
        self.sent = False  # anything sent since the last heartbeat tick
        self._buffer: list[Frame] | None = None

    def wants(self, frame: Frame) -> bool:
        return concerns(self.talk_id, frame)

    def send(self, message: Message) -> None:
        """Fan-out never awaits a follower: a socket with more than ``queue_size`` frames waiting is cut off."""
        self.sent = True
        if self.sink.send(message) > self.queue_size:
            self.cut_off()

    def send_frames(self, frames: Sequence[Frame]) -> None:
        """Frames after ``last`` that this follower wants, in one write."""
        message = batch([f.text for f in frames if f.seq > self.last and self.wants(f)])
        if frames:
            self.last = max(self.last, frames[-1].seq)
        if message is not None:
            self.send(message)

    def cut_off(self) -> None:
        """Drop what waits and tell the client to reload: it fell too far behind."""
        if not self.overflowed:
            self.overflowed = True
            self.sink.cut_off(Message(RESYNC, 0))


class ChannelFeed:
    def __init__(self, hub: Hub, event_id: int, slug: str) -> None:
        self.hub = hub
        self.event_id = event_id
        self.channel = channel_name(slug)
        self.ring: deque[Frame] = deque(maxlen=hub.ring_size)
        self.last_seq = 0
        self.subscribers: set[Subscriber] = set()
        self.ready = asyncio.Event()
        self.heartbeat = hub.heartbeat
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._heartbeats: asyncio.Task[None] | None = None
        self._pending: list[Frame] = []
        self._flush: asyncio.Handle | None = None
        self._flushed_at = 0.0
        self._flush_due = 0.0  # when the pending flush was meant to run
        self.window = hub.coalesce_seconds
        # Followers resuming from the same id (a mass reconnect) share the replay messages.
        self._replays: dict[tuple[int, int | None], tuple[int, Message | None]] = {}

    async def start(self) -> None:
        self.last_seq = await self.hub.log.last_seq(self.event_id)
        self._tasks = [
            asyncio.create_task(self._follow_broker(), name=f"feed:{self.channel}"),
            asyncio.create_task(self._poll_store(), name=f"feed-poll:{self.channel}"),
        ]
        self._heartbeats = asyncio.create_task(self._beat(), name=f"feed-heartbeat:{self.channel}")
        self.ready.set()

    async def stop(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._send_pending()
        tasks = [*self._tasks, *([self._heartbeats] if self._heartbeats else [])]
        await cancel_and_wait(tasks, within=STOP_SECONDS, what=f"feed:{self.channel}")
        # The server closes the sockets themselves (uvicorn sends 1012 on shutdown): no resync, nothing to reload.
        self.subscribers.clear()

    def beat_every(self, seconds: float) -> None:
        """Heartbeats at least this often (the shortest any follower asked for)."""
        if seconds < self.heartbeat:
            self.heartbeat = seconds
            if self._heartbeats is not None:
                self._heartbeats.cancel()
                self._heartbeats = asyncio.create_task(self._beat(), name=f"feed-heartbeat:{self.channel}")

    async def _beat(self) -> None:
        # One timer for the whole feed: a follower that was sent nothing for a tick gets a heartbeat.
        while True:
            await asyncio.sleep(self.heartbeat)
            beat = Message(
                json.dumps({"id": None, "type": "heartbeat", "data": {"ts": time.time()}}, separators=(",", ":")), 0
            )
            for sub in tuple(self.subscribers):
                if sub.sent:
                    sub.sent = False
                elif sub._buffer is None:
                    sub.send(beat)
                    sub.sent = False
                    if sub.overflowed:
                        self._drop(sub)

    def _drop(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
        self.hub.frames_dropped += 1

    def _deliver(self, frame: Frame) -> None:
        self.ring.append(frame)
        self.last_seq = frame.seq
        if _REDACTING.search(frame.text, 0, 64):
            self._redact(frame)
        self._pending.append(frame)
        if self._flush is None:
            loop = asyncio.get_running_loop()
            now = loop.time()
            wait = self._flushed_at + self.window - now
            # A frame after a quiet spell goes out at once; under load, frames share one message per window.
            if wait <= 0:
                self._flush_due = now
                self._flush = loop.call_soon(self._send_pending)
            else:
                self._flush_due = now + wait
                self._flush = loop.call_later(wait, self._send_pending)

    def _send_pending(self) -> None:
        self._flush = None
        loop = asyncio.get_running_loop()
        started = self._flushed_at = loop.time()
        frames, self._pending = self._pending, []
        if not frames:
            return
        clock = time.perf_counter()
        self._fan_out(frames)
        # This round's cost: its writes, and how late the loop got round to it (busy with other work).
        cost = time.perf_counter() - clock + max(0.0, started - self._flush_due)
        self.window = min(self.hub.coalesce_max_seconds, max(self.hub.coalesce_seconds, cost * LOAD_FACTOR))

    def _fan_out(self, frames: list[Frame]) -> None:
        first, last = frames[0].seq, frames[-1].seq
        # One message (or one bundle of them: one write) per talk filter, shared by every follower with it.
        shared: dict[int | None, Message | None] = {}
        for sub in tuple(self.subscribers):
            if sub.last >= last:
                continue
            if sub._buffer is not None:
                sub._buffer.extend(frames)
                continue
            if sub.last >= first:
                sub.send_frames(frames)  # joined in the middle of this window
            else:
                if sub.talk_id in shared:
                    message = shared[sub.talk_id]
                else:
                    message = shared[sub.talk_id] = batch([f.text for f in frames if sub.wants(f)])
                sub.last = last
                if message is not None:
                    sub.send(message)
            if sub.overflowed:
                self._drop(sub)
        self.hub.frames_fanned_out += len(frames)

    def _redact(self, frame: Frame) -> None:
        """An erased or deleted post's text leaves the ring too, so no resuming follower is sent it again."""
        payload = json.loads(frame.text)
        data = payload.get("data") or {}
        ids = {data.get("id")} if payload.get("type") == "post.deleted" else set(data.get("ids") or ())
        ids = {i for i in ids if isinstance(i, int)}
        if not ids:
            return
        marks = tuple(f'"id":{i},' for i in ids)
        changed = False
        ring: list[Frame] = []
        for old in self.ring:
            if old.seq != frame.seq and any(m in old.text for m in marks):
                new = redacted(old, ids)
                changed = changed or new is not old
                old = new
            ring.append(old)
        if changed:
            self.ring = deque(ring, maxlen=self.ring.maxlen)
            self._replays.clear()

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
            replay = self._replay(after, sub.talk_id)
            if replay is not None:
                sub.send(replay)
                if sub.overflowed:
                    return True
            sub.last = self.last_seq
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
        sub.send_frames([*frames, *(f for f in buffered if f.seq > frames[-1].seq)])
        if sub.overflowed:
            self.subscribers.discard(sub)
        return True

    def _replay(self, after: int, talk_id: int | None) -> Message | None:
        """The ring's frames after ``after`` as one bundle, built once for every follower resuming from there."""
        key = (after, talk_id)
        hit = self._replays.get(key)
        if hit is not None and hit[0] == self.last_seq:
            return hit[1]
        texts = [f.text for f in self.ring if f.seq > after and concerns(talk_id, f)]
        messages = batch(texts, MAX_REPLAY_BATCH)
        if len(texts) <= REPLAY_CACHE_FRAMES:
            # Only replays of the newest id are worth keeping; the rest can never be asked for again unchanged.
            if len(self._replays) >= 64 or any(seq != self.last_seq for seq, _ in self._replays.values()):
                self._replays.clear()
            self._replays[key] = (self.last_seq, messages)
        return messages


class Hub:
    def __init__(
        self,
        broker: Broker,
        log: LiveLog,
        *,
        ring_size: int = 5000,
        queue_size: int = 512,
        poll_interval: float = 3.0,
        heartbeat: float = 15.0,
        coalesce_seconds: float = 0.005,
        coalesce_max_seconds: float = 0.1,
    ) -> None:
        self.broker = broker
        self.log = log
        self.ring_size = ring_size
        self.queue_size = queue_size
        self.poll_interval = poll_interval
        self.heartbeat = heartbeat
        self.coalesce_seconds = coalesce_seconds
        self.coalesce_max_seconds = max(coalesce_seconds, coalesce_max_seconds)
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

    async def attach(
        self,
        event_id: int,
        slug: str,
        sink: Sink,
        *,
        after: int | None,
        talk_id: int | None,
        heartbeat: float | None = None,
    ) -> Subscriber | None:
        """Follow an event through ``sink``: what was missed after ``after`` first, then live. None: resync."""
        feed = await self.feed(event_id, slug)
        if heartbeat is not None:
            feed.beat_every(heartbeat)
        sub = Subscriber(sink, queue_size=self.queue_size, talk_id=talk_id)
        return sub if await feed.attach(sub, after) else None

    def detach(self, event_id: int, sub: Subscriber) -> None:
        feed = self._feeds.get(event_id)
        if feed is not None:
            feed.subscribers.discard(sub)

    async def close(self) -> None:
        for feed in list(self._feeds.values()):
            await feed.stop()
        self._feeds.clear()


def redacted(frame: Frame, post_ids: set[int]) -> Frame:
    """The frame with an erased post's text and author blanked, as the stored live log has it."""
    payload = json.loads(frame.text)
    data = payload.get("data")
    if (
        not isinstance(data, dict)
        or data.get("id") not in post_ids
        or not str(payload.get("type", "")).startswith("post.")
    ):
        return frame
    if data.get("text") == "" and data.get("author") == _ANONYMOUS:
        return frame
    payload["data"] = {**data, "text": "", "author": dict(_ANONYMOUS), "url": None, "media_descriptions": []}
    return Frame(seq=frame.seq, talk_id=frame.talk_id, text=json.dumps(payload, separators=(",", ":")))
