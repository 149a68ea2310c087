"""Times other people wrote: ISO 8601 text in, an aware UTC datetime out, or None.

A time with an offset near the ends of the calendar ("0001-01-01T00:00:00+05:00") parses, but has no UTC
equivalent: converting it raises OverflowError wherever that happens later (storing the post), failing a
whole batch. Such a time is no time, like garbage.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_time(text: str) -> datetime | None:
    """``text`` as an aware UTC datetime (no offset means UTC); None for garbage or a time UTC cannot hold."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else as_utc(moment)


def as_utc(moment: datetime) -> datetime | None:
    """An aware ``moment`` in UTC; None when UTC cannot hold it."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None
