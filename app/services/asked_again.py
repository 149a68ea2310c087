"""Questions asked again, as the pages and the exports list them: each group of copies once.

The clustering stage names the copies in each talk's digest (``DigestRead.questions``); a page or an
export holds only some of them (the page its latest posts, an export the visible ones).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from app.services.payloads import RepeatedQuestionRead


class _Question(Protocol):
    @property
    def id(self) -> int | None: ...


Q = TypeVar("Q", bound=_Question)


@dataclass(frozen=True, slots=True)
class Copies(Generic[Q]):
    """One question and the copies of it at hand (``shown`` among them)."""

    key: int  # the copy the clustering stage chose to speak for the group (maybe not at hand)
    copies: list[Q]  # in the order given
    shown: Q  # the chosen copy when at hand, else the first asked of those at hand
    count: int  # times asked, by the stage's count when it has one, else by the copies at hand
    votes: int  # the stage's count of every copy's upvotes (0 when it named no group)


def group_copies(questions: Iterable[Q], repeated: Iterable[RepeatedQuestionRead]) -> list[Copies[Q]]:
    """``questions`` grouped by the question they repeat, in the order each group's first copy comes."""
    named: dict[int, RepeatedQuestionRead] = {}
    for group in repeated:
        for post_id in group.post_ids:  # the first is the key: a group without ids names nothing
            named[post_id] = group
    groups: dict[int, list[Q]] = {}
    for question in questions:
        if question.id is not None:
            group = named.get(question.id)
            groups.setdefault(group.post_ids[0] if group else question.id, []).append(question)
    out = []
    for key, copies in groups.items():
        shown = next((c for c in copies if c.id == key), None) or min(copies, key=lambda c: c.id or 0)
        group = named.get(key)
        count = max(group.count if group else 1, len(copies))
        out.append(Copies(key, copies, shown, count, group.votes if group else 0))
    return out
