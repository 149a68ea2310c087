"""The attribution bench scores several withheld-talk draws per schedule, so one draw's luck is not read as progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.cluster import (
    AttributionSet,
    build_attribution_set,
    score_attribution_both,
    score_attribution_draws,
    score_ceiling_attribution,
)
from clustering.model import PostDoc
from ingest.schedules.records import ScheduledTalk

DEMOCON = Path(__file__).resolve().parents[3] / "shared" / "data" / "fixtures" / "pretalx_schedule_democon.json"

pytestmark = pytest.mark.skipif(not DEMOCON.exists(), reason="shared data not present")


def test_each_method_is_scored_on_every_draw_and_the_first_draw_is_seed_0() -> None:
    summaries = {s.method: s for s in score_attribution_draws(DEMOCON, draws=3)}
    assert set(summaries) == {
        "naive argmax, always",
        "naive argmax, if shared",
        "EventModel, at arrival",
        "EventModel, final",
        "ceiling: talk-mates known",
    }
    assert all(len(s.draws) == 3 for s in summaries.values())
    arrival, final = score_attribution_both(build_attribution_set(DEMOCON, seed=0))
    for mine, alone in ((summaries["EventModel, at arrival"], arrival), (summaries["EventModel, final"], final)):
        first = mine.draws[0]
        assert (first.right, first.wrong, first.unassigned) == (alone.right, alone.wrong, alone.unassigned)


def test_the_worst_draw_is_never_better_than_the_mean() -> None:
    for s in score_attribution_draws(DEMOCON, draws=3):
        assert s.worst("right") <= s.mean("right") + 1e-12  # a mean of equal shares may round by an ulp
        assert s.worst("unassigned") <= s.mean("unassigned") + 1e-12
        assert s.worst("wrong") >= s.mean("wrong") - 1e-12
        assert s.worst("unassigned") == min(d.unassigned for d in s.draws)


def test_the_ceiling_judges_a_post_by_its_talk_mates_and_puts_a_withheld_talks_posts_in_the_hallway() -> None:
    start = datetime(2026, 11, 27, 10, tzinfo=UTC)
    end = start + timedelta(minutes=45)
    rust = ScheduledTalk("rust", "Memory safety without garbage collection", start, end, track="Languages")
    bees = ScheduledTalk("bees", "Urban beekeeping", start, end, track="Science")
    said = {
        "rust": [
            "The borrow checker rejects aliasing mutable references.",
            "Lifetimes tell the borrow checker more.",
            "A sourdough starter is a pet too.",
        ],  # fmt: skip
        "bees": ["Hives on rooftops produce surprising honey.", "Rooftop hives gather honey from linden trees."],
        "held": ["Sourdough starters need daily feeding.", "Feeding the starter flour keeps the sourdough alive."],
    }
    posts, truth, sources = [], {}, {}
    for talk, sentences in said.items():
        for j, text in enumerate(sentences):
            pid = f"{talk}-{j}"
            posts.append(PostDoc(pid, text, start + timedelta(minutes=10 + j)))
            truth[pid] = None if talk == "held" else talk
            sources[pid] = talk
    spans = {g: (start.timestamp(), end.timestamp()) for g in said}
    aset = AttributionSet("made up", (rust, bees), tuple(posts), truth, 1, sources, spans)

    ceiling = score_ceiling_attribution(aset)

    # the talk's third post reads like the withheld talk's: judged by its talk-mates, not by itself, it
    # goes with those
    assert (ceiling.right, ceiling.wrong, ceiling.unassigned) == (0.8, 0.0, 1.0)
