"""Test scaffolding for runners: a runner in, a running task that is stopped on exit out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio

from ingest.runner import SourceRunner
from tests.fakes import ListSink


@asynccontextmanager
async def running(*runners: SourceRunner) -> AsyncIterator[None]:
    """Run the runners in the background for the block; stop them gracefully at the end."""
    async with anyio.create_task_group() as tg:
        for runner in runners:
            tg.start_soon(runner.run)
        try:
            yield
        finally:
            for runner in runners:
                runner.stop()


@asynccontextmanager
async def killed_at_exit(runner: SourceRunner) -> AsyncIterator[None]:
    """Run a runner and cancel it at the end without a chance to flush: a killed process."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(runner.run)
        try:
            yield
        finally:
            tg.cancel_scope.cancel()


# Deadlines only bound a failure: generous, because CI shares two cores with other suites.
DEADLINE = 30.0


async def settle(sink: ListSink, predicate: Callable[[ListSink], bool], timeout: float = DEADLINE) -> None:
    """Wait until the sink satisfies ``predicate`` (fails the test after ``timeout`` seconds)."""
    with anyio.fail_after(timeout):
        await sink.wait_until(predicate)


async def eventually(condition: Callable[[], bool], timeout: float = DEADLINE) -> None:
    """Poll a condition that has no event to wait on (runner state, server connections)."""
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.005)
