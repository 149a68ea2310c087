"""Phrase counters: counts added and removed one at a time stay whole numbers of one type."""

from __future__ import annotations

from clustering.keyphrases import BoundedCounter


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
