"""Leases: each event's clustering is owned by one worker at a time; a worker runs work(key) for what it holds.

PostgreSQL: a session-level advisory lock per event, held on one dedicated connection per worker.
Chosen over a Redis lock with expiry because the database is already required and is the truth,
and because the lock is bound to the connection's life, not to a clock: a worker that dies (even
``kill -9``) closes its socket, the server ends its session and frees every lock it held at once,
so a standby takes over on its next poll (``poll_interval``, one second by default). There is no
expiry to tune against pauses and no renewal that can lapse while the owner still works. The owner
checks every ``check_interval`` that its connection still holds the locks (``pg_locks``) and stops
the work of any it lost.

SQLite (embedded mode, one process): an in-process lease table with the same interface.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

logger = logging.getLogger(__name__)

# The advisory-lock namespace (first key of the two-int form) for clustering leases; the migration
# lock uses the one-bigint form, a separate key space.
CLUSTER_NAMESPACE = 727275


class Leases(Protocol):
    """The leases one worker holds, keyed by an int (an event id)."""

    async def try_acquire(self, key: int) -> bool: ...

    async def release(self, key: int) -> None: ...

    async def held(self) -> set[int]:
        """The keys still held; raises when that cannot be known (the worker then holds nothing)."""
        ...

    async def close(self) -> None: ...


class LocalLeases:
    """In-process leases for the embedded mode: workers in one process share one table per database."""

    _tables: dict[str, set[int]] = {}

    def __init__(self, scope: str) -> None:
        self._taken = self._tables.setdefault(scope, set())
        self._mine: set[int] = set()

    async def try_acquire(self, key: int) -> bool:
        if key in self._taken:
            return key in self._mine
        self._taken.add(key)
        self._mine.add(key)
        return True

    async def release(self, key: int) -> None:
        if key in self._mine:
            self._mine.discard(key)
            self._taken.discard(key)

    async def held(self) -> set[int]:
        return set(self._mine)

    async def close(self) -> None:
        for key in list(self._mine):
            await self.release(key)


class PostgresLeases:
    """Advisory locks ``(namespace, key)`` on one dedicated AUTOCOMMIT connection."""

    def __init__(self, engine: AsyncEngine, *, namespace: int = CLUSTER_NAMESPACE, timeout: float = 5.0) -> None:
        self.engine = engine
        self.namespace = namespace
        self.timeout = timeout
        self._conn: AsyncConnection | None = None
        self._lock = asyncio.Lock()  # one statement at a time on the connection

    async def _connection(self) -> AsyncConnection:
        if self._conn is None:
            conn = await self.engine.connect()
            self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    async def _scalar(self, sql: str, **params: int) -> object:
        async with self._lock:
            try:
                conn = await self._connection()
                result = await asyncio.wait_for(conn.execute(text(sql), params), timeout=self.timeout)
                return result.scalar()
            except BaseException:
                await self._drop()
                raise

    async def _drop(self) -> None:
        # The connection is in doubt: throw it away. If it was alive the server frees its locks when it closes.
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.invalidate()
            with contextlib.suppress(Exception):
                await conn.close()

    async def try_acquire(self, key: int) -> bool:
        return bool(await self._scalar("SELECT pg_try_advisory_lock(:ns, :key)", ns=self.namespace, key=key))

    async def release(self, key: int) -> None:
        if self._conn is not None:
            await self._scalar("SELECT pg_advisory_unlock(:ns, :key)", ns=self.namespace, key=key)

    async def held(self) -> set[int]:
        if self._conn is None:
            return set()
        async with self._lock:
            try:
                conn = await self._connection()
                result = await asyncio.wait_for(
                    conn.execute(
                        text(
                            "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
                            " AND classid = :ns AND objsubid = 2 AND granted"
                        ),
                        {"ns": self.namespace},
                    ),
                    timeout=self.timeout,
                )
                return {int(row[0]) for row in result}
            except BaseException:
                await self._drop()
                raise

    async def close(self) -> None:
        async with self._lock:
            await self._drop()


def create_leases(engine: AsyncEngine) -> Leases:
    if engine.dialect.name == "postgresql":
        return PostgresLeases(engine)
    return LocalLeases(str(engine.url))


class LeasedWorker:
    """Runs ``work(key)`` for every key from ``keys()`` that this worker can lease, until stopped.

    A key whose lease is lost (connection gone) has its work cancelled at once; a key whose work
    ends or fails is released so any worker can pick it up again on its next poll. On stop, work is
    cancelled (it saves its state on the way out) and given ``drain_timeout`` seconds to finish
    before the leases are released.
    """

    def __init__(
        self,
        leases: Leases,
        keys: Callable[[], Awaitable[list[int]]],
        work: Callable[[int], Awaitable[None]],
        *,
        name: str = "worker",
        poll_interval: float = 1.0,
        drain_timeout: float = 20.0,
    ) -> None:
        self.leases = leases
        self.keys = keys
        self.work = work
        self.name = name
        self.poll_interval = poll_interval
        self.drain_timeout = drain_timeout
        self.tasks: dict[int, asyncio.Task[None]] = {}

    @property
    def owned(self) -> set[int]:
        return set(self.tasks)

    async def _cancel(self, key: int, *, release: bool) -> None:
        await self._cancel_many([key], release=release)

    async def _cancel_many(self, keys: list[int], *, release: bool) -> None:
        tasks = {key: self.tasks.pop(key) for key in keys}
        for task in tasks.values():
            task.cancel()
        if tasks:
            await asyncio.wait(tasks.values(), timeout=self.drain_timeout)
        for key, task in tasks.items():
            if not task.done():
                logger.warning("lease.work_did_not_stop", extra={"worker": self.name, "key": key})
            if release:
                with contextlib.suppress(Exception):
                    await self.leases.release(key)

    async def _reap(self) -> None:
        for key, task in list(self.tasks.items()):
            if task.done():
                self.tasks.pop(key)
                error = None if task.cancelled() else task.exception()
                if error is not None:
                    logger.error("lease.work_failed", extra={"worker": self.name, "key": key}, exc_info=error)
                with contextlib.suppress(Exception):
                    await self.leases.release(key)

    async def _verify(self) -> None:
        try:
            held = await self.leases.held()
        except Exception as exc:
            held = set()
            logger.warning("lease.check_failed", extra={"worker": self.name, "error": str(exc)})
        for key in self.owned - held:
            logger.warning("lease.lost", extra={"worker": self.name, "key": key})
            await self._cancel(key, release=False)

    async def step(self) -> None:
        """One round: drop lost or finished work, then lease and start what nobody owns."""
        await self._verify()
        await self._reap()
        wanted = set(await self.keys())
        for key in self.owned - wanted:
            await self._cancel(key, release=True)
        for key in sorted(wanted - self.owned):
            if await self.leases.try_acquire(key):
                logger.info("lease.acquired", extra={"worker": self.name, "key": key})
                self.tasks[key] = asyncio.create_task(self.work(key), name=f"{self.name}:{key}")

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        try:
            while not stop.is_set():
                try:
                    await self.step()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    logger.warning("lease.step_failed", extra={"worker": self.name, "error": str(exc)})
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.poll_interval)
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        await self._cancel_many(list(self.tasks), release=True)
        with contextlib.suppress(Exception):
            await self.leases.close()
