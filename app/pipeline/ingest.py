"""The ingest arrow: run every configured source into the store, commit, then publish."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.broadcast.broker import Broker
from app.pipeline.sources import build_source
from app.services import privacy
from app.services.posts import apply_items
from app.services.sources import save_statuses, source_key
from app.services.unit_of_work import UnitOfWork
from app.store.tables import Cursor, Event, Source
from app.store.types import utcnow
from clustering.kinds import default_model
from ingest.items import ItemAction, SourceItem
from ingest.language import detect_language
from ingest.runner import SourceRunner, SourceStatus
from ingest.source import AcceptResult

logger = logging.getLogger(__name__)


class StorePostSink:
    """PostSink for one event: applies a batch in one transaction, publishes after commit."""

    def __init__(self, maker: async_sessionmaker[AsyncSession], broker: Broker, event_id: int) -> None:
        self.maker = maker
        self.broker = broker
        self.event_id = event_id

    async def accept(self, batch: Sequence[SourceItem]) -> AcceptResult:
        async with self.maker() as session:
            uow = UnitOfWork(session, self.broker)
            event = await session.get(Event, self.event_id)
            if event is None:
                return AcceptResult(ignored=len(batch))
            try:
                result = await self._apply(uow, event, batch)
                await uow.commit()
            except BaseException:
                await uow.rollback()
                raise
        return result

    @staticmethod
    async def _apply(uow: UnitOfWork, event: Event, batch: Sequence[SourceItem]) -> AcceptResult:
        """``apply_items`` on the runs between ERASE_AUTHOR items, each erase applied in its place in the order.

        Posts before an erase are stored first, so the erase takes them too; posts after it are applied after.
        """
        if not any(item.action == ItemAction.ERASE_AUTHOR for item in batch):
            return await apply_items(uow, event, batch)
        totals = AcceptResult()
        start = 0
        for index, item in enumerate([*batch, None]):
            if item is not None and item.action != ItemAction.ERASE_AUTHOR:
                continue
            if start < index:
                totals += await apply_items(uow, event, batch[start:index])
            start = index + 1
            if item is None:
                break
            erased = 0
            if item.author_handle:
                erased = await privacy.erase_account(uow, event, item.source, item.author_handle, item.native_id)
            # Counted per item, as apply_items counts: one erase that removed posts is one delete.
            totals += AcceptResult(deleted=1) if erased else AcceptResult(ignored=1)
        return totals


async def warm_kind_model() -> None:
    """Load the post-kind model off the event loop at start: otherwise the first post waits seconds for it."""
    await asyncio.to_thread(default_model)


async def warm_language_model() -> None:
    """Load the language identifier off the event loop at start (about half a second of unpickling).

    Loaded lazily, the first post long enough to identify paid it on the event loop, and every
    follower's frames waited that long too (the first burst of a keynote, or a benchmark's first phase).
    """
    await asyncio.to_thread(detect_language, "warming up the language identifier before the first post")


def freeze_startup_heap() -> None:
    """Move everything alive to the collector's permanent generation, once per process, models loaded.

    Startup leaves a few hundred thousand tracked objects (modules, the models, the app) that live for
    the whole process; every full collection walked them all (0.25-0.7 s here, no frame sent and no
    post stored meanwhile). Frozen, they are skipped; what is created later is collected as before.
    Once per process: tests build many apps in one.
    """
    if gc.get_freeze_count() == 0:
        gc.freeze()
        logger.info("process.heap_frozen", extra={"objects": gc.get_freeze_count()})


async def prepare_ingest_process() -> None:
    """Once, before a process without the web app (``backchannel ingest``) stores its first batch.

    Load the kind model and the language identifier off the event loop (lazily, the first batch
    trained the model on the loop: seconds), then move the startup heap (modules, both models,
    about 220k tracked objects) to the collector's permanent generation, as the web app does. A
    batch keeps its posts, rows and frames alive long enough to reach the oldest generation, so
    every few batches a full collection walked that whole heap: about 120 ms each, 40 µs a stored
    post (a quarter of the store path's time, 3,000 Jetstream items in 500-item batches on SQLite).
    """
    await asyncio.gather(warm_kind_model(), warm_language_model())
    freeze_startup_heap()


class StoreCursorStore:
    """CursorStore on the Cursor table; saved only after the sink has committed the batch."""

    def __init__(self, maker: async_sessionmaker[AsyncSession]) -> None:
        self.maker = maker

    async def load(self, source_key: str) -> str | None:
        async with self.maker() as session:
            row = await session.get(Cursor, source_key)
            return row.position if row else None

    async def save(self, source_key: str, cursor: str) -> None:
        async with self.maker() as session:
            row = await session.get(Cursor, source_key)
            if row is None:
                row = Cursor(source_key=source_key, position=cursor)
            else:
                row.position = cursor
                row.updated_at = utcnow()
            session.add(row)
            await session.commit()


@dataclass
class _Running:
    runner: SourceRunner
    task: asyncio.Task[None]
    config: dict[str, object]


class IngestSupervisor:
    """Keeps one runner per active source row; one failing source never stops the others."""

    def __init__(
        self, maker: async_sessionmaker[AsyncSession], broker: Broker, *, reconcile_every: float = 3.0
    ) -> None:
        self.maker = maker
        self.broker = broker
        self.reconcile_every = reconcile_every
        self.purge_every = 3600.0
        self.cursors = StoreCursorStore(maker)
        self._running: dict[int, _Running] = {}

    def statuses(self) -> dict[int, SourceStatus]:
        return {source_id: r.runner.status for source_id, r in self._running.items()}

    async def _active_sources(self) -> list[Source]:
        async with self.maker() as session:
            return list((await session.exec(select(Source).where(Source.paused == False))).all())  # noqa: E712

    async def reconcile(self) -> None:
        rows = {row.id: row for row in await self._active_sources() if row.id is not None}
        for source_id in list(self._running):
            running = self._running[source_id]
            row = rows.get(source_id)
            if row is None or row.config != running.config or running.task.done():
                await self._stop(source_id)
        for source_id, row in rows.items():
            if source_id in self._running:
                continue
            try:
                source = await build_source(row, self.maker)
            except ValueError as exc:
                logger.warning("ingest.source_invalid", extra={"source_id": source_id, "error": str(exc)})
                continue
            runner = SourceRunner(
                source, StorePostSink(self.maker, self.broker, row.event_id), self.cursors, source_key=source_key(row)
            )
            task = asyncio.create_task(runner.run(), name=f"source:{source_id}")
            self._running[source_id] = _Running(runner, task, dict(row.config))
            logger.info("ingest.source_started", extra={"source_id": source_id, "kind": row.kind})

    async def _stop(self, source_id: int) -> None:
        running = self._running.pop(source_id)
        running.runner.stop()
        try:
            await asyncio.wait_for(asyncio.shield(running.task), timeout=5)
        except (TimeoutError, Exception):
            running.task.cancel()
            with contextlib.suppress(BaseException):
                await running.task

    async def save_statuses(self) -> None:
        """Write every runner's status onto its source row, so replicas without ingest can show it."""
        async with self.maker() as session:
            uow = UnitOfWork(session, self.broker)
            await save_statuses(uow, self.statuses())
            await uow.commit()

    async def purge_expired(self) -> int:
        """Apply each event's retention setting: posts older than it are erased."""
        erased = 0
        async with self.maker() as session:
            uow = UnitOfWork(session, self.broker)
            for event in await privacy.events_with_retention(uow):
                erased += await privacy.purge_expired(uow, event)
            await uow.commit()
        return erased

    async def run(self) -> None:
        next_purge = 0.0
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    await self.reconcile()
                    await self.save_statuses()
                    if loop.time() >= next_purge:
                        next_purge = loop.time() + self.purge_every
                        if erased := await self.purge_expired():
                            logger.info("ingest.retention_purged", extra={"posts": erased})
                except Exception:
                    logger.exception("ingest.reconcile_failed")
                await asyncio.sleep(self.reconcile_every)
        finally:
            for source_id in list(self._running):
                await self._stop(source_id)
