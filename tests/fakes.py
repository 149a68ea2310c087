"""In-memory and file-backed stand-ins for the app's seams: SourceItems in, an inspectable post set out."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import anyio

from ingest.items import IncomingPost, ItemAction, SourceItem
from ingest.source import AcceptResult


class ListSink:
    """A PostSink that applies upserts and deletes idempotently, keyed by ``(source, native_id)``.

    ``posts`` is the stored state; ``batches`` every accepted batch; ``fail_next(n)`` makes the next
    ``n`` calls raise before applying anything (a database that is down).
    """

    def __init__(self) -> None:
        self.posts: dict[tuple[str, str], IncomingPost] = {}
        self.batches: list[list[SourceItem]] = []
        self.deleted: set[tuple[str, str]] = set()
        self._failures = 0
        self._changed = anyio.Event()

    def fail_next(self, times: int = 1) -> None:
        self._failures += times

    async def accept(self, batch: Sequence[SourceItem]) -> AcceptResult:
        if self._failures:
            self._failures -= 1
            raise ConnectionError("sink unavailable")
        created = updated = deleted = ignored = 0
        for item in batch:
            key = (item.source, item.native_id)
            if item.action is ItemAction.DELETE:
                if self.posts.pop(key, None) is None:
                    ignored += 1
                else:
                    deleted += 1
                self.deleted.add(key)
            elif item.post is not None:
                if key in self.posts:
                    updated += 1
                else:
                    created += 1
                self.posts[key] = item.post
        self.batches.append(list(batch))
        self._changed.set()
        self._changed = anyio.Event()
        return AcceptResult(created=created, updated=updated, deleted=deleted, ignored=ignored)

    def texts(self, source: str | None = None) -> dict[str, str]:
        """``native_id -> text`` of the stored posts (of one source)."""
        return {nid: post.text for (src, nid), post in self.posts.items() if source in (None, src)}

    async def wait_until(self, predicate: Callable[[ListSink], bool]) -> None:
        """Return once ``predicate(self)`` holds; bound it with ``anyio.fail_after``."""
        while not predicate(self):
            await self._changed.wait()


class JsonFileCursorStore:
    """A CursorStore in one JSON file, replaced atomically so a crash never leaves half a cursor."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.saves: list[tuple[str, str]] = []

    def _read(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        return json.loads(self.path.read_text(encoding="utf-8"))

    async def load(self, source_key: str) -> str | None:
        return self._read().get(source_key)

    async def save(self, source_key: str, cursor: str) -> None:
        data = self._read()
        data[source_key] = cursor
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data), encoding="utf-8")
        os.replace(temporary, self.path)
        self.saves.append((source_key, cursor))


class FakeClock:
    """Wall time that only moves when slept on: backoff delays are recorded, never waited for.

    ``hold()`` makes the next sleeps wait until ``release()``, so a test can act while a runner
    is backing off (``await clock.sleeping()`` returns once it is).
    """

    def __init__(self, start: float = 1_790_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._gate: anyio.Event | None = None
        self._slept = anyio.Event()

    def hold(self) -> None:
        self._gate = anyio.Event()

    def release(self) -> None:
        if self._gate is not None:
            self._gate.set()
            self._gate = None

    async def sleeping(self) -> None:
        """Return once some task is inside ``sleep`` (after this call)."""
        self._slept = anyio.Event()
        await self._slept.wait()

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._slept.set()
        if self._gate is not None:
            await self._gate.wait()
        self.now += seconds
        await anyio.sleep(0)
