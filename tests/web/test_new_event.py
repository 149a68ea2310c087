"""An organizer creates an event from the web form, without JavaScript: the token is shown once, errors are marked."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings

FORM = {
    "name": "PyCon Nowhere 2026",
    "slug": "pycon-nowhere",
    "hashtags": "#PyConNowhere, pyconnowhere26",
    "time_zone": "Europe/Berlin",
    "starts_on": "2026-05-04",
    "ends_on": "2026-05-06",
    "description": "Three days of Python by the sea.",
}


def _token(html: str) -> str:
    found = re.search(r'id="organizer-token" class="token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def test_every_page_links_to_creating_an_event(client: TestClient) -> None:
    assert 'href="/new"' in client.get("/").text
    page = client.get("/new")
    assert page.status_code == 200
    assert '<form class="new-event" id="new-event-form" method="post" action="/new"' in page.text
    assert 'name="admin_token"' not in page.text  # this server lets anyone create events
    assert '<option value="Europe/Berlin">' in page.text


def test_creating_an_event_shows_its_organizer_token_once_and_the_token_organizes_it(client: TestClient) -> None:
    created = client.post("/new", data=FORM)
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    assert "PyCon Nowhere 2026 is ready" in created.text
    assert 'href="/e/pycon-nowhere/organize"' in created.text
    token = _token(created.text)

    event = client.get("/api/events/pycon-nowhere").json()
    assert event["name"] == "PyCon Nowhere 2026"
    assert event["hashtags"] == ["pyconnowhere", "pyconnowhere26"]
    assert event["time_zone"] == "Europe/Berlin"
    assert (event["starts_on"], event["ends_on"]) == ("2026-05-04", "2026-05-06")
    policy = client.get("/api/events/pycon-nowhere/moderation/policy", headers={"Authorization": f"Bearer {token}"})
    assert policy.status_code == 200
    assert token not in client.get("/e/pycon-nowhere/organize").text


def test_a_bad_field_comes_back_marked_with_what_was_typed_and_nothing_is_created(client: TestClient) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"slug": "PyCon Nowhere!"}, "slug", "Only lower-case letters, digits and dashes, with a letter or digit"),
        ({"name": "  "}, "name", "This field is required"),
        ({"hashtags": "#py-con"}, "hashtags", "is not a hashtag"),
        ({"hashtags": "#" + "p" * 101}, "hashtags", "A hashtag can have at most 100 characters"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "unknown time zone"),
        ({"starts_on": "2026-05-06", "ends_on": "2026-05-04"}, "ends_on", "The last day must not be before"),
        # it said "Input should be a valid date or datetime, input is too short"
        ({"starts_on": "next tuesday"}, "starts_on", "A day written like 2026-05-04"),
        ({"starts_on": "2026-13-01"}, "starts_on", "A day written like 2026-05-04"),
        ({"description": "d" * 5001}, "description", "At most 5,000 characters"),
    ]
    for change, field, message in cases:
        page = client.post("/new", data={**FORM, **change})
        assert page.status_code == 422, change
        error = re.search(rf'<p class="form-error" id="{field}-error">([^<]+)</p>', page.text)
        assert error and message in error.group(1), (change, page.text[-3000:])
        assert f'aria-describedby="{field}-error"' in page.text
        assert "PyCon Nowhere" in page.text or change == {"name": "  "}  # what was typed stays in the form
    assert client.get("/api/events/pycon-nowhere").status_code == 404


def test_a_taken_address_is_refused_and_the_first_event_keeps_its_token(client: TestClient) -> None:
    token = _token(client.post("/new", data=FORM).text)
    again = client.post("/new", data={**FORM, "name": "Someone else"})
    assert again.status_code == 409
    assert re.search(r'id="slug-error">an event with slug [^<]*pycon-nowhere[^<]* already exists<', again.text)
    assert client.get("/api/events/pycon-nowhere").json()["name"] == "PyCon Nowhere 2026"
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/events/pycon-nowhere/moderation/policy", headers=headers).status_code == 200


def test_with_an_admin_token_configured_the_form_asks_for_it(settings: Settings) -> None:
    admin = settings.model_copy(update={"admin_token": "s3cret-admin"})
    with TestClient(create_app(admin)) as client:
        assert 'name="admin_token"' in client.get("/new").text
        missing = client.post("/new", data=FORM)
        assert missing.status_code == 401
        assert 'id="admin_token-error">creating events needs the instance admin token<' in missing.text
        wrong = client.post("/new", data={**FORM, "admin_token": "guess"})
        assert wrong.status_code == 403
        assert 'id="admin_token-error">wrong admin token<' in wrong.text
        assert client.get("/api/events/pycon-nowhere").status_code == 404
        assert client.post("/new", data={**FORM, "admin_token": "s3cret-admin"}).status_code == 201


def test_hostile_text_in_the_form_is_shown_as_text(client: TestClient) -> None:
    page = client.post("/new", data={**FORM, "name": "<script>alert(1)</script>", "slug": "<b>x"})
    assert page.status_code == 422
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
