"""Scale-out as an operator runs it: two API replicas, an ingest and two clustering workers, PostgreSQL and Redis.

The event imports a schedule (the demo conference generator's, as a pretalx JSON upload); 2,000
Bluesky posts arrive through a local Jetstream relay and notes through both replicas, each one
naming its talk the way people do (the talk's hashtag, its speaker, or posting from the talk page)
at a time the talk was on. Mid-way the clustering worker that owns the event is killed with
SIGKILL, the relay drops the ingest worker (which resumes from its cursor, so the relay replays),
and Redis goes down and comes back empty. Afterwards every follower on either replica saw every
frame exactly once and in id order, the database holds each post once, and every post has the
talk it named; the surviving clustering worker took the event over and observed each post once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.pipeline.cluster import EventCursor
from ingest.schedules.records import Schedule, ScheduledTalk
from ingest.sources.demo import TALKS, TalkScript, generate_schedule
from tests.conftest import REPO, TEST_DATABASE_URL, TEST_REDIS_URL, _pg_dsn
from tests.ports import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.skipif(
        not (TEST_DATABASE_URL and TEST_REDIS_URL),
        reason="needs BACKCHANNEL_TEST_DATABASE_URL and BACKCHANNEL_TEST_REDIS_URL (a PostgreSQL and a Redis)",
    ),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server to run a Redis of its own"),
    pytest.mark.anyio,
]

JET_POSTS = 2_000  # Bluesky posts through the local Jetstream relay and the ingest worker
NOTES = 200  # in-app notes, alternating between the replicas
PHASES = 4  # posts arrive in four waves; a fault strikes before waves 1, 2 and 3
BURST = 50  # relay posts per publish request
SLUG = "scaleout"
SCRIPTS: dict[str, TalkScript] = {f"demo-{s.code}": s for s in TALKS}


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

    def terminate(self, name: str, timeout: float = 30) -> int:
        """SIGTERM, as an orchestrator stops a container; returns the exit status."""
        process = self.running.pop(name)
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"{name} did not stop on SIGTERM within {timeout} s") from None

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
    """A redis-server of the test's own: restarting the machine's shared one would disturb other tests."""
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


def pretalx_schedule(schedule: Schedule) -> bytes:
    """The schedule as pretalx exports it (``schedule.json``), one day per calendar date."""
    days: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for number, talk in enumerate(schedule.talks, start=1):
        minutes = int((talk.end - talk.start).total_seconds() // 60)
        days.setdefault(talk.start.date().isoformat(), {}).setdefault(talk.room or "", []).append(
            {
                "id": number,
                "guid": talk.guid,
                "code": talk.code,
                "date": talk.start.isoformat(),
                "start": talk.start.strftime("%H:%M"),
                "duration": f"{minutes // 60:02d}:{minutes % 60:02d}",
                "room": talk.room,
                "slug": talk.guid,
                "title": talk.title,
                "subtitle": "",
                "track": talk.track,
                "type": "Talk",
                "language": "en",
                "abstract": talk.abstract,
                "description": "",
                "persons": [{"code": f"P{number}", "public_name": p.name} for p in talk.speakers],
                "links": [],
                "attachments": [],
            }
        )
    dates = sorted(days)
    document = {
        "schedule": {
            "version": "v1",
            "conference": {
                "acronym": SLUG,
                "title": "Scale-out Conf",
                "start": dates[0],
                "end": dates[-1],
                "daysCount": len(dates),
                "time_zone_name": "UTC",
                "rooms": [{"name": room} for room in schedule.rooms],
                "days": [
                    {
                        "index": index,
                        "date": date,
                        "day_start": f"{date}T00:00:00+00:00",
                        "day_end": f"{date}T23:59:00+00:00",
                        "rooms": days[date],
                    }
                    for index, date in enumerate(dates, start=1)
                ],
            },
        }
    }
    return json.dumps(document).encode()


def naming(talk: ScheduledTalk, n: int) -> str:
    """How a post names its talk: the talk's hashtag (pretalx code) or its speaker, as people write them."""
    script = SCRIPTS[talk.guid]
    if n % 3 == 2 or len(script.code) < 3:  # two-letter codes are too short to count as a reference
        return f"great point by {script.speaker}"
    return f"#{script.code}"


def what_was_said(talk: ScheduledTalk, n: int) -> str:
    script = SCRIPTS[talk.guid]
    lines = [*script.facts, *(question for question, _ in script.questions)]
    return lines[n % len(lines)]


def during(talk: ScheduledTalk, n: int, now: datetime) -> datetime:
    """A moment while the talk was on (and not in the future), spread over the talk by ``n``."""
    start, end = talk.start + timedelta(minutes=1), min(talk.end, now) - timedelta(minutes=1)
    return start + (end - start) * ((n * 7919) % 1000 / 1000)


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

    def created(self) -> list[int]:
        return [int(f["data"]["id"]) for f in self.frames if f["type"] == "post.created"]

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


@dataclass
class Stored:
    """What the database holds once clustering has caught up."""

    posts: list[asyncpg.Record]
    last_seq: int
    created_seqs: list[int]  # the live-frame id of each post.created frame
    checkpoint_seq: int  # how far in the live log the clustering model's saved checkpoint has read

    @property
    def clustered_all(self) -> bool:
        return bool(self.created_seqs) and self.checkpoint_seq >= self.created_seqs[-1]

    def created_after_checkpoint(self, seq: int) -> int:
        return sum(1 for created in self.created_seqs if created > seq)


async def stored(conn: asyncpg.Connection) -> Stored:
    posts = await conn.fetch(
        "SELECT p.id, p.source, p.native_id, p.text, t.guid FROM post p"
        " JOIN event e ON e.id = p.event_id LEFT JOIN talk t ON t.id = p.talk_id WHERE e.slug = $1 ORDER BY p.id",
        SLUG,
    )
    last_seq = await conn.fetchval("SELECT last_seq FROM event WHERE slug = $1", SLUG)
    created = await conn.fetch(
        "SELECT l.seq FROM liveevent l JOIN event e ON e.id = l.event_id"
        " WHERE e.slug = $1 AND l.type = 'post.created' ORDER BY l.seq",
        SLUG,
    )
    state = await conn.fetchval(
        "SELECT m.state FROM modelstate m JOIN event e ON e.id = m.event_id WHERE e.slug = $1", SLUG
    )
    checkpoint = EventCursor.loads(state).last_seq if state else 0
    return Stored(list(posts), int(last_seq), [int(r["seq"]) for r in created], checkpoint)


def clustered_by(metrics: str) -> int:
    """Posts a clustering worker clustered and committed, from its Prometheus metrics."""
    for line in metrics.splitlines():
        if line.startswith("backchannel_clustering_posts_total "):
            return int(float(line.split()[1]))
    raise AssertionError(f"no backchannel_clustering_posts_total in {metrics!r}")


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
    clusters = ["cluster0", "cluster1"]
    metrics = {name: free_port() for name in clusters}
    for name in clusters:
        processes.backchannel(name, "cluster", "--poll-interval", "0.5", "--metrics-port", str(metrics[name]))
    jet_port = free_port()
    relay = f"http://127.0.0.1:{jet_port}/_control"
    processes.start("jetstream", sys.executable, "-m", "tests.servers.jetstream", "--port", str(jet_port))

    now = datetime.now(UTC)
    schedule = generate_schedule(now, slots=4)  # three rooms; two slots are over or on now, two to come
    begun = [t for t in schedule.talks if t.start <= now - timedelta(minutes=3)]
    on_now = [t for t in begun if t.end > now]
    assert len(begun) == 6 and len(on_now) == 3

    async with httpx.AsyncClient(timeout=30) as http:
        for i, base in enumerate(bases):
            await wait_ready(http, base, processes, f"api{i}")
        created = await http.post(
            f"{bases[0]}/api/events",
            json={"slug": SLUG, "name": "Scale-out Conf", "hashtags": [SLUG], "time_zone": "UTC"},
        )
        assert created.status_code == 201, created.text
        auth = {"Authorization": f"Bearer {created.json()['organizer_token']}"}
        imported = await http.post(
            f"{bases[1]}/api/events/{SLUG}/schedule",
            files={"file": ("schedule.json", pretalx_schedule(schedule), "application/json")},
            headers=auth,
        )
        assert imported.status_code == 200, imported.text
        assert imported.json()["created"] == len(schedule.talks)
        talk_ids = {t["guid"]: t["id"] for t in (await http.get(f"{bases[0]}/api/events/{SLUG}/talks")).json()["items"]}

        with anyio.fail_after(30):  # the relay is up once it answers its control API
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    await http.post(f"{relay}/drop")
                    break
                await asyncio.sleep(0.1)
        source = await http.post(
            f"{bases[1]}/api/events/{SLUG}/sources",
            json={"kind": "bluesky", "config": {"jetstream_url": f"ws://127.0.0.1:{jet_port}", "hashtags": [SLUG]}},
            headers=auth,
        )
        assert source.status_code == 201, source.text

        followers = [Follower(f"ws://127.0.0.1:{port}/ws/events/{SLUG}") for port in ports for _ in range(2)]
        tasks = [asyncio.create_task(f.run()) for f in followers]
        # The ingest worker reconciles every few seconds; wait until it follows the relay before posting there.
        with anyio.fail_after(30):
            while '"ingest.source_started"' not in processes.log("ingest"):
                await asyncio.sleep(0.1)

        expected: dict[str, str] = {}  # text -> guid of the talk it names
        limit = asyncio.Semaphore(8)  # posters at once, as from a crowd

        async def note(n: int) -> None:
            talk = on_now[n % len(on_now)]
            if n % 4 == 0:  # posted from the talk's page: the note carries the talk
                body: dict[str, Any] = {"text": f"{what_was_said(talk, n)} [note {n}]", "talk_id": talk_ids[talk.guid]}
            else:  # posted from the event page: the text names the talk
                body = {"text": f"{what_was_said(talk, n)} {naming(talk, n)} [note {n}]"}
            expected[body["text"]] = talk.guid
            async with limit:
                response = await http.post(f"{bases[n % 2]}/api/events/{SLUG}/posts", json=body)
            assert response.status_code == 201, response.text

        async def burst(numbers: range) -> None:
            posts = []
            for n in numbers:
                talk = begun[n % len(begun)]
                text = f"{what_was_said(talk, n)} {naming(talk, n)} #{SLUG} [jet {n}]"
                created_at = during(talk, n, now).isoformat(timespec="milliseconds").replace("+00:00", "Z")
                did = f"did:plc:crowd{n % 40:019d}"
                posts.append({"text": text, "did": did, "extra": {"createdAt": created_at}})
                expected[text] = talk.guid
            async with limit:
                response = await http.post(f"{relay}/posts", json={"posts": posts})
            assert response.status_code == 200, response.text

        async def wave(phase: int, share: slice) -> None:
            """Part ``share`` of wave ``phase``: its relay bursts and its notes, all at once."""
            jets = range(phase * JET_POSTS // PHASES, (phase + 1) * JET_POSTS // PHASES)[share]
            notes = range(phase * NOTES // PHASES, (phase + 1) * NOTES // PHASES)[share]
            work = [burst(jets[i : i + BURST]) for i in range(0, len(jets), BURST)]
            work += [note(n) for n in notes]
            await asyncio.gather(*work)

        killed, killed_at, owner_checkpoint = "", 0.0, 0
        await wave(0, slice(None))
        # 1. The clustering worker that owns the event dies while posts still stream in, without a chance to clean up.
        with anyio.fail_after(20):
            while not (killed := cluster_owner(processes, clusters) or ""):
                await asyncio.sleep(0.1)
        survivor = next(n for n in clusters if n != killed)
        # The standby is held still for a moment so the dead owner's last checkpoint can be read without a race.
        processes.running[survivor].send_signal(signal.SIGSTOP)
        processes.kill(killed)
        killed_at = time.time()
        await asyncio.sleep(1)  # a COMMIT the owner sent just before it died still lands; then nothing moves
        conn = await asyncpg.connect(_pg_dsn(database_url))
        try:
            owner_checkpoint = (await stored(conn)).checkpoint_seq
        finally:
            await conn.close()
        processes.running[survivor].send_signal(signal.SIGCONT)
        await wave(1, slice(None))
        # 2. The relay drops the ingest worker, which reconnects from its cursor: the relay replays.
        assert (await http.post(f"{relay}/drop")).status_code == 200
        await wave(2, slice(None))
        # 3. Redis dies: the replicas still take notes and report themselves degraded ...
        processes.kill("redis")
        for base in bases:
            ready = (await http.get(f"{base}/readyz")).json()
            assert ready["status"] == "degraded" and ready["checks"]["database"] == "ok", ready
        await wave(3, slice(0, None, 2))
        # ... and it comes back empty; live delivery catches up from the database.
        start_redis(processes, redis_port)
        await wait_for_redis(redis_port)
        await wave(3, slice(1, None, 2))
        assert len(expected) == JET_POSTS + NOTES

        conn = await asyncpg.connect(_pg_dsn(database_url))
        try:
            deadline = time.monotonic() + 150  # generous: CI shares two cores with every process here
            while True:
                db = await stored(conn)
                talkless = [row["text"] for row in db.posts if row["guid"] is None]
                if len(db.posts) >= len(expected) and db.clustered_all and not talkless:
                    break
                assert time.monotonic() < deadline, (
                    f"after 150 s: {len(db.posts)} of {len(expected)} posts stored, clustering saved at frame "
                    f"{db.checkpoint_seq} (newest post's: {db.created_seqs[-1:]}), {len(talkless)} without a talk, "
                    f"e.g. {talkless[:3]}"
                )
                await asyncio.sleep(0.5)
            with anyio.fail_after(60):
                while any(f.last_id < db.last_seq for f in followers):
                    await asyncio.sleep(0.2)
        finally:
            await conn.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for base in bases:
            replica = (await http.get(f"{base}/metrics")).text
            assert "backchannel_live_frames_sent_total" in replica and "backchannel_live_connections" in replica
        survivor_clustered = clustered_by((await http.get(f"http://127.0.0.1:{metrics[survivor]}/metrics")).text)

    # The database: each post once, each with the talk it named; the model took each post in once.
    keys = {(row["source"], row["native_id"]) for row in db.posts}
    assert len(db.posts) == len(keys) == len(expected), "each post stored exactly once"
    assert {row["text"] for row in db.posts} == set(expected)
    misattributed = [(row["text"], row["guid"]) for row in db.posts if row["guid"] != expected[row["text"]]]
    assert not misattributed, f"{len(misattributed)} posts not on the talk they named, e.g. {misattributed[:3]}"
    assert len(db.created_seqs) == len(db.posts) and db.clustered_all, "clustering read every new post"
    # The survivor resumed from the dead owner's last checkpoint and clustered every post after it exactly once:
    # the saved model has seen each post once, none twice, none skipped.
    assert survivor_clustered == db.created_after_checkpoint(owner_checkpoint)

    # Every follower, whichever replica it was on: every frame once, in id order, without a gap.
    post_ids = sorted(row["id"] for row in db.posts)
    for follower in followers:
        ids = [int(f["id"]) for f in follower.frames]
        assert ids[: db.last_seq] == list(range(1, db.last_seq + 1)), "frames once each, in order, no gap"
        assert ids == sorted(set(ids))
        assert sorted(follower.created()) == post_ids, "every post exactly once"
        assert follower.resyncs == 0

    # The lease moved to the other worker within seconds of the owner's death.
    taken_over = [t for t in lease_times(processes, survivor) if t >= killed_at]
    assert taken_over, "the other clustering worker took the event over"
    assert taken_over[0] - killed_at < 15, "within seconds (the lease is freed with the dead worker's connection)"

    # The workers drain and stop cleanly on SIGTERM, as an orchestrator stops them.
    for name in (survivor, "ingest"):
        assert processes.terminate(name) == 0, processes.log(name)[-2000:]
        assert '"worker.stopped"' in processes.log(name)
