"""Which question an answer among a topic's takeaways replies to, when that question is not listed above it.

The clustering stage lists an answer right after its question when it picks both. Where nobody files the
posts (every post from Mastodon or Bluesky), about one answer in five ends on another talk than its
question, or its question in the hallway; listed alone, "Around two seconds, then retry with backoff."
tells a reader nothing. Pages and exports show the question with it; both ask this module which one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Listed:
    """One takeaway of a topic as listed: its kind and the posts it cites, its representative first."""

    kind: str
    post_ids: Sequence[int]


def questions_to_show(topic: Sequence[Listed], reply_to: Callable[[int], int | None]) -> list[int | None]:
    """For each takeaway of ``topic`` (in listed order) the question to show with it, or None: an answer's
    question (the one its representative replies to, else any cited copy's) unless a takeaway listed before
    it in the topic cites that question. ``reply_to`` tells what a post replies to (None: nothing known)."""
    listed: set[int] = set()
    shown: list[int | None] = []
    for takeaway in topic:
        question = None
        if takeaway.kind == "answer":
            parents = [q for pid in takeaway.post_ids if (q := reply_to(pid)) is not None]
            if parents and not listed.intersection(parents):
                question = parents[0]
        shown.append(question)
        if takeaway.kind == "question":
            listed.update(takeaway.post_ids)
    return shown
