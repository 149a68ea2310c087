"""Talk attribution on a small synthetic schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clustering.model import EventModel, PostDoc
from ingest.schedules.records import ScheduledPerson, ScheduledTalk

T0 = datetime(2025, 12, 27, 10, 0, tzinfo=UTC)


def talk(guid: str, title: str, room: str, start: int, *, code: str, speaker: str, handle: str = "") -> ScheduledTalk:
    return ScheduledTalk(
        guid=guid,
        title=title,
        start=T0 + timedelta(minutes=start),
        end=T0 + timedelta(minutes=start + 40),
        room=room,
        track="Security",
        code=code,
        speakers=(ScheduledPerson(name=speaker, handles=(handle,) if handle else ()),),
    )


TALKS = [
    talk("t-rust", "Memory safety with Rust in the Linux kernel", "Saal 1", 0, code="RUSTK", speaker="Ana Lovelace"),
    talk("t-mesh", "Building mesh networks with cheap routers", "Saal 2", 0, code="MESH1", speaker="Bo Routers"),
    talk(
        "t-vote",
        "Auditing electronic voting machines",
        "Saal G",
        0,
        code="VOTE9",
        speaker="Cy Ballot",
        handle="@cy@social.example",
    ),
    talk("t-bees", "Sensors for beehives", "Saal 1", 60, code="BEES1", speaker="Di Hive"),
]


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def model() -> EventModel:
    m = EventModel()
    m.set_schedule(TALKS)
    return m


def one(model: EventModel, text: str, minutes: float, **kw: object) -> tuple[str | None, float]:
    [r] = model.observe([PostDoc(id=f"p{len(model._posts)}-{minutes}", text=text, created_at=at(minutes), **kw)])
    assert 0.0 <= r.confidence <= 1.0
    return r.talk, r.confidence


def test_title_words_pick_the_talk_among_concurrent_ones(model: EventModel) -> None:
    assert one(model, "rust in the kernel, memory safety finally", 10)[0] == "t-rust"
    assert one(model, "these mesh routers are so cheap", 12)[0] == "t-mesh"
    assert one(model, "voting machines audit is scary", 15)[0] == "t-vote"


def test_time_decides_between_talks_in_the_same_room(model: EventModel) -> None:
    assert one(model, "sensors inside beehives, lovely", 70)[0] == "t-bees"
    # an hour after the bees talk ended nothing is running: hallway
    assert one(model, "sensors inside beehives, lovely", 70 + 40 + 120)[0] is None


def test_explicit_references(model: EventModel) -> None:
    assert one(model, "great point by @cy@social.example", 20)[0] == "t-vote"
    assert one(model, "loving #MESH1 so far", 20)[0] == "t-mesh"
    assert one(model, "Ana Lovelace knows her stuff", 25)[0] == "t-rust"
    assert one(model, "whoever is in Saal G right now: wow", 25)[0] == "t-vote"
    assert one(model, "anything", 5, talk_ref="t-bees") == ("t-bees", 1.0)


def test_a_speaker_called_by_one_name_points_to_their_talk_while_it_runs(model: EventModel) -> None:
    # the same plea without a name could be about any of the three talks running; a settled window of
    # posts (200 later) keeps the named one with its speaker's talk rather than with the pleas
    pleas = ["Could you speak a bit louder? Hard to hear in the back.", "Could you speak a bit louder please"] * 2
    docs = [PostDoc(id=f"plea{i}", text=t, created_at=at(2 + i)) for i, t in enumerate(pleas)]
    named = "Could you speak a bit louder, Ana? Hard to hear in the back."
    docs.append(PostDoc(id="ana", text=named, created_at=at(10)))
    docs += [PostDoc(id=f"lunch{i}", text=f"lunch plan number {i}", created_at=at(11 + i / 10)) for i in range(200)]
    model.observe(docs)
    assert model.result("ana").talk == "t-rust"  # type: ignore[union-attr]
    assert one(model, "Thanks Lovelace, that was the clearest explanation yet", 30)[0] == "t-rust"
    # one name alone is too common to reach past the talk: hours later it names nothing
    assert one(model, named, 300)[0] is None


def test_in_the_break_after_a_talk_only_a_post_that_is_about_it_goes_to_it(model: EventModel) -> None:
    # 4 minutes after three talks ended: one stray word of a title no longer tips chatter onto its talk
    assert one(model, "the hallway track is the best track, safety first", 44)[0] is None
    assert one(model, "so much memory safety in that rust kernel talk", 44)[0] == "t-rust"


def test_a_reference_reaches_past_the_time_window(model: EventModel) -> None:
    assert one(model, "still thinking about #VOTE9 from this morning", 300)[0] == "t-vote"


def test_unrelated_posts_stay_in_the_hallway(model: EventModel) -> None:
    talk_, conf = one(model, "queue for the food trucks is huge", 20)
    assert talk_ is None
    assert conf >= 0.5
    [r] = model.observe([PostDoc(id="untimed", text="anyone up for dinner")])  # no time: stream order
    assert r.talk is None


def test_an_answer_goes_where_its_question_went(model: EventModel) -> None:
    [q] = model.observe([PostDoc(id="q", text="does the rust kernel code need nightly?", created_at=at(20))])
    assert q.talk == "t-rust" and q.kind == "question"
    [a] = model.observe([PostDoc(id="a", text="no, stable is enough now", created_at=at(21), reply_to="q")])
    assert a.talk == "t-rust"
    assert a.kind == "answer"


def test_when_the_joint_step_moves_a_question_to_another_talk_its_answer_goes_along() -> None:
    """The joint step holds an answer to its question's talk as it was, while it may move the question: the
    answer follows it there (a follower met the answer under one talk and its question under another)."""
    from clustering.attribution import Attribution

    model = EventModel(refine_every=1_000_000)  # the step runs once, below
    model.set_schedule(TALKS)
    model.observe([PostDoc(id="q", text="does the rust kernel code need nightly?", created_at=at(20))])
    model.observe([PostDoc(id="a", text="no, stable is enough now", created_at=at(21), reply_to="q")])
    assert (model.result("q").talk, model.result("a").talk) == ("t-rust", "t-rust")
    assert model.result("a").confidence < 1.0  # not filed by its poster: the step may move it
    attributor = model._attributor
    assert attributor is not None
    refine = attributor.refine

    def question_to_mesh(items, **kw):  # type: ignore[no-untyped-def]
        out = refine(items, **kw)
        return [Attribution("t-mesh", 0.9, "text"), *out[1:]]  # the question is the window's first post

    attributor.refine = question_to_mesh  # type: ignore[method-assign]
    model._refine_talks(final=True)
    assert (model.result("q").talk, model.result("a").talk) == ("t-mesh", "t-mesh")
    assert model.result("a").topic == model.result("q").topic


def test_profiles_learn_from_confident_posts(model: EventModel) -> None:
    # "borrow checker" is not in the schedule; after confident rust posts mention it, it points to rust
    for i in range(4):
        one(model, f"rust kernel memory safety and the borrow checker {i}", 5 + i)
    assert one(model, "the borrow checker complaints are real", 12)[0] == "t-rust"


def test_without_a_schedule_there_are_no_talks() -> None:
    m = EventModel()
    [r] = m.observe([PostDoc(id="x", text="rust in the kernel", created_at=at(10))])
    assert r.talk is None and r.confidence == 1.0
