"""The activity chart: posts per minute with bursts labelled, as SVG and PNG, drawn without pyplot."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from app.export.chart import build_activity_figure, render_activity_png, render_activity_svg
from app.export.summary import ActivityPoint, Burst, TalkSummary
from tests.app.export.examples import BURST_LABEL, START

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_svg_is_a_standalone_document(talk: TalkSummary) -> None:
    svg = render_activity_svg(talk)
    assert svg.startswith(b"<?xml")
    assert b"<svg" in svg
    assert b"<script" not in svg


def test_png_is_a_png(talk: TalkSummary) -> None:
    assert render_activity_png(talk).startswith(PNG_SIGNATURE)


def test_bars_count_posts_per_minute(talk: TalkSummary) -> None:
    [axes] = build_activity_figure(talk).axes
    [bars] = axes.containers
    heights = sorted(int(bar.get_height()) for bar in bars)
    assert heights == sorted(p.count for p in talk.activity)


def test_bursts_are_labelled_with_their_peak(talk: TalkSummary) -> None:
    [axes] = build_activity_figure(talk).axes
    labels = [text.get_text() for text in axes.texts]
    assert f"{BURST_LABEL} (11/min)" in labels


def test_hostile_burst_labels_are_drawn_literally(talk: TalkSummary) -> None:
    """``$x^2$`` is not parsed as math, bidi overrides are dropped, missing glyphs do not warn."""
    label = "$x^2$ \u202eevil \u5c71\u7530 \U0001f600"
    burst = Burst(start=START, end=START + timedelta(minutes=2), peak=3, label=label)
    hostile = dataclasses.replace(talk, bursts=(burst,))
    [axes] = build_activity_figure(hostile).axes
    [text] = axes.texts
    assert text.get_text().startswith("$x^2$ evil ")
    assert render_activity_png(hostile).startswith(PNG_SIGNATURE)


def test_empty_talk_says_no_posts_yet(empty_talk: TalkSummary) -> None:
    [axes] = build_activity_figure(empty_talk).axes
    assert [text.get_text() for text in axes.texts] == ["No posts yet"]
    assert render_activity_svg(empty_talk).startswith(b"<?xml")


def test_drawing_does_not_touch_pyplot() -> None:
    code = (
        "import sys; sys.path.insert(0, 'tests/app/export');"
        "from tests.app.export.examples import build_talk_summary;"
        "from app.export.chart import render_activity_png, render_activity_svg;"
        "render_activity_png(build_talk_summary()); render_activity_svg(build_talk_summary());"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[3])


def test_long_spans_are_summed_into_wider_bars(talk: TalkSummary) -> None:
    """A hallway chart over two days stays readable: at most 240 bars, and the axis says how wide."""
    activity = tuple(ActivityPoint(minute=START + timedelta(minutes=7 * i), count=1) for i in range(400))
    long = dataclasses.replace(talk, start=None, end=None, bursts=(), activity=activity)
    [axes] = build_activity_figure(long).axes
    [bars] = axes.containers
    assert len(bars) <= 240
    assert sum(int(bar.get_height()) for bar in bars) == 400
    assert axes.get_ylabel() == "posts / 15 minutes"


def test_a_burst_near_the_end_is_labelled_inside_the_chart(talk: TalkSummary) -> None:
    """The label of a burst in the chart's last minutes reads leftwards from it instead of off the page."""
    last = max(p.minute for p in talk.activity)
    burst = Burst(start=last - timedelta(minutes=2), end=last, peak=5, label="contract step · roll · live long")
    late = dataclasses.replace(talk, bursts=(burst,))
    figure = build_activity_figure(late)
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    [text] = figure.axes[0].texts
    box = text.get_window_extent(renderer)
    assert 0 <= box.x0 and box.x1 <= figure.bbox.x1, (box, figure.bbox)


def test_labels_of_bursts_minutes_apart_do_not_cover_each_other(talk: TalkSummary) -> None:
    """Two bursts three minutes apart (a talk's busiest moments often are) each get a readable label: the
    second one drops to a row of its own, and every label stays above the bars."""
    first = min(p.minute for p in talk.activity)
    bursts = (
        Burst(
            start=first + timedelta(minutes=2),
            end=first + timedelta(minutes=2),
            peak=23,
            label="compressed object storage · fourteen days hot",
        ),
        Burst(
            start=first + timedelta(minutes=4),
            end=first + timedelta(minutes=5),
            peak=15,
            label="opentelemetry · golden signals",
        ),
        Burst(
            start=first + timedelta(minutes=5),
            end=first + timedelta(minutes=6),
            peak=9,
            label="sane alert threshold · p99",
        ),
    )
    busy = dataclasses.replace(talk, bursts=bursts)
    figure = build_activity_figure(busy)
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    [axes] = figure.axes
    boxes = [text.get_window_extent(renderer) for text in axes.texts]
    assert len(boxes) == 3 and all(text.get_visible() for text in axes.texts)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), (a, b)
    [bars] = axes.containers
    tallest = max(bar.get_window_extent(renderer).y1 for bar in bars)
    assert tallest < min(box.y0 for box in boxes)


def test_a_burst_is_shaded_through_its_last_minute(talk: TalkSummary) -> None:
    """A burst ends at the start of its last minute; the shading covers that minute's bar, so a one-minute
    burst is a visible band, not a line."""
    first = min(p.minute for p in talk.activity)
    one = Burst(start=first + timedelta(minutes=3), end=first + timedelta(minutes=3), peak=4, label="one minute")
    [axes] = build_activity_figure(dataclasses.replace(talk, bursts=(one,))).axes
    [band] = [p for p in axes.patches if p.get_alpha() == 0.28]
    left, right = band.get_x(), band.get_x() + band.get_width()
    assert right - left == pytest.approx(1 / (24 * 60))  # matplotlib dates count days
