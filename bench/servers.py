"""The servers the benchmarks drive, one per process: Backchannel under uvicorn, or a bare websockets broadcast server.

``python -m bench.servers app --port P --dir D`` serves ``create_app`` (SQLite in D, memory broker,
no in-process pipeline, no permessage-deflate) with one event ``bench``; ``python -m bench.servers bare
--port P`` serves a websockets ``broadcast()`` server. Both print ``ready`` and obey stdin lines:

- ``publish FIRST COUNT RATE``: publish bench posts FIRST..FIRST+COUNT-1 at RATE posts/s (0: as fast as
  possible), then print ``published COUNT SECONDS``. The app publishes in this process through its live
  path: ``UnitOfWork.emit`` (the frame appended to the event's durable log) → commit → broker → hub →
  sockets, one post per transaction, or 20 per transaction when RATE is 0. Storing and classifying the
  post itself is measured by bench.ingest_e2e. The bare server calls ``broadcast()`` on a frame of the
  same size.
- ``posts FIRST COUNT RATE``: the same through the post path one transaction per post in sequence
  (``apply_items`` with one note each: store, classify, emit): how notes were stored before they were grouped;
- ``queries``: print the SQL statements the app has run so far, all and those on the live log (``0 0`` for bare);
- ``quit``.

``python -m bench.servers poster --port P`` is the attendees' phones for an app server on port P, in a
process of its own: ``notes FIRST COUNT RATE`` posts bench notes over HTTP (keep-alive connections on
127.0.0.1), each its own ``POST /api/events/bench/posts`` from its own phone, submitted at RATE/s without
waiting for the ones before it (as concurrent requests arrive), so the app runs the whole post path
(routing, validation, rate limit, the note writer's group commit, publish); it prints ``published COUNT
SECONDS`` once every request has its answer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.clients import raise_open_files

SLUG = "bench"
FRAME_PAD = 477  # the bare frame is padded to about the size of the app's post.created frame

Publish = Callable[[list[str]], Awaitable[None]]


def post_shaped(text: str) -> dict[str, Any]:
    """Frame data with the fields and size of a real post.created frame, around ``text``."""
    return {
        "id": 1,
        "version": 1,
        "event": SLUG,
        "source": "notes",
        "kind": "takeaway",
        "text": text + " — a takeaway of ordinary length about the talk that is on right now",
        "url": None,
        "language": "en",
        "talk_id": None,
        "talk_confidence": None,
        "topic_id": None,
        "reply_to_id": None,
        "author": {"name": "Ada Lovelace", "handle": "anon-0123456789ab", "url": None},
        "created_at": "2026-05-04T10:00:00Z",
        "edited_at": None,
        "upvotes": 0,
        "boosts": 0,
        "sensitive": False,
        "spoiler_text": "",
        "media_descriptions": [],
        "pinned": False,
        "marked_answered": False,
        "status": "visible",
    }


def bench_text(number: int, due: float | None = None) -> str:
    """The text of bench post ``number``, stamped with when it was due (so a late publisher shows as latency)."""
    return f"bench {number} {due if due is not None else time.time():.6f}"


async def publish_loop(publish: Publish, first: int, count: int, rate: float) -> float:
    """Publish ``count`` posts paced at ``rate``/s (0 = flat out, in batches of 20); returns seconds taken."""
    started = time.perf_counter()
    wall = time.time()
    number = first
    end = first + count
    while number < end:
        if rate > 0:
            due = started + (number - first) / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            batch = [bench_text(number, wall + (number - first) / rate)]
        else:
            batch = [bench_text(n) for n in range(number, min(number + 20, end))]
            await asyncio.sleep(0)  # let the writers run between bursts, as a real source would
        await publish(batch)
        number += len(batch)
    return time.perf_counter() - started


async def submit_loop(submit: Callable[[int, str], Awaitable[None]], first: int, count: int, rate: float) -> float:
    """Submit ``count`` posts at ``rate``/s, each its own task (nobody waits for the post before); seconds taken."""
    started = time.perf_counter()
    wall = time.time()
    tasks: list[asyncio.Task[None]] = []
    for i in range(count):
        offset = i / rate if rate > 0 else 0.0  # 0: all at once
        delay = started + offset - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        number = first + i
        tasks.append(asyncio.create_task(submit(number, bench_text(number, wall + offset))))
    await asyncio.gather(*tasks)
    return time.perf_counter() - started


async def serve_app(port: int, directory: Path, extra: dict[str, Any]) -> None:
    import uvicorn
    from sqlalchemy import event as sa_event

    from app.broadcast.uvicorn_protocol import DirectWebSocketProtocol
    from app.cli.serve import LISTEN_BACKLOG
    from app.main import create_app
    from app.services import events as event_service
    from app.services.posts import apply_items
    from app.services.unit_of_work import UnitOfWork
    from app.settings import Settings
    from app.store.tables import Event
    from ingest.sources.notes import note_item

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite+aiosqlite:///{directory / 'bench.db'}",
        broker_url="memory://",
        pipeline_in_process=False,
        log_level="WARNING",
        **extra,
    )
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        log_level="warning",
        ws_max_size=settings.ws_max_message_bytes,
        ws=DirectWebSocketProtocol,
        ws_per_message_deflate=False,
        backlog=LISTEN_BACKLOG,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.02)
    maker = app.state.sessionmaker
    broker = app.state.broker
    counts = {"all": 0, "live_log": 0}

    def count_query(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        counts["all"] += 1
        if "live_event" in statement:
            counts["live_log"] += 1

    sa_event.listen(app.state.engine.sync_engine, "before_cursor_execute", count_query)
    async with maker() as session:
        created, _ = await event_service.create_event(session, slug=SLUG, name="Bench", hashtags=["bench"])
        await session.commit()
        event_id = created.id

    async def publish(texts: list[str]) -> None:
        async with maker() as session:
            uow = UnitOfWork(session, broker)
            event = await session.get(Event, event_id)
            assert event is not None
            for text in texts:
                await uow.emit(event, "post.created", post_shaped(text))
            await uow.commit()

    async def publish_posts(texts: list[str]) -> None:
        async with maker() as session:
            uow = UnitOfWork(session, broker)
            event = await session.get(Event, event_id)
            assert event is not None
            await apply_items(uow, event, [note_item(text, client_handle="bench") for text in texts])
            await uow.commit()

    await _obey({"publish": publish, "posts": publish_posts}, lambda: f"{counts['all']} {counts['live_log']}")
    server.should_exit = True
    await serving


async def post_notes(port: int) -> None:
    """The attendees' phones: notes over real HTTP to the app on ``port``, from this process.

    aiohttp, not httpx: httpx's connection pool checks every pooled connection for each request it places,
    and at 200 requests/s its process fell behind its own phones (requests waited 2-3 s in the pool before
    a byte was sent while the server answered each in 20-50 ms), which the followers measured as the app's
    latency."""
    import aiohttp

    # Idle connections are dropped here before the server's keep-alive timeout (5 s) closes them under a request.
    connector = aiohttp.TCPConnector(limit=500, keepalive_timeout=2.0)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", connector=connector, timeout=timeout) as http:

        async def submit_note(number: int, text: str) -> None:
            # One phone per post (a keynote's audience), so no attendee's rate limit is in the way.
            headers = {"X-Client-Id": f"phone-{number}"}
            async with http.post(f"/api/events/{SLUG}/posts", json={"text": text}, headers=headers) as response:
                body = await response.text()
                if response.status != 201:
                    raise RuntimeError(f"note {number}: {response.status} {body[:200]}")

        await _obey({}, lambda: "0 0", submitters={"notes": submit_note})


async def serve_bare(port: int) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    connections: set[ServerConnection] = set()
    seq = 0

    async def follow(ws: ServerConnection) -> None:
        connections.add(ws)
        try:
            await ws.wait_closed()
        finally:
            connections.discard(ws)

    async def publish(texts: list[str]) -> None:
        nonlocal seq
        for text in texts:
            seq += 1
            frame = {"id": seq, "type": "post.created", "data": {"text": text, "pad": "x" * FRAME_PAD}}
            broadcast(connections, json.dumps(frame, separators=(",", ":")))

    async with serve(follow, "127.0.0.1", port, compression=None, max_size=4096, backlog=8192):
        await _obey({"publish": publish}, lambda: "0 0")


async def _obey(
    publishers: dict[str, Publish],
    queries: Callable[[], str],
    submitters: dict[str, Callable[[int, str], Awaitable[None]]] | None = None,
) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    _say("ready")
    while line := (await reader.readline()).decode().strip():
        command, *rest = line.split()
        if command in publishers:
            first, count, rate = int(rest[0]), int(rest[1]), float(rest[2])
            seconds = await publish_loop(publishers[command], first, count, rate)
            _say(f"published {count} {seconds:.4f}")
        elif submitters and command in submitters:
            first, count, rate = int(rest[0]), int(rest[1]), float(rest[2])
            seconds = await submit_loop(submitters[command], first, count, rate)
            _say(f"published {count} {seconds:.4f}")
        elif command == "queries":
            _say(f"queries {queries()}")
        elif command == "quit":
            return


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["app", "bare", "poster"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, default=Path("."))
    parser.add_argument("--settings", default="{}", help="extra Settings fields as JSON")
    parser.add_argument("--profile", type=Path, help="write cProfile stats here on quit")
    args = parser.parse_args(argv)
    raise_open_files()
    logging.basicConfig(level=logging.WARNING)
    import uvloop

    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    with contextlib.suppress(KeyboardInterrupt):
        if args.kind == "app":
            uvloop.run(serve_app(args.port, args.dir, json.loads(args.settings)))
        elif args.kind == "poster":
            uvloop.run(post_notes(args.port))
        else:
            uvloop.run(serve_bare(args.port))
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)


if __name__ == "__main__":
    main()
