"""Quality floors on the labelled streams and the schedule sets (the bench prints the full table).

The floors are what the code measurably reaches today: on Tweets-T the issue's target (NMI >= 0.93 with ARI
>= 0.80 and at most twice the true number of clusters) is met; talk posts right >= 0.90 is not yet.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cluster import (
    build_attribution_set,
    build_demo_attribution_set,
    load_stream,
    run_stream_clusterer,
    score_attribution,
    score_attribution_both,
)

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "streams" / "Tweets-T").exists(), reason="shared data not present")
def test_tweets_t_quality_floor() -> None:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    texts, y = load_stream("Tweets-T", DATA)
    labels = run_stream_clusterer(texts)
    assert normalized_mutual_info_score(y, labels) >= 0.93
    assert adjusted_rand_score(y, labels) >= 0.88
    assert len(set(labels.tolist())) <= 2 * len(set(y.tolist()))


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "streams" / "News-T").exists(), reason="shared data not present")
def test_news_t_quality_floor() -> None:
    from sklearn.metrics import normalized_mutual_info_score

    texts, y = load_stream("News-T", DATA)
    labels = run_stream_clusterer(texts)
    assert normalized_mutual_info_score(y, labels) >= 0.89
    assert len(set(labels.tolist())) <= 2 * len(set(y.tolist()))


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "schedules" / "schedule.xml").exists(), reason="shared data not present")
def test_attribution_floor_on_31c3() -> None:
    score = score_attribution(build_attribution_set(DATA / "schedules" / "schedule.xml"))
    assert score.right >= 0.45
    assert score.wrong <= 0.12
    assert score.unassigned >= 0.7


def test_on_a_live_events_stream_posts_from_other_networks_stay_on_their_talk() -> None:
    # Most posts filed from a talk's form, the rest left to the stage, a busy hallway: re-attributing
    # windows together once moved about three in four of the rest into the hallway (final right 0.20)
    arrival, final = score_attribution_both(build_demo_attribution_set(seed=0))
    assert arrival.right >= 0.85
    assert final.right >= 0.85
    assert final.wrong <= 0.05
    assert final.unassigned >= 0.995  # the hallway's chatter stays there


def test_on_an_event_whose_posts_all_come_from_other_networks_most_talk_posts_stay_on_their_talk() -> None:
    # Nobody files a post: the joint step once moved five in six talk posts into the hallway (final right
    # 0.17), as the hallway's crowd outweighed talks whose posts miss their title's words
    arrival, final = score_attribution_both(build_demo_attribution_set(seed=0, filed=False))
    assert arrival.right >= 0.7
    assert final.right >= 0.7
    assert final.wrong <= 0.06
    assert final.unassigned >= 0.995  # none of the chatter in a break rides along with the talk just ended
