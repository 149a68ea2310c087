"""Benchmark figures in, one printed table out: each figure beside its same-run baseline and their ratio."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    bench: str
    metric: str
    value: float
    unit: str = ""
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0 or math.isnan(self.value):
            return None
        return self.value / self.baseline


def number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def table(figures: Iterable[Figure]) -> str:
    """A Markdown table, so the same text goes to the terminal and into the README."""
    header = ("benchmark", "figure", "value", "baseline (same run)", "ratio", "target")
    rows: list[Sequence[str]] = [header, ["---"] * len(header)]
    for f in figures:
        unit = f" {f.unit}" if f.unit else ""
        base = f"{number(f.baseline)}{unit} ({f.baseline_name})" if f.baseline is not None else "–"
        ratio = f"{f.ratio:.2f}×" if f.ratio is not None else "–"
        rows.append((f.bench, f.metric, f"{number(f.value)}{unit}", base, ratio, f.target))
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]
