"""The one facade the app calls: posts in (in stream order), talk, topic, kind and confidence out, plus
topics, takeaways, bursts and activity per talk (``None`` = the hallway), incrementally, with bounded
memory and a saved/restored state.

    model = EventModel()
    model.set_schedule(schedule.talks)          # optional: without it topics alone organise the stream
    results = model.observe(docs)               # one PostResult per doc, in order
    changes = model.drain_changes()             # which talks' topics/takeaways/bursts changed
    model.topics(talk), model.takeaways(talk), model.bursts(talk), model.activity(talk)
    blob = model.dumps(); model = EventModel.loads(blob)

Only load blobs this process (or a trusted store) wrote: they are pickles.
"""

from __future__ import annotations

import heapq
import pickle
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache, partial
from itertools import count, islice
from operator import attrgetter
from typing import Any

import numpy as np
import scipy.sparse as sp

from clustering.attribution import RefineItem, TalkAttributor
from clustering.bursts import find_peaks
from clustering.features import DEFAULT_N_FEATURES, hash_texts_with_words, hash_tokens, tokenize_with_words
from clustering.keyphrases import BoundedCounter, before_objects, keyphrases, label_of, terms_of, written_in
from clustering.kinds import PostKind, classify_kinds, rule_kind
from clustering.questions import RepeatedQuestion, SameQuestions
from clustering.stream import StreamClusterer
from clustering.takeaways import Member, QueuedPost, TopicGroups, pick
from clustering.talk_refine import refine
from ingest.schedules.records import ScheduledTalk

_FORMAT = b"backchannel-eventmodel-1\n"
NO_TOPIC = -1
# A topic's phrases are chosen again once it has grown by a quarter since they were (or lost posts): a few
# posts more say little new about a topic of hundreds, and relabelling every topic that took a post, batch after
# batch, was a seventh of the whole stage on News.
_RELABEL_GROWTH = 1.25
_GRAM_CHUNK = 256  # posts whose character grams are hashed in one call (attribution)
# ``PostDoc.talk_ref`` of a post someone put in the hallway on purpose (an organizer: "about no talk"): it stays
# there whatever its words and time say. Not a guid any schedule gives (no format allows a NUL).
HALLWAY = "\x00hallway"


@dataclass(frozen=True, slots=True)
class PostDoc:
    id: str
    text: str
    created_at: datetime | None = None
    author: str | None = None
    reply_to: str | None = None
    talk_ref: str | None = None  # explicit talk guid chosen by the poster (or an organizer), or ``HALLWAY``
    kind_hint: str | None = None
    upvotes: int = 0
    boosts: int = 0
    replies: int = 0
    # The post's kind as ``classify_kinds`` gives its text alone (no reply context, no hint), when the caller
    # has it already; the model then classifies it again only if it knows the post's parent.
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class PostResult:
    id: str
    talk: str | None
    topic: int  # -1: no topic (nothing to cluster on)
    kind: str
    confidence: float  # of the talk attribution (of "no talk" when talk is None)


@dataclass(frozen=True, slots=True)
class TopicInfo:
    id: int
    talk: str | None
    label: str
    keyphrases: tuple[str, ...]
    size: int
    first_seen: datetime | None = None
    last_seen: datetime | None = None


@dataclass(frozen=True, slots=True)
class Takeaway:
    topic: int
    talk: str | None
    text: str
    post_ids: tuple[str, ...]  # cited source posts, representative first
    count: int  # posts merged (near-duplicates) plus their boosts
    votes: int  # upvotes summed over the merged posts
    score: float  # 0..1 within the talk
    kind: str


@dataclass(frozen=True, slots=True)
class Burst:
    talk: str | None
    start: datetime
    end: datetime  # start of the last minute of the burst
    peak: datetime
    peak_count: int
    label: str
    keyphrases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed since the last ``drain_changes``; talks are guids, ``None`` is the hallway."""

    topics: frozenset[str | None] = frozenset()
    takeaways: frozenset[str | None] = frozenset()
    bursts: frozenset[str | None] = frozenset()
    created_topics: tuple[int, ...] = ()
    moved: tuple[PostResult, ...] = ()  # posts whose topic changed after they were first reported
    forgotten: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.topics or self.takeaways or self.bursts or self.created_topics or self.moved or self.forgotten)


@dataclass(slots=True)
class _Post:
    id: str
    talk: str | None
    topic: int
    kind: str
    confidence: float
    minute: int | None  # minutes since the epoch
    when: datetime | None
    author: str | None
    reply_to: str | None
    text: str
    # a tuple: one of strings drops out of the garbage collector's tracking, whose full passes scan
    # every tracked object (a list per held post cost about a tenth of the stage)
    words: tuple[str, ...]
    idx: np.ndarray
    cnt: np.ndarray
    seq: int
    upvotes: int = 0
    boosts: int = 0
    replies: int = 0

    # Thousands of tiny arrays pickle slowly one by one: a saved post holds their bytes instead.
    def __getstate__(self) -> list[object]:
        return [
            self.idx.astype(np.int32).tobytes() if f == "idx" else self.cnt.astype(np.float32).tobytes()
            if f == "cnt" else getattr(self, f)
            for f in _POST_FIELDS
        ]  # fmt: skip

    def __setstate__(self, state: list[object]) -> None:
        for f, v in zip(_POST_FIELDS, state, strict=True):
            if f == "idx" and isinstance(v, bytes):
                v = np.frombuffer(v, np.int32)
            elif f == "cnt" and isinstance(v, bytes):
                v = np.frombuffer(v, np.float32)
            object.__setattr__(self, f, v)


_POST_FIELDS = tuple(_Post.__dataclass_fields__)
# Fields a saved model keeps as one list each (the rest are packed: words joined, idx/cnt concatenated).
_PLAIN_FIELDS = tuple(f for f in _POST_FIELDS if f not in ("words", "idx", "cnt"))
_WORD_SEP, _POST_SEP = "\x1f", "\x1e"  # never in a token (letters, digits and #@'.-)
_PACKED = "backchannel-posts-columns-1"


def _burst_texts(posts: list[_Post], lo: int, hi: int) -> Iterator[str]:
    return (p.text for p in posts if p.minute is not None and lo <= p.minute <= hi)


def _pack_posts(posts: list[_Post]) -> dict[str, object]:
    """The held posts as columns: a list per field, every post's words in one string and its hashed words
    in two flat arrays. Pickling 20,000 post objects field by field took about 0.3 s per checkpoint."""
    cols: dict[str, object] = {f: list(map(attrgetter(f), posts)) for f in _PLAIN_FIELDS}
    cols["format"] = _PACKED
    cols["words"] = _POST_SEP.join([_WORD_SEP.join(p.words) for p in posts])
    cols["lengths"] = np.fromiter((len(p.idx) for p in posts), np.int64, len(posts))
    idx = [p.idx for p in posts]
    cols["idx"] = np.concatenate(idx).astype(np.int32, copy=False) if idx else np.zeros(0, np.int32)
    cnt = [p.cnt for p in posts]
    cols["cnt"] = np.concatenate(cnt).astype(np.float32, copy=False) if cnt else np.zeros(0, np.float32)
    return cols


def _unpack_posts(cols: dict[str, Any]) -> OrderedDict[str, _Post]:
    n = len(cols["id"])
    joined: str = cols["words"]
    words = [tuple(w.split(_WORD_SEP)) if w else () for w in joined.split(_POST_SEP)] if n else []
    cuts = np.cumsum(cols["lengths"])[:-1]
    idx, cnt = np.split(cols["idx"], cuts), np.split(cols["cnt"], cuts)
    columns = [cols[f] for f in _PLAIN_FIELDS]
    out: OrderedDict[str, _Post] = OrderedDict()
    for r, row in enumerate(zip(*columns, strict=True)):
        values = dict(zip(_PLAIN_FIELDS, row, strict=True))
        out[values["id"]] = _Post(**values, words=words[r], idx=idx[r], cnt=cnt[r])
    return out


class _Pending:
    """Unassigned posts a talk may still claim (oldest first), with their hashed words, indexed by word:
    when a talk learns words only the posts sharing one are looked at, not the whole waiting list."""

    __slots__ = ("words", "order", "by_word", "_next")

    def __init__(self) -> None:
        self.words: dict[str, frozenset[int]] = {}  # insertion order is arrival order
        self.order: dict[str, int] = {}
        self.by_word: dict[int, set[str]] = {}
        self._next = 0

    def __len__(self) -> int:
        return len(self.words)

    def __setitem__(self, pid: str, words: frozenset[int]) -> None:
        old = self.words.get(pid)
        if old is not None:
            self._unindex(pid, old)
        else:
            self.order[pid] = self._next
            self._next += 1
        self.words[pid] = words
        for w in words:
            ids = self.by_word.get(w)
            if ids is None:
                self.by_word[w] = {pid}
            else:
                ids.add(pid)

    def pop(self, pid: str, default: frozenset[int] | None = None) -> frozenset[int] | None:
        words = self.words.pop(pid, None)
        if words is None:
            return default
        del self.order[pid]
        self._unindex(pid, words)
        return words

    def pop_oldest(self) -> None:
        self.pop(next(iter(self.words)))

    def sharing(self, words: set[int]) -> list[str]:
        """Waiting posts holding any of ``words``, oldest first."""
        by_word = self.by_word
        found: set[str] = set()
        for w in words:
            ids = by_word.get(w)
            if ids:
                found |= ids
        return sorted(found, key=self.order.__getitem__)

    def _unindex(self, pid: str, words: frozenset[int]) -> None:
        for w in words:
            ids = self.by_word.get(w)
            if ids is not None:
                ids.discard(pid)
                if not ids:
                    del self.by_word[w]


@dataclass(slots=True)
class _Topic:
    id: int
    talk: str | None
    size: int = 0
    terms: BoundedCounter = field(default_factory=BoundedCounter)
    groups: TopicGroups = field(default_factory=TopicGroups)
    first_minute: int | None = None
    last_minute: int | None = None
    last_seq: int = 0
    info: TopicInfo | None = None  # labelled summary, recomputed only after the topic changed
    picks: tuple[Takeaway, ...] | None = None  # its takeaways, recomputed only after it changed
    labelled: tuple[int, tuple[str, ...]] | None = None  # its size when its phrases were chosen, and them


@dataclass(slots=True)
class _Scope:
    topics: set[int] = field(default_factory=set)
    minutes: dict[int, int] = field(default_factory=dict)  # minute -> posts
    recent: OrderedDict[str, None] = field(default_factory=OrderedDict)  # post ids, for burst labels


class EventModel:
    """Talk attribution, topics, kinds, takeaways and bursts for one event (see the module docstring).

    Parameters are plain values (sklearn style); learned state is created by ``observe``.
    """

    # defaults for models saved before joint re-attribution existed
    refine_every = 200
    refine_posts = 1000
    _since_refine = 0

    def __init__(
        self,
        *,
        alpha: float = 0.2,
        beta: float = 0.01,
        vocab_size: float = 7000.0,
        halflife: float = 300.0,
        refine_window: int = 1000,
        n_features: int = DEFAULT_N_FEATURES,
        max_clusters: int = 512,
        before_minutes: float = 10.0,
        after_minutes: float = 30.0,
        min_confidence: float = 0.5,
        max_posts: int = 20_000,
        max_topics: int = 5_000,
        max_groups_per_topic: int = 40,
        max_minutes: int = 7 * 24 * 60,
        takeaways_per_topic: int = 3,
        max_topics_per_talk: int = 8,
        max_pending: int = 300,
        refine_every: int = 200,
        refine_posts: int = 1000,
        random_state: int | None = 0,
    ) -> None:
        self.alpha = alpha
        self.beta = beta
        self.vocab_size = vocab_size
        self.halflife = halflife
        self.refine_window = refine_window
        self.n_features = n_features
        self.max_clusters = max_clusters
        self.before_minutes = before_minutes
        self.after_minutes = after_minutes
        self.min_confidence = min_confidence
        self.max_posts = max_posts
        self.max_topics = max_topics
        self.max_groups_per_topic = max_groups_per_topic
        self.max_minutes = max_minutes
        self.takeaways_per_topic = takeaways_per_topic
        self.max_topics_per_talk = max_topics_per_talk
        self.max_pending = max_pending
        self.refine_every = refine_every
        self.refine_posts = refine_posts
        self.random_state = random_state
        self._clusterer = StreamClusterer(
            alpha=alpha,
            beta=beta,
            vocab_size=vocab_size,
            halflife=halflife,
            refine_window=refine_window,
            n_features=n_features,
            max_clusters=max_clusters,
            random_state=random_state,
        )
        self._attributor: TalkAttributor | None = None
        self._talks: dict[str, ScheduledTalk] = {}
        self._talk_names: dict[str, tuple[frozenset[int], frozenset[str]]] = {}  # see ``_talk_name``
        self._posts: OrderedDict[str, _Post] = OrderedDict()
        self._seq_post: dict[int, str] = {}  # stream index -> post id of every held post, for moves
        self._topics: dict[int, _Topic] = {}
        self._scopes: dict[str | None, _Scope] = {}
        self._event_terms = BoundedCounter(cap=50_000)
        self._before_object = BoundedCounter(cap=5_000)  # see ``keyphrases.before_objects``
        self._last_minute: int | None = None
        self._dirty_topics: set[str | None] = set()
        self._dirty_takeaways: set[str | None] = set()
        self._dirty_bursts: set[str | None] = set()
        self._created: list[int] = []
        self._moved: dict[str, PostResult] = {}
        self._forgotten: list[str] = []
        self._burst_cache: dict[str | None, tuple[Burst, ...]] = {}
        # unassigned posts a talk may still claim, with their hashed words
        self._pending = _Pending()
        self._asked = SameQuestions()  # each talk's questions, grouped into ones asked again
        # posts put in the hallway on purpose (``HALLWAY``), never moved: kept when a post is forgotten, as a
        # re-delivered post is forgotten first (an organizer's few choices; filed elsewhere, one leaves)
        self._in_hallway: set[str] = set()
        self._replies: dict[str, list[str]] = {}  # held post id -> ids of the replies to it, in arrival order
        self._since_refine = 0  # posts observed since the recent window was last attributed jointly

    # ------------------------------------------------------------------ schedule
    def set_schedule(self, talks: Sequence[ScheduledTalk]) -> None:
        """Use (or replace) the schedule; posts already seen keep their talks."""
        if self._attributor is None:
            self._attributor = TalkAttributor(
                before_minutes=self.before_minutes,
                after_minutes=self.after_minutes,
                min_confidence=self.min_confidence,
                n_features=self.n_features,
            )
        self._attributor.set_schedule(talks)
        self._talks = {t.guid: t for t in talks}
        self._talk_names = {}

    # ------------------------------------------------------------------ posts
    def observe(self, docs: Sequence[PostDoc]) -> list[PostResult]:
        """Take the next posts in stream order; returns one result per post, in order."""
        docs = list(docs)
        if not docs:
            return []
        if self._in_hallway or any(d.talk_ref == HALLWAY for d in docs):
            docs = self._take_hallway_choices(docs)
        X, content = hash_texts_with_words([d.text for d in docs], self.n_features)
        # a parent in the same batch has no kind yet: the rules stand in for it
        parents_here = {d.reply_to for d in docs if d.reply_to}
        batch_kind: dict[str, str] = {}
        reply_kinds: list[str | None] = []
        for d in docs:
            parent = self._posts.get(d.reply_to) if d.reply_to else None
            if parent is not None:
                reply_kinds.append(parent.kind)
            else:
                reply_kinds.append(batch_kind.get(d.reply_to) if d.reply_to else None)
            if d.id in parents_here:
                batch_kind[d.id] = rule_kind(d.text, hint=d.kind_hint).value
        kinds = classify_kinds(
            [d.text for d in docs],
            reply_to_kinds=reply_kinds,
            hints=[d.kind_hint for d in docs],
            known=[d.kind for d in docs],
        )
        # An event without talks (the live pipeline sets its schedule even when it is empty) attributes
        # nothing: every post's talk is None with confidence 1.0 either way, so it takes the batch path
        # too (the per-post path cost about four times as much per post).
        no_talks = self._attributor is None or (not self._attributor.profiles and all(d.talk_ref is None for d in docs))
        if no_talks and len({d.id for d in docs}) == len(docs):
            return self._observe_batch(docs, content, X, kinds)
        out = []
        for r, d in enumerate(docs):
            if self._attributor is not None and r % _GRAM_CHUNK == 0:
                self._attributor.remember_grams([x.text for x in docs[r : r + _GRAM_CHUNK]])
            a, b = X.indptr[r], X.indptr[r + 1]
            out.append(self._observe_one(d, content[r], X.indices[a:b], X.data[a:b], kinds[r]))
            self._since_refine += 1
            if self._attributor is not None and self.refine_every and self._since_refine >= self.refine_every:
                self._refine_talks()
        if self._attributor is not None and self._since_refine and len(docs) >= self.refine_every > 0:
            self._refine_talks(final=True)  # a replayed batch ends settled
        return out

    def _take_hallway_choices(self, docs: list[PostDoc]) -> list[PostDoc]:
        """Remember which posts were put in the hallway on purpose (a post filed again elsewhere no longer is);
        they are taken in as posts with no talk named, and the attribution leaves them there."""
        out = []
        for d in docs:
            if d.talk_ref == HALLWAY:
                self._in_hallway.add(d.id)
                d = replace(d, talk_ref=None)
            else:
                self._in_hallway.discard(d.id)
            out.append(d)
        return out

    def _refine_talks(self, *, final: bool = False) -> None:
        """Attribute the recent posts together (later posts show what earlier ones were about); posts whose
        talk changes are reported as moved."""
        assert self._attributor is not None
        self._since_refine = 0
        kept = self._in_hallway  # not up for revision, and no anchor: the joint step would weigh them as unsure
        recent = list(self._posts.values())[-self.refine_posts :]
        # posts that leave the window before the next step (all of them at the end of a replayed batch) get
        # their last answer now: step 5 may settle them
        leaving = len(recent) + self.refine_every - self.refine_posts
        at = [i for i, p in enumerate(recent) if p.when is not None and p.id not in kept]
        window = [recent[i] for i in at]
        settle = np.array([final or i < leaving for i in at], bool)
        items = []
        for p in window:
            parent = self._posts.get(p.reply_to) if p.reply_to else None
            # a chosen talk (confidence 1) or the talk of the question answered is not up for revision
            anchor = p.talk if p.confidence >= 1.0 else parent.talk if parent is not None else None
            items.append(RefineItem(p.text, p.idx, p.cnt, p.when, anchor, p.talk))
        atts = self._attributor.refine(items, settle=settle)
        row = {p.id: r for r, p in enumerate(window)}
        for r, p in enumerate(window):
            q = row.get(p.reply_to) if p.reply_to and p.confidence < 1.0 else None
            if q is not None and atts[q].talk is not None and p.kind == "answer":
                atts[r] = atts[q]  # anchored to where its question was, and the question moved on to a talk
        for post, att in zip(window, atts, strict=True):
            if att.talk == post.talk:
                continue
            if post.talk is not None and post.confidence >= self._attributor.learn_confidence:
                self._attributor.forget_learned(post.talk, post.idx, post.cnt, post.confidence)
            self._pending.pop(post.id, None)
            self._reassign(post, att.talk, att.confidence)
            if self._attributor.learns_from(att):
                self._attributor.learn(att.talk, post.idx, post.cnt, att.confidence)  # type: ignore[arg-type]

    def _observe_batch(
        self, docs: list[PostDoc], content: Sequence[tuple[str, ...]], X: sp.csr_matrix, kinds: list[PostKind]
    ) -> list[PostResult]:
        """Without a schedule a post's scope is its explicit talk or the hallway, known before clustering:
        the whole batch goes through the clusterer in one call; then each topic takes its posts of the
        batch at once (phrase counts and dirty marks once per topic, the event's phrase counts once per
        batch) and the minutes are counted once per talk."""
        for d in docs:
            if d.id in self._posts:
                self.forget(d.id)  # a re-delivered post replaces the old copy
        seq0 = self._clusterer.t_ if hasattr(self._clusterer, "t_") else 0
        labels, moves = self._clusterer.learn_batch(X, [d.talk_ref for d in docs])
        ip, ind, dat = X.indptr.tolist(), X.indices, X.data
        topics = labels.tolist()
        posts = self._posts
        seq_post = self._seq_post
        by_topic: dict[int, list[_Post]] = {}
        batch: list[_Post] = []
        # records built with positional arguments and the latest minute kept inline (as ``_minute_of`` does): by
        # keyword, a record of 17 fields cost about twice as much; each post's row bounds, topic and kind's value
        # are zipped in, not indexed (a kind's ``.value`` is a property call: looked up in C, by map)
        last = self._last_minute
        minute: int | None
        values = map(_KIND_VALUE.__getitem__, kinds)
        rows = zip(count(seq0), docs, content, topics, values, ip, islice(ip, 1, None))
        for seq, d, said, topic, kind, a, b in rows:
            when = d.created_at
            if when is None:
                minute = last
                when = self._minute_time(minute)
            else:
                minute = int((when if when.tzinfo is not None else when.replace(tzinfo=UTC)).timestamp() // 60)
                if last is None or minute > last:
                    last = minute
            pid, talk = d.id, d.talk_ref
            post = _Post(
                pid, talk, topic, kind, 1.0, minute, when, d.author, d.reply_to, d.text,
                said, ind[a:b], dat[a:b], seq, d.upvotes, d.boosts, d.replies,
            )  # fmt: skip
            posts[pid] = post
            seq_post[seq] = pid
            group = by_topic.get(topic)
            if group is None:
                by_topic[topic] = [post]
            else:
                group.append(post)
            batch.append(post)
            if d.reply_to:
                self._note_reply(d.reply_to, pid)
                parent = posts.get(d.reply_to)
                if parent is not None:
                    # a parent of this batch has not joined its topic yet: it joins with the new count
                    self.update_engagement(
                        parent.id, upvotes=parent.upvotes, boosts=parent.boosts, replies=parent.replies + 1
                    )
        self._last_minute = last
        self._trim_posts()
        event_terms: list[str] = []
        for group in by_topic.values():
            self._join_many(group, event_terms)
        self._event_terms.add(event_terms)
        for post in batch:
            if post.kind == "question":
                self._ask(post)
        self._count_new(batch)
        for s, new_id in moves:
            self._move(s, new_id)
        # clustered on their own words with the batch, answers then join their questions' topics
        for post in batch:
            if posts.get(post.id) is not post:
                continue  # trimmed already
            if post.kind == "question":
                self._follow_question(post)
            elif post.reply_to and (parent := posts.get(post.reply_to)) is not None:
                self._seat_answer(post, parent)
        self._trim_seq_post()
        return [PostResult(p.id, p.talk, p.topic, p.kind, 1.0) for p in batch]

    def _observe_one(
        self, d: PostDoc, words: tuple[str, ...], idx: np.ndarray, cnt: np.ndarray, kind: PostKind
    ) -> PostResult:
        if d.id in self._posts:
            self.forget(d.id)  # a re-delivered post replaces the old copy
        minute = self._minute_of(d.created_at)
        when = d.created_at if d.created_at is not None else self._minute_time(minute)
        parent = self._posts.get(d.reply_to) if d.reply_to else None
        talk: str | None = None
        confidence = 1.0
        learned_talk = None
        pending = False
        if self._attributor is not None and d.id not in self._in_hallway:
            fit = self._topic_fit(idx, cnt, when, d.talk_ref)
            att = self._attributor.attribute(
                d.text,
                idx,
                cnt,
                when,
                talk_ref=d.talk_ref,
                reply_talk=(parent.talk, parent.confidence) if parent is not None else None,
                topic_fit=fit,
            )
            talk, confidence = att.talk, att.confidence
            if self._attributor.learns_from(att):
                learned_talk = talk
            pending = talk is None and att.reason != "no-candidate" and len(idx) > 0
        elif d.talk_ref is not None:
            talk = d.talk_ref
        seq = self._clusterer.t_ if hasattr(self._clusterer, "t_") else 0
        topic, moves = self._learn_topic(idx, cnt, talk, _question_topic(kind.value, parent, talk))
        post = _Post(
            id=d.id,
            talk=talk,
            topic=topic,
            kind=kind.value,
            confidence=round(float(confidence), 4),
            minute=minute,
            when=when,
            author=d.author,
            reply_to=d.reply_to,
            text=d.text,
            words=words,
            idx=idx.astype(np.int32),
            cnt=cnt.astype(np.float32),
            seq=seq,
            upvotes=d.upvotes,
            boosts=d.boosts,
            replies=d.replies,
        )
        self._store(post)
        self._seq_post[seq] = d.id
        if d.reply_to:
            self._note_reply(d.reply_to, d.id)
        self._join_topic(post)
        if post.kind == "question":
            self._ask(post)
        if parent is not None:
            self.update_engagement(parent.id, upvotes=parent.upvotes, boosts=parent.boosts, replies=parent.replies + 1)
        self._count_minute(post, +1)
        for s, new_id in moves:
            self._move(s, new_id)
        if post.kind == "question":
            self._follow_question(post)  # answered before it came (again): filed by an organizer, edited
        self._trim_seq_post()
        result = PostResult(d.id, talk, post.topic, post.kind, post.confidence)
        if pending:
            self._pending[d.id] = frozenset(idx.tolist())
            while len(self._pending) > self.max_pending:
                self._pending.pop_oldest()
        if learned_talk is not None and self._pending:
            self._retry_pending(learned_talk, idx)
        return result

    def _retry_pending(self, talk: str, idx: np.ndarray) -> None:
        """A talk learned the words ``idx``: unassigned recent posts in its window that share one of them
        may now belong to it (and what they teach may claim more)."""
        assert self._attributor is not None
        queue = [(talk, set(idx.tolist()))]
        rounds = 0
        while queue and rounds < 50:
            rounds += 1
            guid, words = queue.pop()
            for pid in self._pending.sharing(words):
                post = self._posts.get(pid)
                if post is None or post.talk is not None:
                    self._pending.pop(pid, None)
                    continue
                if not self._attributor.in_window(guid, post.when):
                    continue
                parent = self._posts.get(post.reply_to) if post.reply_to else None
                att = self._attributor.score(
                    post.text,
                    post.idx,
                    post.cnt,
                    post.when,
                    reply_talk=(parent.talk, parent.confidence) if parent is not None else None,
                    topic_fit=self._topic_fit(post.idx, post.cnt, post.when, None),
                )
                if att.talk is None:
                    continue
                self._pending.pop(pid, None)
                self._reassign(post, att.talk, att.confidence)
                if self._attributor.learns_from(att):
                    self._attributor.learn(att.talk, post.idx, post.cnt, att.confidence)
                    queue.append((att.talk, set(post.idx.tolist())))

    def _topic_fit(
        self, idx: np.ndarray, cnt: np.ndarray, when: datetime | None, talk_ref: str | None
    ) -> dict[str | None, float] | None:
        if not len(idx) or self._attributor is None or talk_ref is not None:
            return None
        scopes: list[str | None] = [None, *self._attributor.candidates(when.timestamp() if when else None)]
        return self._clusterer.score_scopes(idx, cnt, scopes)

    def _topic_features(self, idx: np.ndarray, cnt: np.ndarray, talk: str | None) -> tuple[np.ndarray, np.ndarray]:
        """A post's features for the topics inside ``talk``: without the talk's own name (title, speakers,
        code). They say which talk a post is about, which its scope already says, and every post of the talk
        shares them: kept, they joined a talk's different points into one or two topics (the demo's five
        facts per talk: within-talk NMI 0.57, 0.74 without them). Attribution keeps every word."""
        if talk is None:
            if not getattr(self, "_talks", None):
                return idx, cnt  # no schedule: topics alone organise the stream, every word counts
            names = _hallway_generic(self.n_features)
        else:
            names = self._talk_name(talk)[0]
        if not names:
            return idx, cnt
        keep = [i not in names for i in idx.tolist()]  # a post has about ten words: cheaper than np.isin
        if all(keep) or not any(keep):  # a post that is only the talk's name keeps it, or it had no words
            return idx, cnt
        return idx[keep], cnt[keep]

    def _name_words(self, talk: str | None) -> frozenset[str]:
        return self._talk_name(talk)[1] if talk is not None else frozenset()

    def _talk_name(self, talk: str) -> tuple[frozenset[int], frozenset[str]]:
        """The hashed features and the content words of a talk's title, subtitle, code and speakers."""
        cache: dict[str, tuple[frozenset[int], frozenset[str]]] | None = getattr(self, "_talk_names", None)
        if cache is None:  # a model saved before talk names were taken out of topics
            cache = self._talk_names = {}
        name = cache.get(talk)
        if name is None:
            t = getattr(self, "_talks", {}).get(talk)
            if t is None:
                name = (frozenset(), frozenset())
            else:
                code = t.code or ""
                people = [p.name for p in t.speakers]
                tokens, words = tokenize_with_words(
                    " ".join([t.title, t.subtitle or "", code, f"#{code}" if code else "", *people])
                )
                name = (frozenset(hash_tokens(tokens, self.n_features)[0].tolist()), frozenset(words))
            cache[talk] = name
        return name

    def _reassign(self, post: _Post, talk: str | None, confidence: float) -> None:
        """Move a post to another talk (its topic is chosen anew inside that talk)."""
        self._count_minute(post, -1)
        post.confidence = round(float(confidence), 4)
        moves = self._relearn(post, talk)
        if post.kind == "question":
            self._ask(post)  # asked again of the talk it moved to, no longer of the one it left
        self._count_minute(post, +1)
        self._moved[post.id] = PostResult(post.id, post.talk, post.topic, post.kind, post.confidence)
        if post.kind == "question":
            self._follow_question(post)  # its answers already on that talk
        for s, new_id in moves:
            self._move(s, new_id)

    def _relearn(self, post: _Post, talk: str | None) -> list[tuple[int, int]]:
        """Take a post out of its topic and cluster and learn it again inside ``talk``; returns the moves of
        other posts that learning made."""
        self._leave_topic(post)
        if post.topic != NO_TOPIC:
            self._clusterer.forget_one(post.topic, *self._topic_features(post.idx, post.cnt, post.talk), post.seq)
        self._seq_post.pop(post.seq, None)
        post.talk = talk
        post.seq = self._clusterer.t_ if hasattr(self._clusterer, "t_") else 0
        parent = self._posts.get(post.reply_to) if post.reply_to else None
        post.topic, moves = self._learn_topic(post.idx, post.cnt, talk, _question_topic(post.kind, parent, talk))
        self._seq_post[post.seq] = post.id
        self._join_topic(post)
        return moves

    def _learn_topic(
        self, idx: np.ndarray, cnt: np.ndarray, talk: str | None, into: int | None
    ) -> tuple[int, list[tuple[int, int]]]:
        """The clusterer learns a post inside ``talk``: into the topic ``into`` when given (an answer's
        question's), else into the topic its words fit."""
        features = self._topic_features(idx, cnt, talk)
        if into is not None:
            return self._clusterer.learn_into(*features, into, talk)
        return self._clusterer.learn_one(*features, talk)

    def _note_reply(self, parent_id: str, reply_id: str) -> None:
        replies = self._replies.setdefault(parent_id, [])
        if reply_id not in replies:  # a re-delivered reply is forgotten, then observed again
            replies.append(reply_id)
        if len(self._replies) > 2 * max(self.max_posts, 1):
            # kept through a forget (a re-delivered question keeps its answers); dropped once not held
            self._replies = {pid: ids for pid, ids in self._replies.items() if pid in self._posts}

    def _follow_question(self, question: _Post) -> None:
        """The answers to a question that moved to another topic (of its talk, or of the talk it moved to, where
        they are) move along with it."""
        for reply_id in self._replies.get(question.id, ()):
            answer = self._posts.get(reply_id)
            if answer is not None:
                self._seat_answer(answer, question)

    def _seat_answer(self, answer: _Post, question: _Post) -> None:
        """An answer not in its question's topic moves there (a reply that is no answer, or one on another talk
        than the question, stays)."""
        into = _question_topic(answer.kind, question, answer.talk)
        if into is None or into == answer.topic:
            return
        moves = self._relearn(answer, answer.talk)
        self._moved[answer.id] = PostResult(answer.id, answer.talk, answer.topic, answer.kind, answer.confidence)
        for s, new_id in moves:
            self._move(s, new_id)

    def _trim_seq_post(self) -> None:
        """Keep the stream index of every post still held: the clusterer may move any of them (a split or
        merge reaches past its refinement window), not only the posts of the window."""
        if len(self._seq_post) > 2 * max(self.max_posts, 1):
            self._seq_post = {p.seq: p.id for p in self._posts.values()}

    def _store(self, post: _Post) -> None:
        self._posts[post.id] = post
        self._trim_posts()

    def _trim_posts(self) -> None:
        while len(self._posts) > self.max_posts:
            old, _ = self._posts.popitem(last=False)  # old posts stay counted (and cited) in their topics
            self._replies.pop(old, None)

    def _join_topic(self, post: _Post) -> None:
        self._join_many([post])

    def _join_many(self, posts: list[_Post], event_terms: list[str] | None = None) -> None:
        """Posts of one topic (and so of one talk) join it together; their phrases go to ``event_terms``
        when given (the caller counts them for the event), else straight to the event's counts."""
        first = posts[0]
        talk = first.talk
        if first.topic == NO_TOPIC:
            self._scope(talk)
            self._dirty_topics.add(talk)
            return
        top = self._topics.get(first.topic)
        if top is None:
            top = _Topic(id=first.topic, talk=talk, groups=TopicGroups(max_groups=self.max_groups_per_topic))
            self._topics[first.topic] = top
            self._scope(talk).topics.add(first.topic)
            self._created.append(first.topic)
            self._cap_topics()
        terms: list[str] = []
        marks: list[str] = []
        add_group = top.groups.add
        lo = hi = None
        for p in posts:
            terms += terms_of(p.words, p.text)
            marks += before_objects(p.words, p.text)
            add_group(p)  # queued as it is: made a Member only if it is grouped
            m = p.minute
            if m is not None:
                if lo is None:
                    lo = hi = m
                elif m < lo:
                    lo = m
                elif m > hi:  # type: ignore[operator]
                    hi = m
        top.size += len(posts)
        top.terms.add(terms)
        if marks:
            self._before_object.add(marks)
        if event_terms is None:
            self._event_terms.add(terms)
        else:
            event_terms += terms
        if lo is not None:
            top.first_minute = lo if top.first_minute is None else min(top.first_minute, lo)
            top.last_minute = hi if top.last_minute is None else max(top.last_minute, hi)  # type: ignore[type-var]
        top.last_seq = posts[-1].seq
        top.info = top.picks = None
        self._dirty_topics.add(talk)
        self._dirty_takeaways.add(talk)

    def _leave_topic(self, post: _Post) -> None:
        top = self._topics.get(post.topic)
        if top is None:
            return
        top.size = max(top.size - 1, 0)
        terms = terms_of(post.words, post.text)
        top.terms.remove(terms)
        self._event_terms.remove(terms)
        self._before_object.remove(before_objects(post.words, post.text))
        top.groups.remove(post.id)
        top.info = top.picks = None
        self._dirty_topics.add(post.talk)
        self._dirty_takeaways.add(post.talk)
        if top.size == 0:
            del self._topics[post.topic]
            self._scope(post.talk).topics.discard(post.topic)

    def _cap_topics(self) -> None:
        if len(self._topics) <= self.max_topics:
            return
        # drop the smallest of the oldest quarter (their posts keep their ids; the topic leaves the lists)
        old = sorted(self._topics.values(), key=lambda t: t.last_seq)[: max(len(self._topics) // 4, 1)]
        for t in sorted(old, key=lambda t: t.size)[: len(self._topics) - self.max_topics]:
            del self._topics[t.id]
            self._scope(t.talk).topics.discard(t.id)
            self._dirty_topics.add(t.talk)
            self._dirty_takeaways.add(t.talk)

    def _move(self, seq: int, new_topic: int) -> None:
        pid = self._seq_post.get(seq)
        post = self._posts.get(pid) if pid is not None else None
        if post is None or post.seq != seq or post.topic == new_topic:
            return  # gone, or held again under a later stream index, or already there
        self._leave_topic(post)
        post.topic = new_topic
        self._join_topic(post)
        self._moved[post.id] = PostResult(post.id, post.talk, post.topic, post.kind, post.confidence)
        if post.kind == "question":
            self._follow_question(post)

    def update_engagement(self, post_id: str, *, upvotes: int, boosts: int, replies: int) -> None:
        """New counts for a post (e.g. from a later poll); its talk's takeaways are re-ranked."""
        asked, talk = self._asked.engage(post_id, upvotes=upvotes, boosts=boosts, replies=replies)
        if asked:
            self._touch_takeaways(talk)
        post = self._posts.get(post_id)
        if post is None:
            found = self._find_member(post_id)
            if found is None:
                return
            top, member = found
            member.upvotes, member.boosts, member.replies = upvotes, boosts, replies
            top.picks = None
            self._touch_takeaways(top.talk)
            return
        post.upvotes, post.boosts, post.replies = upvotes, boosts, replies
        top = self._topics.get(post.topic)
        if top is not None:
            m = top.groups.find(post_id)
            if m is not None:
                m.upvotes, m.boosts, m.replies = upvotes, boosts, replies
                top.picks = None
        self._touch_takeaways(post.talk)

    def forget(self, post_id: str) -> None:
        """A deleted or hidden post leaves its topic, takeaways, activity and the clusters."""
        asked, talk = self._asked.remove(post_id)
        if asked:
            self._touch_takeaways(talk)
        post = self._posts.pop(post_id, None)
        if post is None:
            found = self._find_member(post_id)
            if found is not None:
                talk = found[0].talk
                for tid in list(self._scope(talk).topics):
                    top = self._topics.get(tid)
                    if top is not None and top.groups.remove(post_id):
                        top.picks = None
                        self._dirty_takeaways.add(talk)
                self._forgotten.append(post_id)
            return
        self._leave_topic(post)
        self._count_minute(post, -1)
        if post.topic != NO_TOPIC:
            self._clusterer.forget_one(post.topic, *self._topic_features(post.idx, post.cnt, post.talk), post.seq)
        if (
            self._attributor is not None
            and post.talk is not None
            and post.confidence >= self._attributor.learn_confidence
        ):
            self._attributor.forget_learned(post.talk, post.idx, post.cnt, post.confidence)
        self._seq_post.pop(post.seq, None)
        self._pending.pop(post_id, None)
        self._moved.pop(post_id, None)
        self._forgotten.append(post_id)

    def result(self, post_id: str) -> PostResult | None:
        """The current talk/topic/kind of a post still held (topics may have moved since observe)."""
        p = self._posts.get(post_id)
        return None if p is None else PostResult(p.id, p.talk, p.topic, p.kind, p.confidence)

    # ------------------------------------------------------------------ reading
    def drain_changes(self) -> Changes:
        bursts = set()
        for talk in self._dirty_bursts:
            new = self._compute_bursts(talk)
            if self._burst_cache.get(talk) != new:
                self._burst_cache[talk] = new
                bursts.add(talk)
        ch = Changes(
            topics=frozenset(self._dirty_topics),
            takeaways=frozenset(self._dirty_takeaways),
            bursts=frozenset(bursts),
            created_topics=tuple(self._created),
            moved=tuple(self._moved.values()),
            forgotten=tuple(self._forgotten),
        )
        self._dirty_topics.clear()
        self._dirty_takeaways.clear()
        self._dirty_bursts.clear()
        self._created.clear()
        self._moved.clear()
        self._forgotten.clear()
        return ch

    def topics(self, talk: str | None) -> list[TopicInfo]:
        """Topics of a talk (or the hallway), largest first, labelled with keyphrases."""
        scope = self._scopes.get(talk)
        if scope is None:
            return []
        n_topics = max(len(self._topics), 1)
        avg = max(self._event_terms.total / n_topics, 1.0)
        out = []
        for tid in scope.topics:
            top = self._topics.get(tid)
            if top is None or top.size == 0:
                continue
            # a topic that took no post since it was labelled keeps its label (the event-wide counts it
            # is contrasted with drift slowly); relabelling every topic per batch dominated the stage
            info = getattr(top, "info", None)
            if info is None:
                labelled = getattr(top, "labelled", None)
                if labelled is not None and labelled[0] <= top.size < labelled[0] * _RELABEL_GROWTH:
                    phrases = labelled[1]
                else:
                    phrases = keyphrases(
                        top.terms,
                        self._event_terms,
                        n_docs=top.size,
                        avg_terms=avg,
                        exclude=self._name_words(talk),
                        before_object=self._before_object,
                        written=written_in(top.groups.texts),
                    )
                    top.labelled = (top.size, tuple(phrases))
                info = top.info = TopicInfo(
                    id=top.id,
                    talk=top.talk,
                    label=label_of(phrases),
                    keyphrases=tuple(phrases),
                    size=top.size,
                    first_seen=self._minute_time(top.first_minute),
                    last_seen=self._minute_time(top.last_minute),
                )
            out.append(info)
        out.sort(key=lambda t: (-t.size, t.id))
        return out

    def takeaways(self, talk: str | None) -> list[Takeaway]:
        """Per topic of the talk, the posts that best stand for it, cited: the largest topics first, and the
        topics whose picks are all praise for the speaker ("best talk · day · thanks") after what was taught."""
        out: list[Takeaway] = []
        scope = self._scopes.get(talk)
        if scope is None:
            return out
        topics = self._topics
        # the same topics, in the same order, as sorting them all; a talk holds thousands, 8 are shown
        tops = heapq.nsmallest(
            self.max_topics_per_talk,
            (top for t in scope.topics if (top := topics.get(t)) is not None and top.size > 0),
            key=lambda t: (-t.size, t.id),
        )
        praise: list[Takeaway] = []
        for top in tops:
            # a topic that took no post and no engagement since it was read keeps its picks
            picks = getattr(top, "picks", None)
            if picks is None:
                picks = top.picks = self._pick(top, talk)
            (praise if all(p.kind == "feedback" for p in picks) else out).extend(picks)
        return out + praise

    def _pick(self, top: _Topic, talk: str | None) -> tuple[Takeaway, ...]:
        centroid = {t: c for t, c in top.terms.counts.items() if " " not in t}
        out = []
        for p in pick(top.groups.groups, centroid, top=self.takeaways_per_topic):
            g = p.group
            rep = g.representative
            ids = [rep.id] + [i for i in g.members if i != rep.id]
            out.append(
                Takeaway(
                    topic=top.id,
                    talk=talk,
                    text=rep.text,
                    post_ids=tuple(ids),
                    count=g.count,
                    votes=g.votes,
                    score=round(float(p.score), 4),
                    kind=g.shown_kind,
                )
            )
        return _answers_after_questions(out, self._posts)

    def repeated_questions(self, talk: str | None) -> tuple[RepeatedQuestion, ...]:
        """The questions of the talk asked more than once (near-duplicates, across topics and sources),
        each with the copy that says it best first: what a Q&A list shows once, with the votes summed."""
        return self._asked.repeated(talk)

    def bursts(self, talk: str | None) -> list[Burst]:
        """Moments when the talk's posts per minute jumped, labelled with what was said then."""
        if talk not in self._dirty_bursts and talk in self._burst_cache:
            return list(self._burst_cache[talk])  # computed when the changes were drained, unchanged since
        return list(self._compute_bursts(talk))

    def activity(self, talk: str | None) -> list[tuple[datetime, int]]:
        """Posts per minute (only minutes with posts), oldest first."""
        scope = self._scopes.get(talk)
        if scope is None:
            return []
        return [(self._minute_time(m), c) for m, c in sorted(scope.minutes.items()) if c > 0]  # type: ignore[misc]

    # ------------------------------------------------------------------ state
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_posts"] = _pack_posts(list(self._posts.values()))
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        posts = state.get("_posts")
        if isinstance(posts, dict) and posts.get("format") == _PACKED:
            state["_posts"] = _unpack_posts(posts)  # else an OrderedDict of posts, saved before packing
        state.setdefault("_in_hallway", set())  # saved before posts could be put in the hallway on purpose
        state.setdefault("_asked", SameQuestions())  # saved before questions were grouped: new ones are
        state.setdefault("_before_object", BoundedCounter(cap=5_000))  # saved before: counted from here on
        if "_replies" not in state:  # saved before answers followed their questions
            replies: dict[str, list[str]] = {}
            for p in state["_posts"].values():
                if p.reply_to:
                    replies.setdefault(p.reply_to, []).append(p.id)
            state["_replies"] = replies
        self.__dict__.update(state)

    def dumps(self) -> bytes:
        return _FORMAT + pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def loads(cls, data: bytes) -> EventModel:
        if not data.startswith(_FORMAT):
            raise ValueError("not a saved EventModel (or a different format version)")
        obj = pickle.loads(data[len(_FORMAT) :])
        if not isinstance(obj, cls):
            raise ValueError("not a saved EventModel")
        if not isinstance(obj._pending, _Pending):  # saved before the waiting list was indexed by word
            pending = _Pending()
            for pid, words in obj._pending.items():
                pending[pid] = words
            obj._pending = pending
        return obj

    # ------------------------------------------------------------------ helpers
    def _scope(self, talk: str | None) -> _Scope:
        s = self._scopes.get(talk)
        if s is None:
            s = self._scopes[talk] = _Scope()
        return s

    def _ask(self, post: _Post) -> None:
        held, before = self._asked.add(post.talk, _member(post))
        if held:
            self._dirty_takeaways.add(before)
        self._dirty_takeaways.add(post.talk)

    def _touch_takeaways(self, talk: str | None) -> None:
        self._dirty_takeaways.add(talk)

    def _find_member(self, post_id: str) -> tuple[_Topic, QueuedPost] | None:
        for top in self._topics.values():
            m = top.groups.find(post_id)
            if m is not None:
                return top, m
        return None

    def _minute_of(self, when: datetime | None) -> int | None:
        if when is None:
            return self._last_minute
        minute = _minute_stamp(when)
        self._last_minute = minute if self._last_minute is None else max(self._last_minute, minute)
        return minute

    @staticmethod
    def _minute_time(minute: int | None) -> datetime | None:
        return None if minute is None else datetime.fromtimestamp(minute * 60, UTC)

    def _count_new(self, posts: list[_Post]) -> None:
        """``_count_minute(post, +1)`` for many posts, the bounds kept once per talk at the end."""
        talks: set[str | None] = set()
        scope = None
        talk: str | None = None
        for p in posts:
            if p.minute is None:
                continue
            if scope is None or p.talk != talk:
                talk = p.talk
                scope = self._scope(talk)
                talks.add(talk)
            minutes = scope.minutes
            minutes[p.minute] = minutes.get(p.minute, 0) + 1
            scope.recent[p.id] = None
        for talk in talks:
            scope = self._scope(talk)
            while len(scope.recent) > 2_000:
                scope.recent.popitem(last=False)
            if len(scope.minutes) > self.max_minutes:
                for m in sorted(scope.minutes)[: len(scope.minutes) - self.max_minutes]:
                    del scope.minutes[m]
        self._dirty_bursts |= talks

    def _count_minute(self, post: _Post, delta: int) -> None:
        if post.minute is None:
            return
        scope = self._scope(post.talk)
        c = scope.minutes.get(post.minute, 0) + delta
        if c <= 0:
            scope.minutes.pop(post.minute, None)
        else:
            scope.minutes[post.minute] = c
        if delta > 0:
            scope.recent[post.id] = None
            while len(scope.recent) > 2_000:
                scope.recent.popitem(last=False)
        else:
            scope.recent.pop(post.id, None)
        if len(scope.minutes) > self.max_minutes:
            for m in sorted(scope.minutes)[: len(scope.minutes) - self.max_minutes]:
                del scope.minutes[m]
        self._dirty_bursts.add(post.talk)

    def _compute_bursts(self, talk: str | None) -> tuple[Burst, ...]:
        scope = self._scopes.get(talk)
        if scope is None or not scope.minutes:
            return ()
        first = min(scope.minutes)
        last = max(scope.minutes)
        first = max(first, last - self.max_minutes)
        counts = [scope.minutes.get(m, 0) for m in range(first, last + 1)]
        peaks = find_peaks(counts)
        if not peaks:
            return ()
        posts = [self._posts[p] for p in scope.recent if p in self._posts]
        out = []
        for pk in peaks:
            lo, hi = first + pk.start, first + pk.end
            inside = BoundedCounter(cap=2_000)
            n = 0
            for p in posts:
                if p.minute is not None and lo <= p.minute <= hi:
                    inside.add(terms_of(p.words, p.text))
                    n += 1
            avg = max(self._event_terms.total / max(len(self._topics), 1), 1.0)
            phrases = (
                keyphrases(
                    inside,
                    self._event_terms,
                    n_docs=max(n, 1),
                    avg_terms=avg,
                    top=3,
                    exclude=self._name_words(talk),
                    before_object=self._before_object,
                    written=written_in(partial(_burst_texts, posts, lo, hi)),
                )
                if n
                else []
            )
            out.append(
                Burst(
                    talk=talk,
                    start=self._minute_time(lo),  # type: ignore[arg-type]
                    end=self._minute_time(hi),  # type: ignore[arg-type]
                    peak=self._minute_time(first + pk.peak),  # type: ignore[arg-type]
                    peak_count=pk.peak_count,
                    label=label_of(phrases),
                    keyphrases=tuple(phrases),
                )
            )
        return tuple(out)


_KIND_VALUE = {k: k.value for k in PostKind}


def _question_topic(kind: str, parent: _Post | None, talk: str | None) -> int | None:
    """The topic an answer joins: its question's, when the question is held, in a topic, and on the answer's
    talk. Clustered on its own words an answer often went elsewhere ("Around two seconds, then retry with
    backoff." opened a topic of its own), and a follower met it there without the question it answers."""
    if kind != "answer" or parent is None or parent.kind != "question" or parent.talk != talk:
        return None
    return None if parent.topic == NO_TOPIC else parent.topic


# In the hallway of a scheduled event, "talk" and "session" name no subject: "Loving this talk, very clear
# examples." and "Where is the lightning talk signup?" shared only "talk" and made one topic, labelled with
# both. Inside a talk they are left as they are (feedback on the talk gathers by them).
@cache
def _hallway_generic(n_features: int) -> frozenset[int]:
    return frozenset(hash_tokens(tokenize_with_words("talk talks session sessions")[0], n_features)[0].tolist())


def _answers_after_questions(picks: list[Takeaway], posts: Mapping[str, _Post]) -> tuple[Takeaway, ...]:
    """A topic's takeaways with an answer right after the question it answers, when both are picked, at that
    question's score (a reader ranking the digest by score keeps the pair together): picked by relevance, "Only
    when drift crosses a threshold" came above "Do you retrain on a schedule?"."""
    asked = {pid: i for i, t in enumerate(picks) if t.kind == "question" for pid in t.post_ids}
    if not asked:
        return tuple(picks)
    answers: dict[int, list[Takeaway]] = {}
    rest: list[tuple[int, Takeaway]] = []
    for i, t in enumerate(picks):
        q = None
        if t.kind == "answer":
            parents = (p.reply_to for pid in t.post_ids if (p := posts.get(pid)) is not None and p.reply_to)
            q = next((asked[r] for r in parents if r in asked), None)
        if q is None:
            rest.append((i, t))
        else:
            answers.setdefault(q, []).append(replace(t, score=picks[q].score))
    out: list[Takeaway] = []
    for i, t in rest:
        out.append(t)
        out += answers.pop(i, [])
    return tuple(out)


def _minute_stamp(when: datetime) -> int:
    """The minute a post was made in, counted from the epoch (a naive time is UTC; ``_observe_batch`` has it
    inline)."""
    return int((when if when.tzinfo is not None else when.replace(tzinfo=UTC)).timestamp() // 60)


def _member(post: _Post) -> Member:
    # positional: by keyword the call cost about half as much again
    return Member(
        post.id, post.text, post.kind, frozenset(post.words), post.upvotes, post.boosts, post.replies, post.seq
    )


_warm_lock = threading.Lock()
_warmed = False
_WARM_TEXTS = (
    "rust borrow checker lifetimes cargo crates async tokio",
    "bees hive honey pollen swarm queen sensors",
    "mesh routers wifi antenna nodes firmware openwrt",
    "voting machines audit ballots paper trail",
)


def warm_compiled_loops() -> None:
    """Run small inputs through every compiled loop once per process: placing, refining, splitting and
    merging, forgetting, saving, and the joint talk attribution. Loading a loop from Numba's cache costs
    tens of ms each, a few hundred ms in all, which a service's first batches would otherwise pay while
    they run (call this off the event loop, or before timing)."""
    global _warmed
    with _warm_lock:
        if _warmed:
            return
        _warmed = True
        docs = []
        for i in range(160):
            words = _WARM_TEXTS[i % 4].split()
            docs.append(PostDoc(id=str(i), text=" ".join(words[(i // 4) % 3 :][:5])))
        model = EventModel(refine_window=40)  # the same loops as the default window, reached sooner
        for start in range(0, len(docs), 40):
            model.observe(docs[start : start + 40])
            changes = model.drain_changes()
            for talk in changes.topics | changes.takeaways | changes.bursts:
                model.topics(talk), model.takeaways(talk), model.bursts(talk)
        model.forget("3")
        EventModel.loads(model.dumps())
        one = sp.csr_matrix(np.ones((2, 2)))
        refine(one, one[:1], np.ones((2, 1), bool), np.ones((2, 1)), np.full(2, -1))
