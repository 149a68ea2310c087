"""Takeaways: the few posts that best stand for a topic, near-duplicates merged, every one cited.

Inside a topic, posts are kept as *groups* of near-duplicates (same normalised text, or word sets with
Jaccard similarity >= ``dup_jaccard``; questions with ``question_jaccard``): a group counts its posts and
their boosts, sums their upvotes ("votes") and cites every post id. Groups are bounded per topic.

Picking: each group scores ``centrality * (1 + log1p(engagement))`` (centrality = cosine of the group's
words to the topic's words; engagement = votes + boosts + replies + extra copies), then Maximal Marginal
Relevance picks groups that are good and unlike the ones already picked.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

_URL = re.compile(r"https?://\S+|www\.\S+")
_HANDLE = re.compile(r"(?<!\w)@[\w.@-]+")
_NON_WORD = re.compile(r"[^\w]+")


def normalise_for_dup(text: str) -> str:
    """Lower-case text without links, handles, punctuation and a leading "RT"."""
    t = _URL.sub(" ", text.lower())
    t = _HANDLE.sub(" ", t)
    t = _NON_WORD.sub(" ", t).strip()
    if t.startswith("rt "):
        t = t[3:]
    return t


@dataclass(slots=True)
class Member:
    """What a group needs to know of one post."""

    id: str
    text: str
    kind: str
    words: frozenset[str]
    upvotes: int = 0
    boosts: int = 0
    replies: int = 0
    seq: int = 0


@dataclass(slots=True)
class Group:
    key: str
    words: frozenset[str]
    kind: str
    members: dict[str, Member] = field(default_factory=dict)
    first_seq: int = 0
    extra: int = 0  # copies past the citation cap: counted, not cited

    @property
    def representative(self) -> Member:
        return max(self.members.values(), key=lambda m: (m.upvotes + m.boosts + m.replies, -m.seq))

    @property
    def count(self) -> int:
        return len(self.members) + self.extra + sum(m.boosts for m in self.members.values())

    @property
    def votes(self) -> int:
        return sum(m.upvotes for m in self.members.values())

    @property
    def engagement(self) -> float:
        ms = self.members.values()
        return float(sum(m.upvotes + m.boosts + m.replies for m in ms) + len(self.members) + self.extra - 1)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 1.0 if a == b else 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


class TopicGroups:
    """Near-duplicate groups of one topic's posts (bounded)."""

    __slots__ = ("dup_jaccard", "groups", "max_groups", "max_ids", "question_jaccard")

    def __init__(
        self, max_groups: int = 40, max_ids: int = 50, dup_jaccard: float = 0.7, question_jaccard: float = 0.5
    ) -> None:
        self.max_groups = max_groups
        self.max_ids = max_ids
        self.dup_jaccard = dup_jaccard
        self.question_jaccard = question_jaccard
        self.groups: list[Group] = []

    def add(self, m: Member) -> Group:
        key = normalise_for_dup(m.text)
        best, best_sim = None, 0.0
        for g in self.groups:
            if g.key == key and key:
                best, best_sim = g, 1.0
                break
            sim = jaccard(g.words, m.words)
            need = self.question_jaccard if (m.kind == g.kind == "question") else self.dup_jaccard
            if sim >= need and sim > best_sim:
                best, best_sim = g, sim
        if best is None:
            best = Group(key=key, words=m.words, kind=m.kind, first_seq=m.seq)
            self.groups.append(best)
            if len(self.groups) > self.max_groups:
                self._evict(keep=best)
        if len(best.members) < self.max_ids:
            best.members[m.id] = m
        else:
            # past the citation cap the copy still counts, as a boost of the representative
            best.extra += 1 + m.boosts
        return best

    def remove(self, post_id: str) -> bool:
        for g in self.groups:
            if g.members.pop(post_id, None) is not None:
                if not g.members:
                    self.groups.remove(g)
                return True
        return False

    def find(self, post_id: str) -> Member | None:
        for g in self.groups:
            m = g.members.get(post_id)
            if m is not None:
                return m
        return None

    def _evict(self, keep: Group) -> None:
        victim = min(
            (g for g in self.groups if g is not keep), key=lambda g: (g.engagement + len(g.members), g.first_seq)
        )
        self.groups.remove(victim)


def _cosine(words: Iterable[str], centroid: dict[str, float], norm: float) -> float:
    ws = list(words)
    if not ws or norm == 0:
        return 0.0
    return sum(centroid.get(w, 0.0) for w in ws) / (math.sqrt(len(ws)) * norm)


@dataclass(frozen=True, slots=True)
class Pick:
    group: Group
    score: float


def pick(groups: Sequence[Group], centroid: dict[str, float], *, top: int = 3, mmr_lambda: float = 0.7) -> list[Pick]:
    """MMR over the groups: relevance = centrality x engagement, redundancy = word overlap with picks."""
    if not groups:
        return []
    norm = math.sqrt(sum(v * v for v in centroid.values()))
    rel = []
    for g in groups:
        central = _cosine(g.words, centroid, norm)
        rel.append(central * (1.0 + math.log1p(g.engagement)))
    hi = max(rel) or 1.0
    rel = [r / hi for r in rel]
    chosen: list[int] = []
    left = set(range(len(groups)))
    while left and len(chosen) < top:
        best, best_val = None, -math.inf
        for i in sorted(left):
            red = max((jaccard(groups[i].words, groups[j].words) for j in chosen), default=0.0)
            val = mmr_lambda * rel[i] - (1.0 - mmr_lambda) * red
            if val > best_val:
                best, best_val = i, val
        assert best is not None
        chosen.append(best)
        left.discard(best)
    return [Pick(groups[i], rel[i]) for i in chosen]
