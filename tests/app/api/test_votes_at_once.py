"""The question on the big screen: everyone in the hall upvotes it in the same second, and every vote counts."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient


def test_sixty_upvotes_in_the_same_moment_all_count(client: TestClient, event: dict[str, Any]) -> None:
    question = client.post("/api/events/testcon/posts", json={"text": "Will the slides be shared?", "kind": "question"})
    post = question.json()["post"]
    url = f"/api/events/testcon/posts/{post['id']}/upvote"

    def vote(voter: int) -> Any:
        return client.post(url, headers={"X-Client-Id": f"voter-{voter}"})

    with ThreadPoolExecutor(16) as pool:  # the app serves them concurrently, each its own transaction
        answers = list(pool.map(vote, range(60)))
    assert [a.status_code for a in answers] == [200] * 60
    listed = {p["id"]: p for p in client.get("/api/events/testcon/posts").json()["items"]}
    assert listed[post["id"]]["upvotes"] == 60
    # each answer tells its voter the count as it stood after their vote: sixty different counts
    assert sorted(a.json()["upvotes"] for a in answers) == list(range(1, 61))
