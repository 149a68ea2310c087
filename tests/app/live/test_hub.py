"""The hub delivers frames once and in order, a stalled follower slows nobody, erased text leaves memory."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio
import pytest

from app.broadcast import hub as hub_module
from app.broadcast.hub import Frame, Hub
from app.broadcast.memory import InMemoryBroker
from app.broadcast.sinks import Message
from app.store.live import encode_frame


class ListLog:
    """The durable log, in a list: what the database would hold."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def add(self, seq: int, talk_id: int | None = None) -> Frame:
        frame = Frame(seq=seq, talk_id=talk_id, text=encode_frame(seq, "post.created", {"n": seq, "talk_id": talk_id}))
        self.frames.append(frame)
        return frame

    async def frames_after(self, event_id: int, after: int, limit: int) -> Sequence[Frame]:
        return [f for f in self.frames if f.seq > after][:limit]

    async def last_seq(self, event_id: int) -> int:
        return self.frames[-1].seq if self.frames else 0


class Socket:
    """A follower's socket as the hub sees it: messages in, frames out; a stalled one never sends anything."""

    def __init__(self, stalled: bool = False) -> None:
        self.stalled = stalled
        self.messages: list[str] = []
        self.waiting = 0
        self.closed_with: str | None = None
        self.arrived = asyncio.Event()

    def send(self, message: Message) -> int:
        self.messages.extend(part.text for part in message.parts or (message,))
        self.arrived.set()
        if self.stalled:
            self.waiting += message.frames
        return self.waiting

    def cut_off(self, resync: Message) -> None:
        self.closed_with = resync.text

    def frames(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for text in self.messages:
            payload = json.loads(text)
            out.extend(payload if isinstance(payload, list) else [payload])
        return [f for f in out if f["type"] != "heartbeat"]

    async def seqs(self, count: int) -> list[int]:
        with anyio.fail_after(5):
            while len(self.frames()) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return [f["id"] for f in self.frames()]


@pytest.mark.anyio
async def test_frames_published_out_of_order_arrive_in_order_exactly_once() -> None:
    broker, log = InMemoryBroker(), ListLog()
    hub = Hub(broker, log, poll_interval=60)
    socket = Socket()
    assert await hub.attach(1, "e", socket, after=None, talk_id=None) is not None
    frames = [log.add(seq) for seq in (1, 2, 3, 4)]
    # 2 is committed first but published last; 3 twice
    for frame in (frames[0], frames[2], frames[2], frames[3], frames[1]):
        await broker.publish("event:e", frame.text)
    assert await socket.seqs(4) == [1, 2, 3, 4]
    await hub.close()


@pytest.mark.anyio
async def test_a_stalled_follower_is_cut_off_with_resync_and_the_others_get_everything() -> None:
    broker, log = InMemoryBroker(), ListLog()
    hub = Hub(broker, log, queue_size=8, poll_interval=60)
    stalled, healthy = Socket(stalled=True), Socket()
    assert await hub.attach(1, "e", stalled, after=None, talk_id=None) is not None
    assert await hub.attach(1, "e", healthy, after=None, talk_id=None) is not None
    for seq in range(1, 51):
        await broker.publish("event:e", log.add(seq).text)
        await asyncio.sleep(0.001)
    assert await healthy.seqs(50) == list(range(1, 51))
    assert stalled.closed_with is not None and '"resync"' in stalled.closed_with
    assert hub.connections == 1 and hub.frames_dropped == 1
    await hub.close()


@pytest.mark.anyio
async def test_a_frame_whose_publish_was_lost_still_arrives_from_the_store() -> None:
    broker, log = InMemoryBroker(), ListLog()
    hub = Hub(broker, log, poll_interval=0.01)
    socket = Socket()
    assert await hub.attach(1, "e", socket, after=None, talk_id=None) is not None
    log.add(1)  # committed, never published (a crash between commit and publish)
    assert await socket.seqs(1) == [1]
    await hub.close()


@pytest.mark.anyio
async def test_a_burst_reaches_each_follower_as_few_messages_in_order() -> None:
    broker, log = InMemoryBroker(), ListLog()
    hub = Hub(broker, log, poll_interval=60, coalesce_seconds=0.05)
    sockets = [Socket() for _ in range(3)]
    for socket in sockets:
        assert await hub.attach(1, "e", socket, after=None, talk_id=None) is not None
    for seq in range(1, 41):
        await broker.publish("event:e", log.add(seq).text)
    for socket in sockets:
        assert await socket.seqs(40) == list(range(1, 41))
        assert len(socket.messages) < 10
    await hub.close()


class SlowSocket(Socket):
    """A socket whose writes cost ``delay`` seconds of the loop each: a round of writes to many followers."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def send(self, message: Message) -> int:
        time.sleep(self.delay)
        return super().send(message)


@pytest.mark.anyio
async def test_costly_rounds_of_writes_widen_the_window_and_cheap_ones_narrow_it_back() -> None:
    broker, log = InMemoryBroker(), ListLog()
    hub = Hub(broker, log, poll_interval=60, coalesce_seconds=0.005, coalesce_max_seconds=0.5)
    socket = SlowSocket(delay=0.05)
    assert await hub.attach(1, "e", socket, after=None, talk_id=None) is not None
    feed = await hub.feed(1, "e")
    await broker.publish("event:e", log.add(1).text)  # after a quiet spell: out at once, but the write is dear
    assert await socket.seqs(1) == [1]
    assert feed.window >= 0.1
    for seq in range(2, 12):
        await broker.publish("event:e", log.add(seq).text)
    assert await socket.seqs(11) == list(range(1, 12))
    assert len(socket.messages) == 2  # the ten behind the dear write shared one message
    socket.delay = 0.0
    await asyncio.sleep(feed.window)
    await broker.publish("event:e", log.add(12).text)
    assert await socket.seqs(12) == list(range(1, 13))
    assert feed.window < 0.1
    await hub.close()


@pytest.mark.anyio
async def test_followers_resuming_from_the_ring_get_exactly_what_they_missed() -> None:
    broker, log = InMemoryBroker(), ListLog()
    hub = Hub(broker, log, poll_interval=60)
    staying = Socket()
    assert await hub.attach(1, "e", staying, after=None, talk_id=None) is not None
    for seq in range(1, 11):
        await broker.publish("event:e", log.add(seq, talk_id=seq % 2).text)
    assert await staying.seqs(10) == list(range(1, 11))
    everything, one_talk = Socket(), Socket()
    assert await hub.attach(1, "e", everything, after=4, talk_id=None) is not None
    assert await hub.attach(1, "e", one_talk, after=4, talk_id=1) is not None
    await broker.publish("event:e", log.add(11, talk_id=1).text)
    assert await everything.seqs(7) == [5, 6, 7, 8, 9, 10, 11]
    assert await one_talk.seqs(4) == [5, 7, 9, 11]
    await hub.close()


def post_frame(seq: int, type_: str, data: dict[str, Any]) -> Frame:
    return Frame(seq=seq, talk_id=None, text=encode_frame(seq, type_, data))


@pytest.mark.anyio
async def test_an_erase_takes_the_text_out_of_every_replicas_memory() -> None:
    broker, log = InMemoryBroker(), ListLog()
    replicas = [Hub(broker, log, poll_interval=60), Hub(broker, log, poll_interval=60)]
    watching = [Socket(), Socket()]
    for hub, socket in zip(replicas, watching, strict=True):
        assert await hub.attach(1, "e", socket, after=None, talk_id=None) is not None
    author, other = {"name": "Lea", "handle": "lea", "url": None}, {"name": "Sam", "handle": "sam", "url": None}
    sent = [
        post_frame(1, "post.created", {"id": 7, "text": "my secret note", "author": author, "talk_id": None}),
        post_frame(2, "post.created", {"id": 8, "text": "someone else", "author": other, "talk_id": None}),
        post_frame(3, "post.hidden", {"id": 7, "talk_id": None}),
        post_frame(4, "post.redacted", {"ids": [7]}),  # an erase of a post no longer visible
        post_frame(5, "post.created", {"id": 9, "text": "deleted later", "author": author, "talk_id": None}),
        post_frame(6, "post.deleted", {"id": 9, "talk_id": None}),
    ]
    for frame in sent:
        log.frames.append(frame)
        await broker.publish("event:e", frame.text)
    for socket in watching:
        assert await socket.seqs(6) == [1, 2, 3, 4, 5, 6]
    for hub in replicas:
        resumed = Socket()
        assert await hub.attach(1, "e", resumed, after=0, talk_id=None) is not None
        replayed = json.dumps(resumed.frames())
        assert "someone else" in replayed
        assert "my secret note" not in replayed and "deleted later" not in replayed and "Lea" not in replayed
        await hub.close()


class StubbornBroker(InMemoryBroker):
    """A broker whose subscription shrugs off its first cancellation, as a driver retrying a read might."""

    async def subscribe(self, channel: str, after: str | None = None) -> AsyncIterator[tuple[str, str]]:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await asyncio.sleep(3600)
        yield "0-0", ""


@pytest.mark.anyio
async def test_a_feed_task_that_ignores_its_cancellation_does_not_hold_up_shutdown(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The server's shutdown waited on it forever, and never closed the store's connections after it."""
    monkeypatch.setattr(hub_module, "STOP_SECONDS", 0.2)
    hub = Hub(StubbornBroker(), ListLog(), poll_interval=60)
    assert await hub.attach(1, "e", Socket(), after=None, talk_id=None) is not None
    await asyncio.sleep(0.05)  # the subscription is waiting
    with anyio.fail_after(5):
        await hub.close()
    assert any(r.msg == "shutdown.tasks_stuck" and r.what == "feed:event:e" for r in caplog.records)  # type: ignore[attr-defined]
    for task in asyncio.all_tasks():
        if task.get_name() == "feed:event:e":
            task.cancel()  # the test's own loop ends cleanly: the stuck task is cancelled again until it goes
