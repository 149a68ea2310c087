"""Engine, sessions and schema migrations for SQLite (embedded) and PostgreSQL (scale-out)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import ColumnElement, Integer, String, any_, bindparam, event, func, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from app.settings import Settings
from app.store import jsontext
from app.store.sqlite_driver import OneTripDBAPI

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_engine(settings: Settings) -> AsyncEngine:
    """Build the async engine; SQLite gets WAL and a busy timeout so readers never block the writer."""
    if settings.is_sqlite:
        path = settings.sqlite_path()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            settings.database_url,
            connect_args={"timeout": 30},
            module=OneTripDBAPI(),
            json_serializer=jsontext.dumps,
            json_deserializer=jsontext.loads,
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL makes a commit durable once it is in the WAL file: a killed process
            # (kill -9, the fault tests) loses nothing committed; only an OS crash or power cut can
            # lose the last commits. FULL would add an fsync to every commit (every note group).
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_async_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_pre_ping=True,  # a connection dropped by a database restart is replaced, not handed out
        pool_recycle=1800,
        pool_timeout=10,  # a request waits at most this long for a connection, then fails fast
        connect_args={"timeout": 10, "server_settings": {"application_name": "backchannel"}},
        json_serializer=jsontext.dumps,
        json_deserializer=jsontext.loads,
    )


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def session_scope(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A unit of work for workers: commit on success, roll back on error."""
    async with maker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _upgrade(connection: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    if connection.dialect.name == "postgresql":
        # Several replicas may start at once; one migrates, the others wait, then find nothing to do.
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
    command.upgrade(cfg, "head")


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision; run at every start."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)
    logger.info("store.migrated")


def one_of(
    session: AsyncSession, column: Any, values: Collection[Any], item_type: TypeEngine[Any]
) -> ColumnElement[bool]:
    """``column IN (values)``: on PostgreSQL ``column = ANY(:values)``, one array parameter; on SQLite, for
    strings and integers, ``column IN (SELECT value FROM json_each(:values))``, one JSON array parameter.

    A batch's look-ups name hundreds of ids, and SQLAlchemy renders an IN list's parameters (each
    with its cast, on PostgreSQL) on every execution: about 3 µs an id there, a third of that as an array;
    on SQLite ~3 µs an id too, against ~0.1 µs for the JSON text (SQLite searches the same index either way).
    """
    bind = session.bind
    if bind is not None and bind.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(item_type)))
    if isinstance(item_type, String | Integer):
        # ensure_ascii off: a string the driver cannot encode (a lone surrogate) fails as it does in an IN list.
        array = bindparam(None, json.dumps(list(values), ensure_ascii=False), type_=String())
        return column.in_(select(literal_column("value")).select_from(func.json_each(array)).scalar_subquery())
    return column.in_(values)


def among(column: Any, name: str, item_type: TypeEngine[Any], *, postgresql: bool) -> ColumnElement[bool]:
    """``one_of`` for a statement built once, the values passed at execution as the parameter ``name``."""
    if postgresql:
        return column == any_(bindparam(name, type_=ARRAY(item_type)))
    return column.in_(bindparam(name, expanding=True))
