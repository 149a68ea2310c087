"""The organizer console as served, before any script runs: what its rules say they do."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.app.organizer.conftest import auth


def test_the_rules_say_matching_posts_wait_for_approval_as_they_do(client: TestClient, event: dict[str, Any]) -> None:
    # the label said "Hide posts containing these words"; such posts are held in the queue, not hidden
    html = client.get("/e/testcon/organize").text
    assert "Hold posts containing these words for approval" in html
    assert "Hide posts containing" not in html
    assert "Most posts per author per minute; more wait for approval" in html

    def status(text: str, client_id: str) -> str:
        posted = client.post("/api/events/testcon/posts", json={"text": text}, headers={"X-Client-Id": client_id})
        return str(posted.json()["post"]["status"])

    rules = client.patch("/api/events/testcon/moderation/policy", json={"keywords": ["spamword"]}, headers=auth(event))
    assert rules.status_code == 200
    assert status("buy spamword now", "phone-a") == "held"
    rate = client.patch("/api/events/testcon/moderation/policy", json={"max_posts_per_minute": 2}, headers=auth(event))
    assert rate.status_code == 200
    assert [status(text, "phone-b") for text in ("one", "two", "three")] == ["visible", "visible", "held"]
