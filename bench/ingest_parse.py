"""Jetstream frames in, parse throughput (items/s) out: the ceiling an end-to-end ingest figure is read against.

``python bench/ingest_parse.py [--frames N]`` prints the raw ``json.loads`` rate and the rate of
the Bluesky source's full decode (JSON, hashtag filter from facets, text, HTML with links) on the
recorded captures plus generated posts under the event hashtag.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from pathlib import Path

from ingest.sources.bluesky import JetstreamDecoder

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


def generated_frames(count: int, *, hashtag: str = HASHTAG, seed: int = 1) -> list[bytes]:
    """Post frames shaped like the captures, half under ``hashtag`` (with byte-offset facets), half not."""
    rng = random.Random(seed)
    frames = []
    time_us = 1_790_000_000_000_000
    for n in range(count):
        time_us += rng.randint(50, 5_000)
        words = rng.choices(_WORDS, k=rng.randint(5, 30))
        tag = hashtag if n % 2 == 0 else "elsewhere"
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=20_000, help="generated frames added to the recordings")
    args = parser.parse_args(argv)
    frames = recorded_frames() + generated_frames(args.frames)
    raw_json_rate(frames[:1000])  # warm up
    raw = raw_json_rate(frames)
    decoded = parse_rate(frames)
    print(f"jetstream frames: {len(frames)}")  # noqa: T201
    print(f"raw json.loads:   {raw:,.0f} frames/s")  # noqa: T201
    print(f"source decode:    {decoded:,.0f} frames/s ({decoded / raw:.0%} of raw JSON)")  # noqa: T201


if __name__ == "__main__":
    main()
