"""Organizers add, pause, resume and remove an event's Mastodon and Bluesky sources, and see their status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from app.services.sources import save_statuses
from app.services.unit_of_work import UnitOfWork
from ingest.runner import SourceState, SourceStatus
from tests.app.organizer.conftest import auth

BASE = "/api/events/testcon/sources"
MASTODON = {
    "kind": "mastodon",
    "config": {"instance_url": "https://social.example/", "hashtag": "#TestCon", "access_token": "secret-token"},
}
BLUESKY = {
    "kind": "bluesky",
    "config": {"jetstream_url": "wss://jetstream.example/subscribe", "hashtags": ["testcon", "#TC26"]},
}


def test_a_mastodon_source_is_added_without_echoing_its_token(client: TestClient, event: dict[str, Any]) -> None:
    response = client.post(BASE, json=MASTODON, headers=auth(event))
    assert response.status_code == 201, response.text
    source = response.json()
    assert source["config"] == {
        "instance_url": "https://social.example",
        "hashtag": "testcon",
        "has_access_token": True,
    }
    assert "secret-token" not in response.text
    assert source["status"]["state"] == "pending" and source["status"]["connected"] is False
    listed = client.get(BASE, headers=auth(event))
    assert [s["id"] for s in listed.json()["items"]] == [source["id"]]
    assert "secret-token" not in listed.text


def test_a_bluesky_source_is_added_with_its_hashtags(client: TestClient, event: dict[str, Any]) -> None:
    source = client.post(BASE, json=BLUESKY, headers=auth(event)).json()
    assert source["config"]["hashtags"] == ["testcon", "tc26"]


def test_a_source_can_be_paused_resumed_changed_and_removed(client: TestClient, event: dict[str, Any]) -> None:
    source_id = client.post(BASE, json=MASTODON, headers=auth(event)).json()["id"]
    paused = client.patch(f"{BASE}/{source_id}", json={"paused": True}, headers=auth(event)).json()
    assert paused["paused"] is True and paused["status"]["state"] == "paused"
    resumed = client.patch(
        f"{BASE}/{source_id}", json={"paused": False, "config": {"hashtag": "other"}}, headers=auth(event)
    )
    assert resumed.json()["paused"] is False
    assert resumed.json()["config"]["hashtag"] == "other" and resumed.json()["config"]["has_access_token"] is True
    assert client.delete(f"{BASE}/{source_id}", headers=auth(event)).status_code == 204
    assert client.get(f"{BASE}/{source_id}", headers=auth(event)).status_code == 404
    actions = [
        e["action"] for e in client.get("/api/events/testcon/moderation/audit", headers=auth(event)).json()["items"]
    ]
    assert actions == ["source.remove", "source.update", "source.pause", "source.add"]


def test_bad_source_configs_are_refused_naming_the_field(client: TestClient, event: dict[str, Any]) -> None:
    masto = {"instance_url": "https://x", "hashtag": "x"}
    cases: list[tuple[Any, str]] = [
        ({"kind": "twitter", "config": {}}, "kind"),
        ({"kind": "mastodon", "config": {"hashtag": "x"}}, "instance_url"),
        ({"kind": "mastodon", "config": {"instance_url": "ftp://x", "hashtag": "x"}}, "instance_url"),
        ({"kind": "mastodon", "config": {"instance_url": "x:99999", "hashtag": "x"}}, "instance_url"),
        ({"kind": "mastodon", "config": {"instance_url": "https://", "hashtag": "x"}}, "instance_url"),
        ({"kind": "mastodon", "config": {"instance_url": "https://u:p@chaos.social", "hashtag": "x"}}, "instance_url"),
        ({"kind": "mastodon", "config": {"instance_url": "https://x", "hashtag": "not a tag"}}, "hashtag"),
        ({"kind": "mastodon", "config": {**masto, "access_token": 5}}, "access_token"),
        ({"kind": "mastodon", "config": {**masto, "evil": 1}}, "evil"),
        ({"kind": "mastodon", "config": {**masto, "backfill_from": "yesterday"}}, "backfill_from"),
        ({"kind": "mastodon", "config": {**masto, "backfill_from": "2026-11-27T10:00:00"}}, "backfill_from"),
        ({"kind": "mastodon", "config": {**masto, "backfill_from": "0001-01-01T00:00:00+05:00"}}, "backfill_from"),
        ({"kind": "mastodon", "config": {**masto, "backfill_from": "1969-12-31T23:00:00Z"}}, "backfill_from"),
        ({"kind": "bluesky", "config": {"jetstream_url": "https://x", "hashtags": ["a"]}}, "jetstream_url"),
        ({"kind": "bluesky", "config": {"jetstream_url": "wss://x", "hashtags": []}}, "hashtags"),
        ({"kind": "bluesky", "config": {"jetstream_url": "wss://x", "hashtags": ["ok", "no way"]}}, "hashtags[1]"),
        ({"kind": "bluesky", "config": {"jetstream_url": "wss://x:99999", "hashtags": ["a"]}}, "jetstream_url"),
        ({"kind": "bluesky"}, "config"),
        ([], "request"),
    ]  # fmt: skip
    for body, field in cases:
        response = client.post(BASE, json=body, headers=auth(event))
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["field"] in (field, "body"), (body, response.json())
    assert client.get(BASE, headers=auth(event)).json()["items"] == []
    assert client.patch(f"{BASE}/999", json={"paused": True}, headers=auth(event)).status_code == 404


def test_an_instance_is_taken_as_people_write_it_a_bare_name_or_any_page_of_it(
    client: TestClient, event: dict[str, Any]
) -> None:
    typed = {
        "chaos.social": "https://chaos.social",
        " Chaos.Social/ ": "https://chaos.social",
        "https://chaos.social/@alice": "https://chaos.social",
        "https://chaos.social/tags/39c3?page=2": "https://chaos.social",
        "http://127.0.0.1:3000/explore": "http://127.0.0.1:3000",
        "@alice@chaos.social": "https://chaos.social",  # a handle names its instance
    }
    for url, stored in typed.items():
        body = {"kind": "mastodon", "config": {"instance_url": url, "hashtag": "39c3"}}
        response = client.post(BASE, json=body, headers=auth(event))
        assert response.status_code == 201, (url, response.text)
        assert response.json()["config"]["instance_url"] == stored, url
    bluesky = {"kind": "bluesky", "config": {"jetstream_url": "jetstream2.us-east.bsky.network", "hashtags": ["a"]}}
    response = client.post(BASE, json=bluesky, headers=auth(event))
    assert response.json()["config"]["jetstream_url"] == "wss://jetstream2.us-east.bsky.network"


def test_status_persisted_by_the_worker_is_shown_on_any_replica(client: TestClient, event: dict[str, Any]) -> None:
    source_id = client.post(BASE, json=MASTODON, headers=auth(event)).json()["id"]
    seen = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    status = SourceStatus(
        source_key="k", name="mastodon", state=SourceState.CONNECTED, last_error=None, last_item_at=seen,
        lag_seconds=1.5, accepted=12, skipped=2, malformed=1, reconnects=3, cursor=None, retry_at=None,
    )  # fmt: skip

    async def persist() -> None:
        async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            uow = UnitOfWork(session, client.app.state.broker)  # type: ignore[attr-defined]
            assert await save_statuses(uow, {source_id: status}) == 1
            await uow.commit()

    client.portal.call(persist)  # type: ignore[union-attr]
    shown = client.get(f"{BASE}/{source_id}", headers=auth(event)).json()["status"]
    assert shown["state"] == "connected" and shown["connected"] is True
    assert (shown["accepted"], shown["skipped"], shown["malformed"], shown["lag_seconds"]) == (12, 2, 1, 1.5)
    assert shown["last_item_at"].startswith("2026-05-04T10:00:00")


def test_a_bad_hashtag_is_refused_quoting_what_was_typed(client: TestClient, event: dict[str, Any]) -> None:
    """The console shows the message as it is; "hashtag must be a hashtag" did not say what was wrong."""
    cases = [
        ({"kind": "mastodon", "config": {"instance_url": "https://x", "hashtag": "bad tag!"}}, "'bad tag!'"),
        ({"kind": "bluesky", "config": {"jetstream_url": "wss://x", "hashtags": ["ok", "no way"]}}, "'no way'"),
    ]
    for body, typed in cases:
        response = client.post(BASE, json=body, headers=auth(event))
        assert response.status_code == 422
        assert response.json()["error"]["message"] == f"{typed} is not a hashtag (letters, digits and _ only)"
