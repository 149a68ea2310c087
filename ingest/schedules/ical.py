"""iCalendar (``.ics``) into a Schedule, with the ``icalendar`` package.

Each VEVENT is a talk: ``UID`` → guid, ``SUMMARY`` → title, ``DTSTART``/``DTEND`` (or
``DURATION``) → start/end, ``LOCATION`` → room, first ``CATEGORIES`` value → track,
``DESCRIPTION`` → abstract, ``URL`` → url, the ``CN`` of ``ORGANIZER`` and ``ATTENDEE`` → speakers
(attendees without a name, rooms/resources and non-participants are left out; e-mail addresses are
never copied), ``STATUS:CANCELLED`` → cancelled. The calendar's ``X-WR-CALNAME`` (or ``NAME``)
is the schedule title.

Time zones: a ``TZID`` is resolved by ``icalendar`` (IANA names, Windows names and the file's own
``VTIMEZONE`` definitions); an unknown ``TZID`` and floating times (no zone) are read in the
calendar's zone — ``X-WR-TIMEZONE``, else its only ``VTIMEZONE`` when that is an IANA name, else
the caller's default — and in UTC with a warning when there is none. An all-day event (``DATE``
values) spans whole days from midnight in that zone, up to ``DTEND`` (exclusive) or one day;
they are imported, with a warning, because they overlap everything else.

A ``RECURRENCE-ID`` override gets the guid ``UID#<recurrence-id>``; ``RRULE`` is not expanded
(only the first occurrence is imported, with a warning). A VEVENT without ``UID`` gets a guid
derived from its title and start, with a warning (it will not survive a change of either).

Errors name the line: unbalanced ``BEGIN``/``END`` (e.g. a truncated file), a VEVENT without
``SUMMARY`` or ``DTSTART``, unreadable dates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, NoReturn

import icalendar

from ingest.schedules._common import (
    Context,
    Loc,
    Progress,
    ProgressCallback,
    clean_line,
    clean_text,
    decode_text,
    derive_guid,
    finish,
    zone,
)
from ingest.schedules.records import Schedule, ScheduledPerson, ScheduledTalk

__all__ = ["parse_ical"]

_SKIPPED_CUTYPES = {"ROOM", "RESOURCE"}
_SKIPPED_ROLES = {"NON-PARTICIPANT"}
_CONTENT_LINE = re.compile(r"'([^']*)'")


@dataclass(frozen=True, slots=True)
class _Line:
    number: int  # physical line where the (unfolded) content line starts
    text: str


def _unfold(text: str) -> list[_Line]:
    lines: list[_Line] = []
    for number, physical in enumerate(re.split(r"\r\n|\n|\r", text), start=1):
        if physical[:1] in (" ", "\t") and lines:
            lines[-1] = _Line(lines[-1].number, lines[-1].text + physical[1:])
        elif physical.strip():
            lines.append(_Line(number, physical))
    return lines


def _structure(ctx: Context, lines: list[_Line]) -> list[int]:
    """Check BEGIN/END nesting; return the line of each VEVENT, in document order."""
    stack: list[tuple[str, int]] = []
    vevents: list[int] = []
    for line in lines:
        key, _, value = line.text.partition(":")
        key = key.split(";", 1)[0].strip().upper()
        name = value.strip().upper()
        if key == "BEGIN":
            stack.append((name, line.number))
            if name == "VEVENT":
                vevents.append(line.number)
        elif key == "END":
            if not stack:
                raise ctx.error(f"END:{name} without a matching BEGIN", Loc(line=line.number))
            opened, at = stack.pop()
            if opened != name:
                raise ctx.error(f"END:{name} but BEGIN:{opened} at line {at} is still open", Loc(line=line.number))
            if not stack and name == "VCALENDAR":
                break  # ignore anything after the calendar
    if stack:
        opened, at = stack[-1]
        raise ctx.error(f"the file ends inside BEGIN:{opened} (truncated?)", Loc(line=at))
    return vevents


def parse_ical(
    raw: bytes | str,
    *,
    filename: str | None = None,
    progress: ProgressCallback | None = None,
    default_time_zone: str | None = None,
) -> Schedule:
    """Parse an iCalendar file. Raises ``ScheduleError`` naming the line."""
    ctx = Context(source=filename or "schedule.ics")
    text = decode_text(ctx, raw)
    lines = _unfold(text)
    if not lines:
        raise ctx.error("the file is empty")
    first = lines[0].text.strip().upper()
    if first != "BEGIN:VCALENDAR":
        raise ctx.error(f"expected BEGIN:VCALENDAR, found {lines[0].text[:40]!r}", Loc(line=lines[0].number))
    vevent_lines = _structure(ctx, lines)
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except ValueError as exc:
        raise ctx.error(f"not a readable iCalendar file: {exc}", _find(lines, str(exc))) from None

    for prop, message in getattr(calendar, "errors", []) or []:
        ctx.warn(f"{prop or 'content line'}: {message}; ignored", _find(lines, message))

    calendar_zone = _calendar_zone(ctx, calendar)
    ctx.default_zone = zone(calendar_zone) or zone(default_time_zone)

    events = list(calendar.walk("VEVENT"))
    if len(events) != len(vevent_lines):  # never expected; keeps line numbers honest
        vevent_lines = [0] * len(events)
    tracker = Progress(progress, len(events))
    located: list[tuple[ScheduledTalk, Loc]] = []
    all_day: list[str] = []
    recurring: list[str] = []
    for event, line in zip(events, vevent_lines, strict=True):
        loc = Loc(line=line or None)
        talk, is_all_day = _talk(ctx, event, loc, lines)
        if is_all_day:
            all_day.append(talk.title)
        if event.get("rrule") is not None:
            recurring.append(talk.title)
        located.append((talk, loc))
        tracker.step()

    if all_day:
        ctx.warn(f"{len(all_day)} all-day events imported as whole-day talks: {_some(all_day)}")
    if recurring:
        ctx.warn(f"{len(recurring)} repeating events (RRULE): only the first occurrence imported: {_some(recurring)}")

    title = _calendar_text(calendar, "x-wr-calname") or _calendar_text(calendar, "name")
    if not title and ctx.source:
        title = ctx.source.rsplit("/", 1)[-1].removesuffix(".ics") or None
    return finish(
        ctx,
        located,
        title=title,
        rooms=(),
        time_zone=calendar_zone if zone(calendar_zone) else None,
    )


def _some(titles: list[str]) -> str:
    shown = ", ".join(repr(t) for t in titles[:3])
    return shown + (", ..." if len(titles) > 3 else "")


def _find(lines: list[_Line], message: str) -> Loc | None:
    """The line an icalendar message quotes (``'SUMMARY a'``), when it can be found."""
    for quoted in _CONTENT_LINE.findall(message):
        quoted = quoted.strip()
        if not quoted:
            continue
        for line in lines:
            if line.text.strip() == quoted:
                return Loc(line=line.number)
    return None


def _calendar_text(calendar: Any, key: str) -> str | None:
    value = calendar.get(key)
    if isinstance(value, list):
        value = value[0] if value else None
    return clean_line(str(value)) if value is not None else None


def _calendar_zone(ctx: Context, calendar: Any) -> str | None:
    name = _calendar_text(calendar, "x-wr-timezone")
    if name:
        if zone(name) is not None:
            return name
        ctx.warn(f"X-WR-TIMEZONE {name!r} is not a known IANA time zone; ignored")
    tzids = [clean_line(str(tz.get("tzid", ""))) for tz in calendar.walk("VTIMEZONE")]
    if len(tzids) == 1 and zone(tzids[0]):
        return tzids[0]
    return None


def _talk(ctx: Context, event: Any, loc: Loc, lines: list[_Line]) -> tuple[ScheduledTalk, bool]:
    broken = {str(prop).upper(): message for prop, message in (getattr(event, "errors", []) or []) if prop}
    uid_hint = event.get("uid")
    label = f"VEVENT {str(uid_hint)!r}" if uid_hint else "VEVENT"

    unreadable: list[Loc] = []

    def fail(reason: str) -> NoReturn:
        hint = f" (a line here could not be read: {unreadable[0]})" if unreadable else ""
        raise ctx.error(f"{label}: {reason}{hint}", loc)

    for prop, message in getattr(event, "errors", []) or []:
        if not prop:
            where = _find(lines, message)
            if where is not None:
                unreadable.append(where)
            ctx.warn(f"{label}: {message}; ignored", where or loc)
    for prop, message in broken.items():
        if prop in ("DTSTART", "DTEND", "DURATION"):
            fail(f"{prop} is unreadable ({message})")
        ctx.warn(f"{label}: {prop} is unreadable ({message}); ignored", loc)

    title = _prop_text(event, "summary")
    if not title:
        fail("has no SUMMARY (title)")

    start_prop = event.get("dtstart")
    if start_prop is None:
        fail("has no DTSTART")
    start, all_day = _moment(ctx, start_prop, label, loc)

    end_prop = event.get("dtend")
    duration_prop = event.get("duration")
    if end_prop is not None:
        end, _ = _moment(ctx, end_prop, label, loc)
    elif duration_prop is not None:
        end = start + duration_prop.dt
    else:
        end = start + timedelta(days=1) if all_day else start
    if end < start:
        fail("ends before it starts")

    uid = _prop_text(event, "uid")
    if uid is None:
        guid = derive_guid(None, f"{title}|{start.isoformat()}")
        ctx.warn(f"{label} {title!r} has no UID; derived guid {guid} from its title and start", loc)
    else:
        guid = uid
    recurrence = event.get("recurrence-id")
    if recurrence is not None:
        moment, _ = _moment(ctx, recurrence, label, loc)
        guid = f"{guid}#{moment.isoformat()}"

    status = _prop_text(event, "status")
    talk = ScheduledTalk(
        guid=guid,
        title=title,
        start=start,
        end=end,
        room=_prop_text(event, "location"),
        track=_first_category(event),
        abstract=clean_text(str(event.get("description") or "")),
        speakers=_speakers(event),
        url=_prop_text(event, "url"),
        cancelled=(status or "").upper() == "CANCELLED",
    )
    return talk, all_day


def _prop_text(component: Any, key: str) -> str | None:
    value = component.get(key)
    if isinstance(value, list):
        value = value[0] if value else None
    return clean_line(str(value)) if value is not None else None


def _moment(ctx: Context, prop: Any, label: str, loc: Loc) -> tuple[datetime, bool]:
    value = prop.dt
    if isinstance(value, datetime):
        if value.tzinfo is None:
            tzid = prop.params.get("TZID") if hasattr(prop, "params") else None
            resolved = zone(str(tzid)) if tzid else None
            if tzid and resolved is None:
                ctx.warn(f"{label}: unknown TZID {str(tzid)!r}; read as the calendar's time zone", loc)
            value = value.replace(tzinfo=resolved or ctx.naive_zone())
        return value, False
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=ctx.naive_zone()), True
    raise ctx.error(f"{label}: expected a date or date-time, got {type(value).__name__}", loc)


def _first_category(event: Any) -> str | None:
    values = event.get("categories")
    if values is None:
        return None
    for entry in values if isinstance(values, list) else [values]:
        for category in getattr(entry, "cats", None) or [entry]:
            text = clean_line(str(category))
            if text:
                return text
    return None


def _speakers(event: Any) -> tuple[ScheduledPerson, ...]:
    addresses: list[Any] = []
    for key in ("organizer", "attendee"):
        value = event.get(key)
        if value is None:
            continue
        addresses.extend(value if isinstance(value, list) else [value])
    out: list[ScheduledPerson] = []
    for address in addresses:
        params = getattr(address, "params", {}) or {}
        if str(params.get("CUTYPE", "")).upper() in _SKIPPED_CUTYPES:
            continue
        if str(params.get("ROLE", "")).upper() in _SKIPPED_ROLES:
            continue
        name = clean_line(str(params.get("CN", "")))
        if name and all(p.name != name for p in out):
            out.append(ScheduledPerson(name=name))
    return tuple(out)
