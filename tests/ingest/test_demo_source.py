"""The demo's generated conference: a full page at once, then posts at a steady pace, and a restart that
goes on where it stopped."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from ingest.items import SourceItem
from ingest.sources.demo import BASE_POSTS_PER_MINUTE, DemoSource, generate_schedule

ANCHOR = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


class Clock:
    """A clock that only moves when the source sleeps."""

    def __init__(self, now: datetime) -> None:
        self.now = now.timestamp()
        self.slept = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


def take(since: str | None, count: int, clock: Clock, speed: float = 5.0) -> list[SourceItem]:
    source = DemoSource(generate_schedule(ANCHOR), seed=7, speed=speed, clock=clock, sleep=clock.sleep)

    async def run() -> list[SourceItem]:
        items = []
        async for item in source.items(since):
            items.append(item)
            if len(items) == count:
                return items
        return items

    return asyncio.run(run())


def test_the_last_half_hour_arrives_at_once_then_posts_come_at_the_demo_pace() -> None:
    clock = Clock(ANCHOR + timedelta(minutes=45))
    backfill = int(30 * BASE_POSTS_PER_MINUTE)
    items = take(None, backfill + 60, clock)
    assert [(i.cursor or "").split("@")[0] for i in items[:3]] == ["0", "1", "2"]
    assert clock.slept == 59 * 60.0 / (BASE_POSTS_PER_MINUTE * 5.0)  # none before the first live post


def test_a_restarted_demo_goes_on_at_once_from_where_it_stopped() -> None:
    first = Clock(ANCHOR + timedelta(minutes=45))
    before = take(None, 2000, first)
    restart = ANCHOR + timedelta(hours=3)
    restarted = Clock(restart)
    after = take(before[-1].cursor, 120, restarted)
    assert [(i.cursor or "").split("@")[0] for i in after[:3]] == ["2000", "2001", "2002"]
    assert restarted.slept < 120 * 60.0 / (BASE_POSTS_PER_MINUTE * 5.0)  # it slept through 1,640 sent posts
    assert after[0].post is not None and after[0].post.created_at == restart  # posted now, not back then
    # the random stream replays as it went: an answer after the restart answers a question that was asked
    sent = {i.native_id: i.post for i in before + after if i.post}
    answers = [i.post for i in after if i.post and i.post.reply_to]
    assert answers
    for answer in answers:
        question = sent[answer.reply_to]  # type: ignore[index]
        assert question is not None and question.kind_hint == "question", (question, answer)


def test_a_cursor_written_before_it_carried_a_time_still_resumes_after_it() -> None:
    restarted = Clock(ANCHOR + timedelta(hours=3))
    after = take("1999", 3, restarted)
    assert [i.native_id for i in after] == ["demo-7-2000", "demo-7-2001", "demo-7-2002"]
    assert restarted.slept < 3 * 60.0 / (BASE_POSTS_PER_MINUTE * 5.0)
