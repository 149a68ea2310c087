"""Shared fixtures: explicit Settings per test, the real app on a real SQLite file (or Postgres/Redis)."""

from __future__ import annotations

import asyncio
import gc
import io
import os
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A test that pytest-timeout stops hung on an await somewhere: the threads' stacks it prints end in a
    lock's ``acquire``; the coroutine each pending task waits in says which await it was."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed and call.excinfo is not None and str(call.excinfo.value).startswith("Timeout"):
        report.sections.append(("pending asyncio tasks", _pending_tasks()))


def _pending_tasks() -> str:
    out = io.StringIO()
    loops = [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop) and o.is_running()]
    for loop in loops:
        for task in asyncio.all_tasks(loop):
            task.print_stack(limit=20, file=out)
    return out.getvalue() or "none"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


TEST_DATABASE_URL = os.environ.get("BACKCHANNEL_TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("BACKCHANNEL_TEST_REDIS_URL")


def _pg_dsn(url: str, database: str | None = None) -> str:
    """SQLAlchemy's URL as asyncpg takes it, optionally naming another database."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def _run_aside(coroutine: Coroutine[Any, Any, None]) -> None:
    """asyncio.run() on a thread of its own.

    A browser test's Playwright keeps its event loop registered as the main thread's running loop
    while Chromium is open, and asyncio.run() refuses to start under it; the database fixtures set
    up and tear down around those tests too.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-admin") as aside:
        aside.submit(asyncio.run, coroutine).result()


async def _pg_admin(url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_pg_dsn(url))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _migrate_template(url: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from app.store.db import migrate

    engine = create_async_engine(url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str | None]:
    """One migrated database per test run; each test gets a copy of it (CREATE DATABASE … TEMPLATE)."""
    if not TEST_DATABASE_URL:
        yield None
        return
    from sqlalchemy.engine import make_url

    name = f"bc_tpl_{uuid.uuid4().hex[:12]}"
    _run_aside(_pg_admin(TEST_DATABASE_URL, f'CREATE DATABASE "{name}"'))
    try:
        _run_aside(_migrate_template(make_url(TEST_DATABASE_URL).set(database=name).render_as_string(False)))
        yield name
    finally:
        _run_aside(_pg_admin(TEST_DATABASE_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def fresh_database(folder: Path, postgres_template: str | None) -> Iterator[str]:
    """SQLite in ``folder``, or a fresh PostgreSQL database when BACKCHANNEL_TEST_DATABASE_URL is set."""
    if not TEST_DATABASE_URL or postgres_template is None:
        yield f"sqlite+aiosqlite:///{folder / 'backchannel.db'}"
        return
    from sqlalchemy.engine import make_url

    name = f"bc_{uuid.uuid4().hex[:16]}"
    _run_aside(_pg_admin(TEST_DATABASE_URL, f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    try:
        yield make_url(TEST_DATABASE_URL).set(drivername="postgresql+asyncpg", database=name).render_as_string(False)
    finally:
        _run_aside(_pg_admin(TEST_DATABASE_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def fresh_broker() -> Iterator[str]:
    """The in-process broker, or Redis Streams under a key prefix of its own (BACKCHANNEL_TEST_REDIS_URL)."""
    if not TEST_REDIS_URL:
        yield "memory://"
        return
    import redis

    prefix = f"bc-test-{uuid.uuid4().hex[:12]}:"
    separator = "&" if "?" in TEST_REDIS_URL else "?"
    yield f"{TEST_REDIS_URL}{separator}prefix={prefix}"
    client = redis.Redis.from_url(TEST_REDIS_URL)
    try:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
    except redis.RedisError:
        pass  # a test that stopped Redis leaves nothing behind anyway
    finally:
        client.close()


@pytest.fixture
def database_url(tmp_path: Path, postgres_template: str | None) -> Iterator[str]:
    with fresh_database(tmp_path, postgres_template) as url:
        yield url


@pytest.fixture
def broker_url() -> Iterator[str]:
    with fresh_broker() as url:
        yield url


@pytest.fixture
def settings(database_url: str, broker_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        broker_url=broker_url,
        pipeline_in_process=False,
        admin_token=None,
        ws_heartbeat_seconds=15.0,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def create_event(client: TestClient, slug: str = "testcon", **fields: Any) -> dict[str, Any]:
    body = {"slug": slug, "name": "Test Conference", "hashtags": ["testcon"], "time_zone": "Europe/Berlin"}
    body.update(fields)
    response = client.post("/api/events", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture
def event(client: TestClient) -> dict[str, Any]:
    """An event with its one-time organizer token: {"event": {...}, "organizer_token": "..."}."""
    return create_event(client)
