"""Followers watch an event live over the WebSocket and resume after a drop without gaps or doubles."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.main import create_app
from app.settings import Settings
from tests.app.api.test_posts import note
from tests.app.api.test_talks import TALK, auth
from tests.app.organizer.conftest import post_note
from tests.live import Follower


def is_post(text: str) -> Any:
    return lambda f: f["type"] == "post.created" and f["data"]["text"] == text


def test_a_note_reaches_every_follower(client: TestClient, event: dict[str, Any]) -> None:
    with client.websocket_connect("/ws/events/testcon") as a, client.websocket_connect("/ws/events/testcon") as b:
        note(client, "Hello followers")
        for ws in (a, b):
            frame = Follower(ws).next_frame()
            assert frame["type"] == "post.created"
            assert frame["data"]["text"] == "Hello followers"
            assert isinstance(frame["id"], int)


def test_a_note_in_any_script_reaches_followers_as_written_live_and_from_the_stored_log(
    client: TestClient, event: dict[str, Any]
) -> None:
    text = "Café talk: Привет, 東京 — the demo worked 😀"
    with client.websocket_connect("/ws/events/testcon") as live:
        note(client, text)
        raw = live.receive_text()
    assert json.loads(raw)["data"]["text"] == text
    assert text in raw  # sent as UTF-8, not as \\u escapes (six to twelve bytes a character)
    with client.websocket_connect("/ws/events/testcon?after=0") as later:
        assert Follower(later).next_frame()["data"]["text"] == text


def test_a_follower_who_reconnects_with_after_gets_exactly_what_it_missed(
    client: TestClient, event: dict[str, Any]
) -> None:
    with client.websocket_connect("/ws/events/testcon") as stays:
        staying = Follower(stays)
        with client.websocket_connect("/ws/events/testcon") as drops:
            note(client, "before the drop")
            last_seen = Follower(drops).next_frame()["id"]
        missed = [note(client, f"missed {i}")["post"]["id"] for i in range(3)]
        with client.websocket_connect(f"/ws/events/testcon?after={last_seen}") as back:
            resumed = Follower(back)
            replayed = [resumed.next_frame() for _ in range(3)]
            assert [f["data"]["id"] for f in replayed] == missed
            assert [f["type"] for f in replayed] == ["post.created"] * 3
            note(client, "live again")
            # the very next frame is the new one: nothing was doubled in between
            assert resumed.next_frame()["data"]["text"] == "live again"
        seen = staying.frames_until(is_post("live again"))
        assert [f["data"]["text"] for f in seen] == [
            "before the drop",
            "missed 0",
            "missed 1",
            "missed 2",
            "live again",
        ]
        assert [f["id"] for f in seen] == sorted({f["id"] for f in seen})


def test_resuming_from_older_than_memory_replays_from_the_database(settings: Settings) -> None:
    small = settings.model_copy(update={"live_ring_size": 10})
    with TestClient(create_app(small)) as client:
        client.post("/api/events", json={"slug": "testcon", "name": "T"})
        with client.websocket_connect("/ws/events/testcon") as ws:
            note(client, "first")
            first = Follower(ws).next_frame()["id"]
            for i in range(25):
                note(client, f"n{i}")
        with client.websocket_connect(f"/ws/events/testcon?after={first}") as back:
            follower = Follower(back)
            texts = [follower.next_frame()["data"]["text"] for _ in range(25)]
        assert texts == [f"n{i}" for i in range(25)]


def test_resuming_from_history_that_no_longer_exists_gets_resync(client: TestClient, event: dict[str, Any]) -> None:
    note(client, "something")
    with client.websocket_connect("/ws/events/testcon?after=999999") as ws:
        frame = Follower(ws).next_frame()
        assert frame["type"] == "resync"
        with pytest.raises(WebSocketDisconnect):
            ws.receive_text()


def test_upvotes_deletes_and_talk_changes_are_streamed(client: TestClient, event: dict[str, Any]) -> None:
    created = note(client, "streamed")
    post_id = created["post"]["id"]
    with client.websocket_connect("/ws/events/testcon") as ws:
        follower = Follower(ws)
        client.post(f"/api/events/testcon/posts/{post_id}/upvote", headers={"X-Client-Id": "x"})
        upvoted = follower.next_frame()
        assert upvoted["type"] == "post.upvoted"
        assert upvoted["data"]["id"] == post_id and upvoted["data"]["upvotes"] == 1
        client.delete(f"/api/events/testcon/posts/{post_id}", headers={"X-Delete-Token": created["delete_token"]})
        deleted = follower.next_frame()
        assert deleted["type"] == "post.deleted" and deleted["data"]["id"] == post_id
        redacted = follower.next_frame()  # every replica blanks the text it still holds in memory
        assert redacted["type"] == "post.redacted" and redacted["data"]["ids"] == [post_id]
        client.post("/api/events/testcon/talks", json=TALK, headers=auth(event))
        talk = follower.next_frame()
        assert talk["type"] == "talk.updated" and talk["data"]["title"] == TALK["title"]
        assert upvoted["id"] < deleted["id"] < talk["id"]


def test_a_talk_follower_sees_only_that_talk_and_event_wide_frames(client: TestClient, event: dict[str, Any]) -> None:
    talk = client.post("/api/events/testcon/talks", json=TALK, headers=auth(event)).json()
    with client.websocket_connect(f"/ws/events/testcon?talk={talk['id']}") as ws:
        note(client, "hallway chatter")
        note(client, "on topic", talk_id=talk["id"])
        frame = Follower(ws).next_frame()
        assert frame["data"]["text"] == "on topic"


def test_heartbeats_keep_an_idle_connection_alive(settings: Settings) -> None:
    quick = settings.model_copy(update={"ws_heartbeat_seconds": 0.05})
    with TestClient(create_app(quick)) as client:
        client.post("/api/events", json={"slug": "testcon", "name": "T"})
        with client.websocket_connect("/ws/events/testcon") as ws:
            assert '"heartbeat"' in ws.receive_text()


@pytest.mark.parametrize("query", ["after=abc", "after=-1", "talk=x"])
def test_bad_resume_parameters_close_the_socket_with_a_policy_error(
    client: TestClient, event: dict[str, Any], query: str
) -> None:
    with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(f"/ws/events/testcon?{query}") as ws:
        ws.receive_text()
    assert closed.value.code == 1008


def test_following_an_unknown_event_is_refused(client: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect("/ws/events/nope") as ws:
        ws.receive_text()
    assert closed.value.code == 4404


def test_a_follower_resuming_from_memory_after_an_erase_never_sees_the_erased_text(
    client: TestClient, event: dict[str, Any]
) -> None:
    with client.websocket_connect("/ws/events/testcon") as ws:
        watching = Follower(ws)
        secret = post_note(client, "my secret note", client_id="leaver", display_name="Lea")
        post_note(client, "someone else", client_id="stayer")
        first = watching.next_frame()["id"]
        erase = {"source": "notes", "handle": secret["author"]["handle"]}
        assert client.post("/api/events/testcon/privacy/erase", json=erase, headers=auth(event)).status_code == 200
        redaction = watching.frames_until(lambda f: f["type"] == "post.redacted")[-1]
        assert redaction["data"]["ids"] == [secret["id"]]
    with client.websocket_connect(f"/ws/events/testcon?after={first - 1}") as back:
        replayed = Follower(back).frames_until(lambda f: f["id"] == redaction["id"])
    text = json.dumps(replayed)
    assert "someone else" in text
    assert "my secret note" not in text and "Lea" not in text


def test_a_note_its_author_deleted_never_replays_its_text_even_from_the_stored_log(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        client.post("/api/events", json={"slug": "testcon", "name": "T"})
        created = client.post("/api/events/testcon/posts", json={"text": "my regrettable note"}).json()
        client.post("/api/events/testcon/posts", json={"text": "someone else"})
        deleted = client.delete(
            f"/api/events/testcon/posts/{created['post']['id']}", headers={"X-Delete-Token": created["delete_token"]}
        )
        assert deleted.status_code == 204
    with TestClient(create_app(settings)) as restarted, restarted.websocket_connect("/ws/events/testcon?after=0") as ws:
        # a new process: nothing in memory, the replay comes from the database's live log
        replayed = Follower(ws).frames_until(lambda f: f["type"] == "post.redacted")
    text = json.dumps(replayed)
    assert "someone else" in text
    assert "my regrettable note" not in text
    assert [f["type"] for f in replayed if f["data"].get("id") == created["post"]["id"]] == [
        "post.created",
        "post.deleted",
    ]


def test_an_anonymous_notes_generated_handle_reaches_no_reader_but_its_author_and_organizers(
    client: TestClient, event: dict[str, Any]
) -> None:
    # the handle is derived from the browser: shown to readers, it would link every note of one phone
    with client.websocket_connect("/ws/events/testcon") as ws:
        created = post_note(client, "Quiet note from the back row", client_id="phone-7")
        frame = Follower(ws).next_frame()
    handle = created["author"]["handle"]
    assert handle.startswith("anon-")  # the author's own response keeps it (to erase their posts by it)
    assert frame["data"]["author"]["handle"] is None
    listed = client.get("/api/events/testcon/posts").json()["items"]
    assert [p["author"]["handle"] for p in listed if p["id"] == created["id"]] == [None]
    assert handle not in client.get("/e/testcon").text
    # the console's recent posts (the same list, with the organizer token): what it blocks or erases by
    console = client.get("/api/events/testcon/posts", headers=auth(event)).json()["items"]
    assert [p["author"]["handle"] for p in console if p["id"] == created["id"]] == [handle]
    wrong = client.get("/api/events/testcon/posts", headers={"Authorization": "Bearer guess"}).json()["items"]
    assert [p["author"]["handle"] for p in wrong if p["id"] == created["id"]] == [None]
