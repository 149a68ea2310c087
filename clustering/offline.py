"""The offline command's contract: replay a JSON Lines file of posts through ``EventModel.observe``.

Input lines: ``{"id", "text", "created_at"?, "author"?, "reply_to"?}`` (``created_at`` ISO 8601; absent =
stream order). Output lines: ``{"id", "talk": guid-or-null, "topic": id, "kind": ..., "confidence": 0..1}``
in input order, with each post's final topic (refinement may move a post after it was first seen).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from clustering.model import EventModel, PostDoc, PostResult

BATCH = 500


@dataclass(frozen=True, slots=True)
class OfflineStats:
    posts: int
    talks: int  # talks in the schedule (0 without one)
    attributed: int  # posts given a talk
    topics: int  # distinct topics in the output
    seconds: float


def _parse_time(value: object, n: int) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"line {n}: created_at must be an ISO 8601 string")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"line {n}: created_at {value!r} is not ISO 8601") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _opt_str(row: dict, key: str, n: int) -> str | None:
    v = row.get(key)
    if v is None:
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool) and key in ("id", "reply_to"):
        return str(v)
    if not isinstance(v, str):
        raise ValueError(f"line {n}: {key} must be a string")
    return v


def parse_post_line(line: str, n: int) -> PostDoc:
    """One input line as a ``PostDoc``; ``ValueError`` naming the line number when it is malformed."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"line {n}: not valid JSON ({exc.msg})") from None
    if not isinstance(row, dict):
        raise ValueError(f"line {n}: expected a JSON object")
    pid = _opt_str(row, "id", n)
    if not pid:
        raise ValueError(f"line {n}: missing id")
    text = row.get("text")
    if text is None:
        raise ValueError(f"line {n}: missing text")
    if not isinstance(text, str):
        raise ValueError(f"line {n}: text must be a string")
    return PostDoc(
        id=pid,
        text=text,
        created_at=_parse_time(row.get("created_at"), n),
        author=_opt_str(row, "author", n),
        reply_to=_opt_str(row, "reply_to", n),
    )


def run_offline(
    posts: Path, out: Path, schedule: Path | None = None, *, model: EventModel | None = None
) -> OfflineStats:
    """Cluster ``posts`` (JSON Lines) into ``out`` (JSON Lines), with talks when ``schedule`` is given."""
    t0 = time.perf_counter()
    model = model or EventModel()
    n_talks = 0
    if schedule is not None:
        from ingest.schedules.loader import load_schedule

        sched = load_schedule(Path(schedule))
        model.set_schedule(sched.talks)
        n_talks = len(sched.talks)
    results: dict[str, PostResult] = {}
    order: list[str] = []
    batch: list[PostDoc] = []
    seen: set[str] = set()

    def flush() -> None:
        for r in model.observe(batch):
            results[r.id] = r
        for moved in model.drain_changes().moved:
            results[moved.id] = moved
        batch.clear()

    with Path(posts).open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            doc = parse_post_line(line, n)
            if doc.id in seen:
                raise ValueError(f"line {n}: duplicate id {doc.id!r}")
            seen.add(doc.id)
            order.append(doc.id)
            batch.append(doc)
            if len(batch) >= BATCH:
                flush()
    flush()
    attributed = 0
    topics: set[int] = set()
    tmp = Path(out).with_name(Path(out).name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for pid in order:
            r = model.result(pid) or results[pid]
            attributed += r.talk is not None
            topics.add(r.topic)
            fh.write(
                json.dumps(
                    {"id": r.id, "talk": r.talk, "topic": r.topic, "kind": r.kind, "confidence": r.confidence},
                    ensure_ascii=False,
                )
                + "\n"
            )
    tmp.replace(out)
    return OfflineStats(
        posts=len(order),
        talks=n_talks,
        attributed=attributed,
        topics=len(topics - {-1}),
        seconds=time.perf_counter() - t0,
    )
