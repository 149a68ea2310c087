"""Supervise one Source: its SourceItems in, committed batches to a PostSink and saved cursors out.

The runner owns the connection lifecycle (the source only decodes): capped exponential backoff
with jitter, reset after a healthy period, ``retry_after`` honoured, micro-batching, and the
cursor saved only after the sink has committed (at-least-once delivery, idempotent sink).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeVar

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from ingest.errors import IngestError, SourceRejected, SourceUnavailable
from ingest.items import SourceItem
from ingest.source import CursorStore, PostSink, Source

logger = logging.getLogger(__name__)


class SourceState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    BACKING_OFF = "backing_off"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """What the organizer's status view shows for one source."""

    source_key: str
    name: str
    state: SourceState
    last_error: str | None
    last_item_at: datetime | None  # wall time of the last committed item
    lag_seconds: float | None  # commit time minus the post's own time, for the last committed post
    accepted: int
    skipped: int
    malformed: int
    reconnects: int
    cursor: str | None
    retry_at: datetime | None  # when the next connection attempt is due (backing off only)


class Backoff:
    """Capped exponential delays with jitter.

    Delay for attempt ``n`` is drawn from ``[d/2, d]`` where ``d = min(cap, base * 2**n)``: always
    capped, and spread so that clients dropped together by a server restart do not all return
    together (atproto's reasoning).
    """

    def __init__(self, base: float = 1.0, cap: float = 60.0, rng: random.Random | None = None) -> None:
        self.base = base
        self.cap = cap
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * 2**self.attempt)
        self.attempt += 1
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.attempt = 0


class _SinkFailed(Exception):
    """The sink could not commit a batch; the items are fetched again from the saved cursor."""


Sleep = Callable[[float], Awaitable[None]]
_T = TypeVar("_T")


class SourceRunner:
    """Runs one source until stopped, reconnecting on transient errors.

    Optional source attributes the runner reads when present (both sources here have them):
    ``connected: bool`` (the stream is open, for the status view) and ``progress: str | None``
    (a cursor covering every item already yielded plus everything the source filtered out since;
    saved when the runner is idle, at most every ``progress_interval`` seconds, so a quiet hashtag on a
    busy firehose does not replay hours). Batches close at ``batch_size`` items or ``batch_interval``
    seconds after their first item, whichever comes first.
    """

    def __init__(
        self,
        source: Source,
        sink: PostSink,
        cursors: CursorStore,
        *,
        source_key: str,
        batch_size: int = 500,
        batch_interval: float = 0.05,
        progress_interval: float = 0.25,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        healthy_after: float = 60.0,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = anyio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.source = source
        self.sink = sink
        self.cursors = cursors
        self.source_key = source_key
        self.batch_size = batch_size
        self.batch_interval = batch_interval
        self.progress_interval = progress_interval
        self._progress_due = 0.0
        self.healthy_after = healthy_after
        self._clock = clock
        self._sleep = sleep
        self._backoff = Backoff(backoff_base, backoff_cap, rng)
        self._state = SourceState.CONNECTING
        self._last_error: str | None = None
        self._last_item_at: float | None = None
        self._lag: float | None = None
        self._reconnects = 0
        self._retry_at: float | None = None
        self._cursor: str | None = None
        self._stop_requested = False
        self._producer_scope: anyio.CancelScope | None = None
        self._sleep_scope: anyio.CancelScope | None = None
        self._source_error: Exception | None = None

    @property
    def status(self) -> SourceStatus:
        state = self._state
        if state is SourceState.CONNECTING and getattr(self.source, "connected", False):
            state = SourceState.CONNECTED
        stats = self.source.stats
        return SourceStatus(
            source_key=self.source_key,
            name=self.source.name,
            state=state,
            last_error=self._last_error,
            last_item_at=_as_datetime(self._last_item_at),
            lag_seconds=self._lag,
            accepted=stats.accepted,
            skipped=stats.skipped,
            malformed=stats.malformed,
            reconnects=self._reconnects,
            cursor=self._cursor,
            retry_at=_as_datetime(self._retry_at) if state is SourceState.BACKING_OFF else None,
        )

    def stop(self) -> None:
        """Stop taking items; the batch in hand is committed and its cursor saved before run() returns."""
        self._stop_requested = True
        for scope in (self._producer_scope, self._sleep_scope):
            if scope is not None:
                scope.cancel()

    async def run(self) -> None:
        """Run until ``stop()`` or a permanent error (state ``failed``, error in ``status``)."""
        loaded = False
        while not self._stop_requested:
            self._state = SourceState.CONNECTING
            started = self._clock()
            retry_after: float | None = None
            try:
                if not loaded:
                    self._cursor = await self._store_call(self.cursors.load(self.source_key))
                    loaded = True
                await self._run_once()
                if self._stop_requested:
                    break
                error: Exception = SourceUnavailable("source ended its stream")
            except SourceRejected as exc:
                self._fail(exc)
                return
            except SourceUnavailable as exc:
                error, retry_after = exc, exc.retry_after
            except (_SinkFailed, OSError, TimeoutError) as exc:
                error = exc
            except Exception as exc:  # a bug in a source must not loop forever: stop and say so
                logger.exception("source.crashed", extra={"source_key": self.source_key})
                self._fail(exc)
                return
            if self._stop_requested:
                break
            if self._clock() - started >= self.healthy_after:
                self._backoff.reset()
            delay = self._backoff.next_delay()
            if retry_after is not None:
                delay = max(delay, retry_after)
            self._last_error = _describe(error)
            self._reconnects += 1
            logger.warning(
                "source.reconnecting",
                extra={
                    "source_key": self.source_key,
                    "attempt": self._backoff.attempt,
                    "delay_s": round(delay, 3),
                    "error": self._last_error,
                },
            )
            self._state = SourceState.BACKING_OFF
            self._retry_at = self._clock() + delay
            with anyio.CancelScope() as scope:
                self._sleep_scope = scope
                if not self._stop_requested:
                    await self._sleep(delay)
            self._sleep_scope = None
        self._state = SourceState.STOPPED
        logger.info("source.stopped", extra={"source_key": self.source_key})

    def _fail(self, exc: Exception) -> None:
        self._state = SourceState.FAILED
        self._last_error = _describe(exc)
        logger.error("source.failed", extra={"source_key": self.source_key, "error": self._last_error})

    async def _run_once(self) -> None:
        """One connection: a producer task pulls from the source, this task batches and commits."""
        self._source_error = None
        send, receive = anyio.create_memory_object_stream[SourceItem](max_buffer_size=self.batch_size)
        failure: Exception | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._produce, self._cursor, send)
            try:
                await self._consume(receive)
            except Exception as exc:
                failure = exc
            finally:
                tg.cancel_scope.cancel()
                receive.close()
        if failure is not None:
            raise failure
        if self._source_error is not None:
            raise self._source_error

    async def _produce(self, since: str | None, send: ObjectSendStream[SourceItem]) -> None:
        try:
            with anyio.CancelScope() as scope:
                self._producer_scope = scope
                if self._stop_requested:
                    scope.cancel()
                async with aclosing(self.source.items(since)) as stream:  # type: ignore[type-var]
                    async for item in stream:
                        if self._state is SourceState.CONNECTING:
                            self._state = SourceState.CONNECTED
                        # ``send`` yields to the event loop once per item, which cost more than the
                        # batching it feeds; the source yields anyway whenever it waits for its
                        # upstream, and a full channel (one batch) makes this wait for the consumer.
                        try:
                            send.send_nowait(item)
                        except anyio.WouldBlock:
                            await send.send(item)
        except Exception as exc:  # handed to the consumer, which commits what it has first
            self._source_error = exc
        finally:
            self._producer_scope = None
            send.close()

    async def _consume(self, receive: ObjectReceiveStream[SourceItem]) -> None:
        pending: list[SourceItem] = []
        deadline = 0.0
        while True:
            timeout = max(0.0, deadline - anyio.current_time()) if pending else self.batch_interval
            item: SourceItem | None = None
            with anyio.move_on_after(timeout):
                try:
                    item = await receive.receive()
                except anyio.EndOfStream:
                    await self._commit(pending)
                    return
            if item is None:  # the batch interval passed
                if pending:
                    await self._commit(pending)
                    pending = []
                else:
                    await self._save_progress()
                continue
            if not pending:
                deadline = anyio.current_time() + self.batch_interval
            pending.append(item)
            # Take what the producer has already buffered without arming a timer per item.
            while len(pending) < self.batch_size:
                try:
                    pending.append(receive.receive_nowait())
                except anyio.WouldBlock:
                    break
                except anyio.EndOfStream:
                    await self._commit(pending)
                    return
            if len(pending) >= self.batch_size:
                await self._commit(pending)
                pending = []

    async def _commit(self, batch: Sequence[SourceItem]) -> None:
        if not batch:
            return
        try:
            await self.sink.accept(batch)
        except Exception as exc:
            raise _SinkFailed(f"sink failed: {exc!r}") from exc
        now = self._clock()
        self.source.stats.accepted += len(batch)
        self._last_item_at = now
        for item in reversed(batch):
            if item.post is not None:
                self._lag = max(0.0, now - item.post.created_at.timestamp())
                break
        cursor = next((item.cursor for item in reversed(batch) if item.cursor is not None), None)
        if cursor is not None and cursor != self._cursor:
            await self._store_call(self.cursors.save(self.source_key, cursor))
            self._cursor = cursor

    async def _save_progress(self) -> None:
        # Only reached with nothing pending and the channel drained, so every item the progress
        # cursor covers has been committed.
        # A short batch interval must not turn an idle source into a cursor write every few milliseconds.
        if anyio.current_time() < self._progress_due:
            return
        self._progress_due = anyio.current_time() + self.progress_interval
        progress = getattr(self.source, "progress", None)
        if isinstance(progress, str) and progress != self._cursor:
            await self._store_call(self.cursors.save(self.source_key, progress))
            self._cursor = progress

    @staticmethod
    async def _store_call(call: Awaitable[_T]) -> _T:
        """Cursor-store errors are the database's, transient like the sink's."""
        try:
            return await call
        except Exception as exc:
            raise _SinkFailed(f"cursor store failed: {exc!r}") from exc


def _as_datetime(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, IngestError) and str(exc):
        return str(exc)  # written for the organizer who reads it in the console
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
