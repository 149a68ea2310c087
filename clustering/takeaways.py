"""Takeaways: the few posts that best stand for a topic, near-duplicates merged, every one cited.

Inside a topic, posts are kept as *groups* of near-duplicates (same normalised text, word sets with
Jaccard similarity >= ``dup_jaccard``, questions with ``question_jaccard``, or one post's words nearly all
within the other's when it says little more: the same point under another opening or with a remark after
it; hashtags and a short lead-in ending in a colon left out): a group counts its posts and their boosts,
sums their upvotes ("votes") and cites every post id. Groups are bounded per topic.

Picking: each group scores ``centrality * (1 + log1p(engagement))`` (centrality = cosine of the group's
words to the topic's words; engagement = votes + boosts + replies + extra copies), less for chatter
(``KIND_WEIGHT``), then Maximal Marginal Relevance picks groups that are good and unlike the ones already
picked. Praise for the speaker is picked only in a topic that is all praise.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import attrgetter
from typing import Any, Protocol

_LINK_OR_HANDLE = re.compile(r"https?://\S+|www\.\S+|(?<!\w)@[\w.@-]+")
_WORD_RUN = re.compile(r"\w+")
_HASHTAG = re.compile(r"(?u)#\b\w[\w'.@-]*\w\b")  # a hashtag token as clustering.features tokenizes it
# up to 16 words, then ": " and the point. Past 8 words only before a point at least as long: "Note to self from
# <talk title>:" is as long as the title (at 8, a copy under a long title and one with a remark after it were two
# takeaways), while a long clause before a short list is what the sentence says ("there are two protected code
# regions: the UEFI firmware and SMM").
_LEAD_IN = re.compile(r"^((?:[^\s:]+ ){0,15}[^\s:]+): +\S")
_SHORT_LEAD_IN = 8
# Templated openings people put before the same point ("TIL …", "Key takeaway: …", "RT …"): two posts that
# differ only there are one takeaway.
_PREFIX = re.compile(
    r"^(?:(?:rt|til|tl ?dr|today i learned|note to self|important|summary|in short|lessons? learned"
    r"|(?:my |the |one |main |key |big(?:gest)? )?take ?aways?|(?:key|main|big) (?:points?|insights?|lessons?)"
    r")(?: (?:of|from) (?:the |this |today s )?(?:talk|session|keynote|day))?(?: |$))+"
)


def _clean(text: str) -> str:
    low = text.lower()
    if "@" in low or "http" in low or "www." in low:  # every link or handle holds one of these
        low = _LINK_OR_HANDLE.sub(" ", low)
    # the word runs joined by one space: what replacing every run of other characters by a space and stripping
    # the ends gives (no word character is a space), a third faster than that substitution
    return " ".join(_WORD_RUN.findall(low))


def normalise_for_dup(text: str) -> str:
    """Lower-case text without links, handles, punctuation and templated openings ("RT", "TIL",
    "Key takeaway:")."""
    return _PREFIX.sub("", _clean(text))


def _point_words(text: str, words: frozenset[str]) -> frozenset[str]:
    """The words of a post that make its point, for comparing word sets: without its hashtags (they name
    where it was said, the event or the talk) and a short lead-in ending in a colon ("Ben makes a great
    point: X", "Note to self from <talk title>: X"), when enough words are left to compare."""
    point = words - {tag[1:] for tag in _HASHTAG.findall(text.lower())} if "#" in text else words
    lead = _LEAD_IN.match(text)
    if (
        lead is not None
        and "//" not in (head := lead.group(1))
        # a short lead-in, or a point at least as long as it
        and ((gaps := head.count(" ")) < _SHORT_LEAD_IN or text.count(" ", lead.end(1)) > gaps)
    ):
        without = point - set(_clean(head).split())
        if len(without) >= _CONTAIN_MIN_WORDS:
            return without
    return point


def _split_opening(text: str) -> tuple[str, frozenset[str]]:
    """``normalise_for_dup(text)`` and the words of its templated opening (left out when comparing word
    sets), from one cleaning of the text."""
    clean = _clean(text)
    m = _PREFIX.match(clean)
    if m is None or not m.group(0):
        return clean, frozenset()
    return clean[m.end() :], frozenset(m.group(0).split())


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


class QueuedPost(Protocol):
    """A post as it may wait to be grouped: a ``Member``, or the caller's own record of the post with the
    same fields (its words in any order, repeated or not). It is made a ``Member`` when it is grouped."""

    id: str
    text: str
    kind: str
    words: Collection[str]
    upvotes: int
    boosts: int
    replies: int
    seq: int


def _as_member(m: QueuedPost) -> Member:
    if isinstance(m, Member):
        return m
    return Member(m.id, m.text, m.kind, frozenset(m.words), m.upvotes, m.boosts, m.replies, m.seq)


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
        # the most engaged copy; among equals the one that says it in the fewest words (the point without
        # "Note to self from <talk>:" or "Huge if you run this in production"), then the first
        return max(self.members.values(), key=lambda m: (m.upvotes + m.boosts + m.replies, -len(m.words), -m.seq))

    @property
    def shown_kind(self) -> str:
        """The kind of what the group shows: a question group's, else its representative's. The group's
        own kind is its first post's, which may have made the point another way ("Ben makes a great point:
        never hold a mutex guard across an await" is praise, "Writing this down: never hold ..." a takeaway)."""
        return self.kind if self.kind == "question" else self.representative.kind

    @property
    def count(self) -> int:
        return len(self.members) + self.extra + sum(m.boosts for m in self.members.values())

    @property
    def votes(self) -> int:
        return sum(m.upvotes for m in self.members.values())

    @property
    def engagement(self) -> float:
        ms = self.members.values()
        if len(ms) == 1:
            # most groups hold one post: the same sum without a generator (about half the call)
            (m,) = ms
            return float(m.upvotes + m.boosts + m.replies + 1 + self.extra - 1)
        return float(sum(m.upvotes + m.boosts + m.replies for m in ms) + len(self.members) + self.extra - 1)


_PACKED = "backchannel-members-columns-1"
_MEMBER_FIELDS = ("id", "text", "kind", "upvotes", "boosts", "replies", "seq")
_WORD_SEP, _MEMBER_SEP = "\x1f", "\x1e"  # never in a content word (letters, digits and '.@-)


def _pack_members(members: list[QueuedPost]) -> dict[str, object]:
    cols: dict[str, object] = {f: list(map(attrgetter(f), members)) for f in _MEMBER_FIELDS}
    cols["format"] = _PACKED
    cols["words"] = _MEMBER_SEP.join([_WORD_SEP.join(m.words) for m in members])
    return cols


def _unpack_members(cols: dict[str, Any]) -> list[Member]:
    if not cols["id"]:
        return []
    words = [frozenset(w.split(_WORD_SEP)) if w else frozenset() for w in cols["words"].split(_MEMBER_SEP)]
    return [
        Member(i, text, kind, w, up, boosts, replies, seq)
        for i, text, kind, up, boosts, replies, seq, w in zip(*(cols[f] for f in _MEMBER_FIELDS), words, strict=True)
    ]


# Per group slot, a lane of bits in which a post's shared words with the group are counted (``_similar``);
# counts stay under half a lane (posts of fewer words), so adding up to half a lane never spills over.
_LANE = 8
_HALF_LANE = 1 << (_LANE - 1)
_LANE_MASK = (1 << _LANE) - 1
_ONES: list[int] = [0]


def _lane_ones(slots: int) -> int:
    """An int with a 1 at the bottom of each of ``slots`` lanes."""
    while len(_ONES) <= slots:
        _ONES.append(_ONES[-1] | 1 << (_LANE * (len(_ONES) - 1)))
    return _ONES[slots]


# "Ben makes a great point: X", "Note to self from <title>: X" and "So X. Huge if you run this in production."
# share X's words but too few of all their words for Jaccard: a post whose words are nearly all (``_CONTAIN``)
# among another's is the same point when it has a few words of its own (``_CONTAIN_MIN_WORDS``, not "Great
# slides, Ana!") and the other is at most ``_CONTAIN_MAX_RATIO`` times as long (a post making several points
# is not one of them). Only between two questions or two statements: an answer repeats its question's words.
_CONTAIN = 0.8
_CONTAIN_MIN_WORDS = 4
_CONTAIN_MAX_RATIO = 2.5


def _contained(inter: int, n: int, m: int) -> float:
    """How nearly all the words of the shorter of two word sets (``n`` and ``m`` words, ``inter`` shared) are
    in the other, or 0.0 when the two are not eligible (too few words, or one far longer)."""
    short, long = (n, m) if n <= m else (m, n)
    if short < _CONTAIN_MIN_WORDS or long > _CONTAIN_MAX_RATIO * short:
        return 0.0
    return inter / short


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 1.0 if a == b else 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


# Indexes of TopicGroups states saved before groups were found through word -> holder lanes: a word ->
# groups index, then a bit per word and a mask of bits per group.
_FORMER_INDEXES = frozenset({"_index", "_bits", "_masks", "_bits_cap"})


class TopicGroups:
    """Near-duplicate groups of one topic's posts (bounded). Posts are queued as they arrive and grouped
    when the groups are read (or the queue is long): most topics are never shown, and grouping is the
    costly part."""

    __slots__ = (
        "_by_key",
        "_gid_at",
        "_groups",
        "_holders",
        "_next",
        "_pending",
        "_slot_of",
        "dup_jaccard",
        "keep_latest",
        "max_groups",
        "max_ids",
        "max_pending",
        "question_jaccard",
    )

    def __init__(
        self,
        max_groups: int = 40,
        max_ids: int = 50,
        dup_jaccard: float = 0.7,
        question_jaccard: float = 0.5,
        max_pending: int = 256,
        keep_latest: bool = False,
    ) -> None:
        self.max_groups = max_groups
        self.max_ids = max_ids
        # Past ``max_ids`` a group keeps its first copies (a takeaway cites where a point was first made), or
        # with ``keep_latest`` its newest ones and the copy that speaks for it: a page lists the newest
        # posts, and a question's copies past the first 50 were listed one by one, unnamed
        self.keep_latest = keep_latest
        self.dup_jaccard = dup_jaccard
        self.question_jaccard = question_jaccard
        self.max_pending = max_pending
        self._groups: dict[int, Group] = {}
        self._by_key: dict[str, int] = {}
        self._next = 0
        # posts waiting to be grouped, as the caller gave them: most are never grouped, and a Member and its
        # word set made for each as it arrived were two objects more per post for the garbage collector's
        # passes to walk (its full passes scan every tracked object: ~7% of the stage on Tweets-T, then)
        self._pending: dict[str, QueuedPost] = {}
        self._index_holders()

    def __getstate__(self) -> tuple[None, dict[str, object]]:
        state: dict[str, object] = {k: getattr(self, k) for k in self.__slots__}
        if self._pending:  # thousands of queued posts pickle far faster as columns than one by one
            state["_pending"] = _pack_members(list(self._pending.values()))
        return None, state

    def __setstate__(self, state: tuple[None, dict[str, object]]) -> None:
        for k, v in state[1].items():
            if k in _FORMER_INDEXES:
                continue  # a state saved when groups were found otherwise: indexed anew below
            if k == "_pending" and isinstance(v, dict) and v.get("format") == _PACKED:
                v = {m.id: m for m in _unpack_members(v)}
            setattr(self, k, v)
        if not hasattr(self, "_pending"):  # a state saved before posts were queued
            self._pending = {}
            self.max_pending = 64
        if not hasattr(self, "keep_latest"):  # a state saved when groups kept their first copies only
            self.keep_latest = False
        if not hasattr(self, "_holders"):
            self._index_holders()

    @property
    def groups(self) -> list[Group]:
        self._flush()
        return list(self._groups.values())

    def texts(self) -> Iterator[str]:
        """What the topic's posts say, one copy per group and every post still waiting, without grouping the
        waiting ones (a label's check of a phrase should not pay for that)."""
        for g in self._groups.values():
            yield next(iter(g.members.values())).text
        for m in self._pending.values():
            yield m.text

    def add(self, m: QueuedPost) -> None:
        self._pending[m.id] = m
        if len(self._pending) >= self.max_pending:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        for m in pending.values():
            self._group(_as_member(m))

    def _group(self, m: Member) -> None:
        key, opening = _split_opening(m.text)
        gid = self._by_key.get(key) if key else None
        words = m.words - opening if opening else m.words
        if "#" in m.text or ": " in m.text:
            words = _point_words(m.text, words)
        if gid is None:
            gid = self._similar(words, m.kind)
        if gid is None:
            gid = self._next
            self._next += 1
            self._groups[gid] = Group(key, words, m.kind, {}, m.seq)
            if key:
                self._by_key.setdefault(key, gid)
            self._hold(gid, words)
            if len(self._groups) > self.max_groups + max(self.max_groups // 2, 1):
                self._evict(keep=gid)
        group = self._groups[gid]
        if len(group.members) < self.max_ids:
            group.members[m.id] = m
        elif self.keep_latest and len(group.members) > 1:
            speaker = group.representative
            oldest = min((c for c in group.members.values() if c is not speaker), key=attrgetter("seq"))
            del group.members[oldest.id]
            group.extra += 1 + oldest.boosts  # still counted, no longer named
            group.members[m.id] = m
        else:
            group.extra += 1 + m.boosts  # past the citation cap a copy still counts

    def _similar(self, words: frozenset[str], kind: str) -> int | None:
        n = len(words)
        if not n:
            return None
        # Jaccard i / (n + g - i) >= need needs i >= need * n (as g >= i): most posts share far fewer; being
        # contained needs i >= _CONTAIN * (the shorter's words), at least _CONTAIN_MIN_WORDS and n / ratio
        low = min(self.dup_jaccard, self.question_jaccard if kind == "question" else self.dup_jaccard) * n
        if n >= _CONTAIN_MIN_WORDS:
            low = min(low, _CONTAIN * max(_CONTAIN_MIN_WORDS, n / _CONTAIN_MAX_RATIO))
        # How many of the post's words each group holds, for every group at once: a word's holders are one
        # int with a lane of _LANE bits per group slot (1 in the lanes of the groups holding it), so the sum
        # of the post's words' holders counts them lane by lane (in C: counting per group, an AND and a bit
        # count of word masks for every group, cost twice as much; counting groups over a word -> groups
        # index several times as much again). Adding (half a lane - need) to every lane then sets the top
        # bit of the lanes holding at least ``need`` words.
        held = list(filter(None, map(self._holders.get, words)))
        need = math.ceil(low)  # a count of words is at least ``low`` when it is at least this
        if len(held) < need:
            return None  # most posts: too few of their words are in any group
        if n >= _HALF_LANE:  # a count could spill into the next lane: count group by group
            close = [(gid, i) for gid, g in self._groups.items() if (i := len(words & g.words)) >= low]
        else:
            counts = sum(held)
            ones = _lane_ones(len(self._gid_at))
            found = (counts + ones * (_HALF_LANE - need)) & (ones << (_LANE - 1))
            if not found:
                return None
            gid_at = self._gid_at
            close = []
            while found:
                top = found & -found
                found ^= top
                at = top.bit_length() - _LANE  # the lane's first bit
                close.append((gid_at[at // _LANE], (counts >> at) & _LANE_MASK))
        if not close:
            return None
        groups = self._groups
        question = kind == "question"
        dup, ask = self.dup_jaccard, self.question_jaccard
        # The most similar group that is similar enough (by Jaccard, or by containment where that says more);
        # ties to the one sharing most words, then the oldest (what a scan in that order keeping only a
        # strictly better group picks).
        best, best_key = None, (0.0, 0, 0)
        for gid, inter in close:
            g = groups[gid]
            same_kind = (g.kind == "question") == question
            sim = inter / (n + len(g.words) - inter)
            if sim < (ask if question and g.kind == "question" else dup):
                sim = _contained(inter, n, len(g.words)) if same_kind else 0.0
                if sim < _CONTAIN:
                    continue
            if (sim, inter, -gid) > best_key:
                best, best_key = gid, (sim, inter, -gid)
        return best

    def remove(self, post_id: str) -> bool:
        if self._pending.pop(post_id, None) is not None:
            return True
        for gid, g in self._groups.items():
            if g.members.pop(post_id, None) is not None:
                if not g.members:
                    self._drop(gid)
                return True
        return False

    def find(self, post_id: str) -> QueuedPost | None:
        """The post's record (a ``Member``, or the record it was queued as while it waits), to update its
        engagement in place."""
        m = self._pending.get(post_id)
        if m is not None:
            return m
        for g in self._groups.values():
            m = g.members.get(post_id)
            if m is not None:
                return m
        return None

    def _drop(self, gid: int) -> None:
        g = self._groups.pop(gid)
        if self._by_key.get(g.key) == gid:
            del self._by_key[g.key]
        slot = self._slot_of.pop(gid)
        self._gid_at[slot] = -1
        # the group's lane is set for each of its words (``_hold``): clearing it is an exclusive or, cheaper
        # than an and with the negated lane (a negative int, complemented for every word)
        lane = 1 << (_LANE * slot)
        holders = self._holders
        for w in g.words:
            h = holders[w] ^ lane
            if h:
                holders[w] = h
            else:
                del holders[w]

    def _hold(self, gid: int, words: frozenset[str]) -> None:
        """Give a new group a slot (a lane) and mark it among the holders of each of its words."""
        gid_at = self._gid_at
        slot = gid_at.index(-1) if -1 in gid_at else len(gid_at)
        if slot == len(gid_at):
            gid_at.append(gid)
        else:
            gid_at[slot] = gid
        self._slot_of[gid] = slot
        lane = 1 << (_LANE * slot)
        holders = self._holders
        for w in words:
            holders[w] = holders.get(w, 0) | lane

    def _index_holders(self) -> None:
        """The groups holding each word, as a 1 in their slots' lanes (a state saved before had none)."""
        self._holders: dict[str, int] = {}
        self._slot_of: dict[int, int] = {}  # group id -> its slot
        self._gid_at: list[int] = []  # slot -> group id, -1 for a free slot
        for gid, g in self._groups.items():
            self._hold(gid, g.words)

    def _evict(self, keep: int) -> None:
        """Down to ``max_groups``: the least engaged, oldest groups go (amortised: runs every few adds)."""
        # ids ascend in the order groups were made (the dict's order), so sorting on (key, id) keeps the
        # order of a stable sort on the key alone
        ranked = sorted(
            [(g.engagement + len(g.members), g.first_seq, gid) for gid, g in self._groups.items() if gid != keep]
        )
        for _, _, gid in ranked[: len(self._groups) - self.max_groups]:
            self._drop(gid)


def _cosine(words: Iterable[str], centroid: dict[str, float], norm: float) -> float:
    ws = list(words)
    if not ws or norm == 0:
        return 0.0
    # fsum: a set's iteration order differs between a model and its restored copy (and between processes),
    # and a plain sum's last bits with it, which broke ties between takeaways differently
    return math.fsum(map(centroid.get, ws, repeat(0.0))) / (math.sqrt(len(ws)) * norm)


# A topic's takeaways say what the talk taught. Praise for the speaker ("Great slides, Ben!", "Loving this
# talk") sits among a talk's points, shares their words (the speaker's name) and is engaged with, so it scored
# as central as the points: a quarter of the takeaways on the demo's pages were praise. Weighed down to a tenth,
# it still filled the places a topic of one or two points left ("Great slides, Hugo!" under "callback ·
# paramspec · signature" on the wall), so it is left out of a topic that has a point; a topic that is all praise
# still shows it.
KIND_WEIGHT = {"other": 0.5}


@dataclass(frozen=True, slots=True)
class Pick:
    group: Group
    score: float


def pick(groups: Sequence[Group], centroid: dict[str, float], *, top: int = 3, mmr_lambda: float = 0.7) -> list[Pick]:
    """MMR over the groups: relevance = centrality x engagement, redundancy = word overlap with picks. Praise
    (``feedback``) only where the groups are all praise."""
    if not groups:
        return []
    # a group's shown kind is its most engaged copy's: worked out once per group, not per use
    kinds = [g.shown_kind for g in groups]
    if any(k != "feedback" for k in kinds):
        groups, kinds = (
            [g for g, k in zip(groups, kinds, strict=True) if k != "feedback"],
            [k for k in kinds if k != "feedback"],
        )
    norm = math.sqrt(sum(v * v for v in centroid.values()))
    rel = []
    for g, kind in zip(groups, kinds, strict=True):
        central = _cosine(g.words, centroid, norm)
        rel.append(central * (1.0 + math.log1p(g.engagement)) * KIND_WEIGHT.get(kind, 1.0))
    hi = max(rel) or 1.0
    rel = [r / hi for r in rel]
    chosen: list[int] = []
    left = set(range(len(groups)))
    # each group's redundancy (its largest overlap with a pick) is raised as picks are made, not taken anew
    # against every pick for every group in every round
    red = [0.0] * len(groups)
    while left and len(chosen) < top:
        best, best_val = None, -math.inf
        for i in sorted(left):
            val = mmr_lambda * rel[i] - (1.0 - mmr_lambda) * red[i]
            if val > best_val:
                best, best_val = i, val
        assert best is not None
        chosen.append(best)
        left.discard(best)
        if left and len(chosen) < top:
            words = groups[best].words
            for i in left:
                overlap = jaccard(groups[i].words, words)
                if overlap > red[i]:
                    red[i] = overlap
    return [Pick(groups[i], rel[i]) for i in chosen]
