"""Shared pieces of the schedule parsers: clock/duration/date parsing, text cleanup, guids, assembly."""

from __future__ import annotations

import re
import textwrap
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ingest.schedules.errors import ScheduleError, one_line
from ingest.schedules.records import Schedule, ScheduledTalk
from ingest.times import as_utc

ProgressCallback = Callable[[int, int], None]

MAX_WARNINGS = 100

# "01:30", "1:30", "1:30:00", "100:00" (hours may exceed 24). Minutes/seconds are two digits at most.
_CLOCK_DURATION = re.compile(r"^(\d{1,3}):(\d{1,2})(?::(\d{1,2}))?$")
# ISO 8601 durations as iCalendar and some exporters write them: "PT1H30M", "P1DT2H", "PT90M".
_ISO_DURATION = re.compile(r"^P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# --------------------------------------------------------------------------- parsing primitives


def parse_duration(text: str) -> timedelta | None:
    """``"01:30"``/``"1:30"`` (h:mm), ``"1:30:00"`` (h:mm:ss) or ISO ``"PT1H30M"``; None if not one."""
    text = text.strip()
    m = _CLOCK_DURATION.match(text)
    if m:
        hours, minutes, seconds = int(m[1]), int(m[2]), int(m[3] or 0)
        if minutes >= 60 or seconds >= 60:
            return None
        return timedelta(hours=hours, minutes=minutes, seconds=seconds)
    m = _ISO_DURATION.match(text.upper())
    if m and text.upper() not in ("P", "PT"):
        parts = {k: int(v) for k, v in m.groupdict().items() if v}
        return timedelta(
            weeks=parts.get("w", 0),
            days=parts.get("d", 0),
            hours=parts.get("h", 0),
            minutes=parts.get("m", 0),
            seconds=parts.get("s", 0),
        )
    return None


def parse_clock(text: str) -> time | None:
    """``"09:00"`` or ``"09:00:00"`` as a wall-clock time; None if not one."""
    m = _CLOCK.match(text.strip())
    if not m:
        return None
    hour, minute, second = int(m[1]), int(m[2]), int(m[3] or 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return time(hour, minute, second)


def parse_datetime(text: str) -> datetime | None:
    """An ISO 8601 date-time (offset optional, ``Z`` allowed); None for a bare date or garbage."""
    text = text.strip()
    if not text or _DATE_ONLY.match(text):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def parse_date(text: str) -> date | None:
    """A date, from ``"2025-12-27"`` or from a date-time (its own local date)."""
    text = text.strip()
    if _DATE_ONLY.match(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            return None
    dt = parse_datetime(text)
    return dt.date() if dt else None


def zone(name: str | None) -> ZoneInfo | None:
    """The IANA zone called ``name``, or None when there is no such zone."""
    if not name or not name.strip():
        return None
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def clean_line(value: str | None) -> str | None:
    """A one-line field (title, room, track...): whitespace collapsed; None when empty."""
    if value is None:
        return None
    value = " ".join(value.split())
    return value or None


def clean_text(value: str | None) -> str:
    """A multi-line field (abstract, description): trimmed, and the indentation that pretty-printed
    XML adds to every continuation line removed (relative indentation, e.g. Markdown code, stays)."""
    if not value:
        return ""
    lines = value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    rest = textwrap.dedent("\n".join(lines[1:]))
    text = lines[0].strip() + ("\n" + rest if len(lines) > 1 else "")
    return "\n".join(line.rstrip() for line in text.strip().split("\n"))


def derive_guid(acronym: str | None, ident: str) -> str:
    """A stable guid for a talk that has none: uuid5 over the event acronym and the talk's id.

    The same file always gives the same guid, so re-imports still update talks in place.
    """
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"backchannel:schedule:{acronym or ''}:{ident}"))


# --------------------------------------------------------------------------- import context


@dataclass(frozen=True, slots=True)
class Loc:
    """Where a thing is in the input: a line (XML, iCalendar) and/or a field path (JSON)."""

    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        if self.line is not None:
            return f"line {self.line}"
        return self.field or "?"


@dataclass(slots=True)
class Context:
    """Per-import state: the source's name for messages, collected warnings, the default zone."""

    source: str
    default_zone: tzinfo | None = None
    warnings: list[str] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)
    _dropped: int = 0
    _utc_assumed: bool = False

    def warn(self, message: str, loc: Loc | None = None) -> None:
        text = one_line(f"{loc}: {message}" if loc else message, limit=400)
        if text in self._seen:
            return
        self._seen.add(text)
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(text)
        else:
            self._dropped += 1

    def extend(self, messages: Iterable[str]) -> None:
        for message in messages:
            self.warn(message)

    def error(self, reason: str, loc: Loc | None = None, *, column: int | None = None) -> ScheduleError:
        return ScheduleError(
            reason,
            source=self.source,
            line=loc.line if loc else None,
            column=column,
            field=loc.field if loc else None,
        )

    def all_warnings(self) -> tuple[str, ...]:
        extra = (f"... and {self._dropped} more warnings",) if self._dropped else ()
        return (*self.warnings, *extra)

    def naive_zone(self, fallback: tzinfo | None = None) -> tzinfo:
        """The zone for wall-clock times without an offset: the schedule's, else ``fallback``, else UTC."""
        if self.default_zone is not None:
            return self.default_zone
        if fallback is not None:
            return fallback
        if not self._utc_assumed:
            self._utc_assumed = True
            self.warn("some times have no UTC offset and the schedule names no time zone; assumed UTC")
        return UTC


class Progress:
    """Calls ``callback(done, total)`` once at the start and after every talk."""

    def __init__(self, callback: ProgressCallback | None, total: int) -> None:
        self.callback = callback
        self.total = total
        self.done = 0
        if callback is not None:
            callback(0, total)

    def step(self) -> None:
        self.done += 1
        if self.callback is not None:
            self.callback(self.done, self.total)


# --------------------------------------------------------------------------- talk times


def resolve_start(
    ctx: Context,
    *,
    date_text: str | None,
    start_text: str | None,
    day_date: date | None,
    day_start: datetime | None,
    fail: Callable[[str, str], NoReturn],
    loc: Loc,
) -> datetime:
    """A talk's timezone-aware start.

    A full date-time in ``date`` wins (frab and pretalx always write one). Without it, the wall
    clock in ``start`` is put on the talk's date (or the day's date, moved to the next calendar day
    when it is earlier than the day's start: frab days run past midnight). Times without offset get
    the schedule's ``time_zone_name``, else the day start's offset, else UTC (with a warning).
    """
    clock = parse_clock(start_text) if start_text else None
    if start_text and clock is None:
        ctx.warn(f"start {start_text!r} is not HH:MM; ignored", loc)
    if date_text:
        dt = parse_datetime(date_text)
        if dt is not None:
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=ctx.naive_zone(day_start.tzinfo if day_start else None))
            if clock is not None and (dt.hour, dt.minute) != (clock.hour, clock.minute):
                ctx.warn(f"date {date_text!r} and start {start_text!r} disagree; used date", loc)
            return dt
        if parse_date(date_text) is None:
            fail("date", f"date {date_text!r} is not an ISO 8601 date-time like 2025-12-27T16:00:00+01:00")
    if clock is None:
        if start_text:
            fail("start", f"start {start_text!r} is not a time like 16:00 and there is no full date")
        fail("date", "the talk has no start time (neither a date-time in date nor a time in start)")
    base = parse_date(date_text) if date_text else day_date
    if base is None:
        fail("date", f"start {start_text!r} has no date (no date field and no day date)")
    zone_ = ctx.naive_zone(day_start.tzinfo if day_start else None)
    dt = datetime.combine(base, clock, tzinfo=zone_)
    if not date_text and day_start is not None:
        reference = day_start if day_start.tzinfo else day_start.replace(tzinfo=zone_)
        if dt < reference:
            try:
                dt += timedelta(days=1)
            except OverflowError:
                fail("start", f"start {start_text!r} falls past the calendar")
    return dt


def resolve_end(
    ctx: Context,
    start: datetime,
    *,
    duration_text: str | None,
    end_text: str | None,
    fail: Callable[[str, str], NoReturn],
    loc: Loc,
) -> datetime:
    """end = start + duration; an explicit ``end`` (new pretalx) is used when there is no duration."""
    explicit: datetime | None = None
    if end_text:
        explicit = parse_datetime(end_text)
        if explicit is None:
            ctx.warn(f"end {end_text!r} is not an ISO 8601 date-time; ignored", loc)
        elif explicit.tzinfo is None:
            explicit = explicit.replace(tzinfo=start.tzinfo)
    if duration_text is not None:
        duration = parse_duration(duration_text)
        if duration is None:
            fail("duration", f"duration {duration_text!r} is not like 01:30 or 1:30:00")
        try:
            end = start + duration
        except OverflowError:
            fail("duration", f"a talk starting {start.isoformat()} cannot end within the calendar")
        if explicit is not None and explicit != end:
            ctx.warn(f"end {end_text!r} does not match start + duration; used start + duration", loc)
        return end
    if explicit is not None:
        if explicit < start:
            fail("end", f"end {end_text!r} is before the start")
        return explicit
    fail("duration", "the talk has no duration (and no end)")


# --------------------------------------------------------------------------- assembly


def ordered_unique(values: Iterable[str | None]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for value in values:
        if value and value not in seen:
            seen[value] = None
    return tuple(seen)


_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def finish(
    ctx: Context,
    located: list[tuple[ScheduledTalk, Loc]],
    *,
    title: str | None,
    rooms: Iterable[str | None],
    acronym: str | None = None,
    time_zone: str | None = None,
    start: date | None = None,
    end: date | None = None,
    version: str | None = None,
) -> Schedule:
    """Check guid uniqueness, order rooms and talks, and build the Schedule.

    Two talks with one guid cannot be told apart on re-import: identical copies are collapsed (with
    a warning), different talks sharing a guid are an error naming both places.
    """
    by_guid: dict[str, tuple[ScheduledTalk, Loc]] = {}
    talks: list[ScheduledTalk] = []
    for talk, loc in located:
        start_utc, end_utc = as_utc(talk.start), as_utc(talk.end)
        if start_utc is None or end_utc is None or not (_EARLIEST <= start_utc and end_utc <= _LATEST):
            # A year-1 time with an offset has no UTC equivalent, and posts are placed by time: no conference
            # was before the epoch or is past year 9000.
            raise ctx.error(f"talk {talk.guid!r} is not between 1970 and 9000 ({talk.start.isoformat()})", loc)
        seen = by_guid.get(talk.guid)
        if seen is not None:
            if seen[0] == talk:
                ctx.warn(f"talk {talk.guid} appears twice (also at {seen[1]}); kept one", loc)
                continue
            raise ctx.error(
                f"guid {talk.guid!r} is used by two different talks ({seen[0].title!r} at {seen[1]} "
                f"and {talk.title!r}); guids must be unique",
                loc,
            )
        by_guid[talk.guid] = (talk, loc)
        talks.append(talk)

    room_order = ordered_unique([*rooms, *(t.room for t in talks)])
    position = {name: i for i, name in enumerate(room_order)}
    talks.sort(key=lambda t: (t.start, t.end, position.get(t.room or "", len(position)), t.guid))

    tz = zone(time_zone)
    if talks:
        local = [(t.start.astimezone(tz) if tz else t.start, t.end.astimezone(tz) if tz else t.end) for t in talks]
        start = start or min(s.date() for s, _ in local)
        end = end or max(e.date() for _, e in local)
    if not title:
        title = acronym or ctx.source or "Untitled schedule"
        ctx.warn(f"the schedule has no title; called it {title!r}")
    return Schedule(
        title=title,
        talks=tuple(talks),
        acronym=acronym,
        time_zone=time_zone if tz else None,
        start=start,
        end=end,
        rooms=room_order,
        version=version,
        warnings=ctx.all_warnings(),
    )


def decode_text(ctx: Context, raw: bytes | str) -> str:
    """Bytes as text: UTF-8 (a BOM is dropped), or UTF-16 when it starts with a UTF-16 BOM."""
    if isinstance(raw, str):
        return raw.removeprefix("\ufeff")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ctx.error(f"not valid UTF-16 ({exc.reason})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ctx.error(f"not valid UTF-8 (byte {raw[exc.start]:#04x})", Loc(line=line)) from None


def type_name(value: object) -> str:
    """JSON's name for the type of a decoded value (for messages)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
