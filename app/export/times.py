"""Aware datetimes and an IANA zone name in, human-readable local times out."""

from __future__ import annotations

import logging
from datetime import date, datetime, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

logger = logging.getLogger(__name__)

_UTC = ZoneInfo("UTC")


@cache
def zone(name: str) -> tzinfo:
    """The named zone, or UTC (logged) when the name is unknown: a bad setting must not break exports."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("unknown time zone %r; showing times in UTC", name)
        return _UTC


def format_clock(moment: datetime, zone_name: str) -> str:
    return moment.astimezone(zone(zone_name)).strftime("%H:%M")


def format_minutes(first: datetime, last: datetime, zone_name: str) -> str:
    """The minutes ``first`` to ``last``, both included: ``12:31–12:32``, or ``12:29`` when they are one minute
    (a burst's; "12:29–12:29" read as no time at all)."""
    start, end = format_clock(first, zone_name), format_clock(last, zone_name)
    return start if start == end else f"{start}–{end}"


def format_day(day: date) -> str:
    return day.strftime("%a %d %b %Y")


def format_moment(moment: datetime, zone_name: str) -> str:
    local = moment.astimezone(zone(zone_name))
    return f"{format_day(local)}, {local:%H:%M}"


def format_span(start: datetime | None, end: datetime | None, zone_name: str) -> str:
    """``Tue 25 Nov 2026, 10:00–10:45``; empty when the talk has no time (the hallway)."""
    if start is None:
        return ""
    text = format_moment(start, zone_name)
    if end is None:
        return text
    if end.astimezone(zone(zone_name)).date() == start.astimezone(zone(zone_name)).date():
        return f"{text}–{format_clock(end, zone_name)}"
    return f"{text} – {format_moment(end, zone_name)}"


def format_days(start: date | None, end: date | None) -> str:
    if start is None:
        return ""
    if end is None or end == start:
        return format_day(start)
    return f"{format_day(start)} – {format_day(end)}"
