"""Post kinds from text: question, takeaway, answer, feedback or other.

Two layers: cheap rules (a question mark or a question opening; a reply to a question is an answer) and
a small scikit-learn model (TF-IDF of words and word pairs plus rule features, logistic regression)
trained on the project's own labelled examples in ``clustering/data/kind_examples.jsonl``. The model
is trained once per process on first use (a few milliseconds) and is deterministic.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from itertools import repeat
from pathlib import Path

import numpy as np
import scipy.sparse as sp

EXAMPLES_PATH = Path(__file__).with_name("data") / "kind_examples.jsonl"


class PostKind(StrEnum):
    QUESTION = "question"
    TAKEAWAY = "takeaway"
    ANSWER = "answer"
    FEEDBACK = "feedback"
    OTHER = "other"


_QUESTION_START = re.compile(
    r"^(who|what|when|where|why|how|which|whom|whose|is|are|was|were|do|does|did|can|could|should|would|"
    r"will|shall|may|might|has|have|had|any(one|body)?|anyone know)\b",
    re.IGNORECASE,
)
_ASKING = re.compile(
    r"\b(can (you|someone|anyone) (help|explain|share|tell)|help me|need help|looking for (someone|a)|"
    r"wondering (if|whether|how|why)|i wonder|curious (how|why|whether|if)|any idea|does anyone)\b",
    re.IGNORECASE,
)
_TAKEAWAY = re.compile(
    r"\b(takeaway|take-away|tl;?dr|til|today i learned|learned|learnt|learning (at|from)|learnings|lesson|"
    r"key (point|idea|insight|finding)|main (point|message|result)|(great|good) point|writing (this|that) down|"
    r"insight|turns out|note to self|important:|summary|conclusion)\b",
    re.IGNORECASE,
)
_FEEDBACK = re.compile(
    r"\b(great|amazing|awesome|brilliant|excellent|fantastic|wonderful|loved?|enjoyed|thanks?|thank you|"
    r"kudos|well done|congrat\w*|bravo|too (fast|slow|long|much)|hard to (read|hear|follow)|"
    r"(bigger|larger) font|speaker|slides? (were|was))\b",
    re.IGNORECASE,
)
# A request to the speaker about how the talk reaches the room ("Could you speak up?", "Can you zoom in?"): asked
# with a question mark, but nobody in the audience answers it; it is feedback to the speaker, not one for Q&A.
_DELIVERY = re.compile(
    r"\b(?:(?:speak|talk)(?:ing)? (?:a (?:bit|little) |much )?(?:up|louder|slower|more slowly|closer)|louder|"
    r"slow down|zoom in|(?:bigger|larger) (?:font|text|slides?)|(?:font|text) (?:size )?(?:bigger|larger)|"
    r"hard to (?:hear|read)|can ?(?:no|'|’)t (?:hear|read)|repeat the (?:audience )?questions?)\b",
    re.IGNORECASE,
)


# Literal pieces one of which every match of the patterns above contains (lower case): a post without any
# skips the pattern, which scans every position of the text for its dozens of alternatives.
_ASKING_HINTS = ("can ", "help", "looking for", "wonder", "curious", "any idea", "does anyone")
_TAKEAWAY_HINTS = (
    "take", "tl", "til", "today", "learn", "lesson", "key", "main", "insight", "turns", "note", "important",
    "summary", "conclusion", "point", "writing",
)  # fmt: skip
_FEEDBACK_HINTS = (
    "great", "amazing", "awesome", "brilliant", "excellent", "fantastic", "wonderful", "love", "enjoyed", "thank",
    "kudos", "well done", "congrat", "bravo", "too ", "hard to", "font", "speaker", "slide",
)  # fmt: skip
_DELIVERY_HINTS = (
    "speak", "talk", "louder", "slow", "zoom", "bigger", "larger", "hard to", "t hear", "t read", "repeat",
)  # fmt: skip


def _matches(pattern: re.Pattern[str], hints: tuple[str, ...], text: str, low: str) -> bool:
    # ``map`` over the bound ``__contains__`` tests the hints in C (a generator ran Python code per hint)
    return any(map(low.__contains__, hints)) and pattern.search(text) is not None


def looks_like_question(text: str) -> bool:
    """A cheap rule: a question mark, or a sentence opening like a question."""
    stripped = text.strip()
    if not stripped:
        return False
    if "?" in stripped or _QUESTION_START.match(stripped):
        return True
    if "." not in stripped and "!" not in stripped and "\n" not in stripped:
        return False  # one sentence, already tried
    return any(_QUESTION_START.match(s.strip()) for s in re.split(r"[.!\n]+", stripped) if s.strip())


def rule_kind(text: str, *, reply_to_kind: str | None = None, hint: str | None = None) -> PostKind:
    """The rules alone (the fallback, and the baseline the model is compared with)."""
    if hint == PostKind.QUESTION:
        return PostKind.QUESTION
    low = text.lower()
    asks = looks_like_question(text) or _matches(_ASKING, _ASKING_HINTS, text, low)
    if reply_to_kind == PostKind.QUESTION and not asks:
        return PostKind.ANSWER
    if asks:
        return PostKind.FEEDBACK if _asks_the_speaker_to_change(text, low) else PostKind.QUESTION
    if _matches(_TAKEAWAY, _TAKEAWAY_HINTS, text, low):
        return PostKind.TAKEAWAY
    if _matches(_FEEDBACK, _FEEDBACK_HINTS, text, low):
        return PostKind.FEEDBACK
    return PostKind.OTHER


def _model_text(text: str, reply_to_kind: str | None, asks: bool | None = None) -> str:
    """The text the model reads: the post plus marker tokens for the rules and the reply context."""
    low = text.lower()
    return low + " " + " ".join(_marks(text, low, None, reply_to_kind, asks))


# Every match of _TAKEAWAY / _FEEDBACK holds a word (a run of word characters) that is one of these, mostly the
# one it starts with ("point" for "great point": "great" and "good" are in too many posts), or, for _FEEDBACK,
# starts with "congrat": a post holding none of them skips the pattern. Their hints ("tl",
# "til", "key", "too " ...) sit inside many ordinary words and let most posts through.
_TAKEAWAY_STARTS = frozenset(
    "takeaway take tl tldr til today learned learnt learning learnings lesson key main point writing insight"
    " turns note important summary conclusion".split()
)
_FEEDBACK_STARTS = frozenset(
    "great amazing awesome brilliant excellent fantastic wonderful love loved enjoyed thank thanks kudos well"
    " bravo too hard bigger larger speaker slide slides".split()
)
# Words one of which every match of _ASKING holds ("i wonder" holds "wonder"): a post holding none of them does
# not ask for help, the others are matched case-sensitively on the lower-cased text. Its hints ("can ",
# "help", ...) tested one by one on every post cost about 1 us a post, for the 3% of posts they let through.
_ASKING_STARTS = frozenset("can help need looking wondering wonder curious any does".split())
_ASKING_PHRASES = re.compile(_ASKING.pattern)
_NO_WORDS: frozenset[str] = frozenset()
# The same patterns split in two: the alternatives that are one whole word (a post holding such a word
# matches, no pattern runs), and the rest, matched case-sensitively on the lower-cased text. A whole
# pattern, case-insensitive, costs ~10 µs on a 100-character post that is not plain ASCII (a Bluesky post
# with an accent or an emoji), and one word like "slides" or "keynote" lets it run on most of them.
_TAKEAWAY_WORDS = frozenset("takeaway tldr til learned learnt learnings lesson insight summary conclusion".split())
_TAKEAWAY_PHRASES = re.compile(
    r"\b(take-away|tl;dr|today i learned|key (point|idea|insight|finding)|main (point|message|result)|turns out|"
    r"learning (at|from)|(great|good) point|writing (this|that) down|note to self|important:)\b"
)
_FEEDBACK_WORDS = frozenset(
    "great amazing awesome brilliant excellent fantastic wonderful love loved enjoyed thank thanks kudos bravo"
    " speaker".split()
)
_FEEDBACK_PHRASES = re.compile(
    r"\b(well done|congrat\w*|too (fast|slow|long|much)|hard to (read|hear|follow)|(bigger|larger) font|"
    r"slides? (were|was))\b"
)
# The only characters IGNORECASE matches to an ASCII letter, or whose lower case is another length or
# another kind (word or not): a text without them matches the patterns exactly where its lower case
# matches them case-sensitively, word for word (tests check every code point).
_ODD_FOLDS = ("\u0130", "\u0131", "\u017f", "\u212a")  # İ ı ſ K (Kelvin)


def _folds_plainly(text: str) -> bool:
    return text.isascii() or not any(map(text.__contains__, _ODD_FOLDS))


def _says(
    words: Sequence[str], low: str, starts: frozenset[str], whole: frozenset[str], phrases: re.Pattern[str]
) -> bool:
    """Whether ``low`` (the lower case of a text that folds plainly, ``words`` its word runs) matches the
    pattern split into ``whole`` words and ``phrases`` (``starts``: words one of which every match holds, such
    as the first words of all its matches)."""
    if starts.isdisjoint(words):
        return False
    return not whole.isdisjoint(words) or phrases.search(low) is not None


def _marks(text: str, low: str, words: Sequence[str] | None, reply_to_kind: str | None, asks: bool | None) -> list[str]:
    """Marker tokens of ``_model_text``; ``words``: the word runs of ``low`` if already split (only used for a
    text that folds plainly, where lower-casing and the patterns' IGNORECASE agree)."""
    marks = []
    if "?" in text:
        marks.append("zzqmark")
    if looks_like_question(text) if asks is None else asks:
        marks.append("zzqrule")
    if words is not None and _folds_plainly(text):
        asking = _says(words, low, _ASKING_STARTS, _NO_WORDS, _ASKING_PHRASES)
        takeaway = _says(words, low, _TAKEAWAY_STARTS, _TAKEAWAY_WORDS, _TAKEAWAY_PHRASES)
        feedback = ("congrat" in low and _FEEDBACK_PHRASES.search(low) is not None) or _says(
            words, low, _FEEDBACK_STARTS, _FEEDBACK_WORDS, _FEEDBACK_PHRASES
        )
    else:
        asking = _matches(_ASKING, _ASKING_HINTS, text, low)
        takeaway = _matches(_TAKEAWAY, _TAKEAWAY_HINTS, text, low)
        feedback = _matches(_FEEDBACK, _FEEDBACK_HINTS, text, low)
    if asking:
        marks.append("zzasking")
    if takeaway:
        marks.append("zztakeaway")
    if feedback:
        marks.append("zzfeedback")
    if reply_to_kind:
        marks.append("zzreply")
        marks.append(f"zzreplyto{reply_to_kind}")
    return marks


@dataclass(frozen=True, slots=True)
class KindExample:
    text: str
    kind: PostKind
    reply_to_kind: str | None = None


def load_examples(path: Path = EXAMPLES_PATH) -> list[KindExample]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            try:
                out.append(KindExample(row["text"], PostKind(row["kind"]), row.get("reply_to_kind")))
            except (KeyError, ValueError) as exc:
                raise ValueError(f"{path.name} line {n}: bad example ({exc})") from None
    return out


# The model's token pattern and one that finds the same tokens faster: a run of word characters found
# left to right always starts and ends at a word boundary, so the ``\b`` checks (run at every position of
# the text) decide nothing; a quarter of the kinds' time went to the pattern.
_TOKEN_PATTERN = r"(?u)\b\w+\b|\?"
_SAME_TOKENS = {_TOKEN_PATTERN: r"\w+|\?"}


class KindModel:
    """TF-IDF (words and word pairs, rule markers) + logistic regression over the five kinds."""

    def __init__(self, C: float = 4.0, random_state: int = 0) -> None:
        self.C = C
        self.random_state = random_state

    def fit(self, examples: Sequence[KindExample]) -> KindModel:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        self.vectorizer_ = TfidfVectorizer(
            ngram_range=(1, 2), sublinear_tf=True, min_df=1, token_pattern=_TOKEN_PATTERN
        )
        X = self.vectorizer_.fit_transform([_model_text(e.text, e.reply_to_kind) for e in examples])
        self.clf_ = LogisticRegression(C=self.C, solver="saga", max_iter=5000, random_state=self.random_state)
        self.clf_.fit(X, [e.kind.value for e in examples])
        return self

    def decide(
        self, texts: Sequence[str], reply_to_kinds: Sequence[str | None], asks: Sequence[bool] | None = None
    ) -> list[str]:
        """The kind the model picks for each post: the same as ``predict``, without scikit-learn's
        per-document analyzer calls (the TF-IDF rows are built here from the fitted vocabulary and idf,
        and scored with one sparse product)."""
        vocab = self.vectorizer_.vocabulary_
        pattern = self.vectorizer_.token_pattern
        if getattr(self, "_token_pattern", None) != pattern:
            self._token_re = re.compile(_SAME_TOKENS.get(pattern, pattern))
            self._token_pattern = pattern
        findall = self._token_re.findall
        asks = asks if asks is not None else [None] * len(texts)  # type: ignore[list-item]
        # every post's words in one list, looked up in the vocabulary and counted per post by numpy: no
        # Python code runs per word. A word pair is in the vocabulary only if both its words are (it keeps
        # every word and pair of the examples), so pairs are joined only where two known words meet.
        toks_all: list[str] = []
        lengths: list[int] = []
        for text, reply, q in zip(texts, reply_to_kinds, asks, strict=True):
            # the tokens of ``_model_text``: the text's, then the markers (each one token)
            low = text.lower()
            toks = findall(low)
            toks += _marks(text, low, toks, reply, q)
            toks_all += toks
            lengths.append(len(toks))
        width = len(vocab)
        words = np.fromiter(map(vocab.get, toks_all, repeat(-1)), np.int64, len(toks_all))
        rows = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
        known = words >= 0
        at = np.flatnonzero(known[:-1] & known[1:] & (rows[:-1] == rows[1:]))
        get = toks_all.__getitem__
        pairs = list(map(" ".join, zip(map(get, at.tolist()), map(get, (at + 1).tolist()), strict=True)))
        ids = np.concatenate([words, np.fromiter(map(vocab.get, pairs, repeat(-1)), np.int64, len(pairs))])
        rows = np.concatenate([rows, rows[at]])
        found = ids >= 0
        keys, tfs = np.unique(rows[found] * width + ids[found], return_counts=True)
        X = _unit_rows(keys // width, keys % width, tfs, self.vectorizer_.idf_, len(texts))
        scores = np.asarray(X @ self.clf_.coef_.T) + self.clf_.intercept_
        # the picked class names as Python strings in one call (a numpy scalar and a str() per post cost ~0.5 µs)
        return self.clf_.classes_[scores.argmax(1)].tolist()

    def predict_proba(self, texts: Sequence[str], reply_to_kinds: Sequence[str | None]) -> tuple[list[str], np.ndarray]:
        X = self.vectorizer_.transform([_model_text(t, r) for t, r in zip(texts, reply_to_kinds, strict=True)])
        return list(self.clf_.classes_), self.clf_.predict_proba(X)

    def predict(self, texts: Sequence[str], reply_to_kinds: Sequence[str | None]) -> list[PostKind]:
        classes, proba = self.predict_proba(texts, reply_to_kinds)
        return [PostKind(classes[i]) for i in proba.argmax(1)]


def _unit_rows(rows: np.ndarray, cols: np.ndarray, tfs: np.ndarray, idf: np.ndarray, n: int) -> sp.csr_matrix:
    """Rows of sublinear tf x idf scaled to unit length, from entries sorted by row then column: the matrix
    ``diags(1 / norms) @ X`` gave for X built from them, to the bit, without scipy's three constructions
    (~0.9 ms a batch of 500). Its norms are scipy's ``X.multiply(X).sum(1)`` (``np.add.reduceat`` over each
    non-empty row's squares), its entries each row's scaled values in descending column order, as scipy's
    sparse product leaves them: the scores sum a row's entries in that order."""
    data = (1.0 + np.log(tfs.astype(np.float64))) * idf[cols]
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    filled = np.flatnonzero(np.diff(indptr))
    norms = np.zeros(n)
    if len(data):
        norms[filled] = np.add.reduceat(data * data, indptr[filled])
    norms = np.sqrt(norms)
    data *= (1.0 / np.where(norms > 0, norms, 1.0))[rows]
    flip = indptr[rows] + indptr[rows + 1] - 1 - np.arange(len(data))  # each row's entries reversed
    return sp.csr_matrix((data[flip], cols[flip].astype(np.int32), indptr.astype(np.int32)), shape=(n, len(idf)))


# One fit at a time: ``lru_cache`` lets a caller that arrives while the first fit runs fit again. The web
# process warms the model up in a thread at start, and a note classified on the event loop meanwhile made a
# second fit there, every note and frame waiting (as the language model's first load did).
_FITTING = threading.Lock()


@lru_cache(maxsize=1)
def _fitted() -> KindModel:
    return KindModel().fit(load_examples())


def default_model() -> KindModel:
    with _FITTING:
        return _fitted()


def classify_kinds(
    texts: Sequence[str],
    *,
    reply_to_kinds: Sequence[str | None] | None = None,
    hints: Sequence[str | None] | None = None,
    known: Sequence[str | None] | None = None,
) -> list[PostKind]:
    """Kinds of many posts at once (the fast path). Hints and the answer rule win over the model.

    ``known``: per post, its kind as this function gave it for the same text with no reply context and no
    hint, when the caller has it already (None: not known). A post with a known kind and no reply context
    is not classified again: with a hint it takes the hint, as ``_combine`` does, otherwise that kind. The
    clustering stage passes the kind ingest stored (the same model and rules, deterministic): classifying
    each post a second time cost about a sixth of its step.
    """
    n = len(texts)
    reply_to_kinds = list(reply_to_kinds) if reply_to_kinds is not None else [None] * n
    hints = list(hints) if hints is not None else [None] * n
    if n == 0:
        return []
    out: list[PostKind | None] = [None] * n
    if known is not None:
        for i, (kind, reply, hint) in enumerate(zip(known, reply_to_kinds, hints, strict=True)):
            if kind in _KIND_VALUES and reply is None:
                out[i] = _KINDS[hint] if hint in _KIND_VALUES else _KINDS[kind]  # type: ignore[index]
    todo = [i for i, kind in enumerate(out) if kind is None]
    if not todo:
        return out  # type: ignore[return-value]
    if len(todo) < n:
        texts = [texts[i] for i in todo]
        reply_to_kinds = [reply_to_kinds[i] for i in todo]
        hints = [hints[i] for i in todo]
    asks = [looks_like_question(t) for t in texts]
    predicted = default_model().decide(texts, reply_to_kinds, asks)
    for i, t, r, h, g, q in zip(todo, texts, reply_to_kinds, hints, predicted, asks, strict=True):
        out[i] = _combine(t, r, h, _KINDS[g], q)
    return out  # type: ignore[return-value]


def _combine(text: str, reply: str | None, hint: str | None, guess: PostKind, asks: bool | None = None) -> PostKind:
    """The model's guess under the rules that define the kinds."""
    if hint in _KIND_VALUES:
        return PostKind(hint)
    if asks is None:
        asks = looks_like_question(text)
    if reply == PostKind.QUESTION:
        return PostKind.ANSWER if not asks and guess in (PostKind.QUESTION, PostKind.OTHER) else guess
    if guess == PostKind.ANSWER:
        # an answer is a reply to a question; anything else that reads like one is a statement
        return PostKind.QUESTION if asks else PostKind.OTHER
    if guess == PostKind.QUESTION:
        if not asks and not _asks_for_help(text):
            return PostKind.OTHER  # every labelled question asks (a mark, an opening, a plea); this one does not
        if _asks_the_speaker_to_change(text, text.lower()):
            return PostKind.FEEDBACK
    return guess


def _asks_for_help(text: str) -> bool:
    return _matches(_ASKING, _ASKING_HINTS, text, text.lower())


def _asks_the_speaker_to_change(text: str, low: str) -> bool:
    """ "Could you speak up?", "Can you zoom in on the code?": a request about the delivery, for the speaker."""
    return _matches(_DELIVERY, _DELIVERY_HINTS, text, low)


_KIND_VALUES = frozenset(k.value for k in PostKind)
_KINDS = {k.value: k for k in PostKind}


def classify_kind(text: str, *, reply_to_kind: str | None = None, hint: str | None = None) -> PostKind:
    """Decide a post's kind. A reply to a question is an answer unless it asks again."""
    return classify_kinds([text], reply_to_kinds=[reply_to_kind], hints=[hint])[0]


@dataclass(frozen=True, slots=True)
class KindReport:
    """Held-out precision/recall per kind for the rules and for the model (with the rules on top)."""

    n_train: int
    n_test: int
    rules: dict[str, tuple[float, float]]
    model: dict[str, tuple[float, float]]
    rules_accuracy: float
    model_accuracy: float


def evaluate_kinds(test_size: float = 0.3, random_state: int = 0) -> KindReport:
    """Train on a stratified part of the examples and score the rest."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support
    from sklearn.model_selection import train_test_split

    examples = load_examples()
    labels = [e.kind.value for e in examples]
    train, test = train_test_split(examples, test_size=test_size, random_state=random_state, stratify=labels)
    model = KindModel().fit(train)
    truth = [e.kind.value for e in test]
    guesses = model.predict([e.text for e in test], [e.reply_to_kind for e in test])
    by_model = [_combine(e.text, e.reply_to_kind, None, g).value for e, g in zip(test, guesses, strict=True)]
    by_rules = [rule_kind(e.text, reply_to_kind=e.reply_to_kind).value for e in test]
    kinds = [k.value for k in PostKind]

    def per_kind(pred: list[str]) -> dict[str, tuple[float, float]]:
        p, r, _, _ = precision_recall_fscore_support(truth, pred, labels=kinds, zero_division=0)
        return {k: (float(pi), float(ri)) for k, pi, ri in zip(kinds, p, r, strict=True)}

    return KindReport(
        n_train=len(train),
        n_test=len(test),
        rules=per_kind(by_rules),
        model=per_kind(by_model),
        rules_accuracy=float(accuracy_score(truth, by_rules)),
        model_accuracy=float(accuracy_score(truth, by_model)),
    )
