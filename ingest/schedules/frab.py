"""frab / pentabarf / pretalx ``schedule.xml`` (the c3voc XML schedule format) into a Schedule.

Layout: ``<schedule><version/><conference>...</conference><day index date start end><room name>
<event guid id>...</event></room></day></schedule>``. Errors name the line of the element at fault.

The XML parser never fetches anything and does not expand entities declared in a DTD. A file
that is not well-formed (e.g. truncated) is rejected as a whole; nothing is "recovered".

An event without ``guid`` gets a stable one derived from the conference acronym and its ``id``
(else ``code``, else ``slug``) — see ``derive_guid`` — so re-imports still match it.
"""

from __future__ import annotations

import os
import re
from typing import Any, NoReturn

from lxml import etree

from ingest.schedules._common import (
    Context,
    Loc,
    Progress,
    ProgressCallback,
    clean_line,
    clean_text,
    derive_guid,
    finish,
    parse_date,
    parse_datetime,
    resolve_end,
    resolve_start,
    zone,
)
from ingest.schedules.records import Schedule, ScheduledPerson, ScheduledTalk
from ingest.schedules.validation import validate_xml

__all__ = ["parse_schedule_xml"]

_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_schedule_xml(
    raw: bytes | str,
    *,
    filename: str | None = None,
    schema_dir: str | os.PathLike[str] | None = None,
    progress: ProgressCallback | None = None,
    default_time_zone: str | None = None,
) -> Schedule:
    """Parse a ``schedule.xml``. Raises ``ScheduleError`` naming the line."""
    ctx = Context(source=filename or "schedule.xml")
    if isinstance(raw, str):
        # lxml refuses text with an encoding declaration; the text is already decoded.
        raw = _XML_DECLARATION.sub("", raw.removeprefix("\ufeff"), count=1).encode("utf-8")
    if not raw.strip():
        raise ctx.error("the file is empty")
    try:
        tree = etree.ElementTree(etree.fromstring(raw, _parser()))
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (exc.lineno, None)
        message = exc.msg or str(exc)
        # libxml2 appends ", line N, column M" — we give those separately.
        message = re.sub(r",? line \d+, column \d+$", "", message)
        raise ctx.error(f"not well-formed XML: {message}", Loc(line=line), column=column) from None

    root = tree.getroot()
    if _name(root) != "schedule":
        hint = " (is this a web page?)" if _name(root) == "html" else ""
        raise ctx.error(f"the root element is <{_name(root)}>, expected <schedule>{hint}", Loc(line=root.sourceline))
    ctx.extend(validate_xml(tree, schema_dir=schema_dir))
    _strip_namespaces(root)
    return _schedule(ctx, root, progress, default_time_zone)


def _name(element: Any) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _strip_namespaces(root: Any) -> None:
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.startswith("{"):
            element.tag = etree.QName(element).localname


def _text(element: Any, child: str) -> str | None:
    """The text of ``element``'s first ``child`` (all descendant text), None when the child is absent."""
    found = element.find(child)
    if found is None:
        return None
    return "".join(found.itertext())


def _schedule(ctx: Context, root: Any, progress: ProgressCallback | None, default_time_zone: str | None) -> Schedule:
    conference = root.find("conference")
    if conference is None:
        raise ctx.error("<schedule> has no <conference>", Loc(line=root.sourceline))
    acronym = clean_line(_text(conference, "acronym"))
    tz_name = clean_line(_text(conference, "time_zone_name"))
    tz = zone(tz_name)
    if tz_name and tz is None:
        element = conference.find("time_zone_name")
        ctx.warn(f"time_zone_name {tz_name!r} is not a known IANA time zone; ignored", Loc(line=element.sourceline))
    ctx.default_zone = tz or zone(default_time_zone)

    days = root.findall("day")
    events = [(day, room, event) for day in days for room in day.findall("room") for event in room.findall("event")]
    stray = len(root.findall(".//event")) - len(events)
    if stray:
        ctx.warn(f"{stray} <event> elements are not inside <day><room> and were ignored")

    rooms: list[str | None] = [clean_line(room.get("name")) for day in days for room in day.findall("room")]
    tracker = Progress(progress, len(events))
    located = []
    for day, room, event in events:
        located.append((_event(ctx, day, room, event, acronym), Loc(line=event.sourceline)))
        tracker.step()

    start_text = _text(conference, "start")
    end_text = _text(conference, "end")
    return finish(
        ctx,
        located,
        title=clean_line(_text(conference, "title")),
        rooms=rooms,
        acronym=acronym,
        time_zone=tz_name if tz else None,
        start=parse_date(start_text) if start_text else None,
        end=parse_date(end_text) if end_text else None,
        version=clean_line(_text(root, "version")),
    )


def _event(ctx: Context, day: Any, room: Any, event: Any, acronym: str | None) -> ScheduledTalk:
    label = _label(event)
    loc = Loc(line=event.sourceline)

    def fail(child: str, reason: str) -> NoReturn:
        found = event.find(child)
        line = found.sourceline if found is not None else event.sourceline
        raise ctx.error(f"{label}: {reason}", Loc(line=line))

    title_text = _text(event, "title")
    if title_text is None:
        fail("title", "has no <title>")
    title = clean_line(title_text)
    if not title:
        fail("title", "<title> is empty")

    guid = clean_line(event.get("guid"))
    if guid is None:
        for key, value in (
            ("id", event.get("id")),
            ("code", event.get("code") or _text(event, "code")),
            ("slug", _text(event, "slug")),
        ):
            ident = clean_line(value)
            if ident:
                guid = derive_guid(acronym, ident)
                ctx.warn(f"{label} has no guid; derived {guid} from the acronym and its {key}", loc)
                break
        else:
            fail("guid", "has no guid (nor id, code or slug to derive one from)")

    day_date = day.get("date")
    day_start = day.get("start")
    start = resolve_start(
        ctx,
        date_text=clean_line(_text(event, "date")),
        start_text=clean_line(_text(event, "start")),
        day_date=parse_date(day_date) if day_date else None,
        day_start=parse_datetime(day_start) if day_start else None,
        fail=fail,
        loc=loc,
    )
    end = resolve_end(
        ctx,
        start,
        duration_text=clean_line(_text(event, "duration")),
        end_text=clean_line(_text(event, "end")),
        fail=fail,
        loc=loc,
    )

    room_name = clean_line(room.get("name"))
    own_room = clean_line(_text(event, "room"))
    if room_name is None:
        room_name = own_room
    elif own_room and own_room != room_name:
        ctx.warn(f"{label} says room {own_room!r} but is inside <room name={room_name!r}>; used the latter", loc)

    return ScheduledTalk(
        guid=guid,
        title=title,
        start=start,
        end=end,
        room=room_name,
        track=clean_line(_text(event, "track")),
        subtitle=clean_line(_text(event, "subtitle")),
        abstract=clean_text(_text(event, "abstract")),
        description=clean_text(_text(event, "description")),
        speakers=_persons(ctx, event, label),
        code=clean_line(event.get("code") or _text(event, "code")),
        url=clean_line(_text(event, "url")),
        feedback_url=clean_line(_text(event, "feedback_url")),
        language=clean_line(_text(event, "language")),
        type=clean_line(_text(event, "type")),
    )


def _label(event: Any) -> str:
    for key in ("guid", "id"):
        if event.get(key):
            return f"<event {key}={event.get(key)!r}>"
    return "<event>"


def _persons(ctx: Context, event: Any, label: str) -> tuple[ScheduledPerson, ...]:
    out: list[ScheduledPerson] = []
    for person in event.findall("persons/person"):
        name = clean_line("".join(person.itertext()))
        if not name:
            ctx.warn(f"{label}: <person> without a name; ignored", Loc(line=person.sourceline))
            continue
        code = clean_line(person.get("id")) or clean_line(person.get("code")) or clean_line(person.get("guid"))
        candidate = ScheduledPerson(name=name, code=code)
        if candidate not in out:
            out.append(candidate)
    return tuple(out)
