"""Organizer endpoints need the event's token (401 missing, 403 wrong or rotated); attendees are rate-limited."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.app.organizer.conftest import auth, post_note
from tests.conftest import create_event

BASE = "/api/events/testcon"
AUTHOR = {"source": "notes", "handle": "anon-someone"}


def organizer_requests(post_id: int) -> list[tuple[str, str, dict[str, Any]]]:
    """Every organizer endpoint with a valid request, so only the token decides."""
    mastodon = {"kind": "mastodon", "config": {"instance_url": "https://social.example", "hashtag": "testcon"}}
    return [
        ("POST", f"{BASE}/schedule", {"json": {"url": "https://example.org/schedule.json"}}),
        ("POST", f"{BASE}/token/rotate", {}),
        ("GET", f"{BASE}/moderation/queue", {}),
        ("GET", f"{BASE}/moderation/hidden", {}),
        ("GET", f"{BASE}/moderation/questions", {}),
        ("POST", f"{BASE}/moderation/posts/{post_id}/hide", {}),
        ("POST", f"{BASE}/moderation/posts/{post_id}/unhide", {}),
        ("POST", f"{BASE}/moderation/posts/{post_id}/approve", {}),
        ("POST", f"{BASE}/moderation/posts/{post_id}/pin", {}),
        ("POST", f"{BASE}/moderation/posts/{post_id}/unpin", {}),
        ("POST", f"{BASE}/moderation/posts/{post_id}/mark-answered", {}),
        ("POST", f"{BASE}/moderation/posts/{post_id}/unmark-answered", {}),
        ("POST", f"{BASE}/moderation/posts/{post_id}/talk", {"json": {"talk_id": 1}}),
        ("GET", f"{BASE}/moderation/blocks", {}),
        ("POST", f"{BASE}/moderation/blocks", {"json": AUTHOR}),
        ("DELETE", f"{BASE}/moderation/blocks", {"params": AUTHOR}),
        ("GET", f"{BASE}/moderation/policy", {}),
        ("PATCH", f"{BASE}/moderation/policy", {"json": {"premoderation": True}}),
        ("GET", f"{BASE}/moderation/audit", {}),
        ("POST", f"{BASE}/privacy/erase", {"json": AUTHOR}),
        ("POST", f"{BASE}/privacy/opt-out", {"json": AUTHOR}),
        ("POST", f"{BASE}/privacy/purge", {}),
        ("POST", f"{BASE}/sources", {"json": mastodon}),
        ("GET", f"{BASE}/sources", {}),
        ("GET", f"{BASE}/sources/1", {}),
        ("PATCH", f"{BASE}/sources/1", {"json": {"paused": True}}),
        ("DELETE", f"{BASE}/sources/1", {}),
        (
            "POST",
            f"{BASE}/talks",
            {"json": {"title": "T", "start": "2026-05-04T10:00:00Z", "end": "2026-05-04T11:00:00Z"}},
        ),
    ]


def test_every_organizer_endpoint_refuses_a_missing_or_wrong_token(client: TestClient, event: dict[str, Any]) -> None:
    post = post_note(client, "something")
    requests = organizer_requests(post["id"])
    organizer_paths = {
        (method.upper(), path)
        for path, item in client.get("/openapi.json").json()["paths"].items()
        for method, op in item.items()
        if "organizer" in op.get("tags", [])
    }
    listed = {
        (
            m,
            p.replace(BASE, "/api/events/{slug}")
            .replace(f"/{post['id']}/", "/{post_id}/")
            .replace("/1", "/{source_id}"),
        )
        for m, p, _ in requests
    }
    assert organizer_paths <= listed, organizer_paths - listed
    for method, path, kwargs in requests:
        missing = client.request(method, path, **kwargs)
        assert missing.status_code == 401, (method, path, missing.text)
        assert missing.json()["error"]["message"]
        wrong = client.request(method, path, headers={"Authorization": "Bearer not-the-token"}, **kwargs)
        assert wrong.status_code == 403, (method, path, wrong.text)


def test_a_rotated_token_replaces_the_old_one(client: TestClient, event: dict[str, Any]) -> None:
    response = client.post(f"{BASE}/token/rotate", headers=auth(event))
    assert response.status_code == 200
    new = response.json()["organizer_token"]
    assert new != event["organizer_token"]
    assert client.get(f"{BASE}/moderation/policy", headers=auth(event)).status_code == 403
    assert client.get(f"{BASE}/moderation/policy", headers={"Authorization": f"Bearer {new}"}).status_code == 200


def test_another_events_token_does_not_work_here(client: TestClient, event: dict[str, Any]) -> None:
    other = create_event(client, slug="othercon")
    assert client.get(f"{BASE}/moderation/queue", headers=auth(other)).status_code == 403


def test_posting_too_fast_gets_429_with_retry_after(settings: Settings) -> None:
    limited = settings.model_copy(update={"rate_limit_posts": "3/minute", "rate_limit_votes": "2/minute"})
    with TestClient(create_app(limited)) as client:
        create_event(client)
        ids = [post_note(client, f"note {i}", client_id="fast")["id"] for i in range(3)]
        response = client.post(f"{BASE}/posts", json={"text": "one more"}, headers={"X-Client-Id": "fast"})
        assert response.status_code == 429
        assert 1 <= int(response.headers["Retry-After"]) <= 60
        assert "too many posts" in response.json()["error"]["message"]
        assert post_note(client, "another client is fine", client_id="slow")["status"] == "visible"

        for post_id in ids[:2]:
            assert client.post(f"{BASE}/posts/{post_id}/upvote", headers={"X-Client-Id": "voter"}).status_code == 200
        vote = client.post(f"{BASE}/posts/{ids[2]}/upvote", headers={"X-Client-Id": "voter"})
        assert vote.status_code == 429 and vote.headers["Retry-After"]
