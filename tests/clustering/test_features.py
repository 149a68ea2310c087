"""The tokenizer's scan finds the tokens its written pattern describes."""

from __future__ import annotations

import re
from itertools import product

from clustering.features import (
    _TOKEN_RE,
    TOKEN_PATTERN,
    hash_texts_with_words,
    hash_token_lists,
    tokenize,
    tokenize_with_words,
)


def test_the_faster_scan_finds_the_patterns_tokens_in_every_short_text() -> None:
    """Both patterns see a character only as a word character, one of ``#@'’.-``, or anything else: every
    text of up to six characters drawn from one of each (and a word character of another script) is scanned
    alike."""
    written = re.compile(TOKEN_PATTERN)
    alphabet = "a#@'\u2019.- é"
    for n in range(7):
        for chars in product(alphabet, repeat=n):
            text = "".join(chars)
            assert _TOKEN_RE.findall(text) == written.findall(text), text


def test_tokens_keep_sigils_and_inner_punctuation() -> None:
    assert tokenize("Ask @ana@social.example about #Rust's borrow-checker, e.g. v1.2!") == [
        "ask", "@ana@social.example", "#rust's", "borrow-checker", "e.g", "v1.2",
    ]  # fmt: skip


def test_a_phones_typographic_apostrophe_reads_as_the_plain_one_and_contractions_are_no_words() -> None:
    assert tokenize("Don\u2019t roll back: Rust\u2019s borrow checker won\u2019t let you") == tokenize(
        "Don't roll back: Rust's borrow checker won't let you"
    ) == ["roll", "rust's", "borrow", "checker", "let"]  # fmt: skip
    assert tokenize_with_words("We\u2019ll see; it\u2019s Rust\u2019s") == (["rust's"], ("rust's",))


def test_texts_hash_as_their_tokens_do_with_their_content_words() -> None:
    texts = [
        "Ask @ana@social.example about #Rust's borrow-checker, e.g. v1.2!",
        "",
        "the and of",  # stop words only: an empty row
        "Rust rust RUST 2024 #rust",
        "Café naïve テスト 🎤 Öffentliche",
    ]
    for width in (2**15, 7):  # a narrow width folds columns together
        X, words = hash_texts_with_words(texts, width)
        want = hash_token_lists([tokenize(t) for t in texts], width)
        assert X.shape == want.shape and X.indices.dtype == want.indices.dtype and X.data.dtype == want.data.dtype
        assert X.indptr.tolist() == want.indptr.tolist() and X.indices.tolist() == want.indices.tolist()
        assert X.data.tolist() == want.data.tolist()
        assert words == [tokenize_with_words(t)[1] for t in texts]
