"""Recorded Mastodon statuses (vcrpy cassettes in ../shared/data/fixtures) in, Status dicts out."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "fixtures"
TAG_TIMELINE = FIXTURES / "mastodon_rest_tag_timeline_cassette.yaml"
SSE_STREAM = FIXTURES / "mastodon_sse_stream_update_delete_statusupdate_cassette.yaml"
JETSTREAM_GOLDEN = FIXTURES / "jetstream_v1_golden_events.jsonl"
JETSTREAM_CAPTURE = FIXTURES / "jetstream_v1_live_capture_150_events.jsonl"


def _interactions(path: Path) -> list[dict[str, Any]]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["interactions"]


@cache
def tag_timeline_status() -> dict[str, Any]:
    """The real Status from ``GET /api/v1/timelines/tag/hoot`` (Mastodon 4.6.4): the template for new ones."""
    for interaction in _interactions(TAG_TIMELINE):
        if "/timelines/tag/" in interaction["request"]["uri"]:
            return json.loads(interaction["response"]["body"]["string"])[0]
    raise LookupError("no tag timeline response in the cassette")


@cache
def sse_body() -> str:
    """The raw SSE text of the recorded ``/api/v1/streaming/user`` response."""
    for interaction in _interactions(SSE_STREAM):
        if interaction["request"]["uri"].endswith("/streaming/user"):
            return interaction["response"]["body"]["string"]
    raise LookupError("no user stream in the cassette")


def sse_statuses() -> list[tuple[str, str]]:
    """``(event, data)`` pairs of the recorded user stream, in order (update, status.update, delete…)."""
    events = []
    for block in sse_body().split("\n\n"):
        event = data = None
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = line.removeprefix("data: ")
        if event and data is not None:
            events.append((event, data))
    return events


def jetstream_lines() -> list[str]:
    """Every recorded Jetstream frame, golden events first, exactly as captured."""
    lines = []
    for path in (JETSTREAM_GOLDEN, JETSTREAM_CAPTURE):
        lines.extend(line for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return lines
