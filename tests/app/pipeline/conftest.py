from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.settings import Settings
from app.store.db import create_engine, sessionmaker


@pytest.fixture
async def store(
    settings: Settings, event: dict[str, Any]
) -> AsyncIterator[tuple[AsyncEngine, async_sessionmaker[AsyncSession]]]:
    """The test event's database, opened by the test itself (as a worker process opens it)."""
    engine = create_engine(settings)
    try:
        yield engine, sessionmaker(engine)
    finally:
        await engine.dispose()
