"""With a Redis broker, rate-limit counts are shared: two replicas of the API count one client together."""

from __future__ import annotations

import os
import uuid

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from app.main import create_app
from app.settings import Settings
from tests.app.organizer.conftest import post_note
from tests.conftest import create_event, fresh_broker

REDIS_URL = os.environ.get("BACKCHANNEL_TEST_REDIS_URL")
pytestmark = pytest.mark.skipif(
    not REDIS_URL, reason="needs BACKCHANNEL_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0)"
)


def test_two_replicas_share_one_clients_post_budget(settings: Settings) -> None:
    assert REDIS_URL is not None
    client_id = f"client-{uuid.uuid4()}"
    # counts live in Redis: under this run's own key prefix (removed after), so no earlier run's counts, such
    # as events created from this address, are still there
    with fresh_broker() as broker:
        shared = settings.model_copy(update={"broker_url": broker, "rate_limit_posts": "3/minute"})
        response = _fourth_post_across_replicas(shared, client_id)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1


def _fourth_post_across_replicas(shared: Settings, client_id: str) -> Response:
    with TestClient(create_app(shared)) as first, TestClient(create_app(shared)) as second:
        create_event(first)
        post_note(first, "one", client_id=client_id)
        post_note(second, "two", client_id=client_id)
        post_note(first, "three", client_id=client_id)
        return second.post("/api/events/testcon/posts", json={"text": "four"}, headers={"X-Client-Id": client_id})
