"""Faults: the server killed -9 mid-stream, an upstream that hangs, a full disk. No accepted post is lost or doubled."""

from __future__ import annotations

import gc
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event as sa_event
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from app.broadcast.memory import InMemoryBroker
from app.main import create_app
from app.pipeline.ingest import StorePostSink
from app.settings import Settings
from app.store.db import create_engine, sessionmaker
from ingest.runner import SourceRunner
from ingest.sources.bluesky import JetstreamSource
from ingest.sources.mastodon import MastodonSource
from tests.conftest import REPO, create_event
from tests.fakes import JsonFileCursorStore
from tests.live import Follower
from tests.servers.jetstream import JetstreamServer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    """`backchannel serve` in a subprocess on a SQLite file; kill() is kill -9."""

    def __init__(self, database: Path, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "BACKCHANNEL_DATABASE_URL": f"sqlite:///{database}",
            "BACKCHANNEL_RATE_LIMIT_POSTS": "100000/minute",
            "BACKCHANNEL_LOG_LEVEL": "WARNING",
        }
        command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--no-workers"]
        self.proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 90  # generous: the machine may be busy with benchmarks
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, "the server exited at start"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for server in started:
        if server.proc.poll() is None:
            server.kill()


def read_frames(ws: ClientConnection, until: Any = None, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Frames (batches flattened, heartbeats skipped) until ``until(frame)`` or the socket closes."""
    frames: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            payload = json.loads(ws.recv(timeout=deadline - time.monotonic()))
            for frame in payload if isinstance(payload, list) else [payload]:
                if frame["type"] != "heartbeat":
                    frames.append(frame)
                    if until is not None and until(frame):
                        return frames
    except (ConnectionClosed, TimeoutError):
        pass
    return frames


def keep_posting(url: str, accepted: list[str]) -> None:
    """Post until the server is gone; only answered posts (201) count as accepted."""
    with httpx.Client(timeout=5) as http:
        for n in range(10_000):
            try:
                response = http.post(f"{url}/api/events/killcon/posts", json={"text": f"during {n}"})
            except httpx.HTTPError:
                return  # the server is gone: this post was never accepted
            if response.status_code == 201:
                accepted.append(f"during {n}")


def test_kill_9_mid_stream_loses_no_accepted_post_and_resuming_followers_get_each_frame_once(
    tmp_path: Path, served: list[Served]
) -> None:
    database, port = tmp_path / "killed.db", free_port()
    served.append(Served(database, port))
    url = served[0].url
    httpx.post(f"{url}/api/events", json={"slug": "killcon", "name": "Kill"}).raise_for_status()
    accepted: list[str] = []
    with connect(f"ws://127.0.0.1:{port}/ws/events/killcon") as ws:
        for n in range(10):
            httpx.post(f"{url}/api/events/killcon/posts", json={"text": f"before {n}"}).raise_for_status()
            accepted.append(f"before {n}")
        poster = threading.Thread(target=keep_posting, args=(url, accepted))
        poster.start()
        while len(accepted) < 25 and poster.is_alive():
            time.sleep(0.005)
        served[0].kill()
        poster.join()
        seen = read_frames(ws)

    served.append(Served(database, port))
    last = max(f["id"] for f in seen)
    with connect(f"ws://127.0.0.1:{port}/ws/events/killcon?after={last}") as back:
        httpx.post(f"{url}/api/events/killcon/posts", json={"text": "after restart"}).raise_for_status()
        accepted.append("after restart")
        seen += read_frames(back, until=lambda f: f["data"].get("text") == "after restart")

    ids = [f["id"] for f in seen]
    assert ids == sorted(set(ids)), "a frame was doubled or out of order"
    texts = [f["data"]["text"] for f in seen if f["type"] == "post.created"]
    assert all(texts.count(text) == 1 for text in accepted), "a follower missed or doubled an accepted post"
    stored = [p["text"] for p in httpx.get(f"{url}/api/events/killcon/posts?limit=200").json()["items"]]
    assert all(stored.count(text) == 1 for text in accepted), "an accepted post was lost or stored twice"


@pytest.mark.anyio
async def test_an_upstream_that_hangs_does_not_hold_up_other_sources(settings: Settings, tmp_path: Path) -> None:
    with TestClient(create_app(settings)) as client:
        create_event(client)
    hanging = socket.socket()
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(16)  # accepts connections and never answers
    engine = create_engine(settings)
    broker = InMemoryBroker()
    await broker.connect()
    try:
        sink = StorePostSink(sessionmaker(engine), broker, 1)
        cursors = JsonFileCursorStore(tmp_path / "cursors.json")
        async with JetstreamServer() as jetstream:
            stuck = MastodonSource(f"http://127.0.0.1:{hanging.getsockname()[1]}", "pycon", poll_interval=0.05)
            flowing = JetstreamSource(jetstream.url, ["pycon"], backfill_from=datetime(1970, 1, 2, tzinfo=UTC))
            runners = [
                SourceRunner(stuck, sink, cursors, source_key="stuck", batch_interval=0.02),
                SourceRunner(flowing, sink, cursors, source_key="flowing", batch_interval=0.02),
            ]
            async with anyio.create_task_group() as tg:
                for runner in runners:
                    tg.start_soon(runner.run)
                await jetstream.wait_for_connections(1)
                for n in range(5):
                    jetstream.publish_post(f"flowing {n} #pycon")
                with anyio.fail_after(15):
                    while flowing.stats.accepted < 5:
                        await anyio.sleep(0.02)
                for runner in runners:
                    runner.stop()
                tg.cancel_scope.cancel()
    finally:
        hanging.close()
        await broker.close()
        await engine.dispose()
    with TestClient(create_app(settings)) as client:
        texts = {p["text"] for p in client.get("/api/events/testcon/posts").json()["items"]}
    assert {f"flowing {n} #pycon" for n in range(5)} <= texts


def test_a_full_disk_refuses_new_posts_cleanly_and_keeps_every_accepted_one(settings: Settings) -> None:
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        create_event(client)
        accepted = [client.post("/api/events/testcon/posts", json={"text": f"kept {n}"}) for n in range(5)]
        assert all(r.status_code == 201 for r in accepted)
        full = {"on": True}

        def cap_pages(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            # PRAGMA max_page_count = the current size: the next page SQLite needs is "disk full".
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA page_count")
            pages = cursor.fetchone()[0]
            cursor.execute(f"PRAGMA max_page_count = {pages if full['on'] else 1_000_000_000}")
            cursor.close()

        sa_event.listen(app.state.engine.sync_engine, "checkout", cap_pages)
        refused = [
            client.post("/api/events/testcon/posts", json={"text": f"no room {n} " + "x" * 900}) for n in range(20)
        ]
        assert any(r.status_code == 503 for r in refused), "the disk never filled"
        for response in refused:
            assert response.status_code in (201, 503), response.text
            assert "error" in response.json() or response.status_code == 201  # JSON, not a dropped connection
        assert client.get("/healthz").status_code == 200  # still serving
        full["on"] = False
        assert client.post("/api/events/testcon/posts", json={"text": "room again"}).status_code == 201
        texts = [p["text"] for p in client.get("/api/events/testcon/posts?limit=200").json()["items"]]
    for n in range(5):
        assert texts.count(f"kept {n}") == 1
    assert "room again" in texts


class PrivateRedis:
    """A redis-server of our own on a free port, so restarting it disturbs no shared service."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(command, cwd=self.directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_restarting_redis_under_load_loses_no_post_and_followers_get_each_once(
    settings: Settings, tmp_path: Path
) -> None:
    redis = PrivateRedis(tmp_path)
    redis.start()
    try:
        on_redis = settings.model_copy(
            update={"broker_url": f"redis://127.0.0.1:{redis.port}/0", "rate_limit_posts": "100000/minute"}
        )
        with TestClient(create_app(on_redis), raise_server_exceptions=False) as client:
            create_event(client)
            accepted: list[str] = []
            with client.websocket_connect("/ws/events/testcon") as ws:
                follower = Follower(ws)
                for n in range(30):
                    if n == 10:
                        redis.stop()  # the broker goes away mid-stream ...
                    if n == 20:
                        redis.start()  # ... and comes back, empty
                    response = client.post("/api/events/testcon/posts", json={"text": f"through {n}"})
                    if response.status_code == 201:
                        accepted.append(f"through {n}")
                assert len(accepted) >= 20  # posting does not depend on the broker
                seen = follower.frames_until(lambda f: f["data"].get("text") == accepted[-1])
            stored = [p["text"] for p in client.get("/api/events/testcon/posts?limit=200").json()["items"]]
    finally:
        redis.stop()
        gc.collect()  # anything the app left unclosed is reported against this test, not a later one
    texts = [f["data"]["text"] for f in seen if f["type"] == "post.created"]
    assert [f["id"] for f in seen] == sorted({f["id"] for f in seen})
    assert all(texts.count(text) == 1 for text in accepted)
    assert all(stored.count(text) == 1 for text in accepted)


@pytest.mark.skip(
    reason="restarting PostgreSQL under load needs a private cluster (initdb + pg_ctl as a non-root user on a free "
    "port); not built in this round — the Redis restart above covers the broker side"
)
def test_restarting_postgres_under_load_loses_nothing() -> None:
    """Placeholder so the gap shows in every test run."""
