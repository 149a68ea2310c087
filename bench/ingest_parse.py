"""Jetstream frames in, parse throughput (items/s) out: the ceiling an end-to-end ingest figure is read against.

``python bench/ingest_parse.py [--frames N]`` prints the raw ``json.loads`` rate and the rate of
the Bluesky source's full decode (JSON, hashtag filter from facets, text, HTML with links) on the
recorded captures plus generated posts under the event hashtag.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import anyio

from ingest.items import SourceItem
from ingest.runner import SourceRunner
from ingest.source import AcceptResult, CursorStore, PostSink
from ingest.sources.bluesky import JetstreamDecoder, JetstreamSource

logger = logging.getLogger(__name__)

FIXTURES = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "fixtures"
CAPTURES = ("jetstream_v1_golden_events.jsonl", "jetstream_v1_live_capture_150_events.jsonl")
HASHTAG = "pycon"
_WORDS = "talk slides keynote question async python memory profiler café naïve 🎤 résumé テスト demo".split()


def recorded_frames() -> list[bytes]:
    """The recorded Jetstream frames, byte for byte."""
    frames = []
    for name in CAPTURES:
        frames.extend(line.encode() for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines() if line)
    return frames


def generated_frames(count: int, *, hashtag: str = HASHTAG, seed: int = 1, match_every: int = 2) -> list[bytes]:
    """Post frames shaped like the captures, one in ``match_every`` under ``hashtag`` (byte-offset facets).

    The default (half of them) weighs the decode of posts under the hashtag; a real firehose is the
    other extreme (``match_every=50``: 2%, most frames concern other people).
    """
    rng = random.Random(seed)
    frames = []
    time_us = 1_790_000_000_000_000
    for n in range(count):
        time_us += rng.randint(50, 5_000)
        words = rng.choices(_WORDS, k=rng.randint(5, 30))
        tag = hashtag if n % match_every == 0 else "elsewhere"
        text = " ".join(words[: len(words) // 2] + [f"#{tag}"] + words[len(words) // 2 :])
        start = len(text[: text.index("#")].encode())
        record = {
            "$type": "app.bsky.feed.post",
            "createdAt": "2026-07-04T14:38:07.323Z",
            "langs": ["en"],
            "text": text,
            "facets": [
                {
                    "index": {"byteStart": start, "byteEnd": start + len(tag) + 1},
                    "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag}],
                }
            ],
        }
        event = {
            "did": f"did:plc:{n % 977:024d}",
            "time_us": time_us,
            "kind": "commit",
            "commit": {
                "rev": f"3m{n:011d}",
                "operation": "create",
                "collection": "app.bsky.feed.post",
                "rkey": f"3k{n:011d}",
                "record": record,
                "cid": f"bafyrei{n:020d}",
            },
        }
        frames.append(json.dumps(event, ensure_ascii=False).encode())
    return frames


def raw_json_rate(frames: list[bytes]) -> float:
    """Frames per second through ``json.loads`` alone."""
    started = time.perf_counter()
    for frame in frames:
        json.loads(frame)
    return len(frames) / (time.perf_counter() - started)


def parse_rate(frames: list[bytes]) -> float:
    """Frames per second through the source's decode (JSON parse included), as items/s of input."""
    decoder = JetstreamDecoder([HASHTAG])
    started = time.perf_counter()
    for frame in frames:
        decoder.decode(frame)
    return len(frames) / (time.perf_counter() - started)


async def replay_rate(
    frames: list[bytes],
    sink: PostSink,
    cursors: CursorStore,
    *,
    url: str | None = None,
    batch_size: int = 500,
    settled: Callable[[], Awaitable[bool]] | None = None,
) -> float:
    """Items/s from a local Jetstream replaying ``frames`` through the real source and runner into ``sink``.

    Counts the items the source yields (posts under the hashtag and deletes), timed from the first
    connection until the last one is accepted (and, given ``settled``, until it says the stages after
    the sink have caught up). ``url`` is a Jetstream already serving ``frames`` (another process, as a
    real one is); without it the relay runs in this process and its sending is counted too.
    """
    decoder = JetstreamDecoder([HASHTAG])
    expected = sum(1 for frame in frames if decoder.decode(frame)[1] is not None)
    async with contextlib.AsyncExitStack() as stack:
        if url is None:
            from tests.servers.jetstream import JetstreamServer  # the bench reuses the test relay

            server = await stack.enter_async_context(JetstreamServer())
            server.log_frames(frames)
            url = server.url
        source = JetstreamSource(url, [HASHTAG], backfill_from=datetime(1970, 1, 2, tzinfo=UTC))
        runner = SourceRunner(source, sink, cursors, source_key="bench:jetstream", batch_size=batch_size)
        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            tg.start_soon(runner.run)
            while source.stats.accepted < expected:
                await anyio.sleep(0.005)
            while settled is not None and not await settled():
                await anyio.sleep(0.005)
            elapsed = time.perf_counter() - started
            runner.stop()
    return expected / elapsed


def items_per_frame(frames: list[bytes]) -> float:
    """The share of frames the source turns into items (the rest are other hashtags or not posts)."""
    decoder = JetstreamDecoder([HASHTAG])
    return sum(1 for frame in frames if decoder.decode(frame)[1] is not None) / len(frames)


class _CountingSink:
    async def accept(self, batch: Sequence[SourceItem]) -> AcceptResult:
        return AcceptResult(created=len(batch))


class _MemoryCursors:
    def __init__(self) -> None:
        self.cursors: dict[str, str] = {}

    async def load(self, source_key: str) -> str | None:
        return self.cursors.get(source_key)

    async def save(self, source_key: str, cursor: str) -> None:
        self.cursors[source_key] = cursor


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=20_000, help="generated frames added to the recordings")
    parser.add_argument("--replay", action="store_true", help="also replay them through a local Jetstream")
    args = parser.parse_args(argv)
    frames = recorded_frames() + generated_frames(args.frames)
    raw_json_rate(frames[:1000])  # warm up
    raw = raw_json_rate(frames)
    decoded = parse_rate(frames)
    print(f"jetstream frames: {len(frames)}")  # noqa: T201
    print(f"raw json.loads:   {raw:,.0f} frames/s")  # noqa: T201
    print(f"source decode:    {decoded:,.0f} frames/s ({decoded / raw:.0%} of raw JSON)")  # noqa: T201
    if args.replay:
        replayed = anyio.run(replay_rate, frames, _CountingSink(), _MemoryCursors())
        print(f"replay via WebSocket + runner into a no-op sink: {replayed:,.0f} items/s")  # noqa: T201


if __name__ == "__main__":
    main()
