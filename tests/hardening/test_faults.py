"""Faults: the server killed -9 mid-stream, PostgreSQL and Redis restarted under load, an upstream that hangs, a
full disk. No accepted post is lost or doubled, and every follower that resumes gets every frame once."""

from __future__ import annotations

import contextlib
import gc
import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import httpx
import pytest
from fastapi.testclient import TestClient
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
from tests.conftest import create_event
from tests.disk import FullDisk
from tests.fakes import JsonFileCursorStore
from tests.live import Follower
from tests.ports import free_port
from tests.served import Served
from tests.servers.jetstream import JetstreamServer


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
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("the full disk is SQLite's (PRAGMA max_page_count); PostgreSQL's own faults are tested below")
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        create_event(client)
        accepted = [client.post("/api/events/testcon/posts", json={"text": f"kept {n}"}) for n in range(5)]
        assert all(r.status_code == 201 for r in accepted)
        disk = FullDisk(app.state.engine)
        refused = [
            client.post("/api/events/testcon/posts", json={"text": f"no room {n} " + "x" * 900}) for n in range(20)
        ]
        assert any(r.status_code == 503 for r in refused), "the disk never filled"
        for response in refused:
            assert response.status_code in (201, 503), response.text
            assert "error" in response.json() or response.status_code == 201  # JSON, not a dropped connection
        assert client.get("/healthz").status_code == 200  # still serving
        disk.full = False
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
            update={
                "broker_url": f"redis://127.0.0.1:{redis.port}/0",
                "rate_limit_posts": "100000/minute",
                "rate_limit_posts_per_address": "100000/minute",
            }
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


def postgres_binaries() -> Path | None:
    """The directory holding initdb and pg_ctl (Debian keeps them out of PATH), or None."""
    found = shutil.which("pg_ctl")
    candidates = [Path(found).parent] if found else []
    candidates += sorted((Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")), reverse=True)
    return next((d for d in candidates if (d / "initdb").is_file() and (d / "pg_ctl").is_file()), None)


def postgres_unavailable() -> str | None:
    if postgres_binaries() is None:
        return "initdb/pg_ctl are not installed (Debian: apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "PostgreSQL refuses to run as root and there is no 'postgres' user to run it as"
        if shutil.which("runuser") is None:
            return "PostgreSQL refuses to run as root and runuser is missing"
    return None


class PrivatePostgres:
    """A PostgreSQL cluster of our own (initdb on a temp dir, a free port): restarting it disturbs no shared service.

    PostgreSQL refuses to run as root, so as root it runs as the ``postgres`` user (runuser).
    """

    def __init__(self) -> None:
        binaries = postgres_binaries()
        assert binaries is not None
        self.bin = binaries
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="backchannel-pg-"))  # not under tmp_path: root-only dirs
        self.data = self.root / "data"
        self.as_owner: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self.as_owner = ["runuser", "-u", "postgres", "--"]
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        command = [*self.as_owner, str(self.bin / tool), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, f"{tool} {' '.join(args)}: {done.stdout}{done.stderr}"

    def _ctl(self, action: str) -> None:
        options = f"-p {self.port} -h 127.0.0.1 -k {self.root} -c fsync=off -c full_page_writes=off"
        log = str(self.root / "postgres.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-w", "-t", "60", "-m", "fast", "-o", options, action)

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop")  # fast: open sessions are cut off mid-transaction, as in a crash or failover

    def restart(self) -> None:
        self._ctl("restart")

    def close(self) -> None:
        with contextlib.suppress(AssertionError, subprocess.SubprocessError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class Poster:
    """Posts notes one after another from a thread until told to stop; keeps every answer."""

    url: str
    name: str
    accepted: list[str] = field(default_factory=list)
    refused: list[httpx.Response] = field(default_factory=list)  # 503 while the database is away
    wrong: list[str] = field(default_factory=list)  # anything else: a 500, a hang, a dropped connection
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(timeout=20) as http:  # longer than the database connect timeout: a hang shows as one
            n = 0
            while not self.stop.is_set():
                text = f"{self.name} {n}"
                n += 1
                try:
                    response = http.post(f"{self.url}/api/events/pgcon/posts", json={"text": text})
                except httpx.HTTPError as exc:
                    self.wrong.append(f"{text}: {type(exc).__name__} {exc}")
                    continue
                if response.status_code == 201:
                    self.accepted.append(text)
                elif response.status_code == 503:
                    self.refused.append(response)
                    time.sleep(0.05)
                else:
                    self.wrong.append(f"{text}: {response.status_code} {response.text[:200]}")


@dataclass
class ResumingFollower:
    """A follower in a thread that reconnects with ``after=`` whenever its socket closes, as the page does."""

    url: str
    frames: list[dict[str, Any]] = field(default_factory=list)
    resyncs: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            after = self.frames[-1]["id"] if self.frames else 0
            try:
                with connect(f"{self.url}?after={after}", open_timeout=5) as ws:
                    while not self.stop.is_set():
                        try:
                            payload = json.loads(ws.recv(timeout=0.5))
                        except TimeoutError:
                            continue
                        for frame in payload if isinstance(payload, list) else [payload]:
                            if frame["type"] == "resync":
                                self.resyncs += 1
                            elif frame["type"] != "heartbeat":
                                self.frames.append(frame)
            except (ConnectionClosed, OSError, TimeoutError):
                time.sleep(0.2)

    def texts(self) -> list[str]:
        return [f["data"]["text"] for f in self.frames if f["type"] == "post.created"]


def wait_until(condition: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.skipif(postgres_unavailable() is not None, reason=postgres_unavailable() or "")
def test_restarting_and_stopping_postgres_under_load_loses_no_accepted_post(
    served: list[Served], tmp_path: Path
) -> None:
    pg = PrivatePostgres()
    try:
        pg.start()
        port = free_port()
        served.append(
            Served(pg.url, port, workers=True, log=tmp_path / "serve.log")
        )  # the in-process ingest and clustering ride it out too
        url = served[0].url
        httpx.post(f"{url}/api/events", json={"slug": "pgcon", "name": "PG"}, timeout=30).raise_for_status()
        followers = [ResumingFollower(f"ws://127.0.0.1:{port}/ws/events/pgcon") for _ in range(2)]
        posters = [Poster(url, f"poster{i}") for i in range(3)]
        threads = [threading.Thread(target=w.run) for w in [*followers, *posters]]
        for thread in threads:
            thread.start()

        def accepted() -> int:
            return sum(len(p.accepted) for p in posters)

        try:
            wait_until(lambda: accepted() >= 30, "posts flow")
            pg.restart()  # every pooled connection is cut under load
            mark = accepted()
            wait_until(lambda: accepted() >= mark + 30, "posts flow again after the restart, without a server restart")
            pg.stop()

            def answered_without_storing() -> int:
                return sum(len(p.refused) + len(p.wrong) for p in posters)

            before = answered_without_storing()
            wait_until(lambda: answered_without_storing() >= before + 3, "the outage is noticed")
            ready = httpx.get(f"{url}/readyz", timeout=20)
            assert ready.status_code == 503 and ready.json()["checks"]["database"] != "ok", ready.text
            assert httpx.get(f"{url}/healthz", timeout=20).status_code == 200  # the process itself is fine
            pg.start()
            mark = accepted()
            wait_until(lambda: accepted() >= mark + 30, "posts flow again once the database is back")
        finally:
            for poster in posters:
                poster.stop.set()
            for thread in threads[len(followers) :]:
                thread.join(timeout=60)
        assert httpx.get(f"{url}/readyz", timeout=20).status_code == 200
        last = httpx.post(f"{url}/api/events/pgcon/posts", json={"text": "after the outage"}, timeout=20)
        assert last.status_code == 201, last.text
        try:
            for follower in followers:
                wait_until(lambda f=follower: "after the outage" in f.texts(), "the follower caught up")
        finally:
            for follower in followers:
                follower.stop.set()
            for thread in threads[: len(followers)]:
                thread.join(timeout=30)

        async def stored_texts() -> list[str]:
            conn = await asyncpg.connect(pg.dsn)
            try:
                return [row["text"] for row in await conn.fetch("SELECT text FROM post")]
            finally:
                await conn.close()

        stored = Counter(anyio.run(stored_texts))
    finally:
        for server in served:
            server.kill()
        pg.close()

    wrong = [w for p in posters for w in p.wrong]
    failures = [line for line in (tmp_path / "serve.log").read_text().splitlines() if "Error" in line]
    assert not wrong, f"answers other than 201 or 503: {wrong[:5]}; the server said {failures[-10:]}"
    refused = [r for p in posters for r in p.refused]
    assert refused, "the outage never reached a poster"
    for response in refused:
        assert response.headers.get("Retry-After", "").isdigit(), response.headers
        assert "error" in response.json(), response.text
    everything = [text for p in posters for text in p.accepted] + ["after the outage"]
    assert all(stored[text] == 1 for text in everything), "an accepted post was lost or stored twice"
    for follower in followers:
        ids = [f["id"] for f in follower.frames]
        assert ids == list(range(1, len(ids) + 1)), "a frame was doubled, skipped or out of order"
        texts = Counter(follower.texts())
        assert all(texts[text] == 1 for text in everything), "a follower missed or doubled an accepted post"
        assert follower.resyncs == 0
