"""Talk and event summaries in, standalone HTML documents (inline CSS, chart as a data: URI) out.

Rendered with Jinja2 autoescaping from ``app/export/templates``; user text is never marked safe and
every link target goes through :func:`app.export.text.http_url`, so only http(s) links exist. A
Content-Security-Policy meta tag forbids scripts and remote loads as a second line of defence.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from app.export.chart import render_activity_svg
from app.export.references import References, number_citations
from app.export.summary import EventSummary, TalkSummary, distinct_authors
from app.export.text import clean_line, clean_text, counted, handle_text, http_url, noun, truncate
from app.export.times import format_clock, format_days, format_minutes, format_moment, format_span

EXCERPT_LIMIT = 280


@dataclass(frozen=True, slots=True)
class TalkView:
    """What the talk template needs beyond the summary: numbering, anchors and the chart."""

    talk: TalkSummary
    refs: References
    anchor: str  # prefix for in-page ids, unique per talk in an event document
    chart_uri: str  # empty when the talk has no activity to chart
    level: int  # heading level of the talk title


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("app.export", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        text=clean_text,
        line=clean_line,
        href=http_url,
        truncate_text=truncate,
        clock=format_clock,
        minutes=format_minutes,
        moment=format_moment,
        span=format_span,
        days=format_days,
        authors=distinct_authors,
        counted=counted,
        noun=noun,
        handle=handle_text,
    )
    env.globals["EXCERPT_LIMIT"] = EXCERPT_LIMIT
    return env


def chart_data_uri(talk: TalkSummary) -> str:
    """The activity chart as an SVG data: URI: vector in print, no request, scripts inert in <img>."""
    return "data:image/svg+xml;base64," + base64.b64encode(render_activity_svg(talk)).decode("ascii")


def _view(talk: TalkSummary, *, anchor: str, level: int) -> TalkView:
    return TalkView(
        talk=talk,
        refs=number_citations(talk),
        anchor=anchor,
        chart_uri=chart_data_uri(talk) if talk.activity else "",
        level=level,
    )


def render_talk_html(talk: TalkSummary) -> str:
    template = _environment().get_template("talk.html.j2")
    return template.render(view=_view(talk, anchor="t", level=1))


def render_event_html(event: EventSummary, *, talk_links: Mapping[str, str] | None = None) -> str:
    """The event's index, then every talk's summary; with ``talk_links`` (guid → relative file) the
    index links to those files instead and the talks are left out (the archive's ``index.html``)."""
    template = _environment().get_template("event.html.j2")
    talks = event.all_talks
    views = [] if talk_links is not None else [
        _view(talk, anchor=f"t{i}", level=2) for i, talk in enumerate(talks, start=1)
    ]  # fmt: skip
    links = dict(talk_links) if talk_links is not None else {t.guid: f"#t{i}" for i, t in enumerate(talks, 1)}
    return template.render(event=event, talks=talks, views=views, links=links)
