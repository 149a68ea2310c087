"""Bursts: moments when a talk's posts per minute jump (TwitInfo-style peak detection).

Marcus et al. (CHI 2011): keep an exponentially weighted mean and mean deviation of the per-minute
counts; a minute whose count is more than ``tau`` mean deviations above the mean opens a window, the
window follows the climb to its peak and closes when the count falls back to the mean it started from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Peak:
    start: int  # minute index (inclusive)
    end: int  # minute index (inclusive)
    peak: int  # minute index of the highest count
    peak_count: int


def find_peaks(
    counts: Sequence[int], *, tau: float = 2.0, alpha: float = 0.125, min_count: int = 3, warmup: int = 1
) -> list[Peak]:
    """Peaks of a per-minute count series (zeros included for quiet minutes)."""
    if not counts:
        return []
    mean = float(counts[0])
    meandev = 0.0
    peaks: list[Peak] = []
    start = -1
    start_mean = 0.0
    top, top_i = 0, 0
    for i, c in enumerate(counts):
        if i >= warmup:
            if start < 0:
                dev = max(meandev, 1.0)
                if c >= min_count and (c - mean) / dev > tau:
                    start, start_mean, top, top_i = i, mean, c, i
            else:
                if c > top:
                    top, top_i = c, i
                if c <= start_mean or c < min_count / 2:
                    peaks.append(Peak(start, i - 1 if i > start else i, top_i, top))
                    start = -1
        meandev = alpha * abs(c - mean) + (1 - alpha) * meandev
        mean = alpha * c + (1 - alpha) * mean
    if start >= 0:
        peaks.append(Peak(start, len(counts) - 1, top_i, top))
    return peaks
