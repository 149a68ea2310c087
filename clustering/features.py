"""Text to fixed-width hashed term counts, the one tokenizer every part of the stage shares.

Hashing keeps the feature space fixed for the whole stream: nothing is ever refitted and memory does not
grow with the vocabulary. Topic labels are built from the words themselves (``clustering.keyphrases``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from itertools import chain

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from sklearn.utils import murmurhash3_32

DEFAULT_N_FEATURES = 2**15

# English stop words plus the filler of social posts, English contractions (scikit-learn's list has none:
# "don't" was a topic's keyphrase) and a few German ones (CCC talks are often German).
STOP_WORDS = frozenset(ENGLISH_STOP_WORDS) | frozenset(
    """
    rt via amp http https www com just like really im dont ive youre thats lol yeah ok okay gonna wanna vs
    don't doesn't didn't can't couldn't won't wouldn't shouldn't isn't aren't wasn't weren't hasn't haven't
    hadn't mustn't needn't i'm i've i'll i'd you're you've you'll you'd we're we've we'll we'd they're they've
    they'll they'd it's it'll that's there's here's what's who's where's how's let's he's she's he'll she'll
    doesnt didnt isnt arent wasnt werent hasnt havent couldnt wouldnt shouldnt theyre youve weve theyve
    der die das und ist nicht ein eine einen mit auf für von zu den dem des sich auch es ich wir sie
    """.split()
)

# Words (letters/digits, inner apostrophes and hyphens), hashtags and @handles (kept with their sigil so
# "#rust" and "@ana@social.example" match schedule codes and handles exactly). At least two characters:
# a two-letter word is the run below with nothing between its letters (a second alternative for it found
# the same tokens and made every position of the text try twice, a quarter of the tokenizer's time).
TOKEN_PATTERN = r"(?u)[#@]?\b\w[\w'\u2019.@-]*\w\b"
# The same tokens without the ``\b`` checks, which decide nothing (tested): a scan left to right tries a word
# character after another only when the one before failed, and a word character followed by one matches; a
# match ends at its last reachable word character, so a non-word one follows. A sixth of the scan's time.
_SAME_TOKENS = r"[#@]?\w[\w'\u2019.@-]*\w"
_TOKEN_RE = re.compile(_SAME_TOKENS)


class _Memo(dict[str, object]):
    """A bounded cache of a pure function of one string. ``map(memo.__getitem__, keys)`` looks every key up
    in C and runs the function (``__missing__``) only for keys not seen yet: a stream repeats its words, so
    cleaning, filtering and hashing them once per distinct word, not per occurrence, takes the per-word
    Python code out of the stage. Cleared when full (the results do not depend on what it holds): at most
    32,768 words, a few MiB (the 30,322 posts of Tweets hold 12,301 distinct words: 2.2 MiB for the
    cleaning, content-word and hashing memos together)."""

    __slots__ = ("cap", "fn")

    def __init__(self, fn: Callable[[str], object], cap: int = 1 << 15) -> None:
        super().__init__()
        self.fn = fn
        self.cap = cap

    def __missing__(self, key: str) -> object:
        if len(self) >= self.cap:
            self.clear()
        value = self[key] = self.fn(key)
        return value


def plain_apostrophes(text: str) -> str:
    """A phone's keyboard types the typographic apostrophe: "don’t" is read as "don't"."""
    return text.replace("\u2019", "'")


def _clean_token(raw: str) -> str | None:
    tok = plain_apostrophes(raw).strip(".'-")  # once per distinct token: memoised
    return None if len(tok) < 2 or tok in STOP_WORDS else tok


def _content_word(tok: str) -> str | None:
    # a kept token holds a word character after its '#', so a content word is never empty
    return None if tok.startswith("@") or tok.isdigit() else tok.lstrip("#")


def _raw_content_word(raw: str) -> str | None:
    tok = _clean_token(raw)
    return None if tok is None else _content_word(tok)


_CLEAN = _Memo(_clean_token)
_CONTENT = _Memo(_content_word)
_RAW_CONTENT = _Memo(_raw_content_word)


def tokenize(text: str) -> list[str]:
    """Lower-cased tokens without stop words, hashtags and handles included (``#rust``, ``@ana``)."""
    return list(filter(None, map(_CLEAN.__getitem__, _TOKEN_RE.findall(text.lower()))))  # type: ignore[arg-type]


def tokenize_with_words(text: str) -> tuple[list[str], tuple[str, ...]]:
    """``tokenize(text)`` and ``tuple(content_words(tokenize(text)))`` from one scan of the text. The content
    words are looked up by the raw tokens just found, while the memos' entries are in the CPU's cache: as a
    second pass over the tokens when the batch's posts were recorded, ``content_words`` cost a few µs a post
    inside the stage against under 1 µs on its own."""
    raw = _TOKEN_RE.findall(text.lower())
    return (
        list(filter(None, map(_CLEAN.__getitem__, raw))),  # type: ignore[arg-type]
        tuple(filter(None, map(_RAW_CONTENT.__getitem__, raw))),  # type: ignore[arg-type]
    )


def content_words(tokens: Iterable[str]) -> list[str]:
    """Tokens that read as words in a label: no handles, no bare numbers, hashtags without their '#'."""
    return list(filter(None, map(_CONTENT.__getitem__, tokens)))  # type: ignore[arg-type]


def hash_tokens(tokens: Sequence[str], n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashed feature indices (sorted) and counts of one token list, the same hash as ``hash_token_lists``."""
    if not tokens:
        return np.zeros(0, np.int32), np.zeros(0, np.float32)
    row = hash_token_lists([tokens], n_features)
    return row.indices, row.data


def _hash_index(n_features: int) -> Callable[[str], int]:
    """scikit-learn's ``HashingVectorizer`` column of a token (signed 32-bit murmurhash3 of its UTF-8 bytes,
    seed 0, its absolute value modulo the width; ``abs(-2**31)`` taken as scikit-learn's C code does)."""

    def index(token: str) -> int:
        h = murmurhash3_32(token, seed=0)
        return (2147483647 - (n_features - 1)) % n_features if h == -2147483648 else abs(h) % n_features

    return index


_HASHED: dict[int, _Memo] = {}  # per width: token -> its column
_RAW_HASHED: dict[int, _Memo] = {}  # per width: raw token (as scanned) -> its cleaned token's column + 1, or 0


def hash_token_lists(token_lists: Sequence[Sequence[str]], n_features: int) -> sp.csr_matrix:
    """Rows of hashed counts for pre-tokenized documents (unsigned counts, ``n_features`` wide, sorted
    indices): what ``HashingVectorizer(alternate_sign=False, norm=None, dtype=float32)`` gives, with each
    distinct token hashed once and the rows counted by numpy."""
    memo = _hashed(n_features)
    n = len(token_lists)
    lengths = np.fromiter(map(len, token_lists), np.int64, n)
    total = int(lengths.sum())
    cols = np.fromiter(map(memo.__getitem__, chain.from_iterable(token_lists)), np.int64, total)
    return _count_rows(cols, lengths, n_features)


def hash_texts_with_words(texts: Sequence[str], n_features: int) -> tuple[sp.csr_matrix, list[tuple[str, ...]]]:
    """``hash_token_lists([tokenize(t) for t in texts], n_features)`` and each text's ``tokenize_with_words``
    content words, from one scan of each text: its raw tokens are looked up once in a memo of their column
    (plus one; 0 for a token not kept), not cleaned into a token list and then looked up again to be hashed."""
    memo = _RAW_HASHED.get(n_features)
    if memo is None:
        hashed = _hashed(n_features)

        def column(raw: str) -> int:
            tok = _CLEAN[raw]
            return 0 if tok is None else hashed[tok] + 1  # type: ignore[operator]

        memo = _RAW_HASHED[n_features] = _Memo(column)
    col_lists, words = [], []
    for text in texts:
        raw = _TOKEN_RE.findall(text.lower())
        col_lists.append(list(filter(None, map(memo.__getitem__, raw))))
        words.append(tuple(filter(None, map(_RAW_CONTENT.__getitem__, raw))))
    n = len(col_lists)
    lengths = np.fromiter(map(len, col_lists), np.int64, n)
    cols = np.fromiter(chain.from_iterable(col_lists), np.int64, int(lengths.sum())) - 1
    return _count_rows(cols, lengths, n_features), words  # type: ignore[return-value]


def _hashed(n_features: int) -> _Memo:
    memo = _HASHED.get(n_features)
    if memo is None:
        memo = _HASHED[n_features] = _Memo(_hash_index(n_features))
    return memo


def _count_rows(cols: np.ndarray, lengths: np.ndarray, n_features: int) -> sp.csr_matrix:
    """Rows of counts of the columns ``cols``, ``lengths[r]`` of them in row ``r`` (sorted indices)."""
    n = len(lengths)
    keys, counts = np.unique(np.repeat(np.arange(n, dtype=np.int64), lengths) * n_features + cols, return_counts=True)
    indptr = np.zeros(n + 1, np.int32)
    np.cumsum(np.bincount(keys // n_features, minlength=n), out=indptr[1:])
    return sp.csr_matrix(
        (counts.astype(np.float32), (keys % n_features).astype(np.int32), indptr), shape=(n, n_features)
    )


# Attribution compares posts with talk titles through character 4-grams of each word ("encrypted" and
# "encryption" share " enc", "encr", "ncry", ...): on abstract sentences against their talk among the
# concurrent ones this matched 0.73-0.76 of posts against 0.57-0.61 for whole words (bench.cluster sets).
CHAR_GRAM = 4
CHAR_N_FEATURES = 2**17


def raw_tokens(text: str) -> list[str]:
    """Lower-cased tokens with the stop words kept: a post's function words tell its language, and so which
    of the talks running at once it can be about (``tokenize`` drops them for topics and labels)."""
    return _TOKEN_RE.findall(text.lower())


def char_grams(tokens: Iterable[str], n: int = CHAR_GRAM) -> list[str]:
    """Character ``n``-grams of each token padded with spaces (a short token is one gram; sigils dropped)."""
    out: list[str] = []
    for tok in tokens:
        padded = f" {tok.lstrip('#@')} "
        if len(padded) <= n:
            out.append(padded)
        else:
            out.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return out
