"""Organizers add talks by hand; re-posting a guid updates the talk in place."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

TALK = {
    "guid": "talk-1",
    "title": "Async Rust without tears",
    "start": "2026-05-04T10:00:00+02:00",
    "end": "2026-05-04T10:40:00+02:00",
    "room": "Main hall",
    "speakers": ["Ben Okafor"],
}


def auth(event: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {event['organizer_token']}"}


def test_an_organizer_adds_a_talk_and_everyone_sees_it(client: TestClient, event: dict[str, Any]) -> None:
    response = client.post("/api/events/testcon/talks", json=TALK, headers=auth(event))
    assert response.status_code == 201
    talks = client.get("/api/events/testcon/talks").json()["items"]
    assert [t["title"] for t in talks] == ["Async Rust without tears"]
    assert talks[0]["start"].startswith("2026-05-04T08:00:00")


def test_adding_a_talk_needs_the_organizer_token(client: TestClient, event: dict[str, Any]) -> None:
    assert client.post("/api/events/testcon/talks", json=TALK).status_code == 401
    wrong = client.post("/api/events/testcon/talks", json=TALK, headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 403
    assert client.get("/api/events/testcon/talks").json()["items"] == []


def test_posting_the_same_guid_again_moves_the_talk_in_place(client: TestClient, event: dict[str, Any]) -> None:
    first = client.post("/api/events/testcon/talks", json=TALK, headers=auth(event)).json()
    moved = client.post("/api/events/testcon/talks", json={**TALK, "room": "Room B"}, headers=auth(event))
    assert moved.status_code == 200
    assert moved.json()["id"] == first["id"]
    assert moved.json()["room"] == "Room B"
    assert moved.json()["version"] == first["version"] + 1


def test_a_talk_must_end_after_it_starts(client: TestClient, event: dict[str, Any]) -> None:
    bad = {**TALK, "end": "2026-05-04T09:00:00+02:00"}
    response = client.post("/api/events/testcon/talks", json=bad, headers=auth(event))
    assert response.status_code == 422


def test_times_without_an_offset_are_refused_naming_the_field(client: TestClient, event: dict[str, Any]) -> None:
    bad = {**TALK, "start": "2026-05-04T10:00:00"}
    response = client.post("/api/events/testcon/talks", json=bad, headers=auth(event))
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "start"
