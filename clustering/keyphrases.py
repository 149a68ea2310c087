"""Keyphrase labels: class-based TF-IDF of a group of posts against the rest of the event.

Counts of words and adjacent word pairs are kept in bounded counters (``BoundedCounter``), per topic and
for the whole event. A phrase scores ``tf_topic(p) / size_topic * log(1 + A / f_event(p))`` where ``A`` is
the average number of terms per topic (c-TF-IDF, Grootendorst 2022); a pair beats the words it contains
when it scores at least as well, words already covered by a chosen pair are not repeated, and chosen pairs
that continue each other about equally often are joined ("fourteen days" + "days hot").
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from itertools import compress, pairwise
from operator import itemgetter, ne

import numpy as np

from clustering.features import plain_apostrophes

# Phrases scored per label: the most frequent in the topic. A phrase's score is at most
# ``1.2 * tf * log(1 + A / tf) / n``, which grows with tf, so rarer phrases seldom win and scoring every
# phrase of a large topic (hundreds) cost more than all the clustering.
_CANDIDATES = 60

# A phrase scoring under this share of the label's first names nothing of the topic: in a topic of a few
# posts, once its own phrases are chosen, the places left went to what posts of every talk say ("huge", "run"
# of "Huge if you run this in production"; "note", "self"), scoring a tenth of the first or less.
_MIN_SHARE = 0.2

# The openings people put before a point ("TIL …", "Key takeaway: …", "tl;dr") say nothing about the topic; in
# an event where they are common their score stays low, but in a topic of a few posts they made chips such as
# "til sample" and "key takeaway". (Not "learning": machine learning talks need it.)
TEMPLATE_WORDS = frozenset({"til", "tldr", "tl", "dr", "takeaway", "takeaways"})

# Verbs of everyday speech and filler that a post needs and a label never does: the demo's topics were labelled
# "riskiest input · internal · think" and "data flow · threats come", and its bursts "future does · polled".
# Scikit-learn's stop words hold a few of them ("get", "give", "find"), not these. Only words that are seldom a
# noun: "use", "need", "change", "work", "test", "run", "cover" or "report" can be what a topic is about. The
# same for the verbs and adverbs a point trails off with: "trust boundary appears", "live traffic safely".
LABEL_STOP_WORDS = frozenset(
    """
    does doing did think thinks thinking thought come comes came coming know knows knew let lets letting tell tells
    told telling feel feels felt mean means meant say says said saying make makes making hear hears heard want
    wants wanted try tries tried trying ask asks asking seems seemed gets getting goes going went gone gives gave
    given takes took taken finds showed keep keeps kept become becomes became got gotten gonna wanna actually
    basically probably maybe really pretty thing things stuff lot lots way ways guys
    exist exists existed apply applies applied appear appears appeared differ differs allow allows allowed
    include includes included including attend attended detect detects detected arrive arrives arrived accept
    accepts accepted accepting using used fails evaluated announce announces
    instead yes sure okay later soon quickly easily simply exactly usually safely slowly directly currently
    finally literally definitely certainly clearly obviously honestly hopefully especially mostly nearly fully
    properly correctly
    """.split()
)
NOT_IN_LABELS = TEMPLATE_WORDS | LABEL_STOP_WORDS

# The same for the openings people write before a note's point, up to the colon: "Note to self from <talk>:",
# "Writing this down:", "Learning at #py:", "Key takeaway:". Their words are in every talk's notes, so in a
# topic of a post or two they filled the chips after its own ("request id · structured logs · grep · note ·
# self"). Only these words of a post are left out, and only when they open it: "self-hosted", "writing tests".
_OPENING = re.compile(
    r"\W*(?:(?:key|main|big(?:gest)?|my) take ?aways?|take ?aways?|notes? to (?:self|myself)|mental note"
    r"|writing (?:this|that|it) down|noting (?:this|that)(?: down)?|lessons? learned|today i learned|learning"
    r"|learned|pro tip)\b(?: (?:at|from|of|in) [^:\n]{1,120})? ?:",
    re.IGNORECASE,
)
_OPENING_WORD = re.compile(r"#?\w[\w'-]*")

# A label names something, so it ends on what is named: these may open a phrase ("slow query", "best talk")
# but not end one. Said after the noun they make half sentences ("replication lag low", "type hints slow",
# "wiki good") and alone they name nothing ("fast", "long"). Not "hot" or "cold": a storage tier
# ("fourteen days hot").
NOT_LAST_IN_LABELS = frozenset(
    """
    good better best bad worse worst fast faster slow slower early late hard harder easy easier cheap cheaper
    expensive safe safer ready fine nice great big bigger small smaller low lower high higher long short
    identical intact worth possible different available useful important
    """.split()
)

# What follows a word tells its part of speech where no lexicon shipped here does: a word written before an
# article, a quantifier or an object pronoun ("request id beat any amount of grep", "golden signals cover most
# alerts", "drift crosses a threshold", "lunch near the venue") is a verb or a preposition, not what a topic
# is about, in this event's own language. A noun seldom stands there ("give users the choice").
_BEFORE_OBJECT = re.compile(
    r"\b([\w'-]++) (?:the|a|any|every|each|nothing|most|these|those|their|your|our|my|them|us|me|him)\b"
)
# the share of the posts holding a word that write it so, from which it ends no label
_VERB_SHARE = 0.25


class BoundedCounter:
    """A ``str -> float`` counter that keeps at most ``cap`` keys (the smallest are pruned)."""

    __slots__ = ("cap", "counts", "total")

    def __init__(self, cap: int = 400) -> None:
        self.cap = cap
        self.counts: dict[str, float] = Counter()
        self.total = 0.0

    def add(self, terms: Sequence[str], weight: float = 1.0) -> None:
        counts = self.counts
        if weight == 1.0:
            if type(counts) is not Counter:  # a state saved before counters were Counters
                counts = self.counts = Counter(counts)
            counts.update(terms)  # counted in C
            self.total += len(terms)
        else:
            for t in terms:
                counts[t] = counts.get(t, 0.0) + weight
                self.total += weight
        if len(counts) > self.cap * 2:
            self._prune()

    def remove(self, terms: Iterable[str], weight: float = 1.0) -> None:
        counts = self.counts
        # A count added one by one is an int and stays one: the same value as less 1.0, but a topic's counts
        # of one type sort (for its label's candidates) about a third faster than ints and floats mixed, and
        # small ints are counted up without making a new object.
        step = 1 if weight == 1.0 else weight
        # a count dropping to zero leaves by ``pop`` (dict's, in C: ``del`` runs Counter's own __delitem__ in
        # Python) and the total is kept in a local, stored once: the same steps, half the time
        pop = counts.pop
        total = self.total
        for t in terms:
            v = counts.get(t)
            if v is None:
                continue
            v -= step
            total = total - weight
            if 0.0 > total:
                total = 0.0  # max(total - weight, 0.0), as it was written
            if v <= 1e-9:
                pop(t)
            else:
                counts[t] = v
        self.total = total

    def _prune(self) -> None:
        # The ``cap`` largest, largest first, ties in insertion order: what a stable sort of the items keeps
        # (and ``heapq.nlargest``), found by numpy's stable argsort of the counts. Sorting the items
        # themselves made a tuple per key: the event's counter (100,000 keys) took ~0.15 s a prune, most of
        # it the garbage collector walking the heap those tuples filled.
        counts = self.counts
        keys, values = list(counts), list(counts.values())
        order = np.argsort(-np.fromiter(values, np.float64, len(values)), kind="stable")[: self.cap].tolist()
        self.counts = Counter(dict(zip(map(keys.__getitem__, order), map(values.__getitem__, order), strict=True)))

    def get(self, term: str) -> float:
        return self.counts.get(term, 0.0)

    def __len__(self) -> int:
        return len(self.counts)


def terms_of(words: Sequence[str], text: str) -> list[str]:
    """Words and pairs ("rust async") of one post's content words, each once: a pair only where the two words
    stand side by side in ``text``. Stop words, handles and punctuation dropped between two words used to make
    pairs nobody wrote ("alert on symptoms" labelled "alert symptoms", "code has been live" "code live").
    The words of a templated opening (``_OPENING``) are left out."""
    if ":" in text and (opening := _OPENING.match(text)) is not None:
        said = set(_OPENING_WORD.findall(opening.group(0).lower()))
        first = 0  # the opening's words lead the post's; the same words in its point stay
        while first < len(words) and words[first] in said:
            first += 1
        words = words[first:]
    out = list(dict.fromkeys(words))
    if len(words) > 1:
        # the pairs joined, tested against the text and collected by iterators run in C: no Python code runs
        # per pair (a comprehension's per-pair step was a third of the call)
        written = plain_apostrophes(text.lower()).__contains__  # the text as the tokenizer read it
        pairs = map(" ".join, pairwise(words))
        if len(out) == len(words):
            out += filter(written, pairs)  # no word repeats: no pair repeats and none pairs a word with itself
        else:
            out.extend(dict.fromkeys(filter(written, compress(pairs, map(ne, words, words[1:])))))
    return out


def before_objects(words: Sequence[str], text: str) -> list[str]:
    """The content words of one post that it writes before an article or object pronoun, each once (see
    ``_BEFORE_OBJECT``); counted for the event, they keep verbs off the end of its labels."""
    found = _BEFORE_OBJECT.findall(plain_apostrophes(text.lower()))
    if not found:
        return []
    return list(dict.fromkeys(filter(set(words).__contains__, found)))


def keyphrases(
    topic: BoundedCounter,
    event: BoundedCounter,
    *,
    n_docs: float,
    avg_terms: float,
    top: int = 5,
    exclude: frozenset[str] = frozenset(),
    before_object: BoundedCounter | None = None,
    written: Callable[[str], bool] | None = None,
) -> list[str]:
    """The ``top`` phrases that best tell this topic apart from the event (see the module docstring);
    none with a word of ``exclude`` (a talk's own name, which says nothing about a topic inside it), of
    ``TEMPLATE_WORDS`` or of ``LABEL_STOP_WORDS``, none ending on a word of ``NOT_LAST_IN_LABELS``, nor on
    one that at least a quarter of the event's posts holding it write before an object (``before_object``:
    the event's counts of ``before_objects``). ``written``: whether a phrase of three words stands in one of the
    topic's posts; two chosen pairs are joined only then ("new model" and "model registry" were "new model
    registry", which nobody wrote)."""
    if not topic.counts or n_docs <= 0:
        return []
    scored = []
    counts = topic.counts
    # the same picks as ``heapq.nlargest`` (stable on ties), a few times faster at these sizes
    items = (
        counts.items()
        if len(counts) <= _CANDIDATES
        else sorted(counts.items(), key=itemgetter(1), reverse=True)[:_CANDIDATES]
    )
    event_counts = event.counts
    log = math.log
    for term, tf in items:
        pair = " " in term
        if pair and tf < 2 and n_docs >= 3:
            continue  # a pair seen once is noise
        f = event_counts.get(term, 0.0)
        if f < tf:
            f = tf
        s = (tf / n_docs) * log(1.0 + avg_terms / f)
        if pair:
            s *= 1.2
        scored.append((-s, term))
    # best score first, ties by term: one sort of (-score, term), the order two stable sorts (by term, then
    # by score descending) gave, as terms are distinct and negating a float is exact (5-8% off a call)
    scored.sort()
    chosen: list[str] = []
    covered: set[str] = set()
    floor = math.inf
    for neg, term in scored:
        if neg > floor:
            break  # the rest fill places with what every topic says (see _MIN_SHARE)
        words = term.split(" ")
        # checked here, on the few best terms, not on every candidate while scoring
        if (
            words[-1] in NOT_LAST_IN_LABELS
            or (before_object is not None and _verb_like(words[-1], before_object, event_counts))
            or not NOT_IN_LABELS.isdisjoint(words)
            or (exclude and not exclude.isdisjoint(words))
        ):
            continue
        if len(words) == 1 and term in covered:
            continue
        # a pair whose two words are both covered (a generator under ``all`` cost ~0.3 us a pair)
        if len(words) == 2 and words[0] in covered and words[1] in covered:
            continue
        # a pair replaces a chosen word it contains
        if len(words) == 2:
            chosen = [c for c in chosen if c not in words]
        if not chosen:
            floor = neg * _MIN_SHARE
        chosen.append(term)
        covered.update(words)
        if len(chosen) >= top:
            chosen = _chained(chosen, counts, written)  # joining pairs frees places for more phrases
            if len(chosen) >= top:
                return chosen[:top]
    return _chained(chosen, counts, written)[:top]


def _verb_like(word: str, before_object: BoundedCounter, event_counts: dict[str, float]) -> bool:
    written = before_object.counts.get(word)
    return written is not None and written >= _VERB_SHARE * event_counts.get(word, written)


def _chained(
    phrases: list[str],
    counts: dict[str, float],
    written: Callable[[str], bool] | None = None,
    *,
    closeness: float = 0.75,
    longest: int = 3,
) -> list[str]:
    """Chosen pairs that continue each other about equally often were one phrase: "fourteen days" and
    "days hot" become "fourteen days hot" (in the first one's place). Counts are kept only for words and
    pairs, so "about equally often" (the smaller count at least ``closeness`` of the larger) stands in for
    the three words having been written together, and ``written`` (where the caller holds the posts) checks
    it; labels made of overlapping fragments read as noise."""
    out = list(phrases)
    i = 0
    while i < len(out):
        head = out[i].split(" ")
        joined = False
        if 2 <= len(head) < longest:
            last = counts.get(f"{head[-2]} {head[-1]}", 0.0)
            for j, other in enumerate(out):
                tail = other.split(" ")
                if j == i or len(tail) != 2 or tail[0] != head[-1] or tail[1] in head:
                    continue
                both = counts.get(other, 0.0)
                if min(last, both) >= closeness * max(last, both) > 0 and (
                    written is None or written(f"{out[i]} {tail[1]}")
                ):
                    out[i] = f"{out[i]} {tail[1]}"
                    del out[j]
                    joined = True
                    break
        if joined:
            i = 0  # the longer phrase may continue, or be continued by, another
        else:
            i += 1
    return out


def written_in(texts: Callable[[], Iterable[str]]) -> Callable[[str], bool]:
    """Whether a phrase stands in one of ``texts`` as the tokenizer read them; the texts are read and lowered
    on the first question only (most labels join no pairs)."""
    lowered: list[str] | None = None

    def written(phrase: str) -> bool:
        nonlocal lowered
        if lowered is None:
            lowered = [plain_apostrophes(t.lower()) for t in texts()]
        return any(phrase in t for t in lowered)

    return written


def label_of(phrases: Sequence[str], n: int = 3) -> str:
    return " · ".join(phrases[:n])
