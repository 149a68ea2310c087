"""Ingest end to end, embedded: Jetstream replay and HTTP notes through normalise → store → publish, vs raw parse.

``python -m bench.ingest_e2e [--frames 1000] [--followers 1000]`` reports, in one run: items/s from a local
Jetstream replay through the real source and runner into ``StorePostSink`` (SQLite, memory broker),
against the parse rate of the same frames and the same replay into a sink that stores nothing; notes/s
posted over HTTP (in process, one note per request); and publish-to-follower p99 with 1,000 followers
while posts go through the whole post path at 200/s, against the live path alone (frames only).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from bench.fanout import Rig
from bench.figures import Figure, table
from bench.ingest_parse import _CountingSink, _MemoryCursors, generated_frames, parse_rate, recorded_frames, replay_rate


def _settings(directory: Path) -> object:
    from app.settings import Settings

    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite+aiosqlite:///{directory / 'ingest.db'}",
        pipeline_in_process=False,
        rate_limit_posts="1000000/minute",
    )


async def store_rate(frames: list[bytes], directory: Path) -> float:
    """Items/s from the Jetstream replay into the real sink on a fresh SQLite file."""
    from app.broadcast.memory import InMemoryBroker
    from app.pipeline.ingest import StorePostSink
    from app.services import events as event_service
    from app.store.db import create_engine, migrate, sessionmaker

    engine = create_engine(_settings(directory))  # type: ignore[arg-type]
    try:
        await migrate(engine)
        maker = sessionmaker(engine)
        broker = InMemoryBroker()
        await broker.connect()
        async with maker() as session:
            event, _ = await event_service.create_event(session, slug="ingest", name="Ingest", hashtags=["pycon"])
            await session.commit()
        assert event.id is not None
        return await replay_rate(frames, StorePostSink(maker, broker, event.id), _MemoryCursors())
    finally:
        await engine.dispose()


def notes_rate(directory: Path, count: int) -> float:
    """Notes/s posted over HTTP to the in-process app, one note per request."""
    from app.main import create_app

    with TestClient(create_app(_settings(directory))) as client:  # type: ignore[arg-type]
        client.post("/api/events", json={"slug": "notes", "name": "Notes"})
        client.post("/api/events/notes/posts", json={"text": "warm-up note"})
        started = time.perf_counter()
        for n in range(count):
            response = client.post("/api/events/notes/posts", json={"text": f"note {n} about the talk"})
            assert response.status_code == 201, response.text
        return count / (time.perf_counter() - started)


def run(*, frames: int = 1000, followers: int = 1000, notes: int = 300) -> list[Figure]:
    data = recorded_frames() + generated_frames(frames)
    parse_rate(data[:500])  # warm up
    parsed = parse_rate(data)
    noop = asyncio.run(replay_rate(data, _CountingSink(), _MemoryCursors()))
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        stored = asyncio.run(store_rate(data, Path(tmp) / "replay"))
    with tempfile.TemporaryDirectory(prefix="bench-notes-") as tmp:
        posted = notes_rate(Path(tmp), notes)
    bench = "ingest embedded (SQLite)"
    out = [
        Figure(bench, "Jetstream replay → store → publish", stored, "items/s", parsed, "parse", "≥ 5,000"),
        Figure(bench, "Jetstream replay → no-op sink", noop, "items/s", parsed, "parse"),
        Figure(bench, "HTTP notes → store → publish", posted, "notes/s", parsed, "parse"),
    ]
    rig = Rig("app", followers, stall=0)
    try:
        rig.start()
        frames_only = rig.phase(200.0, 600)
        whole = rig.phase(200.0, 600, command="posts")
    finally:
        rig.stop()
    name = f"post→follower, {followers:,} followers × 200 posts/s"
    base = "live path only"
    out.append(Figure(name, "p99, whole post path", whole.p99_ms, "ms", frames_only.p99_ms, base, "≤ 250 ms"))
    out.append(Figure(name, "p50, whole post path", whole.p50_ms, "ms", frames_only.p50_ms, base))
    out.append(Figure(name, "delivered, worst follower", whole.min_fraction, "", frames_only.min_fraction, base))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=1000, help="generated Jetstream frames (half under the hashtag)")
    parser.add_argument("--followers", type=int, default=1000)
    args = parser.parse_args(argv)
    print(table(run(frames=args.frames, followers=args.followers)))  # noqa: T201


if __name__ == "__main__":
    main()
