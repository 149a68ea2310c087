"""The EventModel facade: topics, takeaways (cited, merged), bursts, activity, changes, state, caps."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from clustering.model import HALLWAY, Changes, EventModel, PostDoc, PostResult, _Pending
from clustering.takeaways import Member
from ingest.schedules.records import ScheduledTalk
from tests.clustering.conftest import TOPICS, make_stream

T0 = datetime(2025, 12, 27, 10, 0, tzinfo=UTC)


def docs_of(texts: list[str], start: int = 0, minutes_apart: float = 0.5) -> list[PostDoc]:
    return [
        PostDoc(id=f"p{start + i}", text=t, created_at=T0 + timedelta(minutes=(start + i) * minutes_apart))
        for i, t in enumerate(texts)
    ]


def test_observe_returns_one_result_per_post_in_order() -> None:
    texts, _ = make_stream(120)
    model = EventModel(refine_window=0)
    docs = docs_of(texts)
    results = model.observe(docs)
    assert [r.id for r in results] == [d.id for d in docs]
    assert all(r.talk is None and r.topic >= 0 for r in results)
    assert model.observe([]) == []


def test_topics_are_labelled_with_their_keyphrases() -> None:
    texts, _ = make_stream(200)
    model = EventModel(refine_window=0)
    model.observe(docs_of(texts))
    topics = model.topics(None)
    assert 4 <= len(topics) <= 8
    for vocabulary in TOPICS.values():
        words = set(vocabulary.split())
        # some topic is labelled with this vocabulary's words only
        assert any(set(" ".join(t.keyphrases).split()) <= words for t in topics[:4])
    assert all(t.label and t.size > 0 and t.talk is None for t in topics)
    assert sum(t.size for t in topics) == 200
    assert topics == sorted(topics, key=lambda t: -t.size)


def test_a_topics_label_is_chosen_again_once_the_topic_has_grown_by_a_quarter() -> None:
    # read after every batch, as pages and digests are: a few posts more keep the label, the size follows
    first = ["sourdough starter feeding schedule tips"] * 8
    later = ["sourdough starter rye crumb shots"] * 4
    model = EventModel(refine_window=0)
    model.observe(docs_of(first))
    [before] = model.topics(None)
    model.observe(docs_of(later[:1], start=8))
    [during] = model.topics(None)
    assert (during.size, during.keyphrases) == (9, before.keyphrases)
    model.observe(docs_of(later[1:], start=9))
    [after] = model.topics(None)
    once = EventModel(refine_window=0)
    once.observe(docs_of(first + later))
    [read_once] = once.topics(None)
    assert (after.size, after.keyphrases) == (12, read_once.keyphrases) and after.keyphrases != before.keyphrases


def test_topic_labels_pair_only_words_that_stand_together_in_a_post() -> None:
    said = [
        "Key takeaway: alert on symptoms users feel, not on every cause.",
        "TIL alert on symptoms users feel, not on every cause",
        "Structured logs with a request id beat any amount of grep.",
        "Learning: structured logs with a request id beat any amount of grep",
        "You don't: contract only after the new code has been live long enough.",
        "Contract only after the new code has been live long enough, says the speaker",
    ]
    texts = [f"{said[i % len(said)]} #{i // len(said)}" for i in range(120)]
    model = EventModel(refine_window=0)
    model.observe(docs_of(texts))
    phrases = [p for t in model.topics(None) for p in t.keyphrases]
    assert "structured logs" in phrases and any(p.startswith("request id") for p in phrases)
    pairs = [p for p in phrases if " " in p]  # and the runs of three ("request id beat") they were joined into
    assert pairs and all(any(p in t.lower() for t in said) for p in pairs), pairs


def test_takeaways_cite_posts_and_merge_near_duplicates() -> None:
    model = EventModel(refine_window=0)
    base = [
        "Key takeaway: rust borrow checker catches memory bugs at compile time",
        "key takeaway: Rust borrow checker catches memory bugs at compile time!!",
        "RT Key takeaway: rust borrow checker catches memory bugs at compile time",
        "rust async tokio runtime is fast for network code",
        "cargo crates make rust dependency management easy",
    ]
    docs = docs_of(base)
    docs[0] = PostDoc(id="p0", text=base[0], created_at=docs[0].created_at, upvotes=3, boosts=2)
    docs[1] = PostDoc(id="p1", text=base[1], created_at=docs[1].created_at, upvotes=1)
    model.observe(docs)
    takeaways = model.takeaways(None)
    assert takeaways
    merged = [t for t in takeaways if set(t.post_ids) >= {"p0", "p1", "p2"}]
    assert len(merged) == 1
    t = merged[0]
    assert t.post_ids[0] == "p0"  # the most engaged copy speaks for the group
    assert t.count == 3 + 2  # three copies plus two boosts
    assert t.votes == 4
    assert t.kind == "takeaway"
    cited = {pid for t in takeaways for pid in t.post_ids}
    assert cited <= {d.id for d in docs}
    assert all(0.0 <= t.score <= 1.0 for t in takeaways)


def test_the_same_point_with_a_different_templated_opening_is_one_takeaway() -> None:
    model = EventModel(refine_window=0)
    texts = [
        "TIL the borrow checker catches use after free bugs at compile time",
        "Key takeaway: the borrow checker catches use-after-free bugs at compile time",
        "Today I learned: borrow checker catches use after free bugs at compile time!",
        "So the borrow checker is slow on huge generic functions",
    ]
    model.observe(docs_of(texts))
    takeaways = model.takeaways(None)
    merged = [t for t in takeaways if {"p0", "p1", "p2"} <= set(t.post_ids)]
    assert len(merged) == 1 and merged[0].count == 3
    # an opening that carries meaning ("So …") is not a template: that post stays its own takeaway
    assert any(t.post_ids == ("p3",) for t in takeaways)


def test_the_same_point_said_around_other_words_is_one_takeaway_but_a_longer_post_is_not() -> None:
    model = EventModel(refine_window=0)
    texts = [
        "Key takeaway: spawn_blocking is the escape hatch for CPU-heavy work.",
        "Ben makes a great point: spawn_blocking is the escape hatch for CPU-heavy work.",
        "Note to self from Async Rust without tears: spawn_blocking is the escape hatch for CPU-heavy work.",
        "So spawn_blocking is the escape hatch for CPU-heavy work. Huge if you run this in production.",
        # the same words inside a post that says much more is that post's own point
        "spawn_blocking is the escape hatch for CPU-heavy work, but a dedicated thread pool with bounded queues"
        " and backpressure beats it once image resizing dominates the service's latency budget",
        "Great slides, Ben!",
        "Great slides, Ana!",
        "Learning at #a11y: use native buttons and links before reaching for ARIA.",
        "So use native buttons and links before reaching for ARIA. Huge if you run this in production.",
        "Ben makes a great point: never hold a std mutex guard across an await.",
        "Note to self from Async Rust without tears: never hold a std mutex guard across an await.",
        "Never hold a std mutex guard across an await!",
    ]
    model.observe(docs_of(texts))
    takeaways = model.takeaways(None)
    merged = [t for t in takeaways if "p0" in t.post_ids]
    assert len(merged) == 1 and set(merged[0].post_ids) == {"p0", "p1", "p2", "p3"} and merged[0].count == 4
    assert any(t.post_ids == ("p4",) for t in takeaways)
    # a few words alike are not the same point
    assert not any({"p5", "p6"} <= set(t.post_ids) for t in takeaways)
    # a hashtag says where a post was made, not what it says
    assert any(set(t.post_ids) == {"p7", "p8"} for t in takeaways)
    # nor does a short lead-in before a colon; the copy that says it most briefly speaks for them
    [mutex] = [t for t in takeaways if "p9" in t.post_ids]
    assert set(mutex.post_ids) == {"p9", "p10", "p11"} and mutex.text == "Never hold a std mutex guard across an await!"
    # shown as what it says (a takeaway), though its first copy praised the speaker ("Ben makes a great point")
    assert mutex.kind == "takeaway"


def test_a_lead_in_naming_a_long_talk_title_is_left_out_when_copies_are_compared() -> None:
    # "Note to self from <title>:" is as long as the title: the title's words made the first copy's group
    # too unlike a copy with a remark after the point, which became a second takeaway saying the same
    model = EventModel(refine_window=0)
    point = "a logistic regression baseline often gets you most of the value"
    texts = [
        f"Note to self from Shipping small models to production: {point}.",
        f"Key takeaway: {point}.",
        f"So {point}. Huge if you run this in production.",
        f"Writing this down: {point}.",
    ]
    model.observe(docs_of(texts))
    [merged] = [t for t in model.takeaways(None) if "p0" in t.post_ids]
    assert set(merged.post_ids) == {"p0", "p1", "p2", "p3"}


def test_a_long_clause_before_a_short_list_is_what_the_sentence_says_not_a_lead_in() -> None:
    model = EventModel(refine_window=0)
    texts = [
        "On modern Intel based computers there exist two powerful and protected code regions: the UEFI firmware"
        " and System Management Mode (SMM).",
        "Besides bootstrapping an operating system, UEFI also instantiates the all powerful System Management"
        " Mode (SMM).",
    ]
    model.observe(docs_of(texts))
    assert sorted(t.post_ids for t in model.takeaways(None)) == [("p0",), ("p1",)]


def test_praise_for_the_speaker_does_not_crowd_out_what_the_talk_taught() -> None:
    texts = [
        "Great talk Ben, async rust finally makes sense to me!",
        "Great talk Ben, async rust finally makes sense!",
        "Loving Ben's async rust talk, great slides",
        "Ben makes a great point: never hold a std mutex guard across an await.",
        "Writing this down: never hold a std mutex guard across an await.",
        "Async rust: a future does nothing until it is polled.",
        "TIL async rust futures do nothing until polled.",
        "Async rust: spawn_blocking is the escape hatch for CPU-heavy work.",
        "Key takeaway: structured concurrency with JoinSet keeps async rust tasks from leaking.",
    ]
    docs = docs_of(texts)
    docs[0] = PostDoc(id="p0", text=texts[0], created_at=docs[0].created_at, upvotes=6)  # the room agreed
    model = EventModel(refine_window=0)
    results = model.observe(docs)
    assert results[0].kind == "feedback" and len({r.topic for r in results}) == 1
    takeaways = model.takeaways(None)
    assert len(takeaways) == 3  # the topic's three picks
    assert all(t.kind == "takeaway" for t in takeaways), [(t.kind, t.text) for t in takeaways]
    # a topic that is all praise still shows it
    model = EventModel(refine_window=0)
    model.observe(docs_of(texts[:3]))
    assert [t.kind for t in model.takeaways(None)] == ["feedback"] * len(model.takeaways(None)) != []


def test_praise_does_not_fill_the_places_a_topic_of_one_point_leaves() -> None:
    """The wall showed "Great slides, Hugo!" as the second takeaway of "callback · paramspec · signature"."""
    texts = [
        "Writing this down: typing a callback with ParamSpec keeps the signature intact.",
        "TIL typing a callback with ParamSpec keeps the signature intact.",
        "Great slides Hugo, typing a callback with ParamSpec finally clicked!",
        "Great slides Hugo, the ParamSpec callback signature part finally clicked!",
    ]
    model = EventModel(refine_window=0)
    results = model.observe(docs_of(texts))
    assert [r.kind for r in results[2:]] == ["feedback", "feedback"] and len({r.topic for r in results}) == 1
    takeaways = model.takeaways(None)
    assert [t.kind for t in takeaways] == ["takeaway"], [(t.kind, t.text) for t in takeaways]


def test_a_topic_of_praise_comes_after_the_topics_of_what_was_taught() -> None:
    texts = [
        "Thanks Ben, this was the best talk of the day for me.",
        "Thanks Ben, best talk of the day!",
        "Best talk of the day, thanks Ben",
        "This was the best talk of the day, thanks",
        "Never hold a std mutex guard across an await.",
        "TIL a future does nothing until it is polled.",
        "Key takeaway: a future does nothing until polled.",
    ]
    model = EventModel(refine_window=0)
    model.observe(docs_of(texts))
    praise = model.topics(None)[0]
    assert praise.size == 4  # the largest topic
    topics_in_order = list(dict.fromkeys(t.topic for t in model.takeaways(None)))
    assert len(topics_in_order) == 3 and topics_in_order[-1] == praise.id


def test_duplicate_questions_are_merged_with_votes_summed() -> None:
    model = EventModel(refine_window=0)
    docs = [
        PostDoc(id="q1", text="Will the rust kernel slides be online?", created_at=T0, upvotes=2),
        PostDoc(id="q2", text="will the slides for the rust kernel talk be online", created_at=T0, upvotes=5),
        PostDoc(id="q3", text="are the rust kernel slides going to be online?", created_at=T0, upvotes=1),
    ]
    model.observe(docs)
    questions = [t for t in model.takeaways(None) if t.kind == "question"]
    assert len(questions) == 1
    assert set(questions[0].post_ids) == {"q1", "q2", "q3"}
    assert questions[0].votes == 8
    assert questions[0].post_ids[0] == "q2"


def test_engagement_updates_rerank_and_forget_removes() -> None:
    model = EventModel(refine_window=0)
    model.observe(docs_of(["rust borrow checker rules", "rust cargo crates everywhere", "rust async tokio rocks"]))
    model.drain_changes()
    model.update_engagement("p2", upvotes=10, boosts=0, replies=0)
    ch = model.drain_changes()
    assert None in ch.takeaways
    assert model.takeaways(None)[0].post_ids[0] == "p2"
    model.forget("p2")
    ch = model.drain_changes()
    assert ch.forgotten == ("p2",)
    assert all("p2" not in t.post_ids for t in model.takeaways(None))
    assert sum(t.size for t in model.topics(None)) == 2
    assert model.result("p2") is None
    assert sum(c for _, c in model.activity(None)) == 2


def test_drain_changes_reports_once() -> None:
    model = EventModel(refine_window=0)
    model.observe(docs_of(["rust borrow checker rules"]))
    ch = model.drain_changes()
    assert isinstance(ch, Changes) and ch
    assert ch.topics == frozenset({None}) and ch.takeaways == frozenset({None})
    assert len(ch.created_topics) == 1
    assert not model.drain_changes()


def test_activity_and_bursts() -> None:
    model = EventModel(refine_window=0)
    docs = []
    n = 0
    for minute in range(40):
        per_minute = 12 if 20 <= minute < 23 else 1
        for _ in range(per_minute):
            text = "demo failed live on stage wow" if per_minute > 1 else f"quiet hallway chat {minute}"
            docs.append(PostDoc(id=f"b{n}", text=text, created_at=T0 + timedelta(minutes=minute, seconds=n % 50)))
            n += 1
    model.observe(docs)
    activity = model.activity(None)
    assert sum(c for _, c in activity) == n
    assert max(c for _, c in activity) == 12
    bursts = model.bursts(None)
    assert len(bursts) == 1
    b = bursts[0]
    assert b.start == T0 + timedelta(minutes=20)
    assert b.peak_count == 12
    assert b.start <= b.peak <= b.end < T0 + timedelta(minutes=24)
    assert "demo" in b.label or "stage" in b.label
    assert None in model.drain_changes().bursts


def test_dumps_loads_round_trip_continues_identically() -> None:
    texts, _ = make_stream(300, blocks=False, seed=2)
    a = EventModel(refine_window=100)
    a.observe(docs_of(texts[:150]))
    b = EventModel.loads(a.dumps())
    ra = a.observe(docs_of(texts[150:], start=150))
    rb = b.observe(docs_of(texts[150:], start=150))
    assert ra == rb
    assert a.topics(None) == b.topics(None)
    assert a.takeaways(None) == b.takeaways(None)
    assert a.drain_changes() == b.drain_changes()


def test_a_saved_model_keeps_every_post_and_queued_takeaway_field_for_field() -> None:
    # held posts and the posts queued for takeaway groups are saved as columns, not object by object
    texts, _ = make_stream(200, blocks=False, seed=3)
    docs = docs_of(texts[:199]) + [PostDoc(id="empty", text="!!", created_at=None, author="ana", reply_to="p3")]
    a = EventModel(refine_window=0)
    a.observe(docs)
    a.update_engagement("p5", upvotes=4, boosts=2, replies=1)
    b = EventModel.loads(a.dumps())
    assert list(b._posts) == list(a._posts) and len(a._posts) == 200
    for old, new in zip(a._posts.values(), b._posts.values(), strict=True):
        for name in ("id", "talk", "topic", "kind", "confidence", "minute", "when", "author", "reply_to", "text"):
            assert getattr(new, name) == getattr(old, name), name
        assert new.words == old.words and (new.seq, new.upvotes, new.boosts, new.replies) == (
            old.seq,
            old.upvotes,
            old.boosts,
            old.replies,
        )
        assert new.idx.dtype.name == "int32" and new.idx.tolist() == old.idx.tolist()
        assert new.cnt.dtype.name == "float32" and new.cnt.tolist() == old.cnt.tolist()
    queued = [(tid, m) for tid, t in a._topics.items() for m in t.groups._pending.values()]
    assert queued, "the stream leaves posts queued for grouping"
    for tid, m in queued:
        # a post waits as the model's record of it and comes back as the Member it is grouped as
        want = Member(m.id, m.text, m.kind, frozenset(m.words), m.upvotes, m.boosts, m.replies, m.seq)
        assert b._topics[tid].groups._pending[m.id] == want
    assert b._posts["empty"].words == () and b.result("p5") == a.result("p5")
    assert a.takeaways(None) == b.takeaways(None)
    # a state saved before posts were packed (an ordered dict of posts) still loads
    c = EventModel.__new__(EventModel)
    c.__setstate__(a.__dict__.copy())
    assert c._posts is a._posts


def test_loads_rejects_foreign_bytes() -> None:
    import pytest

    with pytest.raises(ValueError, match="EventModel"):
        EventModel.loads(b"not a model")


def test_memory_stays_bounded() -> None:
    texts, _ = make_stream(3000, blocks=False)
    model = EventModel(max_posts=500, max_groups_per_topic=10, refine_window=200)
    model.observe(docs_of([f"{t} {i}" for i, t in enumerate(texts)]))
    assert len(model._posts) == 500
    assert all(len(t.groups.groups) <= 10 + 10 // 2 for t in model._topics.values())  # evicted in batches
    assert all(len(g.members) <= 50 for t in model._topics.values() for g in t.groups.groups)
    assert len(model._pending) == 0
    assert sum(t.size for t in model.topics(None)) == 3000


def test_refinement_moves_are_reported() -> None:
    texts, _ = make_stream(400, blocks=False, seed=5)
    model = EventModel(refine_window=100)
    first = {r.id: r.topic for r in model.observe(docs_of(texts))}
    moved = model.drain_changes().moved
    for r in moved:
        assert model.result(r.id).topic == r.topic
        assert first[r.id] != r.topic


def test_moves_reach_posts_older_than_the_refinement_window() -> None:
    """The clusterer may move any post it holds (a split or merge reaches past its window): the topic
    follows; a stream index no held post has is ignored."""
    texts, _ = make_stream(300, blocks=False, seed=3)
    model = EventModel(refine_window=50)
    first = model.observe(docs_of(texts[:200]))
    model.drain_changes()
    old = model._posts["p0"]
    target = next(r.topic for r in first if r.topic not in (old.topic, -1))
    learn = model._clusterer.learn_batch

    def learn_and_move(X, scopes):  # type: ignore[no-untyped-def]
        labels, moves = learn(X, scopes)
        return labels, [*moves, (old.seq, target), (10**9, target)]

    model._clusterer.learn_batch = learn_and_move  # type: ignore[method-assign]
    model.observe(docs_of(texts[200:], start=200))
    assert model.result("p0").topic == target
    assert ("p0", target) in {(r.id, r.topic) for r in model.drain_changes().moved}


def test_pending_posts_are_found_by_word_oldest_first() -> None:
    pending = _Pending()
    pending["a"] = frozenset({1, 2})
    pending["b"] = frozenset({3})
    pending["c"] = frozenset({2, 3})
    assert pending.sharing({3, 2}) == ["a", "b", "c"]
    pending.pop("a")
    pending.pop_oldest()
    assert len(pending) == 1 and pending.sharing({1, 2, 3}) == ["c"]
    assert pending.pop("missing") is None
    pending.pop("c")
    assert not pending.by_word


def test_a_topic_label_keeps_phrases_people_wrote_together_whole() -> None:
    lines = [
        "Fourteen days hot, then compressed object storage for a year.",
        "fourteen days hot and then compressed object storage, nice",
        "So: fourteen days hot, compressed object storage after that.",
    ]
    model = EventModel(refine_window=0)
    model.observe(docs_of([line for line in lines for _ in range(3)]))
    (topic,) = model.topics(None)
    assert {"fourteen days hot", "compressed object storage"} <= set(topic.keyphrases)
    assert not {"days hot", "fourteen days", "compressed object", "object storage"} & set(topic.keyphrases)


def test_pairs_that_only_share_a_word_stay_apart_in_a_label() -> None:
    texts = ["rust async is everywhere now"] * 6 + ["the async runtime matters"] * 2 + ["rust async tips"] * 2
    model = EventModel(refine_window=0)
    model.observe(docs_of(texts))
    phrases = {p for t in model.topics(None) for p in t.keyphrases}
    assert "rust async runtime" not in phrases


def test_two_pairs_sharing_a_word_join_only_where_someone_wrote_the_three_together() -> None:
    # "new model" and "model registry", said about equally often, read as "new model registry": nobody wrote it
    texts = ["Shadow deployments compare a new model on live traffic"] * 4 + ["Which model registry do you use?"] * 4
    model = EventModel(refine_window=0)
    model.observe(docs_of(texts))
    phrases = {p for t in model.topics(None) for p in t.keyphrases}
    assert "new model registry" not in phrases
    assert {"new model", "model registry"} & phrases, phrases


def test_naming_the_talk_does_not_merge_its_different_points_into_one_topic() -> None:
    from ingest.schedules.records import ScheduledPerson

    talk = ScheduledTalk(
        guid="obs",
        title="Observability on a budget",
        start=T0,
        end=T0 + timedelta(minutes=40),
        room="Main hall",
        speakers=(ScheduledPerson(name="Dev Patel"),),
        code="obsbudget",
    )
    points = [
        "structured logs with a request id beat any amount of grep",
        "alert on symptoms users feel, not on every cause",
        "sample traces at the edge but keep every error trace",
    ]
    said = ["Dev Patel at #obsbudget: {}", "Observability on a budget: {}", "{} (Dev Patel, Observability on a budget)"]
    texts = [said[(i // 3) % 3].format(points[i % 3]) for i in range(36)]  # every wrapper on every point
    model = EventModel(refine_window=0)
    model.set_schedule([talk])
    docs = [
        PostDoc(id=f"p{i}", text=t, created_at=T0 + timedelta(minutes=i), talk_ref="obs") for i, t in enumerate(texts)
    ]
    results = model.observe(docs)
    topics_of_point = [{r.topic for r in results[k::3]} for k in range(3)]
    assert all(len(topics) == 1 for topics in topics_of_point)  # each point is one topic...
    assert len(set().union(*topics_of_point)) == 3  # ...of its own
    labels = " ".join(t.label for t in model.topics("obs"))
    assert not {"dev", "patel", "observability", "budget", "obsbudget"} & set(labels.replace("·", " ").split())


MIGRATION_POINTS = [
    "set a lock_timeout so a migration fails fast instead of queueing behind a long query",
    "create indexes concurrently or you block every writer",
    "backfill in small batches keyed by primary key to keep replication lag low",
]
QUESTION = "What lock_timeout do you use in production?"
ANSWER = "Around two seconds, then retry with backoff."  # not one word of the question's


def migration_talk() -> ScheduledTalk:
    return ScheduledTalk(guid="pgmig", title="Zero-downtime migrations", start=T0, end=T0 + timedelta(minutes=40))


def migration_stream(talk_ref: str | None) -> list[PostDoc]:
    """A talk's notes on three points, a question about one of them ("q") and two answers to it ("a0", "a1")."""
    said = ["{}", "TIL {}", "{}!"]
    texts = [said[i // 3 % 3].format(MIGRATION_POINTS[i % 3]) for i in range(24)] + [QUESTION, ANSWER, ANSWER]
    ids = [f"n{i}" for i in range(24)] + ["q", "a0", "a1"]
    return [
        PostDoc(
            id=pid,
            text=text,
            created_at=T0 + timedelta(minutes=i / 2),
            talk_ref=talk_ref,
            reply_to="q" if pid.startswith("a") else None,
        )
        for i, (pid, text) in enumerate(zip(ids, texts, strict=True))
    ]


def assert_answers_sit_with_their_question(model: EventModel, results: list[PostResult], talk: str | None) -> None:
    by_id = {r.id: r for r in results}
    assert by_id["q"].kind == "question" and by_id["a0"].kind == "answer"
    assert by_id["a0"].topic == by_id["a1"].topic == by_id["q"].topic
    # a follower reads the answer among that topic's takeaways, beside the question it answers
    topic_of = {t.text: t.topic for t in model.takeaways(talk)}
    assert topic_of[ANSWER] == topic_of[QUESTION]
    assert all("backoff" not in t.label for t in model.topics(talk))  # no topic of the answer alone


def test_an_answer_sits_in_its_questions_topic_though_it_shares_no_word_with_it() -> None:
    model = EventModel()
    model.set_schedule([migration_talk()])
    assert_answers_sit_with_their_question(model, model.observe(migration_stream("pgmig")), "pgmig")


def test_without_a_schedule_an_answer_sits_in_its_questions_topic_too() -> None:
    model = EventModel()
    assert_answers_sit_with_their_question(model, model.observe(migration_stream(None)), None)


def test_when_the_clusterer_moves_a_question_its_answers_move_along() -> None:
    model = EventModel()
    first = {r.id: r for r in model.observe(migration_stream(None))}
    model.drain_changes()
    question = model._posts["q"]
    target = first["n1"].topic  # the notes on another point
    assert target != question.topic
    learn = model._clusterer.learn_batch

    def learn_and_move(X, scopes):  # type: ignore[no-untyped-def]
        labels, moves = learn(X, scopes)
        return labels, [*moves, (question.seq, target)]

    model._clusterer.learn_batch = learn_and_move  # type: ignore[method-assign]
    model.observe([PostDoc(id="late", text=MIGRATION_POINTS[2], created_at=T0 + timedelta(minutes=20))])
    assert {model.result(pid).topic for pid in ("q", "a0", "a1")} == {target}
    assert {"q", "a0", "a1"} <= {r.id for r in model.drain_changes().moved}
    model.forget("a0")  # a deleted answer leaves the topic it moved to
    assert sum(t.size for t in model.topics(None) if t.id == target) == 8 + 2


def test_a_question_filed_on_a_talk_later_gathers_the_answers_already_there() -> None:
    """An organizer files a question the stage left in the hallway on the talk its answers were filed on."""
    model = EventModel()
    model.set_schedule([migration_talk()])
    stream = migration_stream("pgmig")
    question = next(d for d in stream if d.id == "q")
    model.observe([replace(d, talk_ref=HALLWAY) if d is question else d for d in stream])
    assert model.result("q").talk is None and model.result("a0").talk == "pgmig"
    model.drain_changes()
    [filed] = model.observe([replace(question, talk_ref="pgmig")])
    assert {model.result(a).topic for a in ("a0", "a1")} == {filed.topic}
    assert {"a0", "a1"} <= {r.id for r in model.drain_changes().moved}


def test_an_answer_is_listed_right_after_its_question_even_when_it_ranks_above_it() -> None:
    model = EventModel()
    model.set_schedule([migration_talk()])
    model.observe([replace(d, upvotes=9) if d.id.startswith("a") else d for d in migration_stream("pgmig")])
    topic = model.result("q").topic
    listed = [t for t in model.takeaways("pgmig") if t.topic == topic]
    texts = [t.text for t in listed]
    assert texts.index(ANSWER) == texts.index(QUESTION) + 1
    # pages order a topic's takeaways by score: the answer keeps its place there too
    assert listed[texts.index(ANSWER)].score == listed[texts.index(QUESTION)].score
    assert [t.text for t in sorted(listed, key=lambda t: -t.score)] == texts


def test_in_the_hallway_of_a_scheduled_event_talk_alone_does_not_make_a_topic() -> None:
    """Between sessions, "Loving this talk" and "Where is the lightning talk signup?" share only the word
    "talk": two topics, each labelled with what it says."""
    model = EventModel()
    start = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    model.set_schedule([ScheduledTalk(guid="k", title="Keynote", start=start, end=start + timedelta(minutes=45))])
    texts = ["Where is the lightning talk signup?", "Loving this talk, very clear examples."]
    docs = [PostDoc(id=f"p{i}", text=texts[i % 2], created_at=start + timedelta(hours=3, minutes=i)) for i in range(24)]
    results = model.observe(docs)
    assert {r.talk for r in results} == {None}
    topics = {r.id: r.topic for r in results}
    assert topics["p0"] != topics["p1"]
    labels = {t.label for t in model.topics(None)}
    assert "lightning talk signup" in labels and not any("signup" in label and "loving" in label for label in labels)
