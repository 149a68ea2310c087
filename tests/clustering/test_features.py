"""The tokenizer's scan finds the tokens its written pattern describes."""

from __future__ import annotations

import re
from itertools import product

from clustering.features import _TOKEN_RE, TOKEN_PATTERN, tokenize


def test_the_faster_scan_finds_the_patterns_tokens_in_every_short_text() -> None:
    """Both patterns see a character only as a word character, one of ``#@'.-``, or anything else: every text
    of up to six characters drawn from one of each (and a word character of another script) is scanned alike."""
    written = re.compile(TOKEN_PATTERN)
    alphabet = "a#@'.- é"
    for n in range(7):
        for chars in product(alphabet, repeat=n):
            text = "".join(chars)
            assert _TOKEN_RE.findall(text) == written.findall(text), text


def test_tokens_keep_sigils_and_inner_punctuation() -> None:
    assert tokenize("Ask @ana@social.example about #Rust's borrow-checker, e.g. v1.2!") == [
        "ask", "@ana@social.example", "#rust's", "borrow-checker", "e.g", "v1.2",
    ]  # fmt: skip
