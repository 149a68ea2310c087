"""A question answered on stage: the organizer marks it answered, followers see it so live, exports count it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.app.organizer.conftest import auth, post_note
from tests.app.organizer.test_exports import add_digest, add_talk
from tests.live import Follower

BASE = "/api/events/testcon"


def mark(client: TestClient, event: dict[str, Any], post_id: int | str, undo: bool = False) -> Any:
    action = "unmark-answered" if undo else "mark-answered"
    return client.post(f"{BASE}/moderation/posts/{post_id}/{action}", headers=auth(event))


def listed_questions(client: TestClient) -> list[tuple[str, bool]]:
    """The event page's Q&A panel as a follower reads it: each question's text and whether it says answered."""
    html = client.get("/e/testcon").text
    panel = html.split('id="questions"')[1].split("</ol>")[0]
    entries = re.findall(r'<li class="post kind-question.*?<p class="text">(.*?)</p>', panel, re.S)
    badges = [("badge answered" in item) for item in re.split(r'<li class="post kind-question', panel)[1:]]
    return list(zip(entries, badges, strict=True))


def test_a_question_marked_answered_shows_answered_to_followers_live(client: TestClient, event: dict[str, Any]) -> None:
    question = post_note(client, "Will the slides be shared?", kind="question")
    post_note(client, "Is there a recording?", kind="question", client_id="bob")
    last_id = client.get(BASE).json()["last_id"]
    with client.websocket_connect(f"/ws/events/testcon?after={last_id}") as ws:
        marked = mark(client, event, question["id"])
        frame = Follower(ws).frames_until(lambda f: f["type"] == "post.updated")[-1]
    assert marked.status_code == 200 and marked.json()["marked_answered"] is True
    assert frame["data"]["id"] == question["id"]
    assert frame["data"]["marked_answered"] is True
    assert frame["data"]["version"] == question["version"] + 1
    listed = {p["id"]: p for p in client.get(f"{BASE}/posts").json()["items"]}
    assert listed[question["id"]]["marked_answered"] is True
    # open questions first; the one answered on stage after them, with the same badge as an answered one
    assert listed_questions(client) == [("Is there a recording?", False), ("Will the slides be shared?", True)]


def test_taking_the_mark_back_reopens_the_question_live(client: TestClient, event: dict[str, Any]) -> None:
    question = post_note(client, "Where is the workshop room?", kind="question")
    mark(client, event, question["id"])
    last_id = client.get(BASE).json()["last_id"]
    with client.websocket_connect(f"/ws/events/testcon?after={last_id}") as ws:
        undone = mark(client, event, question["id"], undo=True)
        frame = Follower(ws).frames_until(lambda f: f["type"] == "post.updated")[-1]
    assert undone.status_code == 200 and undone.json()["marked_answered"] is False
    assert frame["data"]["marked_answered"] is False
    assert listed_questions(client) == [("Where is the workshop room?", False)]


def test_marking_twice_changes_nothing_more(client: TestClient, event: dict[str, Any]) -> None:
    question = post_note(client, "Is lunch included?", kind="question")
    first = mark(client, event, question["id"]).json()
    again = mark(client, event, question["id"]).json()
    assert again["marked_answered"] is True and again["version"] == first["version"]
    entries = client.get(f"{BASE}/moderation/audit", headers=auth(event)).json()["items"]
    assert [e["action"] for e in entries if e["target"] == f"post:{question['id']}"] == ["question.answered"]


def test_marking_and_taking_back_are_in_the_audit_log(client: TestClient, event: dict[str, Any]) -> None:
    question = post_note(client, "Who organises the social?", kind="question")
    mark(client, event, question["id"])
    mark(client, event, question["id"], undo=True)
    entries = client.get(f"{BASE}/moderation/audit", headers=auth(event)).json()["items"]
    actions = [e["action"] for e in entries if e["target"] == f"post:{question['id']}"]
    assert actions == ["question.unanswered", "question.answered"]  # newest first


def test_only_a_question_can_be_marked_answered(client: TestClient, event: dict[str, Any]) -> None:
    note = post_note(client, "Great talk!")
    refused = mark(client, event, note["id"])
    assert refused.status_code == 409
    assert refused.json()["error"]["field"] == "post_id"
    assert "not a question" in refused.json()["error"]["message"]


@pytest.mark.parametrize(
    ("post_id", "status"), [("abc", 422), ("0", 422), ("-3", 422), (str(2**60), 422), ("1.5", 422), ("99999", 404)]
)
def test_a_bad_post_id_is_refused_naming_the_field(
    client: TestClient, event: dict[str, Any], post_id: str, status: int
) -> None:
    for undo in (False, True):
        answer = mark(client, event, post_id, undo=undo)
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/json"
        assert answer.json()["error"]["field"] == "post_id"


def test_marking_needs_the_events_organizer_token(client: TestClient, event: dict[str, Any]) -> None:
    question = post_note(client, "Can I still register?", kind="question")
    path = f"{BASE}/moderation/posts/{question['id']}/mark-answered"
    assert client.post(path).status_code == 401
    assert client.post(path, headers={"Authorization": "Bearer not-the-token"}).status_code == 403
    assert client.post(path, headers={"X-Client-Id": "alice"}).status_code == 401  # an attendee cannot
    listed = {p["id"]: p for p in client.get(f"{BASE}/posts").json()["items"]}
    assert listed[question["id"]]["marked_answered"] is False


def test_the_session_summary_counts_a_question_answered_on_stage(client: TestClient, event: dict[str, Any]) -> None:
    talk = add_talk(client, event, "slo", "SLOs for humans", 10)
    question = post_note(client, "How many SLOs per service?", kind="question", talk_id=talk["id"])
    post_note(client, "Do you alert on SLIs?", kind="question", talk_id=talk["id"], client_id="bo")
    url = f"{BASE}/talks/{talk['id']}/export"
    mark(client, event, question["id"])

    document = json.loads(client.get(url, params={"format": "json"}).content)
    (answered,) = document["talk"]["questions"]["answered"]
    assert answered["question"]["text"] == "How many SLOs per service?"
    assert answered["answered"] is True and answered["marked_answered"] is True and answered["answers"] == []
    assert [q["question"]["text"] for q in document["talk"]["questions"]["open"]] == ["Do you alert on SLIs?"]
    markdown = client.get(url, params={"format": "md"}).text
    assert "Answered during the talk." in markdown.split("How many SLOs per service?")[1].split("\n- ")[0]

    mark(client, event, question["id"], undo=True)  # undone: open again in the next summary
    document = json.loads(client.get(url, params={"format": "json"}).content)
    assert document["talk"]["questions"]["answered"] == []
    assert len(document["talk"]["questions"]["open"]) == 2


def test_a_question_asked_again_is_answered_when_any_copy_is_marked(client: TestClient, event: dict[str, Any]) -> None:
    talk = add_talk(client, event, "cost", "Cloud cost", 11)
    first = post_note(client, "Is the code on GitHub?", kind="question", talk_id=talk["id"])
    again = post_note(client, "is the code on github??", kind="question", talk_id=talk["id"], client_id="bo")
    add_digest(client, talk["id"], [], questions=[{"post_ids": [first["id"], again["id"]], "count": 2, "votes": 0}])
    mark(client, event, again["id"])  # the organizer found the copy, not the listed one

    html = client.get(f"/e/testcon/talks/{talk['id']}").text
    entry = html.split(f'data-post-id="{first["id"]}"')[1].split("</li>")[0]
    assert "badge answered" in entry and "Asked 2×" in entry
    document = json.loads(client.get(f"{BASE}/talks/{talk['id']}/export", params={"format": "json"}).content)
    (answered,) = document["talk"]["questions"]["answered"]
    assert answered["marked_answered"] is True and answered["question"]["text"] == "Is the code on GitHub?"
