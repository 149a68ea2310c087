"""Character 4-grams in talk attribution: a word's other forms still point at the talk that uses it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clustering.attribution import TalkAttributor
from clustering.features import char_grams, hash_tokens, tokenize
from ingest.schedules.records import ScheduledPerson, ScheduledTalk

T0 = datetime(2025, 12, 27, 10, 0, tzinfo=UTC)


def talk(guid: str, title: str, room: str) -> ScheduledTalk:
    return ScheduledTalk(
        guid=guid,
        title=title,
        start=T0,
        end=T0 + timedelta(minutes=40),
        room=room,
        speakers=(ScheduledPerson(name="Someone"),),
    )


TALKS = [
    talk("t-crypto", "Encrypted messengers compared", "Saal 1"),
    talk("t-farm", "Farming robots", "Saal 2"),
    talk("t-rail", "Railway signalling", "Saal 3"),
]


def test_char_grams_pad_each_word_and_keep_short_ones_whole() -> None:
    assert char_grams(["rust", "#ai"]) == [" rus", "rust", "ust ", " ai "]
    assert char_grams([]) == []


def test_a_post_with_another_form_of_a_title_word_goes_to_that_talk_at_arrival() -> None:
    att = TalkAttributor(w_text=28.0)
    att.set_schedule(TALKS)
    text = "end-to-end encryption of every messenger chat"  # no title word as written
    idx, cnt = hash_tokens(tokenize(text), att.n_features)
    got = att.attribute(text, idx, cnt, T0 + timedelta(minutes=10))
    assert got.talk == "t-crypto"
    # without grams (as an attributor saved before them) the words alone share nothing with any title
    words_only = TalkAttributor(w_text=28.0)
    words_only.set_schedule(TALKS)
    words_only._cg_talks = {}
    assert words_only.score(text, idx, cnt, T0 + timedelta(minutes=10)).talk is None
