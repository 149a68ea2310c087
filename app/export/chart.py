"""A talk summary in, its activity chart (posts per minute, bursts shaded and labelled) out as SVG or PNG.

Uses ``matplotlib.figure.Figure`` directly with the Agg canvas: no pyplot, no figure registry, no
rcParams changes, so charts can be drawn from any thread.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from functools import cache

from matplotlib import dates as mdates
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from matplotlib.text import Annotation

from app.export.summary import ActivityPoint, TalkSummary
from app.export.text import clean_line, truncate
from app.export.times import zone

_FONT_FAMILY = "DejaVu Sans"  # ships with matplotlib, so the chart looks the same everywhere
_BAR = "#3b6ea8"
_BURST = "#f2a541"
_TALK_SPAN = "#f2f6fb"
_INK = "#333333"
_GRID = "#d9d9d9"
WIDTH_INCHES = 7.2
HEIGHT_INCHES = 2.6
MAX_BARS = 240
# burst labels: the first row's baseline and each further row's drop, as fractions of the plot's height
_LABEL_TOP = 0.88
_LABEL_ROW = 0.1
_LABEL_ROWS = 4
_BUCKET_SIZES = (1, 2, 5, 10, 15, 30, 60, 120, 240, 720, 1440)


@cache
def _drawable_codepoints() -> frozenset[int]:
    path = font_manager.findfont(font_manager.FontProperties(family=_FONT_FAMILY), fallback_to_default=True)
    return frozenset(FT2Font(path).get_charmap())


def _drawable(text: str) -> str:
    """Replace characters the chart font lacks: matplotlib would warn about each missing glyph."""
    codepoints = _drawable_codepoints()
    return "".join(ch if ord(ch) in codepoints else "?" for ch in text)


def _label(text: str) -> str:
    return _drawable(truncate(clean_line(text), 28))


def build_activity_figure(talk: TalkSummary) -> Figure:
    """The chart as a figure; callers pick the output format."""
    tz = zone(talk.time_zone)
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES))
    FigureCanvasAgg(figure)
    # Fixed margins rather than constrained layout: that would draw every chart twice.
    figure.subplots_adjust(left=0.075, right=0.99, top=0.97, bottom=0.11)
    axes = figure.add_subplot()
    axes.set_facecolor("white")
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        axes.spines[side].set_color(_GRID)
    axes.tick_params(colors=_INK, labelsize=8, labelfontfamily=_FONT_FAMILY)
    axes.set_ylabel("posts / minute", fontsize=8, color=_INK, fontfamily=_FONT_FAMILY)
    axes.grid(axis="y", color=_GRID, linewidth=0.6)
    axes.set_axisbelow(True)

    points = sorted(talk.activity, key=lambda p: p.minute)
    if not points:
        axes.set_yticks([])
        axes.set_xticks([])
        axes.text(
            0.5,
            0.5,
            "No posts yet",
            transform=axes.transAxes,
            ha="center",
            va="center",
            fontsize=11,
            color="#777777",
            fontfamily=_FONT_FAMILY,
            parse_math=False,
        )
        return figure

    first, last = _x_range(talk, [points[0].minute.astimezone(tz), points[-1].minute.astimezone(tz)])
    bucket = _bucket_minutes(last - first)
    minutes, counts = _bucketed(points, first, bucket)
    if bucket > 1:
        axes.set_ylabel(f"posts / {bucket} minutes", fontsize=8, color=_INK, fontfamily=_FONT_FAMILY)
    if talk.start is not None and talk.end is not None:
        axes.axvspan(talk.start.astimezone(tz), talk.end.astimezone(tz), color=_TALK_SPAN, zorder=0, lw=0)
    peak = max(counts)
    middle = first + (last - first) / 2
    axes.set_xlim(first, last)
    labels = []
    for burst in talk.bursts:
        # ``end`` is the start of the burst's last minute: the span covers that minute's bar too
        start, end = burst.start.astimezone(tz), burst.end.astimezone(tz) + timedelta(minutes=1)
        axes.axvspan(start, end, color=_BURST, alpha=0.28, lw=0, zorder=1)
        # a burst in the right half is labelled leftwards from its end: from its start the label ran off the page
        right = start > middle
        labels.append(
            axes.annotate(
                _label(burst.label) + f" ({burst.peak}/min)",
                xy=(end if right else start, _LABEL_TOP),
                xycoords=("data", "axes fraction"),
                horizontalalignment="right" if right else "left",
                verticalalignment="bottom",
                fontsize=8,
                color="#8a5a00",
                fontfamily=_FONT_FAMILY,
                annotation_clip=False,
                parse_math=False,
            )
        )
    rows = _stack(labels, figure)
    # the bars stay below the lowest row of labels
    axes.set_ylim(0, max(peak / (_LABEL_TOP - _LABEL_ROW * rows - 0.02), 3))
    axes.bar(minutes, counts, width=timedelta(seconds=50 * bucket), align="edge", color=_BAR, zorder=2)
    locator = mdates.AutoDateLocator(tz=tz, minticks=4, maxticks=9)
    axes.xaxis.set_major_locator(locator)
    # Clock times on the ticks; the date only where a day starts (hallway charts span days).
    formatter = mdates.ConciseDateFormatter(
        locator, tz=tz, show_offset=False, zero_formats=["", "%Y", "%b", "%d %b", "%H:%M", "%H:%M"]
    )
    axes.xaxis.set_major_formatter(formatter)
    axes.yaxis.set_major_locator(_integer_locator())
    return figure


def _stack(labels: list[Annotation], figure: Figure) -> int:
    """Move each label down a row until it overlaps no label placed before it (two bursts minutes apart had
    their labels drawn over each other), hiding those that would need more than ``_LABEL_ROWS``; the number
    of rows used."""
    if not labels:
        return 0
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    placed: list[list[tuple[float, float]]] = []  # per row, the labels' horizontal extents in pixels
    pad = 4.0
    for label in labels:
        box = label.get_window_extent(renderer)
        row = 0
        while row < len(placed) and any(box.x0 < x1 + pad and x0 < box.x1 + pad for x0, x1 in placed[row]):
            row += 1
        if row == _LABEL_ROWS:
            label.set_visible(False)  # the summary's caption lists every burst; the bars keep half the height
            continue
        if row == len(placed):
            placed.append([])
        placed[row].append((box.x0, box.x1))
        x, _ = label.xy
        label.xy = label.xyann = (x, _LABEL_TOP - _LABEL_ROW * row)  # xyann: where the text is drawn
    return len(placed)


def _x_range(talk: TalkSummary, minutes: list[datetime]) -> tuple[datetime, datetime]:
    """The talk's slot widened to every post, with a minute of air on both sides."""
    tz = zone(talk.time_zone)
    candidates_start = [minutes[0]] + ([talk.start.astimezone(tz)] if talk.start else [])
    candidates_end = [minutes[-1] + timedelta(minutes=1)] + ([talk.end.astimezone(tz)] if talk.end else [])
    return min(candidates_start) - timedelta(minutes=1), max(candidates_end) + timedelta(minutes=1)


def _bucket_minutes(span: timedelta) -> int:
    """Minutes per bar: one for a talk, more when the chart spans hours, so bars stay visible."""
    wanted = span / timedelta(minutes=1) / MAX_BARS
    return next((size for size in _BUCKET_SIZES if size >= wanted), _BUCKET_SIZES[-1])


def _bucketed(points: list[ActivityPoint], origin: datetime, bucket: int) -> tuple[list[datetime], list[int]]:
    """Per-minute counts summed into ``bucket``-minute bars aligned on ``origin``."""
    if bucket == 1:
        return [p.minute.astimezone(origin.tzinfo) for p in points], [p.count for p in points]
    sums: dict[int, int] = {}
    for point in points:
        index = int((point.minute - origin) / timedelta(minutes=bucket))
        sums[index] = sums.get(index, 0) + point.count
    starts = [origin + timedelta(minutes=bucket * index) for index in sorted(sums)]
    return starts, [sums[index] for index in sorted(sums)]


def _integer_locator() -> mdates.ticker.MaxNLocator:
    return mdates.ticker.MaxNLocator(nbins=4, integer=True)


def render_activity_svg(talk: TalkSummary) -> bytes:
    """The chart as a standalone SVG document (text drawn as paths: no fonts needed to view it)."""
    buffer = io.BytesIO()
    build_activity_figure(talk).savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def render_activity_png(talk: TalkSummary, *, dpi: int = 150) -> bytes:
    buffer = io.BytesIO()
    build_activity_figure(talk).savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()
