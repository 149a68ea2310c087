"""The embedded mode's clustering stage in a child process of its own, its live frames relayed back.

Clustering is CPU-bound Python (a batch of 500 posts is a few hundred milliseconds): on the server's
event loop it shared one core with ingest, notes and fan-out, and every follower's frames waited out
each batch. In a child (spawned: a fresh interpreter) it has the machine's other core. It reads and
writes the same database (SQLite in WAL mode takes one writer at a time, each waiting its turn) and
sends what it publishes over a pipe; this process publishes that to its own broker, so followers get
the frames as from any other writer (the hub fills an out-of-order id from the database).

The child is restarted when it dies (its last checkpoint is in the database) and told to stop with the
server; it also stops by itself when the pipe to the server closes (a server killed with -9).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Sequence
from multiprocessing.connection import Connection
from typing import Any

from app.broadcast.broker import Broker
from app.settings import Settings

logger = logging.getLogger(__name__)

# How often the child looks whether its lag changed, to report it (/metrics); a step that took in posts is
# reported as soon as it has committed (polled alone, the server heard of it up to this long after).
STATS_SECONDS = 0.05
RESTART_DELAY = (1.0, 30.0)  # first and longest wait before restarting a child that died


def runs_in_child(settings: Settings) -> bool:
    """Whether this server's clustering stage gets its own process (an in-memory SQLite database is
    private to one process, so it keeps the stage beside it)."""
    if not settings.cluster_process:
        return False
    url = settings.database_url
    return not (url.startswith("sqlite") and (":memory:" in url or url.rstrip("/").endswith(":")))


class PipeBroker:
    """The child's broker: each publish goes down the pipe to the server, which publishes it."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._lock = threading.Lock()  # the stats thread sends too

    def send(self, message: tuple[Any, ...]) -> None:
        with self._lock:
            self.conn.send(message)

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> bool:
        return not self.conn.closed

    async def publish(self, channel: str, message: str) -> str:
        return (await self.publish_many(channel, [message]))[0]

    async def publish_many(self, channel: str, messages: Sequence[str]) -> list[str]:
        if messages:
            self.send(("publish", channel, list(messages)))
        return [""] * len(messages)  # the server's broker names them; nothing here reads the ids

    def subscribe(self, channel: str, after: str | None = None) -> AsyncIterator[tuple[str, str]]:
        raise NotImplementedError("the clustering child publishes only")


def _child_main(settings: Settings, conn: Connection, poll_interval: float) -> None:
    from app.logs import configure_logging

    # Ctrl-C reaches the whole process group: the server stops the child itself, after its own shutdown.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging(settings.log_level, json_lines=settings.log_json)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_child(settings, conn, poll_interval))


async def _child(settings: Settings, conn: Connection, poll_interval: float) -> None:
    from app.broadcast.broker import broker_for
    from app.pipeline.cluster import ClusterPipeline
    from app.pipeline.ingest import freeze_startup_heap, warm_kind_model
    from app.store.db import create_engine, sessionmaker

    loop = asyncio.get_running_loop()
    engine = create_engine(settings)  # the server has migrated the schema before starting the child
    relay = PipeBroker(conn)
    broker: Broker = relay
    if not settings.broker_url.startswith("memory"):
        broker = broker_for(settings)
    await broker.connect()
    await warm_kind_model()
    freeze_startup_heap()
    pipeline = ClusterPipeline(sessionmaker(engine), broker, poll_interval=poll_interval)
    stepped = threading.Event()
    pipeline.stepped = stepped.set
    task = asyncio.create_task(pipeline.run(), name="cluster")
    loop.add_signal_handler(signal.SIGTERM, task.cancel)

    def watch_server() -> None:
        # The server never writes to the pipe: a read returns only when it closes (the server is gone).
        with contextlib.suppress(EOFError, OSError):
            conn.recv()
        loop.call_soon_threadsafe(task.cancel)

    def report() -> None:
        reported = None
        while not task.done():
            stats = (dict(pipeline.lag_seconds), pipeline.processed)
            if stats != reported:
                with contextlib.suppress(OSError, ValueError):
                    relay.send(("stats", *stats))
                reported = stats
            stepped.wait(STATS_SECONDS)
            stepped.clear()

    threading.Thread(target=watch_server, name="server-watch", daemon=True).start()
    threading.Thread(target=report, name="cluster-stats", daemon=True).start()
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        await broker.close()
        await engine.dispose()


class ClusterProcess:
    """The server's handle on the clustering child: starts it, relays its frames, restarts it, stops it.

    ``lag_seconds`` and ``processed`` mirror the child's pipeline for this server's /metrics.
    """

    def __init__(self, settings: Settings, broker: Broker, *, poll_interval: float = 0.5) -> None:
        self.settings = settings
        self.poll_interval = poll_interval
        self.broker = broker
        self.lag_seconds: dict[int, float] = {}
        self.processed = 0  # by every child this server ran
        self._processed_before = 0  # ...before the one running now
        self._process: multiprocessing.process.BaseProcess | None = None

    @property
    def child(self) -> multiprocessing.process.BaseProcess | None:
        """The child process started last (alive or not), None before the first start."""
        return self._process

    async def run(self) -> None:
        """Keep a child running until cancelled; then stop it (its batch in flight commits or rolls back)."""
        delay = RESTART_DELAY[0]
        try:
            while True:
                started = time.monotonic()
                code = await self._run_once()
                if time.monotonic() - started > 60:
                    delay = RESTART_DELAY[0]  # it ran a good while: this is a new failure, not a crash loop
                logger.error("cluster.child_exited", extra={"exit_code": code, "restart_in": delay})
                await asyncio.sleep(delay)
                delay = min(delay * 2, RESTART_DELAY[1])
        finally:
            self._stop()

    async def _run_once(self) -> int | None:
        loop = asyncio.get_running_loop()
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_child_main,
            args=(self.settings, theirs, self.poll_interval),
            name="backchannel-cluster",
            daemon=True,
        )
        process.start()
        theirs.close()  # the child holds its end; ours reads EOF when the child is gone
        self._process = process
        logger.info("cluster.child_started", extra={"pid": process.pid})
        done = asyncio.Event()

        def relay() -> None:
            try:
                while True:
                    message = ours.recv()
                    if message[0] == "publish":
                        asyncio.run_coroutine_threadsafe(self.broker.publish_many(message[1], message[2]), loop)
                    elif message[0] == "stats":
                        self.lag_seconds, self.processed = message[1], self._processed_before + message[2]
            except (EOFError, OSError):
                pass
            finally:
                self._processed_before = self.processed
                with contextlib.suppress(RuntimeError):  # the server's loop is already closed
                    loop.call_soon_threadsafe(done.set)

        reader = threading.Thread(target=relay, name="cluster-relay", daemon=True)
        reader.start()
        try:
            await done.wait()
            await asyncio.to_thread(process.join, 5)
            return process.exitcode
        finally:
            self._stop()  # before the pipe closes: the child's last batch still publishes
            ours.close()

    def _stop(self) -> None:
        process = self._process
        if process is None or not process.is_alive():
            return
        os.kill(process.pid, signal.SIGTERM)  # type: ignore[arg-type]
        process.join(15)
        if process.is_alive():
            process.kill()
            process.join(5)
