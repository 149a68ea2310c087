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
    """Near-duplicate groups of one topic's posts (bounded), with a word index to find candidates fast."""

    __slots__ = ("_by_key", "_index", "_next", "_groups", "dup_jaccard", "max_groups", "max_ids", "question_jaccard")

    def __init__(
        self, max_groups: int = 40, max_ids: int = 50, dup_jaccard: float = 0.7, question_jaccard: float = 0.5
    ) -> None:
        self.max_groups = max_groups
        self.max_ids = max_ids
        self.dup_jaccard = dup_jaccard
        self.question_jaccard = question_jaccard
        self._groups: dict[int, Group] = {}
        self._by_key: dict[str, int] = {}
        self._index: dict[str, set[int]] = {}  # word -> groups holding it
        self._next = 0

    @property
    def groups(self) -> list[Group]:
        return list(self._groups.values())

    def add(self, m: Member) -> Group:
        key = normalise_for_dup(m.text)
        gid = self._by_key.get(key) if key else None
        if gid is None:
            gid = self._similar(m)
        if gid is None:
            gid = self._next
            self._next += 1
            group = Group(key=key, words=m.words, kind=m.kind, first_seq=m.seq)
            self._groups[gid] = group
            if key:
                self._by_key.setdefault(key, gid)
            for w in m.words:
                self._index.setdefault(w, set()).add(gid)
            if len(self._groups) > self.max_groups + max(self.max_groups // 4, 1):
                self._evict(keep=gid)
        group = self._groups[gid]
        if len(group.members) < self.max_ids:
            group.members[m.id] = m
        else:
            group.extra += 1 + m.boosts  # past the citation cap a copy still counts
        return group

    def _similar(self, m: Member) -> int | None:
        overlap: dict[int, int] = {}
        for w in m.words:
            for gid in self._index.get(w, ()):
                overlap[gid] = overlap.get(gid, 0) + 1
        best, best_sim = None, 0.0
        n = len(m.words)
        for gid, inter in overlap.items():
            g = self._groups[gid]
            sim = inter / (n + len(g.words) - inter)
            need = self.question_jaccard if (m.kind == g.kind == "question") else self.dup_jaccard
            if sim >= need and sim > best_sim:
                best, best_sim = gid, sim
        return best

    def remove(self, post_id: str) -> bool:
        for gid, g in self._groups.items():
            if g.members.pop(post_id, None) is not None:
                if not g.members:
                    self._drop(gid)
                return True
        return False

    def find(self, post_id: str) -> Member | None:
        for g in self._groups.values():
            m = g.members.get(post_id)
            if m is not None:
                return m
        return None

    def _drop(self, gid: int) -> None:
        g = self._groups.pop(gid)
        if self._by_key.get(g.key) == gid:
            del self._by_key[g.key]
        for w in g.words:
            ids = self._index.get(w)
            if ids is not None:
                ids.discard(gid)
                if not ids:
                    del self._index[w]

    def _evict(self, keep: int) -> None:
        """Down to ``max_groups``: the least engaged, oldest groups go (amortised: runs every few adds)."""
        ranked = sorted(
            (gid for gid in self._groups if gid != keep),
            key=lambda gid: (
                self._groups[gid].engagement + len(self._groups[gid].members),
                self._groups[gid].first_seq,
            ),
        )
        for gid in ranked[: len(self._groups) - self.max_groups]:
            self._drop(gid)


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
