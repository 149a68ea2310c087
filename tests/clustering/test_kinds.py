"""Post kinds: the rules, the model trained on the project's own examples, and its held-out scores."""

from __future__ import annotations

import pytest

from clustering.kinds import PostKind, classify_kind, classify_kinds, evaluate_kinds, load_examples, looks_like_question


@pytest.mark.parametrize(
    ("text", "reply_to", "hint", "kind"),
    [
        ("How does the scheduler pick a node?", None, None, PostKind.QUESTION),
        ("can you help me flash the badge", None, None, PostKind.QUESTION),
        ("how can I run this offline", None, None, PostKind.QUESTION),
        ("It's in room B next to the stairs", "question", None, PostKind.ANSWER),
        ("Which version do you mean?", "question", None, PostKind.QUESTION),
        ("Key takeaway: test your backups by restoring them", None, None, PostKind.TAKEAWAY),
        ("Great talk, thank you so much!", None, None, PostKind.FEEDBACK),
        ("Slides were too small to read from the back", None, None, PostKind.FEEDBACK),
        ("On my way to hall 1", None, None, PostKind.OTHER),
        ("anything at all", None, "question", PostKind.QUESTION),
    ],
)
def test_classify_kind(text: str, reply_to: str | None, hint: str | None, kind: PostKind) -> None:
    assert classify_kind(text, reply_to_kind=reply_to, hint=hint) == kind


def test_looks_like_question() -> None:
    assert looks_like_question("what is this")
    assert looks_like_question("I wonder. Is it open source")
    assert not looks_like_question("")
    assert not looks_like_question("The demo was great.")


def test_batch_matches_single() -> None:
    texts = ["Where is the coffee?", "Learned that DNS is hard", "yes, hall 2", "thanks, great talk"]
    replies = [None, None, "question", None]
    assert classify_kinds(texts, reply_to_kinds=replies) == [
        classify_kind(t, reply_to_kind=r) for t, r in zip(texts, replies, strict=True)
    ]
    assert classify_kinds([]) == []


def test_an_answer_needs_a_question_to_answer() -> None:
    assert classify_kind("It's in room B next to the stairs") != PostKind.ANSWER


def test_examples_are_varied_and_labelled() -> None:
    examples = load_examples()
    assert len(examples) >= 300
    counts = {k: sum(e.kind == k for e in examples) for k in PostKind}
    assert min(counts.values()) >= 40
    assert len({e.text for e in examples}) == len(examples)


def test_held_out_precision_recall_floor() -> None:
    report = evaluate_kinds()
    assert report.model_accuracy >= 0.8
    assert report.model_accuracy >= report.rules_accuracy
    for kind, (precision, recall) in report.model.items():
        assert precision >= 0.6, kind
        assert recall >= 0.6, kind


def test_batch_path_picks_what_the_fitted_model_predicts() -> None:
    # classify_kinds builds the TF-IDF rows itself for speed; it must agree with scikit-learn's own pipeline
    from clustering.kinds import default_model

    examples = load_examples()
    texts = [e.text for e in examples] + ["Key takeaway: restore your backups", "is the stream down?", "hall 1"]
    replies = [e.reply_to_kind for e in examples] + [None, None, "question"]
    model = default_model()
    assert model.decide(texts, replies) == [k.value for k in model.predict(texts, replies)]


def test_fast_path_matches_the_scikit_learn_pipeline() -> None:
    """``classify_kinds`` builds the model's rows itself and skips patterns by their first words: the same
    kinds as scikit-learn's transform and predict, including words that only contain a pattern's hints."""
    from clustering.kinds import _combine, default_model

    texts = [e.text for e in load_examples()] + [
        "until the end we still remained in the main hall",
        "tl;dr: restore your backups",
        "Take-away: Öffentliche Verwaltung braucht offene Software",
        "Congratulations to the whole team",
        "the speaker's slides were too small",
        "I wonder whether the demo works offline",
        "ſummary: it works",
        "KEY INSIGHT from the talk",
    ]
    replies = [None if i % 3 else "question" for i in range(len(texts))]
    model = default_model()
    expected = [_combine(t, r, None, g) for t, r, g in zip(texts, replies, model.predict(texts, replies), strict=True)]
    assert classify_kinds(texts, reply_to_kinds=replies) == expected
