"""The hub delivers every frame once and in order, and a stalled follower never slows the others."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import anyio
import pytest

from app.broadcast.hub import Frame, Hub
from app.broadcast.memory import InMemoryBroker
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


async def drain(queue: asyncio.Queue[str | None], count: int) -> list[int]:
    out: list[int] = []
    with anyio.fail_after(5):
        while len(out) < count:
            text = await queue.get()
            assert text is not None
            out.append(Frame.decode(text).seq)
    return out


@pytest.mark.anyio
async def test_frames_published_out_of_order_arrive_in_order_exactly_once() -> None:
    broker, log = InMemoryBroker(), ListLog()
    hub = Hub(broker, log, poll_interval=60)
    sub = await hub.attach(1, "e", after=None, talk_id=None)
    assert sub is not None
    frames = [log.add(seq) for seq in (1, 2, 3, 4)]
    # 2 is committed first but published last; 3 twice
    for frame in (frames[0], frames[2], frames[2], frames[3], frames[1]):
        await broker.publish("event:e", frame.text)
    assert await drain(sub.queue, 4) == [1, 2, 3, 4]
    await hub.close()


@pytest.mark.anyio
async def test_a_stalled_follower_is_cut_off_with_resync_and_the_others_get_everything() -> None:
    broker, log = InMemoryBroker(), ListLog()
    hub = Hub(broker, log, queue_size=8, poll_interval=60)
    stalled = await hub.attach(1, "e", after=None, talk_id=None)
    healthy = await hub.attach(1, "e", after=None, talk_id=None)
    assert stalled is not None and healthy is not None
    received: list[int] = []

    async def read() -> None:
        while len(received) < 50:
            text = await healthy.queue.get()
            assert text is not None
            received.append(Frame.decode(text).seq)

    async with anyio.create_task_group() as tg:
        tg.start_soon(read)
        for seq in range(1, 51):
            await broker.publish("event:e", log.add(seq).text)
            await asyncio.sleep(0)
    assert received == list(range(1, 51))
    assert stalled.overflowed
    assert '"resync"' in (stalled.queue.get_nowait() or "")
    assert stalled.queue.get_nowait() is None  # then the socket is closed
    await hub.close()


@pytest.mark.anyio
async def test_a_frame_whose_publish_was_lost_still_arrives_from_the_store() -> None:
    broker, log = InMemoryBroker(), ListLog()
    hub = Hub(broker, log, poll_interval=0.01)
    sub = await hub.attach(1, "e", after=None, talk_id=None)
    assert sub is not None
    log.add(1)  # committed, never published (a crash between commit and publish)
    assert await drain(sub.queue, 1) == [1]
    await hub.close()
