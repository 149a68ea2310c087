"""Scale-out as an operator runs it: two API replicas, an ingest and two clustering workers, PostgreSQL and Redis.

Followers on both replicas see every post exactly once and in frame-id order, through the death of
the clustering worker that owns the event and a Redis restart; the database holds each post once.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import REPO, TEST_DATABASE_URL, TEST_REDIS_URL, _pg_dsn

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.skipif(
        not (TEST_DATABASE_URL and TEST_REDIS_URL),
        reason="needs BACKCHANNEL_TEST_DATABASE_URL and BACKCHANNEL_TEST_REDIS_URL",
    ),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server to run a Redis of its own"),
    pytest.mark.anyio,
]

NOTES = 150  # in-app notes, alternating between the replicas
JET_POSTS = 300  # Bluesky posts through the local Jetstream relay and the ingest worker
SLUG = "scaleout"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clustering_available() -> bool:
    if importlib.util.find_spec("app.pipeline.cluster") is None:
        return False
    try:
        importlib.import_module("app.pipeline.cluster")
    except ImportError:
        return False
    return True


@dataclass
class Processes:
    """Every process the test started, stopped at the end whatever happens."""

    folder: Path
    env: dict[str, str]
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *argv: str) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("ab")
        process = subprocess.Popen(list(argv), cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.running[name] = process
        return process

    def backchannel(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        return self.start(name, sys.executable, "-m", "app.cli", *args)

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def kill(self, name: str) -> None:
        process = self.running.pop(name)
        process.kill()
        process.wait()

    def stop_all(self) -> None:
        for process in self.running.values():
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self.running.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.running.clear()


@pytest.fixture
def processes(tmp_path: Path, database_url: str) -> Iterator[Processes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "BACKCHANNEL_DATABASE_URL": database_url,
        "BACKCHANNEL_LOG_JSON": "true",
        "BACKCHANNEL_RATE_LIMIT_POSTS": "100000/minute",
    }
    env.pop("BACKCHANNEL_ADMIN_TOKEN", None)
    procs = Processes(tmp_path, env)
    try:
        yield procs
    finally:
        procs.stop_all()


def start_redis(procs: Processes, port: int) -> None:
    procs.start(
        "redis",
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(procs.folder),
    )


async def wait_for_redis(port: int) -> None:
    with anyio.fail_after(10):
        while True:
            with contextlib.suppress(OSError):
                stream = await anyio.connect_tcp("127.0.0.1", port)
                await stream.send(b"PING\r\n")
                if (await stream.receive()).startswith(b"+PONG"):
                    await stream.aclose()
                    return
                await stream.aclose()
            await asyncio.sleep(0.05)


async def wait_ready(http: httpx.AsyncClient, base: str, procs: Processes, name: str) -> None:
    with anyio.fail_after(60):
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{base}/readyz")).status_code == 200:
                    return
            assert procs.running[name].poll() is None, procs.log(name)
            await asyncio.sleep(0.1)


@dataclass
class Follower:
    """A WebSocket follower that reconnects with ``after=`` like the page does."""

    url: str
    frames: list[dict[str, Any]] = field(default_factory=list)
    resyncs: int = 0
    reconnects: int = 0

    @property
    def last_id(self) -> int:
        return int(self.frames[-1]["id"]) if self.frames else 0

    def texts(self) -> list[str]:
        return [f["data"]["text"] for f in self.frames if f["type"] == "post.created"]

    async def run(self) -> None:
        while True:
            try:
                async with connect(f"{self.url}?after={self.last_id}", max_size=None) as ws:
                    async for message in ws:
                        payload = json.loads(message)
                        for frame in payload if isinstance(payload, list) else [payload]:
                            if frame["type"] == "resync":
                                self.resyncs += 1
                            elif frame["type"] != "heartbeat":
                                self.frames.append(frame)
            except (ConnectionClosed, OSError):
                pass
            self.reconnects += 1
            await asyncio.sleep(0.2)


def lease_times(procs: Processes, name: str) -> list[float]:
    """When the worker ``name`` acquired a lease, from its JSON log."""
    times = []
    for line in procs.log(name).splitlines():
        if '"lease.acquired"' in line:
            times.append(datetime.fromisoformat(json.loads(line)["ts"]).timestamp())
    return times


def cluster_owner(procs: Processes, names: list[str]) -> str | None:
    """The running worker that acquired the event's lease last (and so holds it now)."""
    latest = {n: max(times) for n in names if n in procs.running and (times := lease_times(procs, n))}
    return max(latest, key=lambda n: latest[n]) if latest else None


async def test_followers_on_both_replicas_see_every_post_once_through_a_worker_death_and_a_redis_restart(
    processes: Processes, database_url: str
) -> None:
    redis_port = free_port()
    processes.env["BACKCHANNEL_BROKER_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    start_redis(processes, redis_port)
    await wait_for_redis(redis_port)

    ports = [free_port(), free_port()]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    for i, port in enumerate(ports):
        processes.backchannel(f"api{i}", "serve", "--no-workers", "--host", "127.0.0.1", "--port", str(port))
    processes.backchannel("ingest", "ingest")
    clusters = ["cluster0", "cluster1"] if clustering_available() else []
    for name in clusters:
        processes.backchannel(name, "cluster", "--poll-interval", "0.5")
    jet_port = free_port()
    processes.start("jetstream", sys.executable, "-m", "tests.servers.jetstream", "--port", str(jet_port))

    async with httpx.AsyncClient(timeout=30) as http:
        for i, base in enumerate(bases):
            await wait_ready(http, base, processes, f"api{i}")
        created = await http.post(
            f"{bases[0]}/api/events",
            json={"slug": SLUG, "name": "Scale-out Conf", "hashtags": ["scaleout"], "time_zone": "UTC"},
        )
        assert created.status_code == 201, created.text
        token = created.json()["organizer_token"]
        with anyio.fail_after(30):  # the relay is up once it answers its control API
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    await http.post(f"http://127.0.0.1:{jet_port}/_control/drop")
                    break
                await asyncio.sleep(0.1)
        source = await http.post(
            f"{bases[1]}/api/events/{SLUG}/sources",
            json={"kind": "bluesky", "config": {"jetstream_url": f"ws://127.0.0.1:{jet_port}", "hashtags": [SLUG]}},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert source.status_code == 201, source.text

        followers = [Follower(f"ws://127.0.0.1:{port}/ws/events/{SLUG}") for port in ports for _ in range(2)]
        tasks = [asyncio.create_task(f.run()) for f in followers]
        # The ingest worker reconciles every few seconds; wait until it follows the relay before posting there.
        with anyio.fail_after(30):
            while '"ingest.source_started"' not in processes.log("ingest"):
                await asyncio.sleep(0.1)

        expected: list[str] = []
        killed: str | None = None
        killed_at = 0.0
        limit = asyncio.Semaphore(16)  # posters at once, as from a crowd

        async def post(url: str, text: str, status: int) -> None:
            async with limit:
                response = await http.post(url, json={"text": text})
            assert response.status_code == status, response.text

        for third in range(3):
            if third == 1 and clusters:
                with anyio.fail_after(20):
                    while (killed := cluster_owner(processes, clusters)) is None:
                        await asyncio.sleep(0.1)
                processes.kill(killed)
                killed_at = time.time()
            if third == 2:
                if shutil.which("redis-cli"):
                    subprocess.run(["redis-cli", "-p", str(redis_port), "shutdown", "nosave"], check=False)
                processes.kill("redis")
                start_redis(processes, redis_port)
                await wait_for_redis(redis_port)
            posts = []
            for i in range(third * NOTES // 3, (third + 1) * NOTES // 3):
                text = f"note {i} from replica {i % 2}"
                posts.append(post(f"{bases[i % 2]}/api/events/{SLUG}/posts", text, 201))
                expected.append(text)
            for i in range(third * JET_POSTS // 3, (third + 1) * JET_POSTS // 3):
                text = f"jet {i} #{SLUG}"
                posts.append(post(f"http://127.0.0.1:{jet_port}/_control/post", text, 200))
                expected.append(text)
            await asyncio.gather(*posts)

        with anyio.fail_after(120):  # generous: CI shares two cores with every process here
            while any(len(f.texts()) < len(expected) for f in followers):
                await asyncio.sleep(0.2)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    for follower in followers:
        ids = [int(f["id"]) for f in follower.frames]
        assert ids == sorted(set(ids)), "frames arrive once each, in frame-id order"
        assert sorted(follower.texts()) == sorted(expected), "every post exactly once"
        assert follower.resyncs == 0

    conn = await asyncpg.connect(_pg_dsn(database_url))
    try:
        rows = await conn.fetch("SELECT source, native_id, text FROM post")
    finally:
        await conn.close()
    assert len(rows) == len({(r["source"], r["native_id"]) for r in rows}) == len(expected)
    assert sorted(r["text"] for r in rows) == sorted(expected)

    if clusters:
        survivor = next(n for n in clusters if n != killed)
        taken_over = [t for t in lease_times(processes, survivor) if t >= killed_at]
        assert taken_over, "the other clustering worker took the event over"
        assert taken_over[0] - killed_at < 10, "within seconds"
