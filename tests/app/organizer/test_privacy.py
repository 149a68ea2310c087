"""Attendees can have everything by their handle erased; posts past the event's retention are purged."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from app.main import create_app
from app.services.posts import apply_item
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings
from app.store.tables import Event
from ingest.items import IncomingPost, ItemAction, SourceItem
from tests.app.organizer.conftest import auth, post_note, visible_ids
from tests.conftest import create_event
from tests.live import Follower

BASE = "/api/events/testcon"


def test_erasing_a_handle_removes_their_posts_everywhere(client: TestClient, event: dict[str, Any]) -> None:
    mine = [post_note(client, f"my note {i}", client_id="leaver", display_name="Lea") for i in range(2)]
    other = post_note(client, "someone else", client_id="stayer")
    handle = mine[0]["author"]["handle"]
    last_id = client.get(BASE).json()["last_id"]
    with client.websocket_connect(f"/ws/events/testcon?after={last_id}") as ws:
        response = client.post(f"{BASE}/privacy/erase", json={"source": "notes", "handle": handle}, headers=auth(event))
        assert response.status_code == 200 and response.json() == {"posts_erased": 2}
        frames = Follower(ws).frames_until(lambda f: f["type"] == "post.deleted" and f["data"]["id"] == mine[1]["id"])
    assert {f["data"]["id"] for f in frames if f["type"] == "post.deleted"} == {p["id"] for p in mine}
    assert visible_ids(client) == [other["id"]]
    for fmt in ("md", "csv", "json"):
        assert "my note" not in client.get(f"{BASE}/export", params={"format": fmt}).text
    audit = client.get(f"{BASE}/moderation/audit", headers=auth(event)).json()["items"][0]
    assert audit["action"] == "privacy.erase" and handle not in audit["target"]


def test_a_follower_replaying_the_stored_log_never_sees_erased_text(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        event = create_event(client)
        handle = post_note(client, "my secret note", client_id="leaver", display_name="Lea")["author"]["handle"]
        post_note(client, "someone else", client_id="stayer")
        client.post(f"{BASE}/privacy/erase", json={"source": "notes", "handle": handle}, headers=auth(event))
        last_id = client.get(BASE).json()["last_id"]
    with TestClient(create_app(settings)) as restarted, restarted.websocket_connect("/ws/events/testcon?after=0") as ws:
        frames = Follower(ws).frames_until(lambda f: f["id"] == last_id)
    replayed = json.dumps(frames)
    assert "someone else" in replayed
    assert "my secret note" not in replayed and "Lea" not in replayed


def test_erasing_an_unknown_handle_is_404(client: TestClient, event: dict[str, Any]) -> None:
    response = client.post(
        f"{BASE}/privacy/erase", json={"source": "mastodon", "handle": "@no@one"}, headers=auth(event)
    )
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "handle"


def test_an_erased_post_is_not_brought_back_by_a_redelivery(client: TestClient, event: dict[str, Any]) -> None:
    item = _mastodon_item("https://social.example/users/ana/statuses/1", "Ana's post", datetime.now(UTC))
    _apply(client, item)
    client.post(
        f"{BASE}/privacy/erase", json={"source": "mastodon", "handle": "ana@social.example"}, headers=auth(event)
    )
    _apply(client, item)
    assert visible_ids(client) == []


def test_purge_erases_posts_older_than_the_retention(client: TestClient, event: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    _apply(client, _mastodon_item("https://social.example/s/old", "from last month", now - timedelta(days=40)))
    _apply(client, _mastodon_item("https://social.example/s/new", "from today", now))
    nothing = client.post(f"{BASE}/privacy/purge", headers=auth(event)).json()
    assert nothing == {"posts_purged": 0, "retention_days": None}
    client.patch(f"{BASE}/moderation/policy", json={"retention_days": 30}, headers=auth(event))
    assert client.post(f"{BASE}/privacy/purge", headers=auth(event)).json() == {"posts_purged": 1, "retention_days": 30}
    texts = [p["text"] for p in client.get(f"{BASE}/posts").json()["items"]]
    assert texts == ["from today"]


def _mastodon_item(uri: str, text: str, created_at: datetime) -> SourceItem:
    post = IncomingPost(
        source="mastodon",
        native_id=uri,
        text=text,
        created_at=created_at,
        author_handle="ana@social.example",
        author_name="Ana",
        extra={"instance": "social.example", "local_id": uri.rsplit("/", 1)[-1]},
    )
    return SourceItem(ItemAction.UPSERT, "mastodon", uri, post=post)


def _apply(client: TestClient, item: SourceItem) -> None:
    async def run() -> None:
        app = client.app
        async with app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            uow = UnitOfWork(session, app.state.broker)  # type: ignore[attr-defined]
            event = await session.get(Event, 1)
            assert event is not None
            await apply_item(uow, event, item)
            await uow.commit()

    client.portal.call(run)  # type: ignore[union-attr]


def test_a_mastodon_delete_by_local_id_removes_the_post(client: TestClient, event: dict[str, Any]) -> None:
    _apply(client, _mastodon_item("https://social.example/users/ana/statuses/42", "to be deleted", datetime.now(UTC)))
    assert len(visible_ids(client)) == 1
    _apply(client, SourceItem(ItemAction.DELETE, "mastodon", "mastodon-local:social.example/42"))
    assert visible_ids(client) == []
    _apply(client, SourceItem(ItemAction.DELETE, "mastodon", "mastodon-local:social.example/404"))  # unknown: no-op
