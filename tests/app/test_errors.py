"""How errors answer: the API in JSON, always; a page a person opened, as a page in the site's look."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

import app.api.pages as pages
from app.main import create_app
from app.settings import Settings

SITE_LOOK = '<link rel="stylesheet" href="/static/css/app.css">'


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/e/nope", "No event &#39;nope&#39;"),
        ("/e/nope/wall", "No event &#39;nope&#39;"),
        ("/e/nope/organize", "No event &#39;nope&#39;"),
        ("/e/testcon/talks/99999", "No talk 99999 in event &#39;testcon&#39;"),
        ("/embed/testcon/talks/99999", "No talk 99999 in event &#39;testcon&#39;"),
        ("/e/testcon/talk/5", "Not Found"),  # a mistyped address matches no route: a page all the same
    ],
)
def test_an_unknown_event_or_talk_in_a_browser_is_a_404_page_with_the_way_home(
    client: TestClient, event: dict[str, Any], path: str, message: str
) -> None:
    # it was the API's JSON: {"error":{"message":"no event 'nope'","field":"slug"}}
    page = client.get(path, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert SITE_LOOK in page.text
    assert "<h1>Not found</h1>" in page.text
    assert f'<p class="error-message">{message}</p>' in page.text
    assert '<a href="/" class="home">' in page.text
    assert '{"error"' not in page.text


def test_a_talk_the_event_does_not_have_leads_back_to_the_event_and_an_unknown_event_only_home(
    client: TestClient, event: dict[str, Any]
) -> None:
    """An old or mistyped link to a talk: the event is there, and the page says how to get to it."""
    html = {"Accept": "text/html"}
    for path in ("/e/testcon/talks/99999", "/embed/testcon/talks/99999"):
        back = """<a href="/e/testcon" class="event">Go to the event's page</a>"""
        assert back in client.get(path, headers=html).text, path
    for path in ("/e/nope", "/e/nope/talks/1", "/e/testcon/talk/5"):
        assert 'class="event"' not in client.get(path, headers=html).text, path


def test_a_form_posted_to_an_unknown_event_answers_a_page(client: TestClient) -> None:
    answer = client.post("/e/nope/posts", data={"text": "hello"}, follow_redirects=False)
    assert answer.status_code == 404
    assert "No event &#39;nope&#39;" in answer.text and SITE_LOOK in answer.text


def test_a_page_address_that_cannot_name_a_talk_says_why_in_a_page(client: TestClient, event: dict[str, Any]) -> None:
    page = client.get("/e/testcon/talks/abc")
    assert page.status_code == 422
    assert "<h1>That request is not valid</h1>" in page.text
    # it said "talk_id: Input should be a valid integer, unable to parse string as an integer"
    message = '<p class="error-message">The talk number in this address must be a whole number (it is “abc”).</p>'
    assert message in page.text


@pytest.mark.parametrize(
    ("method", "path", "form", "message"),
    [
        ("GET", "/e/testcon/talks/0", None, "The talk number in this address must be at least 1 (it is “0”)."),
        (
            "GET",
            "/e/Test_Con",
            None,
            "The event name in this address may only have lowercase letters, digits and hyphens (it is “Test_Con”).",
        ),
        (
            "GET",
            "/e/testcon/parts/talks/1?limit=5000",
            None,
            "The “limit” value in this address must be at most 50 (it is “5000”).",
        ),
        (
            "GET",
            f"/e/testcon?room={'r' * 300}",
            None,
            "The “room” value in this address can be at most 200 characters long.",
        ),
        (
            "POST",
            "/e/testcon/posts/12a/delete",
            None,
            "The post number in this address must be a whole number (it is “12a”).",
        ),
        (
            "POST",
            "/e/testcon/posts",
            {"text": "x" * 6000},
            "The form&#39;s “text” field can be at most 5,000 characters long.",
        ),
    ],
)
def test_a_refused_address_or_form_is_explained_in_a_sentence(
    client: TestClient, event: dict[str, Any], method: str, path: str, form: dict[str, str] | None, message: str
) -> None:
    page = client.request(method, path, data=form, follow_redirects=False)
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert f'<p class="error-message">{message}</p>' in page.text
    assert "Input should" not in page.text and "String should" not in page.text  # pydantic's words are the API's


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/api/events/nope", 404, {"error": {"message": "no event 'nope'", "field": "slug"}}),
        (
            "/api/events/testcon/talks/99999",
            404,
            {"error": {"message": "no talk 99999 in event 'testcon'", "field": "talk_id"}},
        ),
        ("/api/no/such/address", 404, {"error": {"message": "Not Found"}}),  # no route under the API's prefix
    ],
)
def test_the_api_answers_json_errors_whatever_the_client_accepts(
    client: TestClient, event: dict[str, Any], path: str, status: int, body: dict[str, Any]
) -> None:
    for accept in ("application/json", "text/html,*/*;q=0.8"):
        answer = client.get(path, headers={"Accept": accept})
        assert answer.status_code == status
        assert answer.headers["content-type"] == "application/json"
        assert answer.json() == body


def test_an_api_validation_error_is_still_json_naming_the_field(client: TestClient, event: dict[str, Any]) -> None:
    answer = client.get("/api/events/testcon/talks/abc", headers={"Accept": "text/html"})
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "talk_id"


def test_a_body_that_is_not_json_is_refused_naming_the_body(client: TestClient, event: dict[str, Any]) -> None:
    answer = client.post(
        "/api/events/testcon/posts", content=b'{"text": "hi', headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "body"
    assert answer.json()["error"]["message"].startswith("body: not valid JSON at character ")


@pytest.fixture
def fragile_client(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The app with the event page broken by a bug, errors answered as a client sees them."""

    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(pages, "build_event_page", broken)
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def test_a_bug_behind_a_page_is_a_500_page(fragile_client: TestClient) -> None:
    created = fragile_client.post(
        "/api/events", json={"slug": "testcon", "name": "T", "hashtags": ["t"], "time_zone": "UTC"}
    )
    assert created.status_code == 201
    page = fragile_client.get("/e/testcon")
    assert page.status_code == 500
    assert "<h1>Something went wrong</h1>" in page.text and SITE_LOOK in page.text
    assert "a bug" not in page.text  # what failed stays in the log
