"""Text normalising: what every source's text becomes before it is stored."""

from __future__ import annotations

import random

from ingest.text import _normalise, normalise_text

# What text normalising treats specially (breaks, spaces of every kind, controls, invisible and bidi
# characters, a combining accent, a soft hyphen, an emoji joiner), drawn among plain letters.
_PLAIN = ["a", "b", "é", "e", "テ", "👩", " ", "\n"]
_TRICKY = [
    "\u0301", "  ", "\n\n\n", "\r", "\r\n", "\t", "\x0b", "\x00", "\x1f", "\x7f", "\x85", "\u00a0", "\u2028",
    "\u3000", "\u200b", "\u200d", "\u202e", "\u2066", "\ufeff", "\u00ad",
]  # fmt: skip


def texts_to_normalise(seed: int, n: int) -> list[str]:
    """Hand-picked edge cases, then ``n`` random texts, about a third of them with nothing to normalise."""
    rng = random.Random(seed)
    out = ["e\u0301", "e\u200b\u0301", "a\n\n\nb", "a \nb", "a\n b", " a", "a ", "\na", "a\n", "a  b", "a\u00a0b"]
    for _ in range(n):
        chars = rng.choices(_PLAIN, k=rng.randint(0, 12))
        for _ in range(rng.randint(0, 2)):
            chars.insert(rng.randint(0, len(chars)), rng.choice(_TRICKY))
        out.append("".join(chars))
    return out


def test_text_that_is_already_clean_comes_back_as_the_full_normalising_would_give_it() -> None:
    raw = texts_to_normalise(8, 4000)
    for text in raw + [_normalise(text) for text in raw]:
        assert normalise_text(text) == _normalise(text), repr(text)


def test_normalised_text_is_already_normal() -> None:
    """Stored text normalised again (an edit, a re-import) does not change: "e", a zero-width space and an
    accent become "é" at once, not "e" and a loose accent that only a second pass composes."""
    assert normalise_text("e\u200b\u0301") == "\u00e9"
    assert normalise_text("e\x00\u0301") == "\u00e9"
    for text in texts_to_normalise(9, 4000):
        once = normalise_text(text)
        assert normalise_text(once) == once, repr(text)


def test_a_time_utc_cannot_hold_is_no_time() -> None:
    from datetime import UTC, datetime

    from ingest.times import utc_time

    assert utc_time("2026-11-27T10:00:00+01:00") == datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    assert utc_time("2026-11-27T10:00:00") == datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    for impossible in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "yesterday", ""):
        assert utc_time(impossible) is None


def test_emoji_sequences_and_joining_scripts_keep_their_joiners() -> None:
    for kept in ("👩\u200d💻 on call", "🏳️\u200d🌈", "👨\u200d👩\u200d👧", "می\u200cخواهم", "क्\u200dष"):
        assert normalise_text(kept) == kept


def test_a_joiner_that_only_hides_a_word_goes() -> None:
    assert normalise_text("ki\u200dll the\u200c process") == "kill the process"
    assert normalise_text("\u200d👩 hi\u200c") == "👩 hi"
