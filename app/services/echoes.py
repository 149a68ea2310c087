"""Answers the room gave again in the same words read once, naming who else gave them.

A question asked 34 times on the demo drew 34 answers, most of them the same sentence. Pages fold them when
they render (live.js folds answers that arrive later by the same rule, ``saying``), summaries when they are
written; every answer stays in the page, hidden, so a vote, an edit or a removal still finds it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # the summaries' dataclasses group answers too, without the store's models
    from app.services.payloads import PostRead

T = TypeVar("T")

NAMED = 3  # people named before "and N more"


def saying(text: str) -> str:
    """What an answer says, case, spacing and a closing stop aside."""
    return " ".join(text.casefold().split()).rstrip(".!")


def echo_groups(items: Iterable[T], text: Callable[[T], str]) -> list[list[T]]:
    """``items`` saying the same (``saying``) as one group each, in the order each was first said."""
    groups: dict[str, list[T]] = {}
    for item in items:
        groups.setdefault(saying(text(item)), []).append(item)
    return list(groups.values())


def also_said_by(names: Sequence[str], times: int) -> str:
    more = f" and {len(names) - NAMED} more" if len(names) > NAMED else ""
    return f"Also said by {', '.join(names[:NAMED])}{more}: {times} times in all."


@dataclass(frozen=True, slots=True)
class Echoes:
    lines: dict[int, str] = field(default_factory=dict)  # the answer that reads for its group -> who else said it
    hidden: frozenset[int] = frozenset()  # the answers it reads for


def fold(
    answers: Mapping[int, Sequence[PostRead]], mine: Callable[[PostRead], bool], name: Callable[[PostRead], str]
) -> Echoes:
    """Per question, its answers saying the same as one: the first given reads for the others. One's own
    answers and those behind a content warning always stand alone (as live.js has them)."""
    lines: dict[int, str] = {}
    hidden: set[int] = set()
    for given in answers.values():
        alike = [a for a in given if not mine(a) and not a.spoiler_text]
        for first, *others in echo_groups(alike, lambda a: a.text):
            if not others or not saying(first.text):
                continue
            lines[first.id] = also_said_by(list(dict.fromkeys(map(name, others))), len(others) + 1)
            hidden.update(a.id for a in others)
    return Echoes(lines, frozenset(hidden))
