"""Attendees post notes and questions, upvote once, and delete what they wrote."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.app.api.test_talks import TALK, auth


def note(client: TestClient, text: str, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/events/testcon/posts", json={"text": text, **fields})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_note_is_stored_and_returned_with_a_delete_token(client: TestClient, event: dict[str, Any]) -> None:
    created = note(client, "  Indexes   must be built\u0000 concurrently  ", display_name="Ana")
    assert created["post"]["text"] == "Indexes must be built concurrently"
    assert created["post"]["author"]["name"] == "Ana"
    assert created["post"]["source"] == "notes"
    assert created["delete_token"]
    listed = client.get("/api/events/testcon/posts").json()["items"]
    assert [p["id"] for p in listed] == [created["post"]["id"]]


def test_questions_are_recognised(client: TestClient, event: dict[str, Any]) -> None:
    assert note(client, "How does the planner pick a join order?")["post"]["kind"] == "question"
    assert note(client, "Explain the join order", kind="question")["post"]["kind"] == "question"
    assert note(client, "Great talk, thanks!")["post"]["kind"] != "question"


def test_a_reply_to_a_question_is_an_answer_attached_to_it(client: TestClient, event: dict[str, Any]) -> None:
    question = note(client, "Which executor should I use?")["post"]
    answer = note(client, "Tokio is the default choice.", reply_to=question["id"])["post"]
    assert answer["kind"] == "answer"
    assert answer["reply_to_id"] == question["id"]


def test_a_note_about_a_talk_is_listed_under_that_talk(client: TestClient, event: dict[str, Any]) -> None:
    talk = client.post("/api/events/testcon/talks", json=TALK, headers=auth(event)).json()
    on_talk = note(client, "Futures are lazy", talk_id=talk["id"])["post"]
    note(client, "Coffee is great")
    listed = client.get("/api/events/testcon/posts", params={"talk": talk["id"]}).json()["items"]
    assert [p["id"] for p in listed] == [on_talk["id"]]
    hallway = client.get("/api/events/testcon/posts", params={"hallway": "true"}).json()["items"]
    assert [p["text"] for p in hallway] == ["Coffee is great"]
    # a parameter the listing does not take would list every post as if filtered: refused, named
    mistyped = client.get("/api/events/testcon/posts", params={"talk_id": talk["id"]})
    assert mistyped.status_code == 422
    assert mistyped.json()["error"] == {
        "message": "unknown query parameter 'talk_id': it takes cursor, hallway, kind, limit, since, talk",
        "field": "talk_id",
    }


def test_listing_filters_by_kind_and_pages_with_a_cursor(client: TestClient, event: dict[str, Any]) -> None:
    ids = [note(client, f"Takeaway number {i}")["post"]["id"] for i in range(5)]
    question = note(client, "Why is that?")["post"]["id"]
    first = client.get("/api/events/testcon/posts", params={"limit": 2}).json()
    second = client.get("/api/events/testcon/posts", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [p["id"] for p in first["items"]] == [question, ids[4]]
    assert [p["id"] for p in second["items"]] == [ids[3], ids[2]]
    questions = client.get("/api/events/testcon/posts", params={"kind": "question"}).json()["items"]
    assert [p["id"] for p in questions] == [question]


def test_since_keeps_only_newer_posts(client: TestClient, event: dict[str, Any]) -> None:
    note(client, "Old enough")
    assert client.get("/api/events/testcon/posts", params={"since": "2999-01-01T00:00:00Z"}).json()["items"] == []


def test_an_upvote_counts_once_per_client(client: TestClient, event: dict[str, Any]) -> None:
    post = note(client, "Use lock_timeout")["post"]
    url = f"/api/events/testcon/posts/{post['id']}/upvote"
    assert client.post(url, headers={"X-Client-Id": "browser-a"}).json()["upvotes"] == 1
    again = client.post(url, headers={"X-Client-Id": "browser-a"})
    assert again.status_code == 409
    assert client.post(url, headers={"X-Client-Id": "browser-b"}).json()["upvotes"] == 2


def test_an_attendee_deletes_their_post_with_its_token(client: TestClient, event: dict[str, Any]) -> None:
    created = note(client, "Oops, wrong room")
    url = f"/api/events/testcon/posts/{created['post']['id']}"
    assert client.delete(url).status_code == 403
    assert client.delete(url, headers={"X-Delete-Token": "guess"}).status_code == 403
    assert client.delete(url, headers={"X-Delete-Token": created["delete_token"]}).status_code == 204
    assert client.get("/api/events/testcon/posts").json()["items"] == []
    assert client.delete(url, headers={"X-Delete-Token": created["delete_token"]}).status_code == 404


def test_a_note_that_is_too_long_or_empty_is_refused_naming_the_field(
    client: TestClient, event: dict[str, Any]
) -> None:
    too_long = client.post("/api/events/testcon/posts", json={"text": "x" * 1001})
    assert too_long.status_code == 422
    assert too_long.json()["error"]["field"] == "text"
    empty = client.post("/api/events/testcon/posts", json={"text": "\u0000\u200b"})
    assert empty.status_code == 422
    assert empty.json()["error"]["field"] == "text"


def test_a_note_about_an_unknown_talk_is_404(client: TestClient, event: dict[str, Any]) -> None:
    response = client.post("/api/events/testcon/posts", json={"text": "hi", "talk_id": 999})
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "talk_id"
