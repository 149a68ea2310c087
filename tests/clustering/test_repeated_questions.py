"""A question asked again — other words, other sources, other topics of the talk — is one question."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clustering.model import EventModel, PostDoc
from ingest.schedules.records import ScheduledPerson, ScheduledTalk

T0 = datetime(2025, 12, 27, 10, 0, tzinfo=UTC)

THRESHOLD = [
    ("a1", "What is a sane alert threshold for p99 latency?"),
    ("a2", "what is a sane alert threshold for p99 latency??"),
    ("a3", "@speaker What is a sane alert threshold for p99 latency? #obs"),
]
SLIDES = [
    ("s1", "Will the slides for the rust kernel talk be online?"),
    ("s2", "will the rust kernel slides be online"),
]


def ask(model: EventModel, posts: list[tuple[str, str]], *, talk: str | None = None, start: int = 0) -> None:
    model.observe(
        [
            PostDoc(
                id=pid, text=text, created_at=T0 + timedelta(minutes=start + i), talk_ref=talk, kind_hint="question"
            )
            for i, (pid, text) in enumerate(posts)
        ]
    )


def test_copies_of_a_question_are_listed_once_with_the_first_asked_speaking_for_them() -> None:
    model = EventModel(refine_window=0)
    ask(model, [*THRESHOLD, ("x1", "How do you pick which SLOs page someone at night?"), *SLIDES])
    repeated = model.repeated_questions(None)
    assert [set(q.post_ids) for q in repeated] == [{"a1", "a2", "a3"}, {"s1", "s2"}]
    assert [q.count for q in repeated] == [3, 2]
    assert repeated[0].post_ids[0] == "a1"  # as engaged as the others and as short: the first asked


def test_the_most_upvoted_copy_speaks_for_the_question_and_the_votes_add_up() -> None:
    model = EventModel(refine_window=0)
    ask(model, THRESHOLD)
    model.drain_changes()
    model.update_engagement("a3", upvotes=4, boosts=0, replies=0)
    model.update_engagement("a2", upvotes=1, boosts=0, replies=0)
    assert None in model.drain_changes().takeaways  # the digest that carries the group is written again
    (question,) = model.repeated_questions(None)
    assert question.post_ids == ("a3", "a1", "a2")
    assert question.votes == 5


def test_a_deleted_copy_leaves_and_a_question_asked_once_is_not_repeated() -> None:
    model = EventModel(refine_window=0)
    ask(model, SLIDES)
    model.drain_changes()
    model.forget("s1")
    assert None in model.drain_changes().takeaways
    assert model.repeated_questions(None) == ()


def test_statements_and_questions_in_other_talks_are_not_copies() -> None:
    talks = [
        ScheduledTalk(
            guid=guid,
            title=title,
            start=T0,
            end=T0 + timedelta(minutes=40),
            room=room,
            speakers=(ScheduledPerson(name=speaker),),
        )
        for guid, title, room, speaker in (
            ("t-obs", "Alerting on what users feel", "Hall 1", "Ada Lovelace"),
            ("t-rust", "Rust in the kernel", "Hall 2", "Linus Rustacean"),
        )
    ]
    model = EventModel(refine_window=0)
    model.set_schedule(talks)
    ask(model, THRESHOLD[:2], talk="t-obs")
    ask(model, THRESHOLD[2:], talk="t-rust", start=5)
    model.observe(
        [PostDoc(id="n1", text="a sane alert threshold for p99 latency is the SLO", created_at=T0, talk_ref="t-obs")]
    )
    (question,) = model.repeated_questions("t-obs")
    assert set(question.post_ids) == {"a1", "a2"}
    assert model.repeated_questions("t-rust") == ()


def test_a_restored_model_still_knows_which_questions_are_the_same() -> None:
    model = EventModel(refine_window=0)
    ask(model, THRESHOLD[:2])
    restored = EventModel.loads(model.dumps())
    ask(restored, THRESHOLD[2:], start=5)
    (question,) = restored.repeated_questions(None)
    assert set(question.post_ids) == {"a1", "a2", "a3"}


def test_a_model_saved_before_questions_were_grouped_groups_the_questions_asked_after() -> None:
    model = EventModel(refine_window=0)
    ask(model, THRESHOLD[:1])
    del model._asked  # what a checkpoint written by the previous release holds
    restored = EventModel.loads(model.dumps())
    ask(restored, SLIDES, start=5)
    assert [set(q.post_ids) for q in restored.repeated_questions(None)] == [{"s1", "s2"}]


def test_a_question_asked_sixty_times_names_its_newest_copies_for_the_page_listing_them() -> None:
    model = EventModel(refine_window=0)
    asked = [(f"q{i}", "Anyone up for lunch near the venue?") for i in range(60)]
    ask(model, asked)
    (question,) = model.repeated_questions(None)
    assert question.count == 60
    assert question.post_ids[0] == "q0"  # the copy that speaks for it stays named
    assert question.post_ids[-1] == "q59" and "q58" in question.post_ids  # the newest, on the page, are named
    assert "q1" not in question.post_ids  # the oldest are counted, no longer named
    assert len(question.post_ids) == 50


def test_a_model_saved_before_keeps_naming_the_newest_copies_once_restored() -> None:
    model = EventModel(refine_window=0)
    ask(model, [(f"q{i}", "Where is the lightning talk signup?") for i in range(10)])
    for groups in model._asked._talks.values():  # as a state saved by the previous version holds them
        groups.keep_latest = False
    restored = EventModel.loads(model.dumps())
    ask(restored, [(f"r{i}", "Where is the lightning talk signup?") for i in range(50)], start=10)
    (question,) = restored.repeated_questions(None)
    assert question.count == 60 and question.post_ids[-1] == "r49"
