"""Phrase counters: counts added and removed one at a time stay whole numbers of one type."""

from __future__ import annotations

import pytest

from clustering.features import tokenize_with_words
from clustering.keyphrases import BoundedCounter, before_objects, keyphrases, terms_of


def test_counts_added_and_removed_one_at_a_time_stay_ints() -> None:
    # a label's candidates are the counter's items sorted by count: ints alone sort faster than ints and floats
    counts = BoundedCounter()
    counts.add(["rust", "async", "rust async", "rust"])
    counts.remove(["rust", "async", "borrow"])
    assert counts.counts == {"rust": 1, "rust async": 1}
    assert all(type(v) is int for v in counts.counts.values())
    assert counts.total == 2.0


def test_a_weighted_removal_takes_its_weight() -> None:
    counts = BoundedCounter()
    counts.add(["rust", "rust"])
    counts.remove(["rust"], weight=0.5)
    assert counts.counts == {"rust": 1.5}


def label_phrases(said: list[str]) -> list[str]:
    """The phrases of a topic of these posts, in an event that also talked of coffee and wifi."""
    topic, event, before_object = BoundedCounter(), BoundedCounter(), BoundedCounter()
    for text in said:
        terms = terms_of(tokenize_with_words(text)[1], text)
        topic.add(terms)
        event.add(terms)
    for text in [*said, "Coffee at the edge of the venue", "Wifi is better on the second floor"]:
        words = tokenize_with_words(text)[1]
        before_object.add(before_objects(words, text))
        if text not in said:
            event.add(terms_of(words, text))
    return keyphrases(topic, event, n_docs=len(said), avg_terms=20.0, top=6, before_object=before_object)


def test_the_openings_people_put_before_a_point_are_no_topic_label() -> None:
    """Openings like "TIL …" and "Key takeaway: …" lead most posts of a small topic; its label says what about."""
    said = [
        "TIL sample traces at the edge but keep every error trace",
        "Key takeaway: sample traces at the edge, keep every error trace",
        "TIL keep every error trace",
        "tl;dr sample at the edge",
    ]
    phrases = label_phrases(said)
    assert phrases and any("error trace" in p for p in phrases)
    assert not any(w in {"til", "tl", "dr", "takeaway"} for p in phrases for w in p.split()), phrases


@pytest.mark.parametrize(
    ("said", "named", "left_out"),
    [
        pytest.param(
            [
                "I think the riskiest input is the one you think is internal",
                "Draw the data flow first, threats come from the arrows",
                "The riskiest input is internal, I think",
                "threats come from the arrows of the data flow",
            ],
            {"riskiest input", "data flow"},
            {"think", "come"},
            id="everyday verbs: not 'riskiest input · internal · think', 'data flow · threats come'",
        ),
        pytest.param(
            [
                "Redraw the model when a trust boundary appears",
                "A new trust boundary appears with every queue",
                "Shadow deployments compare live traffic safely",
                "Route live traffic safely through the shadow model",
            ],
            {"trust boundary", "live traffic"},
            {"appears", "safely"},
            id="the verbs and adverbs a point trails off with: not 'trust boundary appears', 'live traffic safely'",
        ),
        pytest.param(
            [
                "Backfill in small batches to keep replication lag low",
                "Keep replication lag low while you backfill",
                "Are type hints slow at runtime? No",
                "type hints slow nothing down at runtime",
            ],
            {"replication lag", "type hints"},
            {"low", "slow"},
            id="a label ends on what it names: not 'replication lag low', 'type hints slow'",
        ),
        pytest.param(
            [
                "Structured logs with a request id beat any amount of grep",
                "a request id beat every grep I ever wrote",
                "Four golden signals cover most alerts",
                "golden signals cover the basics, then add your own",
            ],
            {"request id", "golden signals"},
            {"beat", "cover"},
            id="nor on a verb, told by the object the event's posts write after it: not 'request id beat'",
        ),
    ],
)
def test_a_label_names_what_the_posts_are_about_not_how_they_say_it(
    said: list[str], named: set[str], left_out: set[str]
) -> None:
    phrases = label_phrases(said)
    assert named <= set(phrases), phrases
    assert not any(w in left_out for p in phrases for w in p.split()), phrases


def test_a_small_topics_label_stops_where_its_own_phrases_end() -> None:
    """Once a topic's own phrases are named, what every talk's posts say ("Huge if you run this in production")
    does not fill the places left."""
    topic, event = BoundedCounter(), BoundedCounter()
    said = ["Move cpu-heavy work to spawn_blocking, the escape hatch. Huge if you run this in production."] * 3
    elsewhere = [
        f"{point}. Huge if you run this in production."
        for point in ("Index the foreign keys", "Alert on symptoms", "Shadow the new model", "Measure energy first")
        for _ in range(8)
    ]
    for text in said:
        topic.add(terms_of(tokenize_with_words(text)[1], text))
    for text in said + elsewhere:
        event.add(terms_of(tokenize_with_words(text)[1], text))
    phrases = keyphrases(topic, event, n_docs=len(said), avg_terms=20.0, top=5)
    assert "escape hatch" in phrases, phrases
    assert not any(w in {"huge", "run", "production"} for p in phrases for w in p.split()), phrases


def test_a_one_post_topics_chips_are_its_point_not_the_opening_every_talks_notes_share() -> None:
    """The wall showed "riskiest input · internal · note · self" for a note opened "Note to self from <talk>:"."""
    topic, event = BoundedCounter(), BoundedCounter()
    said = "Note to self from Threat modelling for busy teams: the riskiest input is the one you think is internal."
    elsewhere = [
        opening + point
        for opening in (
            "Note to self from the keynote: ",
            "Writing this down: ",
            "Learning at #ops: ",
            "Key takeaway: ",
        )
        for point in ("index the foreign keys", "alert on symptoms", "shadow the new model", "measure energy first")
    ]
    topic.add(terms_of(tokenize_with_words(said)[1], said))
    for text in [said, *elsewhere]:
        event.add(terms_of(tokenize_with_words(text)[1], text))
    phrases = keyphrases(topic, event, n_docs=1, avg_terms=20.0, top=5)
    assert "riskiest input" in phrases, phrases
    assert not {"note", "self", "writing", "learning", "key", "ops"} & {w for p in phrases for w in p.split()}, phrases


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Key takeaway: writing tests first pays off", "writing tests"),  # the point's words are the point's
        ("Machine learning: models drift", "machine learning"),  # no opening, a subject before a colon
        ("Notes to self: self-hosted runners are cheap", "self-hosted runners"),
    ],
)
def test_only_the_opening_itself_is_left_out(text: str, kept: str) -> None:
    assert kept in terms_of(tokenize_with_words(text)[1], text)


def test_a_pair_written_with_a_phones_apostrophe_is_a_pair() -> None:
    text = "Rust\u2019s borrow checker"
    assert "rust's borrow" in terms_of(tokenize_with_words(text)[1], text)
