"""SQLAlchemy's aiosqlite adapter, each statement in one trip to the connection's thread instead of four.

aiosqlite runs SQLite on a thread of its own; SQLAlchemy's cursor adapter opens a cursor, executes,
fetches and closes, each a separate trip there and back (two thread wake-ups each). A note's
transaction runs about ten statements: ~40 trips, a few milliseconds of waiting on an idle machine and
far more when the cores are busy (each wake-up waits for a core). Here the four steps run as one
function on that thread; the statement's description, row count, last row id and rows come back
together. Everything else (connection, transactions, server-side cursors, errors) is SQLAlchemy's own
adapter, passed to ``create_async_engine`` as its DBAPI ``module``.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)

_Outcome = tuple[Any, int, int | None, list[Any] | None]


def _run(connection: aiosqlite.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    """On the connection's thread: the statement, its rows and the cursor's close, in one go."""
    cursor = connection._conn.cursor()  # on its own thread, as aiosqlite runs it
    try:
        if many:
            cursor.executemany(operation, parameters)
        else:
            cursor.execute(operation, () if parameters is None else parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement is one trip to aiosqlite's thread; no sqlite3 cursor is kept."""

    __slots__ = ("_description", "_rowcount", "_lastrowid")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # No cursor is opened here (SQLAlchemy's adapter makes a trip for it): ``_run`` opens its own.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = {}
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass  # rows are fetched all at once; fetchmany sizes its own slices

    async def _async_soft_close(self) -> None:
        return  # the cursor was closed on the thread with its statement

    def close(self) -> None:
        self._rows.clear()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._trip(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        await self._trip(operation, seq_of_parameters, many=True)

    async def _trip(self, operation: str, parameters: Any, *, many: bool) -> None:
        async with self._adapt_connection._execute_mutex:
            outcome: _Outcome = await self._connection._execute(_run, self._connection, operation, parameters, many)
        self._description, self._rowcount, self._lastrowid, rows = outcome
        self._rows = collections.deque(rows) if rows is not None else collections.deque()

    def nextset(self) -> None:
        raise NotImplementedError("SQLite statements return one result set")

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None


class _OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor

    # With no transaction open, sqlite3's commit and rollback do nothing; they still cost a trip to the
    # thread, and the pool rolls back every connection handed back to it (after each note group's commit).
    # SQLite's own flag says whether one is open; nothing else runs on the connection while it is asked.
    def commit(self) -> None:
        if self._open_transaction():
            super().commit()

    def rollback(self) -> None:
        if self._open_transaction():
            super().rollback()

    def _open_transaction(self) -> bool:
        raw: sqlite3.Connection | None = self._connection._connection
        return raw is not None and raw.in_transaction


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite DBAPI shim, handing out connections whose cursors make one trip a statement."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        return _OneTripConnection(self, adapted._connection)
