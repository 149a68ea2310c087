"""Quality floors on the labelled streams and the schedule sets (the bench prints the full table).

The floors are what the code measurably reaches today: on Tweets-T the issue's target (NMI >= 0.93 with ARI
>= 0.80 and at most twice the true number of clusters) is met; talk posts right >= 0.90 is not yet.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cluster import build_attribution_set, load_stream, run_stream_clusterer, score_attribution

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
