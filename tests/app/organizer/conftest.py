"""Organizer test helpers: an authorised client view of an event, and posting notes as attendees."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.settings import Settings


@pytest.fixture
def settings(database_url: str, broker_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        broker_url=broker_url,
        pipeline_in_process=False,
        admin_token=None,
        schedule_fetch_allow_private=True,
    )


def auth(event: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {event['organizer_token']}"}


def post_note(client: TestClient, text: str, *, client_id: str = "alice", **fields: Any) -> dict[str, Any]:
    response = client.post(
        "/api/events/testcon/posts", json={"text": text, **fields}, headers={"X-Client-Id": client_id}
    )
    assert response.status_code == 201, response.text
    return response.json()["post"]  # type: ignore[no-any-return]


def visible_ids(client: TestClient) -> list[int]:
    return [p["id"] for p in client.get("/api/events/testcon/posts").json()["items"]]
