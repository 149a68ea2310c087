"""The runner: batches reach the sink before their cursor is saved; failures back off, capped, with jitter."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from ingest.errors import SourceRejected, SourceUnavailable
from ingest.items import IncomingPost, ItemAction, SourceItem
from ingest.runner import Backoff, SourceRunner, SourceState
from ingest.source import SourceStats
from tests.fakes import FakeClock, JsonFileCursorStore, ListSink
from tests.ingest.runs import eventually, running, settle

pytestmark = pytest.mark.anyio


def _item(n: int) -> SourceItem:
    post = IncomingPost(source="script", native_id=f"p{n}", text=f"post {n}", created_at=datetime.now(UTC))
    return SourceItem(ItemAction.UPSERT, "script", f"p{n}", post=post, cursor=str(n))


class ScriptedSource:
    """Serves ``posts`` numbered items after the cursor; each connection may end with a scripted error."""

    def __init__(self, posts: int, failures: list[Exception] | None = None, per_connection: int | None = None) -> None:
        self.name = "script"
        self.stats = SourceStats()
        self.posts = posts
        self.failures = list(failures or [])
        self.per_connection = per_connection
        self.calls: list[str | None] = []
        self.drained = False  # the runner has taken every scripted item and waits for more

    async def _items(self, since: str | None) -> AsyncIterator[SourceItem]:
        start = int(since) + 1 if since else 1
        end = self.posts if self.per_connection is None else min(self.posts, start + self.per_connection - 1)
        for n in range(start, end + 1):
            yield _item(n)
        if self.failures:
            raise self.failures.pop(0)
        self.drained = True
        await anyio.sleep_forever()

    def items(self, since: str | None) -> AsyncIterator[SourceItem]:
        self.calls.append(since)
        return self._items(since)


def _runner(source: ScriptedSource, sink: ListSink, tmp_path: Path, clock: FakeClock, **kwargs: object) -> SourceRunner:
    return SourceRunner(
        source,
        sink,
        JsonFileCursorStore(tmp_path / "cursors.json"),
        source_key="script:1",
        clock=clock.time,
        sleep=clock.sleep,
        rng=random.Random(7),
        **kwargs,  # type: ignore[arg-type]
    )


def test_backoff_doubles_up_to_the_cap_with_jitter_below_each_step() -> None:
    backoff = Backoff(base=1.0, cap=8.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(6)]
    ceilings = [1, 2, 4, 8, 8, 8]
    assert all(ceiling / 2 <= delay <= ceiling for delay, ceiling in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)


async def test_every_item_reaches_the_sink_and_the_cursor_follows_the_last_commit(tmp_path: Path) -> None:
    sink, clock = ListSink(), FakeClock()
    # Batches close on size only: a busy machine must not split them on the (real-time) interval.
    runner = _runner(ScriptedSource(200), sink, tmp_path, clock, batch_size=100, batch_interval=3600.0)
    async with running(runner):
        await settle(sink, lambda s: len(s.posts) == 200)
    assert [len(batch) for batch in sink.batches] == [100, 100]
    assert await runner.cursors.load("script:1") == "200"
    assert runner.status.accepted == 200
    assert runner.status.state is SourceState.STOPPED


async def test_a_source_that_never_waits_still_fills_bounded_batches_in_order(tmp_path: Path) -> None:
    # The producer hands items over without yielding to the event loop per item: a source that has
    # thousands ready (a replay) must neither overfill a batch nor reorder or lose anything.
    sink, clock = ListSink(), FakeClock()
    runner = _runner(ScriptedSource(5_000), sink, tmp_path, clock, batch_size=100, batch_interval=3600.0)
    async with running(runner):
        await settle(sink, lambda s: len(s.posts) == 5_000)
    assert [len(batch) for batch in sink.batches] == [100] * 50
    assert [item.native_id for batch in sink.batches for item in batch] == [f"p{n}" for n in range(1, 5_001)]
    assert await runner.cursors.load("script:1") == "5000"
    assert runner.status.state is SourceState.STOPPED


async def test_transient_failures_reconnect_from_the_saved_cursor_with_growing_delays(tmp_path: Path) -> None:
    failures: list[Exception] = [SourceUnavailable("down") for _ in range(4)]
    source = ScriptedSource(8, failures, per_connection=2)
    sink, clock = ListSink(), FakeClock()
    runner = _runner(source, sink, tmp_path, clock, backoff_base=1.0, backoff_cap=4.0)
    async with running(runner):
        await settle(sink, lambda s: len(s.posts) == 8)
        await eventually(lambda: len(source.calls) == 5)
    assert source.calls == [None, "2", "4", "6", "8"]
    assert 0.5 <= clock.sleeps[0] <= 1
    assert 1 <= clock.sleeps[1] <= 2
    assert 2 <= clock.sleeps[2] <= 4
    assert 2 <= clock.sleeps[3] <= 4  # capped
    assert runner.status.reconnects == 4


async def test_retry_after_from_the_source_is_waited_at_least(tmp_path: Path) -> None:
    source = ScriptedSource(1, [SourceUnavailable("429", retry_after=30.0)])
    sink, clock = ListSink(), FakeClock()
    runner = _runner(source, sink, tmp_path, clock)
    async with running(runner):
        await settle(sink, lambda s: len(s.posts) == 1)
        await eventually(lambda: len(source.calls) == 2)
    assert clock.sleeps[0] >= 30.0


async def test_backoff_resets_after_a_healthy_connection(tmp_path: Path) -> None:
    failures: list[Exception] = [SourceUnavailable("down") for _ in range(3)]
    source = ScriptedSource(3, failures, per_connection=1)
    sink, clock = ListSink(), FakeClock()
    runner = _runner(source, sink, tmp_path, clock, healthy_after=60.0, backoff_base=1.0)

    original = source._items

    async def slow_second_connection(since: str | None) -> AsyncIterator[SourceItem]:
        if since == "2":
            clock.advance(120)  # the third connection stays up two minutes before failing
        async for item in original(since):
            yield item

    source._items = slow_second_connection  # type: ignore[method-assign]
    async with running(runner):
        await settle(sink, lambda s: len(s.posts) == 3)
        await eventually(lambda: len(clock.sleeps) == 3)
    assert 1 <= clock.sleeps[1] <= 2  # second failure in a row: grown
    assert clock.sleeps[2] <= 1  # after the healthy connection: back to the base delay


async def test_a_rejected_source_stops_and_reports_its_error(tmp_path: Path) -> None:
    source = ScriptedSource(2, [SourceRejected("bad token")])
    sink, clock = ListSink(), FakeClock()
    runner = _runner(source, sink, tmp_path, clock)
    with anyio.fail_after(5):
        await runner.run()
    assert runner.status.state is SourceState.FAILED
    assert "bad token" in (runner.status.last_error or "")
    assert len(sink.posts) == 2  # what came before the rejection is kept


async def test_a_failing_sink_never_advances_the_cursor_and_items_come_again(tmp_path: Path) -> None:
    source = ScriptedSource(5)
    sink, clock = ListSink(), FakeClock()
    sink.fail_next(2)
    runner = _runner(source, sink, tmp_path, clock)
    async with running(runner):
        await settle(sink, lambda s: len(s.posts) == 5)
    saved = [cursor for _, cursor in runner.cursors.saves]  # type: ignore[attr-defined]
    assert saved[-1:] == ["5"]
    assert source.calls == [None, None, None]  # no cursor was saved while the sink was failing


async def test_stop_commits_the_batch_in_hand(tmp_path: Path) -> None:
    source = ScriptedSource(3)
    sink, clock = ListSink(), FakeClock()
    runner = _runner(source, sink, tmp_path, clock, batch_interval=3600.0)
    async with anyio.create_task_group() as tg:
        tg.start_soon(runner.run)
        await eventually(lambda: source.drained)  # all three in hand, none committed (the interval is an hour)
        runner.stop()
    assert len(sink.posts) == 3
    assert await runner.cursors.load("script:1") == "3"


class FlakyCursorStore(JsonFileCursorStore):
    """A cursor table that is briefly unreachable."""

    def __init__(self, path: Path, failures: int) -> None:
        super().__init__(path)
        self.failures = failures

    async def save(self, source_key: str, cursor: str) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database is locked")
        await super().save(source_key, cursor)


async def test_a_failing_cursor_store_is_retried_like_the_sink(tmp_path: Path) -> None:
    source = ScriptedSource(4)
    sink, clock = ListSink(), FakeClock()
    cursors = FlakyCursorStore(tmp_path / "cursors.json", failures=1)
    runner = SourceRunner(source, sink, cursors, source_key="script:1", clock=clock.time, sleep=clock.sleep)
    async with running(runner):
        await settle(sink, lambda s: len(s.posts) == 4)
        await eventually(lambda: cursors.saves == [("script:1", "4")])
    assert runner.status.state is SourceState.STOPPED
    assert "cursor store failed" in (runner.status.last_error or "")
