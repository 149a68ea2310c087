"""Organizers create events; anybody reads them."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.conftest import create_event


def test_creating_an_event_returns_its_organizer_token_once(client: TestClient) -> None:
    created = create_event(client, "pycon-x", name="PyCon X")
    assert created["event"]["slug"] == "pycon-x"
    assert len(created["organizer_token"]) >= 24
    read = client.get("/api/events/pycon-x").json()
    assert read["name"] == "PyCon X"
    assert "organizer_token" not in read


def test_only_a_hash_of_the_organizer_token_is_stored(client: TestClient, settings: Settings) -> None:
    token = create_event(client, "hashed")["organizer_token"]
    path = settings.sqlite_path()
    if path is None:
        return
    with sqlite3.connect(Path(path)) as db:
        (stored,) = db.execute("select organizer_token_hash from event where slug='hashed'").fetchone()
    assert token not in stored and len(stored) == 64


def test_hashtags_are_normalised_and_deduplicated(client: TestClient) -> None:
    created = create_event(client, "tags", hashtags=["#PyCon", "pycon", "talks_2026"])
    assert created["event"]["hashtags"] == ["pycon", "talks_2026"]


def test_a_taken_slug_is_refused_with_409(client: TestClient, event: dict[str, Any]) -> None:
    response = client.post("/api/events", json={"slug": "testcon", "name": "Again"})
    assert response.status_code == 409
    assert response.json()["error"]["field"] == "slug"


def test_a_bad_slug_is_refused_naming_the_field(client: TestClient) -> None:
    response = client.post("/api/events", json={"slug": "Not A Slug!", "name": "x"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "slug"


def test_an_unknown_time_zone_is_refused(client: TestClient) -> None:
    response = client.post("/api/events", json={"slug": "tz", "name": "x", "time_zone": "Mars/Olympus"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "time_zone"


def test_an_unknown_event_is_404(client: TestClient) -> None:
    response = client.get("/api/events/nope")
    assert response.status_code == 404
    assert response.json()["error"]["message"]


def test_with_an_admin_token_configured_only_the_admin_creates_events(settings: Settings) -> None:
    admin = settings.model_copy(update={"admin_token": "s3cret-admin"})
    with TestClient(create_app(admin)) as client:
        body = {"slug": "guarded", "name": "Guarded"}
        assert client.post("/api/events", json=body).status_code == 401
        assert client.post("/api/events", json=body, headers={"Authorization": "Bearer nope"}).status_code == 403
        ok = client.post("/api/events", json=body, headers={"Authorization": "Bearer s3cret-admin"})
        assert ok.status_code == 201


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz").json()
    assert ready["status"] == "ok"
    assert ready["checks"] == {"database": "ok", "broker": "ok"}


def test_openapi_and_docs_are_served_without_external_assets(client: TestClient) -> None:
    assert client.get("/openapi.json").json()["info"]["title"] == "Backchannel"
    docs = client.get("/docs").text
    assert "/static/swagger/swagger-ui-bundle.js" in docs
    assert "cdn." not in docs
    assert client.get("/static/swagger/swagger-ui-bundle.js").status_code == 200


def test_the_organizer_corrects_the_events_details_and_the_change_is_audited(
    client: TestClient, event: dict[str, Any]
) -> None:
    headers = {"Authorization": f"Bearer {event['organizer_token']}"}
    body = {"name": "Test Conference 2026", "hashtags": ["#TestCon", "testcon26"], "starts_on": "2026-05-04"}
    response = client.patch("/api/events/testcon", json=body, headers=headers)
    assert response.status_code == 200, response.text
    read = client.get("/api/events/testcon").json()
    assert (read["name"], read["hashtags"], read["starts_on"]) == (body["name"], ["testcon", "testcon26"], "2026-05-04")
    assert read["time_zone"] == "Europe/Berlin"  # not sent: unchanged
    cleared = client.patch("/api/events/testcon", json={"starts_on": None}, headers=headers).json()
    assert cleared["starts_on"] is None and cleared["name"] == "Test Conference 2026"
    audit = client.get("/api/events/testcon/moderation/audit", headers=headers).json()["items"]
    assert [(a["action"], a["details"]["fields"]) for a in audit[:2]] == [
        ("event.update", ["starts_on"]),
        ("event.update", ["hashtags", "name", "starts_on"]),
    ]


def test_bad_event_corrections_name_the_field_and_change_nothing(client: TestClient, event: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {event['organizer_token']}"}
    assert client.patch("/api/events/testcon", json={"name": "X"}).status_code == 401
    assert (
        client.patch("/api/events/testcon", json={"name": "X"}, headers={"Authorization": "Bearer no"}).status_code
        == 403
    )
    client.patch("/api/events/testcon", json={"starts_on": "2026-05-04"}, headers=headers)
    cases = [
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"slug": "elsewhere"}, "slug"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"hashtags": ["#a-b"]}, "hashtags"),
        ({"ends_on": "2026-05-01"}, "ends_on"),  # before the stored first day
    ]
    for change, field in cases:
        response = client.patch("/api/events/testcon", json=change, headers=headers)
        assert 400 <= response.status_code < 500, change
        assert response.json()["error"]["field"] == field, (change, response.json())
    read = client.get("/api/events/testcon").json()
    assert (read["name"], read["starts_on"], read["ends_on"]) == ("Test Conference", "2026-05-04", None)
