"""Shared fixtures: explicit Settings per test, the real app on a real SQLite file (or Postgres/Redis)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'backchannel.db'}"


@pytest.fixture
def broker_url() -> str:
    return "memory://"


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
