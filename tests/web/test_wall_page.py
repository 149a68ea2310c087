"""The projector wall without JavaScript: what it says about the talk that comes next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

SLUG = "testcon"  # tests.conftest's event, in Europe/Berlin
BERLIN = ZoneInfo("Europe/Berlin")


def _next_talk(client: TestClient, event: dict[str, Any], start: datetime) -> None:
    body = {"title": "Opening keynote", "room": "Hall A", "start": start.isoformat(),
            "end": (start + timedelta(minutes=45)).isoformat()}  # fmt: skip
    headers = {"Authorization": f"Bearer {event['organizer_token']}"}
    assert client.post(f"/api/events/{SLUG}/talks", json=body, headers=headers).status_code == 201


def test_a_next_talk_days_away_shows_its_day_not_just_a_time(client: TestClient, event: dict[str, Any]) -> None:
    # the wall of an event imported a week ahead said "Next, at 10:00": a room reads that as today
    start = (datetime.now(UTC) + timedelta(days=3)).replace(second=0, microsecond=0)
    _next_talk(client, event, start)
    html = client.get(f"/e/{SLUG}/wall").text
    local = start.astimezone(BERLIN)
    assert f"Hall A · Next, on {local:%a %d %b} at {local:%H:%M}</p>" in html


def test_a_next_talk_later_today_shows_only_its_time(client: TestClient, event: dict[str, Any]) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now + timedelta(minutes=30)
    _next_talk(client, event, start)
    html = client.get(f"/e/{SLUG}/wall").text
    local = start.astimezone(BERLIN)
    if local.date() == now.astimezone(BERLIN).date():  # not when the test runs in the half hour before midnight
        assert f"Hall A · Next, at {local:%H:%M}</p>" in html
    else:
        assert f"Hall A · Next, on {local:%a %d %b} at {local:%H:%M}</p>" in html


def test_after_the_last_session_the_wall_says_so_instead_of_nothing_on_right_now(
    client: TestClient, event: dict[str, Any]
) -> None:
    start = (datetime.now(UTC) - timedelta(days=2)).replace(second=0, microsecond=0)
    _next_talk(client, event, start)  # the last talk, two days ago
    html = client.get(f"/e/{SLUG}/wall").text
    ended = (start + timedelta(minutes=45)).astimezone(BERLIN)
    assert f"The last session ended {ended:%a %d %b}, {ended:%H:%M}. Thank you for the conversation under #" in html
    assert "Nothing on right now" not in html
