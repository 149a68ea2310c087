"""Schemathesis against the app's own OpenAPI document, every operation: no 5xx, every response as documented."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from app.main import create_app
from app.settings import Settings
from tests.conftest import create_event

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
# Statuses such as 404 or 429 are not all listed per operation; a documented status must match its schema.


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, str]:
    """The real app on SQLite with one event, so generated requests reach past the 404 of an unknown slug."""
    directory: Path = tmp_path_factory.mktemp("fuzz")
    app = create_app(
        Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=f"sqlite+aiosqlite:///{directory / 'fuzz.db'}",
            pipeline_in_process=False,
            rate_limit_posts="10000/minute",
            rate_limit_votes="10000/minute",
            rate_limit_exports="10000/minute",
            rate_limit_posts_per_address="10000/minute",
            rate_limit_votes_per_address="10000/minute",
            rate_limit_exports_per_address="10000/minute",
            rate_limit_events_per_address="10000/hour",
        )
    )
    with TestClient(app) as client:
        token = create_event(client, slug="fuzzcon")["organizer_token"]
        client.post("/api/events/fuzzcon/posts", json={"text": "a post to vote on and moderate"})
    return app, token


def test_every_operation_answers_without_5xx_and_as_documented(fuzzed: tuple[Any, str]) -> None:
    app, token = fuzzed
    api = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) > 20
    calls = 0
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def exercise(case: Any) -> None:
            nonlocal calls
            calls += 1
            if case.path_parameters and "slug" in case.path_parameters and zlib.crc32(repr(case.body).encode()) % 2:
                case.path_parameters["slug"] = "fuzzcon"  # half the cases on the real event
            if "organizer" in (case.operation.tags or []):
                case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
            case.call_and_validate(checks=CHECKS)

        exercise()
    assert calls >= 2 * len(operations)
