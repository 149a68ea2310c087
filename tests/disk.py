"""A full disk on demand, for SQLite: every connection checked out may grow its file by no page more."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncEngine


class FullDisk:
    """From construction on, the engine's SQLite file is full; set ``full = False`` to give it room again."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.full = True
        sa_event.listen(engine.sync_engine, "checkout", self._cap)

    def _cap(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        # PRAGMA max_page_count = the current size: the next page SQLite needs is "disk full".
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA page_count")
        pages = cursor.fetchone()[0]
        cursor.execute(f"PRAGMA max_page_count = {pages if self.full else 1_000_000_000}")
        cursor.close()
