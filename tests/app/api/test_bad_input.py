"""Garbage in any field of any endpoint gets a 4xx with a JSON error body, and stores nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

HUGE = "x" * 200_000

GARBAGE_BODIES: list[Any] = [
    None,
    [],
    "text",
    12,
    {"text": 12},
    {"text": ["a"]},
    {"text": HUGE},
    {"text": "ok", "talk_id": "abc"},
    {"text": "ok", "talk_id": -1},
    {"text": "ok", "talk_id": 10**30},
    {"text": "ok", "kind": "rant"},
    {"text": "ok", "display_name": HUGE},
    {"text": "ok", "reply_to": 0},
    {"text": "ok", "unexpected": True},
]


@pytest.mark.parametrize("body", GARBAGE_BODIES)
def test_garbage_notes_are_refused_and_nothing_is_stored(client: TestClient, event: dict[str, Any], body: Any) -> None:
    response = client.post("/api/events/testcon/posts", json=body)
    assert 400 <= response.status_code < 500
    assert "error" in response.json()
    assert client.get("/api/events/testcon/posts").json()["items"] == []


def test_bad_json_is_refused(client: TestClient, event: dict[str, Any]) -> None:
    response = client.post(
        "/api/events/testcon/posts", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/events/%00"),
        ("get", "/api/events/" + "a" * 500),
        ("get", "/api/events/testcon/talks/0"),
        ("get", "/api/events/testcon/talks/99999999999999999999"),
        ("get", "/api/events/testcon/talks/abc"),
        ("post", "/api/events/testcon/posts/abc/upvote"),
        ("post", "/api/events/testcon/posts/99999999999999999999/upvote"),
        ("post", "/api/events/testcon/posts/12345/upvote"),
        ("delete", "/api/events/testcon/posts/12345"),
        ("get", "/api/events/testcon/posts?limit=0"),
        ("get", "/api/events/testcon/posts?limit=100000"),
        ("get", "/api/events/testcon/posts?talk=x"),
        ("get", "/api/events/testcon/posts?kind=rant"),
        ("get", "/api/events/testcon/posts?since=yesterday"),
        ("get", "/api/events/testcon/posts?cursor=%%%"),
        ("get", "/api/events/testcon/posts?cursor=cDE5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5"),
        ("get", "/api/events/nope/posts"),
        ("post", "/api/events/nope/posts"),
    ],
)
def test_bad_paths_and_queries_get_a_json_4xx(
    client: TestClient, event: dict[str, Any], method: str, path: str
) -> None:
    response = getattr(client, method)(path)
    assert 400 <= response.status_code < 500, (path, response.status_code, response.text)
    assert "error" in response.json()


@pytest.mark.parametrize(
    "body",
    [
        {"slug": 5, "name": "x"},
        {"slug": "ok"},
        {"slug": "ok", "name": ""},
        {"slug": "ok", "name": "x", "hashtags": "notalist"},
        {"slug": "ok", "name": "x", "hashtags": ["has space"]},
        {"slug": "ok", "name": "x", "starts_on": "2026-13-45"},
        {"slug": "ok", "name": "x", "starts_on": "2026-05-05", "ends_on": "2026-05-01"},
        {"slug": "ok", "name": "x", "starts_on": "0001-01-01", "time_zone": "Pacific/Kiritimati"},
        {"slug": "ok", "name": "x", "starts_on": "9999-12-30", "ends_on": "9999-12-31"},
        {"slug": "ok", "name": HUGE},
    ],
)
def test_garbage_events_are_refused_and_nothing_is_stored(client: TestClient, body: Any) -> None:
    response = client.post("/api/events", json=body)
    assert 400 <= response.status_code < 500
    assert "error" in response.json()
    assert client.get("/api/events").json()["items"] == []
