"""What a prober hitting the API gets: bounded bodies, posts, frames and sockets; votes once; organizer doors shut."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.main import create_app
from app.settings import Settings
from tests.app.api.test_posts import note
from tests.app.api.test_talks import TALK, auth
from tests.conftest import create_event


@pytest.fixture
def strict(settings: Settings) -> Iterator[TestClient]:
    """The app with small limits so they are reached quickly."""
    small = settings.model_copy(
        update={
            "max_body_bytes": 20_000,
            "ws_max_connections_per_ip": 2,
            "allowed_origins": ["https://partner.example"],
            "rate_limit_posts": "3/minute",
            "rate_limit_votes": "3/minute",
        }
    )
    with TestClient(create_app(small)) as client:
        create_event(client)
        yield client


def refused_code(client: TestClient, path: str, headers: dict[str, str] | None = None) -> int | None:
    """The close code when the upgrade is refused; None when the socket opened."""
    try:
        with client.websocket_connect(path, headers=headers or {}):
            return None
    except WebSocketDisconnect as closed:
        return closed.code


def test_a_body_over_the_limit_is_refused_with_413_json(strict: TestClient) -> None:
    response = strict.post("/api/events/testcon/posts", content=b'{"text": "' + b"a" * 30_000 + b'"}')
    assert response.status_code == 413
    assert response.json()["error"]["field"] == "body"


def test_a_chunked_body_over_the_limit_is_refused_too(strict: TestClient) -> None:
    chunks = (b"x" * 5_000 for _ in range(10))  # no Content-Length: the limit is counted as the body streams
    response = strict.post("/api/events/testcon/posts", content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_a_body_under_the_limit_is_served(strict: TestClient) -> None:
    assert strict.post("/api/events/testcon/posts", json={"text": "fine"}).status_code == 201


def test_a_post_longer_than_1000_characters_is_refused_naming_the_field(client: TestClient, event: Any) -> None:
    response = client.post("/api/events/testcon/posts", json={"text": "a" * 1001})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "text"


def test_a_websocket_message_over_the_limit_closes_the_socket_with_1009(client: TestClient, event: Any) -> None:
    with client.websocket_connect("/ws/events/testcon") as ws:
        ws.send_text("x" * 10_000)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == 1009


def test_sockets_per_ip_are_capped_and_freed_on_close(strict: TestClient) -> None:
    with strict.websocket_connect("/ws/events/testcon"), strict.websocket_connect("/ws/events/testcon"):
        assert refused_code(strict, "/ws/events/testcon") == 1008
    assert refused_code(strict, "/ws/events/testcon") is None


def test_a_foreign_origin_cannot_open_the_live_socket(strict: TestClient) -> None:
    assert refused_code(strict, "/ws/events/testcon", {"origin": "https://evil.example"}) == 1008
    assert refused_code(strict, "/ws/events/testcon", {"origin": "null"}) == 1008


@pytest.mark.parametrize(
    "headers",
    [{}, {"origin": "http://testserver"}, {"origin": "https://partner.example"}],
    ids=["no Origin (not a browser)", "same origin", "an allowed origin"],
)
def test_same_origin_allowed_and_originless_clients_can_follow(strict: TestClient, headers: dict[str, str]) -> None:
    assert refused_code(strict, "/ws/events/testcon", headers) is None


def test_a_client_can_upvote_a_post_only_once(client: TestClient, event: Any) -> None:
    post_id = note(client, "vote for me")["post"]["id"]
    first = client.post(f"/api/events/testcon/posts/{post_id}/upvote", headers={"X-Client-Id": "alice"})
    second = client.post(f"/api/events/testcon/posts/{post_id}/upvote", headers={"X-Client-Id": "alice"})
    assert (first.status_code, second.status_code) == (200, 409)
    assert client.get("/api/events/testcon/posts").json()["items"][0]["upvotes"] == 1


def test_posting_too_fast_gets_429_with_retry_after(strict: TestClient) -> None:
    codes = [strict.post("/api/events/testcon/posts", json={"text": f"n{i}"}).status_code for i in range(4)]
    assert codes == [201, 201, 201, 429]
    refused = strict.post("/api/events/testcon/posts", json={"text": "again"})
    assert int(refused.headers["Retry-After"]) > 0


def test_voting_too_fast_gets_429_with_retry_after(strict: TestClient) -> None:
    ids = [strict.post("/api/events/testcon/posts", json={"text": f"p{i}"}).json()["post"]["id"] for i in range(3)]
    voter = {"X-Client-Id": "fast-voter"}
    codes = [strict.post(f"/api/events/testcon/posts/{i}/upvote", headers=voter).status_code for i in ids]
    extra = strict.post(f"/api/events/testcon/posts/{ids[0]}/upvote", headers=voter)
    assert codes == [200, 200, 200]
    assert extra.status_code == 429 and int(extra.headers["Retry-After"]) > 0


ORGANIZER_CALLS = [
    ("POST", "/api/events/testcon/talks", TALK),
    ("GET", "/api/events/testcon/moderation/queue", None),
    ("GET", "/api/events/testcon/moderation/audit", None),
    ("POST", "/api/events/testcon/moderation/posts/{post}/hide", None),
    ("POST", "/api/events/testcon/token/rotate", None),
    ("GET", "/api/events/testcon/sources", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ORGANIZER_CALLS)
def test_organizer_endpoints_need_this_events_organizer_token(
    client: TestClient, event: dict[str, Any], method: str, path: str, body: dict[str, Any] | None
) -> None:
    other = create_event(client, slug="othercon")
    url = path.format(post=note(client, "a post to moderate")["post"]["id"])
    anonymous = client.request(method, url, json=body)
    wrong = client.request(method, url, json=body, headers={"Authorization": "Bearer not-the-token"})
    foreign = client.request(method, url, json=body, headers=auth(other))
    assert anonymous.status_code == 401, anonymous.text
    assert wrong.status_code == 403, wrong.text
    assert foreign.status_code == 403, foreign.text
    assert client.request(method, url, json=body, headers=auth(event)).status_code < 300


def test_changing_the_client_id_does_not_escape_the_per_address_ceiling(settings: Settings) -> None:
    crowd = settings.model_copy(update={"rate_limit_posts": "3/minute", "rate_limit_posts_per_address": "5/minute"})
    with TestClient(create_app(crowd)) as client:
        create_event(client)
        codes = [
            client.post("/api/events/testcon/posts", json={"text": f"n{i}"}, headers={"X-Client-Id": f"id-{i}"})
            for i in range(6)
        ]
        assert [r.status_code for r in codes] == [201] * 5 + [429]
        assert "network address" in codes[-1].json()["error"]["message"]
        assert int(codes[-1].headers["Retry-After"]) > 0
        assert len(client.get("/api/events/testcon/posts").json()["items"]) == 5


def test_changing_the_client_id_does_not_escape_the_per_address_ceiling_on_exports(settings: Settings) -> None:
    crowd = settings.model_copy(update={"rate_limit_exports": "3/minute", "rate_limit_exports_per_address": "4/minute"})
    with TestClient(create_app(crowd)) as client:
        create_event(client)
        codes = [
            client.get("/api/events/testcon/export", params={"format": "md"}, headers={"X-Client-Id": f"id-{i}"})
            for i in range(5)
        ]
        assert [r.status_code for r in codes] == [200] * 4 + [429]
        assert "network address" in codes[-1].json()["error"]["message"]


def test_the_no_javascript_form_is_limited_like_the_api(strict: TestClient) -> None:
    pages = [strict.post("/e/testcon/posts", data={"text": f"form note {i}"}, follow_redirects=False) for i in range(4)]
    assert [p.headers["location"] for p in pages[:3]] == ["/e/testcon#feed"] * 3
    assert "faster+than+this+event+allows" in pages[3].headers["location"]
    shown = strict.get(pages[3].headers["location"]).text
    assert "You are posting faster than this event allows" in shown
    assert len(strict.get("/api/events/testcon/posts").json()["items"]) == 3


def test_the_no_javascript_vote_button_is_limited_like_the_api(strict: TestClient) -> None:
    ids = [note(strict, f"p{i}")["post"]["id"] for i in range(3)]
    strict.cookies.set("bc_client", "one-browser")
    votes = [strict.post(f"/e/testcon/posts/{i}/upvote", follow_redirects=False).headers["location"] for i in ids]
    assert votes == [f"/e/testcon#post-{i}" for i in ids]
    extra = strict.post(f"/e/testcon/posts/{ids[0]}/upvote", follow_redirects=False)
    assert "voting+faster" in extra.headers["location"]


@pytest.fixture
def open_instance(settings: Settings) -> Iterator[TestClient]:
    """Anyone may create events (no admin token), at most 2 an hour from one address."""
    with TestClient(create_app(settings.model_copy(update={"rate_limit_events_per_address": "2/hour"}))) as client:
        yield client


def test_creating_events_without_an_admin_token_is_limited_per_address(open_instance: TestClient) -> None:
    create_event(open_instance, slug="one")
    assert open_instance.post("/api/events", json={"slug": "Bad Slug!", "name": "x"}).status_code == 422
    create_event(open_instance, slug="two")  # the invalid attempt did not count
    refused = open_instance.post("/api/events", json={"slug": "three", "name": "Three"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    form = open_instance.post("/new", data={"name": "Four", "slug": "four", "time_zone": "UTC"})
    assert form.status_code == 429 and int(form.headers["Retry-After"]) > 0
    assert "The event was not created: too many events from this network address" in form.text
    assert 'value="Four"' in form.text  # what was typed is kept
    assert [e["slug"] for e in open_instance.get("/api/events").json()["items"]] == ["two", "one"]


def test_holders_of_the_admin_token_create_events_without_that_limit(settings: Settings) -> None:
    guarded = settings.model_copy(update={"admin_token": "s3cret", "rate_limit_events_per_address": "1/hour"})
    with TestClient(create_app(guarded)) as client:
        for slug in ("one", "two", "three"):
            created = client.post(
                "/api/events", json={"slug": slug, "name": slug}, headers={"Authorization": "Bearer s3cret"}
            )
            assert created.status_code == 201
