"""The embedded server clusters in a child process of its own: its frames reach followers, it survives a
crash, it stops with the server, and a database only one process can open keeps clustering beside it."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.pipeline.cluster import ClusterPipeline
from app.pipeline.cluster_process import ClusterProcess, runs_in_child
from app.settings import Settings
from tests.app.pipeline.test_cluster_pipeline import wait_for
from tests.conftest import create_event
from tests.live import Follower


def _clustered(client: TestClient, post_id: int) -> bool:
    items = client.get("/api/events/testcon/posts", params={"limit": 50}).json()["items"]
    return any(p["id"] == post_id and p["topic_id"] is not None for p in items)


def _child(client: TestClient) -> Any:
    cluster = client.app.state.cluster  # type: ignore[attr-defined]
    assert isinstance(cluster, ClusterProcess)
    return wait_for(lambda: cluster.child if cluster.child and cluster.child.pid else None)


def test_the_clustering_process_frames_reach_the_servers_followers(settings: Settings) -> None:
    running = settings.model_copy(update={"pipeline_in_process": True})
    with TestClient(create_app(running)) as client:
        create_event(client)
        assert _child(client).pid != os.getpid()
        with client.websocket_connect("/ws/events/testcon") as ws:
            note = client.post("/api/events/testcon/posts", json={"text": "Lock timeouts make migrations safe"})
            post_id = note.json()["post"]["id"]
            frames = Follower(ws).frames_until(lambda f: f["type"] == "digest.updated")
        updated = [f for f in frames if f["type"] == "post.updated" and f["data"]["id"] == post_id]
        assert updated and updated[-1]["data"]["topic_id"] is not None
        wait_for(lambda: "backchannel_clustering_posts_total 1.0" in client.get("/metrics").text)


def test_a_clustering_process_that_dies_is_restarted_and_carries_on(settings: Settings) -> None:
    running = settings.model_copy(update={"pipeline_in_process": True})
    with TestClient(create_app(running)) as client:
        create_event(client)
        first = client.post("/api/events/testcon/posts", json={"text": "Build indexes concurrently"}).json()
        wait_for(lambda: _clustered(client, first["post"]["id"]))
        crashed = _child(client)
        os.kill(crashed.pid, signal.SIGKILL)
        after = client.post("/api/events/testcon/posts", json={"text": "Batch the backfill"}).json()
        wait_for(lambda: _clustered(client, after["post"]["id"]))
        assert _child(client).pid != crashed.pid


def test_stopping_the_server_stops_its_clustering_process(settings: Settings) -> None:
    running = settings.model_copy(update={"pipeline_in_process": True})
    with TestClient(create_app(running)) as client:
        child = _child(client)
        assert child.is_alive()
    child.join(5)
    assert not child.is_alive()


@pytest.mark.parametrize("url", ["sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:"])
def test_an_in_memory_database_keeps_clustering_in_the_server(settings: Settings, url: str) -> None:
    assert not runs_in_child(settings.model_copy(update={"database_url": url}))


def test_clustering_stays_on_the_servers_loop_when_configured_so(settings: Settings) -> None:
    running = settings.model_copy(update={"pipeline_in_process": True, "cluster_process": False})
    assert not runs_in_child(running)
    with TestClient(create_app(running)) as client:
        assert isinstance(client.app.state.cluster, ClusterPipeline)  # type: ignore[attr-defined]
