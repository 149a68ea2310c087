"""The organizer's Questions tab: each question once with the copies asked again, open ones first, most voted."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.app.organizer.conftest import auth, post_note
from tests.app.organizer.test_exports import add_digest, add_talk

BASE = "/api/events/testcon"


def board(client: TestClient, event: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"{BASE}/moderation/questions", headers=auth(event), params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def upvote(client: TestClient, post_id: int, voter: str) -> None:
    response = client.post(f"{BASE}/posts/{post_id}/upvote", headers={"X-Client-Id": voter})
    assert response.status_code == 200, response.text


def test_a_question_asked_again_is_listed_once_with_its_copies_and_their_votes(
    client: TestClient, event: dict[str, Any]
) -> None:
    talk = add_talk(client, event, "otel", "Observability on a budget", 10)
    first = post_note(client, "OpenTelemetry or vendor agents?", kind="question", talk_id=talk["id"])
    again = post_note(client, "opentelemetry or vendor agents??", kind="question", talk_id=talk["id"], client_id="bo")
    other = post_note(client, "How long do you keep logs?", kind="question", talk_id=talk["id"], client_id="cy")
    add_digest(client, talk["id"], [], questions=[{"post_ids": [first["id"], again["id"]], "count": 2, "votes": 0}])
    upvote(client, again["id"], "dee")
    upvote(client, first["id"], "eve")

    items = board(client, event)
    assert [i["question"]["id"] for i in items] == [first["id"], other["id"]]  # most voted first
    asked = items[0]
    assert asked["asked"] == 2 and asked["votes"] == 2
    assert [c["id"] for c in asked["copies"]] == [again["id"]]
    assert asked["talk_title"] == "Observability on a budget"
    assert asked["answered"] is False and asked["answers"] == 0
    assert items[1]["asked"] == 1 and items[1]["copies"] == []
    # the organizer sees the handle of an in-app note's asker: it is what they block by
    assert asked["copies"][0]["author"]["handle"]


def test_answered_questions_come_after_the_open_ones(client: TestClient, event: dict[str, Any]) -> None:
    answered = post_note(client, "Where is room B?", kind="question")
    upvote(client, answered["id"], "dee")
    post_note(client, "Next to the main hall.", reply_to=answered["id"], client_id="bo")
    marked = post_note(client, "Will the slides be shared?", kind="question", client_id="cy")
    client.post(f"{BASE}/moderation/posts/{marked['id']}/mark-answered", headers=auth(event))
    open_one = post_note(client, "Is lunch included?", kind="question", client_id="eve")

    items = board(client, event)
    assert [(i["question"]["id"], i["answered"], i["answers"]) for i in items] == [
        (open_one["id"], False, 0),
        (answered["id"], True, 1),
        (marked["id"], True, 0),
    ]
    assert items[0]["talk_title"] is None  # asked in the hallway


def test_hidden_questions_stay_off_the_board(client: TestClient, event: dict[str, Any]) -> None:
    kept = post_note(client, "Is there a recording?", kind="question")
    gone = post_note(client, "Buy cheap followers?", kind="question", client_id="spam")
    client.post(f"{BASE}/moderation/posts/{gone['id']}/hide", headers=auth(event), json={})
    assert [i["question"]["id"] for i in board(client, event)] == [kept["id"]]
    assert [i["question"]["id"] for i in board(client, event, limit=1)] == [kept["id"]]


def test_the_board_needs_the_events_organizer_token(client: TestClient, event: dict[str, Any]) -> None:
    post_note(client, "Can I still register?", kind="question")
    path = f"{BASE}/moderation/questions"
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer not-the-token"}).status_code == 403
    assert client.get(path, headers={"X-Client-Id": "alice"}).status_code == 401


@pytest.mark.parametrize("limit", ["0", "501", "-1", "ten", "1.5"])
def test_a_bad_limit_is_refused_naming_the_field(client: TestClient, event: dict[str, Any], limit: str) -> None:
    answer = client.get(f"{BASE}/moderation/questions", headers=auth(event), params={"limit": limit})
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "limit"
