"""The embedded store's SQLite driver: every statement answers as SQLAlchemy's own adapter does, in one trip."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.settings import Settings
from app.store.db import create_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    settings = Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")  # type: ignore[call-arg]
    engine = create_engine(settings)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT UNIQUE NOT NULL)"))
    yield engine
    await engine.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the functions sent to aiosqlite's thread, in order."""
    sent: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return sent


@pytest.mark.anyio
async def test_each_statement_goes_to_sqlites_thread_once_with_its_rows(engine: AsyncEngine, trips: list[str]) -> None:
    async with engine.begin() as connection:
        trips.clear()
        inserted = await connection.execute(text("INSERT INTO note (body) VALUES ('first') RETURNING id, body"))
        assert inserted.all() == [(1, "first")]
        many = await connection.execute(text("INSERT INTO note (body) VALUES (:body)"), [{"body": "a"}, {"body": "b"}])
        assert many.rowcount == 2
        plain = await connection.execute(text("INSERT INTO note (body) VALUES ('last')"))
        assert plain.lastrowid == 4
        updated = await connection.execute(text("UPDATE note SET body = body || '!' WHERE id > 1"))
        assert updated.rowcount == 3
        rows = await connection.execute(text("SELECT id, body FROM note ORDER BY id"))
        assert list(rows.keys()) == ["id", "body"]
        assert rows.all() == [(1, "first"), (2, "a!"), (3, "b!"), (4, "last!")]
        assert len(trips) == 5  # SQLAlchemy's own aiosqlite adapter makes 4 trips of a statement with rows


@pytest.mark.anyio
async def test_a_failed_statement_raises_and_the_connection_carries_on(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO note (body) VALUES ('only once')"))

    async def insert_twice() -> None:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO note (body) VALUES ('lost with its transaction')"))
            await connection.execute(text("INSERT INTO note (body) VALUES ('only once')"))

    with pytest.raises(IntegrityError):
        await insert_twice()
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT body FROM note"))
        assert rows.scalars().all() == ["only once"]


@pytest.mark.anyio
async def test_a_commit_or_rollback_with_nothing_to_end_makes_no_trip(engine: AsyncEngine, trips: list[str]) -> None:
    async with engine.connect() as connection:
        trips.clear()
        await connection.execute(text("SELECT 1"))  # reading opens no transaction in SQLite
        await connection.commit()
        await connection.rollback()
        assert trips == ["_run"]
        await connection.execute(text("INSERT INTO note (body) VALUES ('kept')"))
        await connection.commit()  # this one has a transaction to end
        assert len(trips) == 3
        await connection.execute(text("INSERT INTO note (body) VALUES ('dropped')"))
        await connection.rollback()
        assert len(trips) == 5
    trips.clear()  # the pool's reset of the returned connection: nothing open, no trip
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT body FROM note ORDER BY id"))
        assert rows.scalars().all() == ["kept"]
    assert trips == ["_run"]
