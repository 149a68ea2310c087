"""Jetstream frames in, parse throughput (items/s) out: the ceiling an end-to-end ingest figure is read against.

``python -m bench.ingest_parse [--frames N] [--replay]`` prints, for two mixes of frames, the raw
``json.loads`` rate and the rate of the Bluesky source's decode (prefilter, JSON, hashtag filter from
facets, text, HTML with links) on the recorded captures plus generated posts: half of them under the
event hashtag (the decode of posts weighs), and a firehose where 2% are (what matters is how cheaply
the others are dropped). ``--replay`` also sends each mix through a local Jetstream in its own process,
the real source and runner, into a no-op sink.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import anyio

from bench.figures import Figure, table
from bench.processes import children, on_core, run_queue_wait
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


def generated_frames(
    count: int, *, hashtag: str = HASHTAG, seed: int = 1, match_every: int = 2, delete_every: int = 0
) -> list[bytes]:
    """Post frames shaped like the captures, one in ``match_every`` under ``hashtag`` (byte-offset facets).

    The default (half of them) weighs the decode of posts under the hashtag; a real firehose is the
    other extreme (``match_every=50``: 2%, most frames concern other people). ``delete_every`` turns one
    frame in that many (never one under the hashtag) into the delete of someone's post, as the firehose
    carries them (1 in 18 of the post events in the live capture): the source must pass every one on.
    """
    rng = random.Random(seed)
    frames = []
    time_us = 1_790_000_000_000_000
    for n in range(count):
        time_us += rng.randint(50, 5_000)
        words = rng.choices(_WORDS, k=rng.randint(5, 30))
        tag = hashtag if n % match_every == 0 else "elsewhere"
        if delete_every and n % delete_every == delete_every - 1 and tag != hashtag:
            commit = {"rev": f"3m{n:011d}", "operation": "delete", "collection": "app.bsky.feed.post"}
            event = {"did": f"did:plc:{n % 977:024d}", "time_us": time_us, "kind": "commit", "commit": commit}
            commit["rkey"] = f"3j{n:011d}"
            frames.append(json.dumps(event).encode())
            continue
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


def parse_cpu_us(frames: list[bytes]) -> float:
    """This process's CPU µs per frame through the source's decode: what other work on the machine leaves alone."""
    decoder = JetstreamDecoder([HASHTAG])
    started = time.process_time()
    for frame in frames:
        decoder.decode(frame)
    return (time.process_time() - started) / len(frames) * 1e6


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
    usage: dict[str, float] | None = None,
) -> float:
    """Items/s from a local Jetstream replaying ``frames`` through the real source and runner into ``sink``.

    Counts the items the source yields (posts under the hashtag and deletes), timed from the first
    connection until the last one is accepted (and, given ``settled``, until it says the stages after
    the sink have caught up). ``url`` is a Jetstream already serving ``frames`` (another process, as a
    real one is); without it the relay runs in this process and its sending is counted too. ``usage``,
    when given, receives this process's CPU seconds over the same span (``cpu_s``, beside ``wall_s``) and
    how long this process and its children (the relay, a clustering child) waited for a free core
    (``wait_s``): on a shared machine the wall clock also counts other people's work; and the seconds they
    all ran on a core (``tree_cpu_s``), which that does not change, for the ``items`` counted.
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
        started, cpu_started = time.perf_counter(), time.process_time()
        waited, ran = _tree(run_queue_wait), _tree(on_core)
        async with anyio.create_task_group() as tg:
            tg.start_soon(runner.run)
            while source.stats.accepted < expected:
                await anyio.sleep(0.005)
            while settled is not None and not await settled():
                await anyio.sleep(0.005)
            elapsed = time.perf_counter() - started
            if usage is not None:
                cpu, wait = time.process_time() - cpu_started, max(_tree(run_queue_wait) - waited, 0.0)
                on_cores = max(_tree(on_core) - ran, 0.0)
                usage.update(cpu_s=cpu, wall_s=elapsed, wait_s=wait, tree_cpu_s=on_cores, items=expected)
            runner.stop()
    return expected / elapsed


def _tree(seconds: Callable[[int], float]) -> float:
    """``seconds`` (``run_queue_wait``, ``on_core``) summed over this process and its children so far (exited
    children drop out)."""
    me = os.getpid()
    return sum(seconds(pid) for pid in (me, *children(me)))


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


FIREHOSE_MATCH_EVERY = 50  # 2% of the frames under the hashtag: a busy conference on the whole network
FIREHOSE_DELETE_EVERY = 20  # 5% deletes of posts, which the source passes on (the sink ignores unknown ones)


def mixes(frames: int) -> list[tuple[str, list[bytes]]]:
    """The two mixes of frames the figures are measured on, with their labels."""
    firehose = generated_frames(frames, match_every=FIREHOSE_MATCH_EVERY, delete_every=FIREHOSE_DELETE_EVERY, seed=2)
    return [
        ("half under the hashtag", recorded_frames() + generated_frames(frames)),
        ("firehose: 2% under the hashtag, 5% deletes", recorded_frames() + firehose),
    ]


def replay_frame_rate(frames: list[bytes]) -> tuple[float, float]:
    """Frames/s, and this process's CPU µs a frame, from a local Jetstream in its own process through the
    source and runner into a no-op sink."""
    from bench.ingest_e2e import jetstream_process  # it imports this module: import it late

    usage: dict[str, float] = {}
    with jetstream_process(frames) as url:
        replay = functools.partial(replay_rate, frames, _CountingSink(), _MemoryCursors(), url=url, usage=usage)
        items = anyio.run(replay)
    # The clock stops at the last item; with few items the frames after it are not counted.
    counted = len(frames) if items_per_frame(frames) > 0.1 else len(frames) - FIREHOSE_DELETE_EVERY
    return items / items_per_frame(frames), usage["cpu_s"] / counted * 1e6


def figures(frames: int = 20_000, *, replay: bool = False) -> list[Figure]:
    """``make bench``'s parse rows: decode beside ``json.loads`` of the same frames, per mix (and the replay)."""
    out = []
    for label, data in mixes(frames):
        raw_json_rate(data[:1000])  # warm up
        raw = raw_json_rate(data)
        decoded = parse_rate(data)
        out.append(Figure("Jetstream parse", f"source decode ({label})", decoded, "frames/s", raw, "json.loads alone"))
        if replay:
            rate, cpu_us = replay_frame_rate(data)
            metric = f"replay → no-op sink ({label})"
            out.append(Figure("Jetstream parse", metric, rate, "frames/s", decoded, "decode alone"))
            metric = f"replay → no-op sink, source process CPU ({label})"
            base = parse_cpu_us(data)
            out.append(Figure("Jetstream parse", metric, cpu_us, "µs/frame", base, "decode alone, CPU"))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=20_000, help="generated frames added to the recordings")
    parser.add_argument("--replay", action="store_true", help="also replay them through a local Jetstream")
    args = parser.parse_args(argv)
    print(table(figures(args.frames, replay=args.replay)))  # noqa: T201


if __name__ == "__main__":
    main()
