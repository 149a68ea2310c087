"""The attribution bench scores several withheld-talk draws per schedule, so one draw's luck is not read as progress."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cluster import build_attribution_set, score_attribution_both, score_attribution_draws

DEMOCON = Path(__file__).resolve().parents[3] / "shared" / "data" / "fixtures" / "pretalx_schedule_democon.json"

pytestmark = pytest.mark.skipif(not DEMOCON.exists(), reason="shared data not present")


def test_each_method_is_scored_on_every_draw_and_the_first_draw_is_seed_0() -> None:
    summaries = {s.method: s for s in score_attribution_draws(DEMOCON, draws=3)}
    assert set(summaries) == {
        "naive argmax, always",
        "naive argmax, if shared",
        "EventModel, at arrival",
        "EventModel, final",
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
