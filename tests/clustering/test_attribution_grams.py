"""Character 4-grams in talk attribution: a word's other forms still point at the talk that uses it."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

from clustering.attribution import RefineItem, TalkAttributor
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


def test_an_attributor_saved_before_the_grams_keeps_working_and_takes_them_up_with_a_new_schedule() -> None:
    att = TalkAttributor()
    att.set_schedule(TALKS)
    for name in ("_cg_df", "_cg_n_docs", "_cg_talk_df", "_cg_talks", "_cg_seen", "_cg_profiles"):
        att.__dict__.pop(name, None)  # what an older saved state holds
    old = pickle.loads(pickle.dumps(att))
    text = "end-to-end encryption of every messenger chat"
    idx, cnt = hash_tokens(tokenize(text), old.n_features)
    when = T0 + timedelta(minutes=10)
    assert old.attribute(text, idx, cnt, when).talk is None  # words only: nothing shared with a title
    old.refine([RefineItem(text, idx, cnt, when)])  # the joint step falls back to words
    old.set_schedule(TALKS)
    assert old.attribute(text, idx, cnt, when).talk == "t-crypto"
    assert [a.talk for a in old.refine([RefineItem(text, idx, cnt, when)])] == ["t-crypto"]


def test_grams_hashed_for_many_posts_at_once_are_those_of_each_post_alone() -> None:
    texts = ["Encryption everywhere!", "robots on the farm", "", "Encryption everywhere!", "ok"]
    alone = TalkAttributor()
    alone.set_schedule(TALKS)
    together = TalkAttributor()
    together.set_schedule(TALKS)
    together.remember_grams(texts)
    for text in texts:
        (i1, c1), (i2, c2) = alone._grams(text), together._grams(text)
        assert i1.tolist() == i2.tolist() and c1.tolist() == c2.tolist()
        assert i1.dtype == i2.dtype and c1.dtype == c2.dtype
