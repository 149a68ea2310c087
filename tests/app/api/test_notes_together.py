"""Notes that arrive together are stored together (one transaction), and each attendee gets their own answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event as sa_event

from app.errors import Conflict
from app.services import note_writer
from app.services.posts import PostBatch
from ingest.items import SourceItem
from tests.app.api.test_talks import TALK, auth
from tests.disk import FullDisk
from tests.live import Follower

POSTS = "/api/events/testcon/posts"


def at_once(client: TestClient, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """POST every body at the same moment, each from its own attendee, inside the app's event loop."""

    async def post_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:

            async def post(n: int, body: dict[str, Any]) -> httpx.Response:
                return await http.post(POSTS, json=body, headers={"X-Client-Id": f"attendee-{n}"})

            return await asyncio.gather(*(post(n, body) for n, body in enumerate(bodies)))

    portal = client.portal
    assert portal is not None
    return portal.call(post_all)


def count_commits(client: TestClient) -> list[int]:
    """A live count of the transactions the app commits from now on."""
    commits = [0]

    def committed(_conn: Any) -> None:
        commits[0] += 1

    sa_event.listen(client.app.state.engine.sync_engine, "commit", committed)  # type: ignore[attr-defined]
    return commits


def test_attendees_posting_at_the_same_moment_each_get_their_post_and_followers_get_each_once_in_order(
    client: TestClient, event: dict[str, Any]
) -> None:
    texts = [f"Takeaway {n}: measure before you optimise" for n in range(50)]
    with client.websocket_connect("/ws/events/testcon") as ws:
        follower = Follower(ws)
        commits = count_commits(client)
        responses = at_once(client, [{"text": text} for text in texts])
        assert [r.status_code for r in responses] == [201] * 50, [r.text for r in responses if r.status_code != 201]
        assert commits[0] < 50, "every note was its own transaction"
        created = [r.json() for r in responses]
        assert [c["post"]["text"] for c in created] == texts  # each attendee got their own post back
        assert len({c["delete_token"] for c in created}) == 50
        assert len({c["post"]["author"]["handle"] for c in created}) == 50
        frames = [follower.next_frame() for _ in range(50)]
    assert [f["type"] for f in frames] == ["post.created"] * 50
    assert sorted(f["id"] for f in frames) == [f["id"] for f in frames]  # in order, no gaps skipped or doubled
    assert sorted(f["data"]["id"] for f in frames) == sorted(c["post"]["id"] for c in created)
    listed = client.get(POSTS, params={"limit": 200}).json()["items"]
    assert sorted(p["text"] for p in listed) == sorted(texts)  # each stored once
    # Each delete token deletes its own post, and only that one.
    first, second = created[0], created[1]
    wrong = client.delete(f"{POSTS}/{first['post']['id']}", headers={"X-Delete-Token": second["delete_token"]})
    assert wrong.status_code == 403
    for c in created:
        deleted = client.delete(f"{POSTS}/{c['post']['id']}", headers={"X-Delete-Token": c["delete_token"]})
        assert deleted.status_code == 204
    assert client.get(POSTS).json()["items"] == []


def test_a_bad_note_among_concurrent_good_ones_gets_its_own_error_and_the_others_are_stored(
    client: TestClient, event: dict[str, Any]
) -> None:
    talk = client.post("/api/events/testcon/talks", json=TALK, headers=auth(event)).json()
    question = client.post(POSTS, json={"text": "Which index type fits here?"}).json()["post"]
    bodies: list[dict[str, Any]] = [{"text": f"Good note {n}", "talk_id": talk["id"]} for n in range(10)]
    bodies[3] = {"text": "\u0000\u200b\u0007"}  # empty once control and invisible characters are removed
    bodies[5] = {"text": "About a talk that is not there", "talk_id": 999_999}
    bodies[7] = {"text": "An answer to nothing", "reply_to": 999_999}
    bodies[8] = {"text": "BRIN, for append-only tables", "reply_to": question["id"]}
    responses = at_once(client, bodies)
    status = [r.status_code for r in responses]
    assert status == [201, 201, 201, 422, 201, 404, 201, 404, 201, 201], [r.text for r in responses]
    assert responses[3].json()["error"]["field"] == "text"
    assert responses[5].json()["error"]["field"] == "talk_id"
    assert responses[7].json()["error"]["field"] == "reply_to"
    answer = responses[8].json()["post"]
    assert answer["reply_to_id"] == question["id"]
    assert answer["kind"] == "answer"
    good = [b["text"] for n, b in enumerate(bodies) if status[n] == 201]
    listed = client.get(POSTS, params={"limit": 200}).json()["items"]
    assert sorted(p["text"] for p in listed) == sorted([*good, question["text"]])
    on_talk = client.get(POSTS, params={"talk": talk["id"], "limit": 200}).json()["items"]
    assert len(on_talk) == 6  # the good notes that named it (the answer belongs with its question)


def test_each_answer_is_the_post_as_stored(client: TestClient, event: dict[str, Any]) -> None:
    # The answers are built from the values the group inserted, not read back: they must be what the store holds.
    talk = client.post("/api/events/testcon/talks", json=TALK, headers=auth(event)).json()
    question = client.post(POSTS, json={"text": "Which index type fits here?", "kind": "question"}).json()["post"]
    bodies: list[dict[str, Any]] = [
        {"text": "Measure before you optimise, the talk showed why", "talk_id": talk["id"]},
        {"text": "BRIN, for append-only tables", "reply_to": question["id"], "display_name": "Ada"},
        {"text": "How do you pick the block range?", "kind": "question", "display_name": "Grace"},
        {"text": "ok"},
    ]
    responses = at_once(client, bodies)
    assert [r.status_code for r in responses] == [201] * len(bodies), [r.text for r in responses]
    # With the organizer's token the list shows the generated handles too, as each author's answer does.
    listed = client.get(POSTS, params={"limit": 200}, headers=auth(event)).json()["items"]
    stored = {p["id"]: p for p in listed}
    for response in responses:
        post = response.json()["post"]
        assert post == stored[post["id"]]


def test_a_lone_note_goes_out_in_its_own_transaction(client: TestClient, event: dict[str, Any]) -> None:
    writer = client.app.state.note_writer  # type: ignore[attr-defined]
    with client.websocket_connect("/ws/events/testcon") as ws:
        follower = Follower(ws)
        for n in range(3):
            groups = writer.groups
            created = client.post(POSTS, json={"text": f"Alone {n}"})
            assert created.status_code == 201
            # Stored by a group of its own, with nothing waiting for company, and followed at once.
            assert writer.groups == groups + 1
            frame = follower.next_frame()
            assert frame["type"] == "post.created"
            assert frame["data"]["text"] == f"Alone {n}"


def test_a_note_that_breaks_its_groups_transaction_fails_alone(
    client: TestClient, event: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    apply: Callable[..., Awaitable[None]] = PostBatch.apply

    async def conflicting(self: PostBatch, item: SourceItem, **kwargs: Any) -> None:
        # As if a unique key broke under this one note (a concurrent write): the transaction is lost.
        if item.post is not None and item.post.text == "the conflicting one":
            raise Conflict("this change conflicts with one made at the same time; nothing was saved")
        await apply(self, item, **kwargs)

    monkeypatch.setattr(note_writer.PostBatch, "apply", conflicting)
    bodies = [{"text": f"Fine note {n}"} for n in range(8)]
    bodies[4] = {"text": "the conflicting one"}
    responses = at_once(client, bodies)
    assert [r.status_code for r in responses] == [201, 201, 201, 201, 409, 201, 201, 201]
    assert responses[4].json()["error"]["message"].startswith("this change conflicts")
    listed = client.get(POSTS, params={"limit": 200}).json()["items"]
    assert sorted(p["text"] for p in listed) == sorted(b["text"] for n, b in enumerate(bodies) if n != 4)


def test_a_group_the_store_cannot_take_is_refused_whole_and_nothing_of_it_is_kept(
    client: TestClient, event: dict[str, Any]
) -> None:
    app: Any = client.app
    if app.state.engine.dialect.name != "sqlite":
        pytest.skip("the full disk is SQLite's max_page_count")
    client.post(POSTS, json={"text": "kept before"})
    disk = FullDisk(app.state.engine)
    refused = at_once(client, [{"text": f"no room {n} " + "x" * 900} for n in range(30)])
    assert {r.status_code for r in refused} <= {201, 503}
    assert any(r.status_code == 503 for r in refused), "the disk never filled"
    for response in refused:
        if response.status_code == 503:
            assert response.json()["error"]["message"].startswith("the store is unavailable")
    accepted = {r.json()["post"]["text"] for r in refused if r.status_code == 201}
    disk.full = False
    texts = [p["text"] for p in client.get(POSTS, params={"limit": 200}).json()["items"]]
    assert sorted(t for t in texts if t.startswith("no room")) == sorted(accepted)  # no half-stored group
    assert texts.count("kept before") == 1
