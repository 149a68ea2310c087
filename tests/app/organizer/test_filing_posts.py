"""An organizer puts a post the clustering stage got wrong on the talk it is about."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.app.organizer.conftest import auth, post_note
from tests.app.organizer.test_exports import add_talk
from tests.conftest import create_event
from tests.live import Follower

BASE = "/api/events/testcon"


def file(client: TestClient, event: dict[str, Any], post_id: int | str, body: Any) -> Any:
    return client.post(f"{BASE}/moderation/posts/{post_id}/talk", json=body, headers=auth(event))


def test_a_filed_post_moves_to_its_talk_for_followers_at_once(client: TestClient, event: dict[str, Any]) -> None:
    talk = add_talk(client, event, "otel", "Observability on a budget", 10)
    note = post_note(client, "Sampling at the edge saved us half the bill")
    last_id = client.get(BASE).json()["last_id"]
    with client.websocket_connect(f"/ws/events/testcon?after={last_id}") as ws:
        filed = file(client, event, note["id"], {"talk_id": talk["id"]})
        frame = Follower(ws).frames_until(lambda f: f["type"] == "post.filed")[-1]
    assert filed.status_code == 200, filed.text
    assert filed.json()["talk_id"] == talk["id"] and filed.json()["talk_confidence"] == 1.0
    assert frame["data"]["talk_id"] == talk["id"] and frame["data"]["version"] == note["version"] + 1
    listed = client.get(f"{BASE}/posts", params={"talk": talk["id"]}).json()["items"]
    assert [p["id"] for p in listed] == [note["id"]]
    entries = client.get(f"{BASE}/moderation/audit", headers=auth(event)).json()["items"]
    assert [e["action"] for e in entries if e["target"] == f"post:{note['id']}"] == ["post.file"]
    again = file(client, event, note["id"], {"talk_id": talk["id"]})  # already there: nothing changes
    assert again.json()["version"] == filed.json()["version"]


def test_a_talk_of_another_event_or_none_is_refused_naming_the_talk(client: TestClient, event: dict[str, Any]) -> None:
    note = post_note(client, "Great keynote")
    elsewhere = create_event(client, slug="othercon")
    other = client.post(
        "/api/events/othercon/talks",
        json={"title": "Elsewhere", "start": "2026-05-04T10:00:00Z", "end": "2026-05-04T11:00:00Z"},
        headers=auth(elsewhere),
    )
    assert other.status_code == 201, other.text
    for talk_id in (99_999, other.json()["id"]):
        refused = file(client, event, note["id"], {"talk_id": talk_id})
        assert refused.status_code == 404
        assert refused.json()["error"]["field"] == "talk_id"
    stored = {p["id"]: p for p in client.get(f"{BASE}/posts").json()["items"]}
    assert stored[note["id"]]["talk_id"] is None  # nothing changed


def test_a_post_moved_back_to_the_hallway_leaves_its_talk_for_followers_at_once(
    client: TestClient, event: dict[str, Any]
) -> None:
    talk = add_talk(client, event, "otel", "Observability on a budget", 10)
    note = post_note(client, "Who parked the blue van in front of the venue?")
    file(client, event, note["id"], {"talk_id": talk["id"]})  # filed there by mistake
    last_id = client.get(BASE).json()["last_id"]
    with client.websocket_connect(f"/ws/events/testcon?after={last_id}") as ws:
        moved = file(client, event, note["id"], {"talk_id": None})
        frame = Follower(ws).frames_until(lambda f: f["type"] == "post.filed")[-1]
    assert moved.status_code == 200, moved.text
    assert moved.json()["talk_id"] is None and moved.json()["talk_confidence"] == 1.0
    assert frame["data"]["id"] == note["id"] and frame["data"]["talk_id"] is None
    assert client.get(f"{BASE}/posts", params={"talk": talk["id"]}).json()["items"] == []
    hallway = client.get(f"{BASE}/posts", params={"hallway": True}).json()["items"]
    assert [p["id"] for p in hallway] == [note["id"]]
    entries = client.get(f"{BASE}/moderation/audit", headers=auth(event)).json()["items"]
    assert [e["action"] for e in entries if e["target"] == f"post:{note['id']}"] == ["post.file", "post.file"]
    again = file(client, event, note["id"], {"talk_id": None})  # already there: nothing changes
    assert again.json()["version"] == moved.json()["version"]


def test_a_question_moved_to_its_talk_takes_its_answers_along(client: TestClient, event: dict[str, Any]) -> None:
    """An answer belongs where its question is: it went to the question's talk with it, and an organizer who
    moves the question moves the thread. An answer already put elsewhere stays there."""
    wrong = add_talk(client, event, "otel", "Observability on a budget", 10)
    right = add_talk(client, event, "mlops", "Shipping small models", 11)
    other = add_talk(client, event, "a11y", "Accessibility is a feature", 12)
    question = post_note(client, "Which model registry do you use?", kind="question", talk_id=wrong["id"])
    answers = [
        post_note(client, text, client_id=who, reply_to=question["id"])
        for text, who in (("MLflow, mostly for lineage.", "bob"), ("A bucket and a naming rule.", "cy"))
    ]
    assert {a["talk_id"] for a in answers} == {wrong["id"]}  # each went where its question was
    elsewhere = post_note(client, "Ask the speaker after the talk", client_id="dee", reply_to=question["id"])
    file(client, event, elsewhere["id"], {"talk_id": other["id"]})

    last_id = client.get(BASE).json()["last_id"]
    with client.websocket_connect(f"/ws/events/testcon?after={last_id}") as ws:
        moved = file(client, event, question["id"], {"talk_id": right["id"]})
        marker = post_note(client, "Posted after the move", client_id="eve")
        frames = Follower(ws).frames_until(lambda f: f["data"].get("id") == marker["id"])
    assert moved.status_code == 200, moved.text
    assert moved.json()["talk_id"] == right["id"] and moved.json()["answers_moved"] == 2
    filed = [(f["data"]["id"], f["data"]["talk_id"]) for f in frames if f["type"] == "post.filed"]
    assert filed == [(question["id"], right["id"]), *((a["id"], right["id"]) for a in answers)]
    on_right = client.get(f"{BASE}/posts", params={"talk": right["id"]}).json()["items"]
    assert sorted(p["id"] for p in on_right) == sorted([question["id"], *(a["id"] for a in answers)])
    assert all(p["talk_confidence"] == 1.0 for p in on_right)
    assert [p["id"] for p in client.get(f"{BASE}/posts", params={"talk": other["id"]}).json()["items"]] == [
        elsewhere["id"]
    ]
    entry = next(
        e
        for e in client.get(f"{BASE}/moderation/audit", headers=auth(event)).json()["items"]
        if e["target"] == f"post:{question['id']}"
    )
    assert entry["details"]["answers_moved"] == 2


@pytest.mark.parametrize("body", [{}, {"talk_id": "abc"}, {"talk_id": 0}, {"talk": 1}, {"talk_id": None, "x": 1}, [1]])
def test_a_bad_body_is_refused_naming_the_field(client: TestClient, event: dict[str, Any], body: Any) -> None:
    note = post_note(client, "Great keynote")
    refused = file(client, event, note["id"], body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] in ("talk_id", "talk", "x", "body")


def test_a_deleted_post_cannot_be_filed(client: TestClient, event: dict[str, Any]) -> None:
    talk = add_talk(client, event, "otel", "Observability on a budget", 10)
    created = client.post(f"{BASE}/posts", json={"text": "Oops"}, headers={"X-Client-Id": "alice"}).json()
    client.delete(f"{BASE}/posts/{created['post']['id']}", headers={"X-Delete-Token": created["delete_token"]})
    refused = file(client, event, created["post"]["id"], {"talk_id": talk["id"]})
    assert refused.status_code == 404 and refused.json()["error"]["field"] == "post_id"
