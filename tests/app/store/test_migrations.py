"""The migrations build exactly the schema the tables declare: a new column or index needs its migration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlmodel import SQLModel

import app.store.tables  # noqa: F401  (registers every table on SQLModel.metadata)
from app.settings import Settings
from app.store.db import create_engine, migrate
from tests.conftest import fresh_database


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": False})
    return list(compare_metadata(context, SQLModel.metadata))


@pytest.mark.anyio
async def test_a_migrated_database_matches_the_declared_tables(tmp_path: Path, postgres_template: str | None) -> None:
    # SQLite, or (scale-out run) a copy of the PostgreSQL template the migrations built
    with fresh_database(tmp_path, postgres_template) as url:
        engine = create_engine(Settings(_env_file=None, database_url=url))  # type: ignore[call-arg]
        try:
            await migrate(engine)
            async with engine.connect() as connection:
                differences = await connection.run_sync(_differences)
        finally:
            await engine.dispose()
    assert differences == []
