"""Text to fixed-width hashed term counts, the one tokenizer every part of the stage shares.

Hashing keeps the feature space fixed for the whole stream: nothing is ever refitted and memory does not
grow with the vocabulary. Topic labels are built from the words themselves (``clustering.keyphrases``).
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


def hash_tokens(tokens: Sequence[str], n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashed feature indices (sorted) and counts of one token list, the same hash as ``hash_token_lists``."""
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
    """Rows of hashed counts for pre-tokenized documents (unsigned counts, ``n_features`` wide)."""
    X = make_hasher_cached(n_features).transform(token_lists)
    X.sort_indices()
    return X


# Attribution compares posts with talk titles through character 4-grams of each word ("encrypted" and
# "encryption" share " enc", "encr", "ncry", ...): on abstract sentences against their talk among the
# concurrent ones this matched 0.73-0.76 of posts against 0.57-0.61 for whole words (bench.cluster sets).
CHAR_GRAM = 4
CHAR_N_FEATURES = 2**17


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
