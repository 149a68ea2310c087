"""Each event's clustering has exactly one owner; another worker takes over when the owner stops or dies."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator

import anyio
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.pipeline.lease import LeasedWorker, create_leases
from app.settings import Settings
from app.store.db import create_engine
from tests.conftest import REPO

pytestmark = pytest.mark.anyio

EVENTS = [1, 2, 3, 4]


@pytest.fixture
async def engines(database_url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Two engines on one database: what two worker processes would have."""
    settings = Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]
    first, second = create_engine(settings), create_engine(settings)
    yield first, second
    await first.dispose()
    await second.dispose()


class Work:
    """A stand-in for ClusterPipeline.run_event: runs until cancelled, saves its state on the way out."""

    def __init__(self, name: str, log: list[tuple[str, str, int]]) -> None:
        self.name = name
        self.log = log
        self.fail: set[int] = set()

    async def __call__(self, event_id: int) -> None:
        self.log.append(("start", self.name, event_id))
        if event_id in self.fail:
            raise RuntimeError("boom")
        try:
            await asyncio.Event().wait()
        finally:
            self.log.append(("saved", self.name, event_id))


async def events() -> list[int]:
    return list(EVENTS)


async def settle() -> None:
    """Let freshly started work tasks run up to their first wait (no timing involved)."""
    for _ in range(3):
        await asyncio.sleep(0)


def worker(engine: AsyncEngine, name: str, log: list[tuple[str, str, int]]) -> LeasedWorker:
    return LeasedWorker(create_leases(engine), events, Work(name, log), name=name, poll_interval=0.05)


async def test_every_event_has_exactly_one_owner(engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    log: list[tuple[str, str, int]] = []
    a, b = worker(engines[0], "a", log), worker(engines[1], "b", log)
    for _ in range(3):
        await a.step()
        await b.step()
    assert a.owned | b.owned == set(EVENTS)
    assert not a.owned & b.owned
    await a.shutdown()
    await b.shutdown()


async def test_a_worker_that_stops_hands_its_events_over_after_saving(engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    log: list[tuple[str, str, int]] = []
    a, b = worker(engines[0], "a", log), worker(engines[1], "b", log)
    await a.step()
    await b.step()
    await settle()
    assert (a.owned, b.owned) == (set(EVENTS), set())
    await a.shutdown()  # what SIGTERM does
    await b.step()
    await settle()
    assert b.owned == set(EVENTS)
    for event_id in EVENTS:
        assert log.index(("saved", "a", event_id)) < log.index(("start", "b", event_id))
    await b.shutdown()


async def test_failed_work_is_released_and_picked_up_again(engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    log: list[tuple[str, str, int]] = []
    a = worker(engines[0], "a", log)
    assert isinstance(a.work, Work)
    a.work.fail = {2}
    await a.step()
    await settle()
    a.work.fail = set()
    await a.step()
    await settle()
    assert a.owned == set(EVENTS)
    assert log.count(("start", "a", 2)) == 2
    await a.shutdown()


async def test_run_stops_on_the_stop_signal_and_saves(engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    log: list[tuple[str, str, int]] = []
    a = worker(engines[0], "a", log)
    stop = asyncio.Event()
    runner = asyncio.create_task(a.run(stop))
    with anyio.fail_after(10):
        while len(a.owned) < len(EVENTS):
            await asyncio.sleep(0.02)
        stop.set()
        await runner
    assert sorted(e for kind, _, e in log if kind == "saved") == EVENTS


def postgres_only(engine: AsyncEngine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("connection-bound leases need PostgreSQL (BACKCHANNEL_TEST_DATABASE_URL)")


async def test_a_lost_connection_stops_the_work_and_another_worker_takes_over(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    postgres_only(engines[0])
    log: list[tuple[str, str, int]] = []
    a, b = worker(engines[0], "a", log), worker(engines[1], "b", log)
    await a.step()
    await settle()
    async with engines[1].connect() as conn:
        await conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = 727275")
        )
        await conn.commit()
    with anyio.fail_after(5):
        while b.owned != set(EVENTS):
            await b.step()
    await a.step()
    assert a.owned == set()
    assert [e for kind, who, e in log if (kind, who) == ("saved", "a")] == EVENTS
    await a.shutdown()
    await b.shutdown()


HOLDER = textwrap.dedent(
    """
    import asyncio, sys
    from app.pipeline.lease import create_leases
    from app.settings import Settings
    from app.store.db import create_engine

    async def main():
        leases = create_leases(create_engine(Settings(_env_file=None, database_url=sys.argv[1])))
        assert await leases.try_acquire(1)
        print("held", flush=True)
        await asyncio.sleep(60)

    asyncio.run(main())
    """
)


async def test_a_killed_owner_is_replaced_within_seconds(engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    postgres_only(engines[0])
    url = engines[0].url.render_as_string(hide_password=False)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url], cwd=REPO, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": "."}
    )
    try:
        assert holder.stdout is not None
        line = await anyio.to_thread.run_sync(holder.stdout.readline)
        assert line.strip() == b"held"
        leases = create_leases(engines[1])
        assert not await leases.try_acquire(1)
        holder.kill()
        holder.wait()
        started = asyncio.get_running_loop().time()
        with anyio.fail_after(5):
            while not await leases.try_acquire(1):
                await asyncio.sleep(0.1)
        assert asyncio.get_running_loop().time() - started < 5
        await leases.close()
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
