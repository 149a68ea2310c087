"""Text to fixed-width hashed term counts, the one tokenizer every part of the stage shares.

Hashing keeps the feature space fixed for the whole stream: nothing is ever refitted and memory does not
grow with the vocabulary. A small bounded map from feature index back to a word is kept separately
(``WordBook``) so topic labels can be shown as words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, HashingVectorizer

DEFAULT_N_FEATURES = 2**15

# English stop words plus the filler of social posts and a few German ones (CCC talks are often German).
STOP_WORDS = frozenset(ENGLISH_STOP_WORDS) | frozenset(
    """
    rt via amp http https www com just like really im dont ive youre thats lol yeah ok okay gonna wanna
    der die das und ist nicht ein eine einen mit auf für von zu den dem des sich auch es ich wir sie
    """.split()
)

# Words (letters/digits, inner apostrophes and hyphens), hashtags and @handles (kept with their sigil so
# "#rust" and "@ana@social.example" match schedule codes and handles exactly).
TOKEN_PATTERN = r"(?u)[#@]?\b\w[\w'.@-]*\w\b|[#@]?\b\w\w\b"
_TOKEN_RE = re.compile(TOKEN_PATTERN)


def tokenize(text: str) -> list[str]:
    """Lower-cased tokens without stop words, hashtags and handles included (``#rust``, ``@ana``)."""
    out = []
    for tok in _TOKEN_RE.findall(text.lower()):
        tok = tok.strip(".'-")
        if len(tok) < 2 or tok in STOP_WORDS:
            continue
        out.append(tok)
    return out


def content_words(tokens: Iterable[str]) -> list[str]:
    """Tokens that read as words in a label: no handles, no bare numbers, hashtags without their '#'."""
    out = []
    for tok in tokens:
        if tok.startswith("@") or tok.isdigit():
            continue
        out.append(tok.lstrip("#"))
    return out


def make_hasher(n_features: int = DEFAULT_N_FEATURES) -> HashingVectorizer:
    return HashingVectorizer(
        n_features=n_features,
        analyzer=tokenize,
        alternate_sign=False,
        norm=None,
        dtype=np.float32,
    )


def hash_tokens(tokens: Sequence[str], n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashed feature indices (sorted) and counts of one token list, the same hash as ``make_hasher``."""
    if not tokens:
        return np.zeros(0, np.int32), np.zeros(0, np.float32)
    row = make_hasher_cached(n_features).transform([tokens])
    return row.indices.astype(np.int32), row.data.astype(np.float32)


_HASHERS: dict[int, HashingVectorizer] = {}


def make_hasher_cached(n_features: int) -> HashingVectorizer:
    hasher = _HASHERS.get(n_features)
    if hasher is None:
        hasher = HashingVectorizer(
            n_features=n_features,
            analyzer=lambda toks: toks,
            alternate_sign=False,
            norm=None,
            dtype=np.float32,
        )
        _HASHERS[n_features] = hasher
    return hasher


def hash_token_lists(token_lists: Sequence[Sequence[str]], n_features: int) -> sp.csr_matrix:
    """Rows of hashed counts for pre-tokenized documents (same hash as ``make_hasher``)."""
    X = make_hasher_cached(n_features).transform(token_lists)
    X.sort_indices()
    return X


def feature_of(token: str, n_features: int) -> int:
    idx, _ = hash_tokens([token], n_features)
    return int(idx[0])


class WordBook:
    """Bounded map from hashed feature to the word last seen for it (for labels only)."""

    def __init__(self, n_features: int, max_words: int = 50_000) -> None:
        self.n_features = n_features
        self.max_words = max_words
        self.words: dict[int, str] = {}

    def add(self, tokens: Iterable[str], indices: Iterable[int]) -> None:
        for tok, i in zip(tokens, indices, strict=False):
            if i not in self.words and len(self.words) >= self.max_words:
                continue
            self.words[int(i)] = tok
