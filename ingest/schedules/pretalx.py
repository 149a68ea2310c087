"""pretalx / frab ``schedule.json`` (the c3voc JSON schedule format) into a Schedule.

Layout: ``{"schedule": {"version", "conference": {"acronym", "title", "start", "end",
"time_zone_name", "rooms": [{"name"}], "days": [{"index", "date", "day_start", "day_end",
"rooms": {"<room name>": [talk, ...]}}]}}}``. Errors name the field path, e.g.
``schedule.conference.days[1].rooms["Saal 1"][3].start`` (list indexes count from 0).

A talk without ``guid`` gets a stable one derived from the conference acronym and the talk's
``id`` (else ``code``, else ``slug``) — see ``derive_guid`` — so re-imports still match it.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, NoReturn
from urllib.parse import urlsplit

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
    parse_date,
    parse_datetime,
    resolve_end,
    resolve_start,
    type_name,
    zone,
)
from ingest.schedules.records import Schedule, ScheduledPerson, ScheduledTalk
from ingest.schedules.validation import json_path, validate_json

__all__ = ["parse_schedule_json", "schedule_from_json"]


def parse_schedule_json(
    raw: bytes | str,
    *,
    filename: str | None = None,
    schema_dir: str | os.PathLike[str] | None = None,
    progress: ProgressCallback | None = None,
    default_time_zone: str | None = None,
) -> Schedule:
    """Parse a ``schedule.json``. Raises ``ScheduleError`` naming the line (syntax) or field path."""
    ctx = Context(source=filename or "schedule.json")
    text = decode_text(ctx, raw)
    duplicates: list[str] = []
    try:
        document = json.loads(text, object_pairs_hook=lambda pairs: _object(pairs, duplicates))
    except json.JSONDecodeError as exc:
        raise ctx.error(f"not valid JSON: {exc.msg}", Loc(line=exc.lineno), column=exc.colno) from None
    except RecursionError:
        raise ctx.error("not valid JSON: nested too deeply") from None
    for message in dict.fromkeys(duplicates):
        ctx.warn(message)
    ctx.extend(validate_json(document, schema_dir=schema_dir))
    return schedule_from_json(document, ctx=ctx, progress=progress, default_time_zone=default_time_zone)


def _object(pairs: list[tuple[str, Any]], duplicates: list[str]) -> dict[str, Any]:
    # json.loads keeps the last of two equal keys; a room listed twice in a day would lose talks.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            if isinstance(out[key], list) and isinstance(value, list):
                duplicates.append(f"key {key!r} appears twice in one object; merged the two lists")
                value = out[key] + value
            else:
                duplicates.append(f"key {key!r} appears twice in one object; kept the last value")
        out[key] = value
    return out


class _Obj:
    """A JSON object with its path, for typed reads that fail or warn with the field path."""

    def __init__(self, ctx: Context, data: dict[str, Any], path: list[str | int]) -> None:
        self.ctx = ctx
        self.data = data
        self.path = path

    def loc(self, key: str | int | None = None) -> Loc:
        return Loc(field=json_path([*self.path, key] if key is not None else self.path))

    def fail(self, key: str | int | None, reason: str) -> NoReturn:
        raise self.ctx.error(reason, self.loc(key))

    def text(self, key: str, *, required: bool = False, strict: bool = False) -> str | None:
        """A string field. Missing: error when ``required``. Wrong type: error when ``required`` or
        ``strict`` (fields the talk's identity or times depend on), else a warning and None."""
        value = self.data.get(key)
        if value is None:
            if required:
                self.fail(key, f"{key} is missing" if key not in self.data else f"{key} is null")
            return None
        if isinstance(value, str):
            return value
        if required or strict:
            self.fail(key, f"expected a string, got {type_name(value)} ({_preview(value)})")
        self.ctx.warn(f"expected a string, got {type_name(value)}; ignored", self.loc(key))
        return None

    def ident(self, key: str, *, strict: bool = False) -> str | None:
        """An identifier: string or integer (pretalx writes ids as numbers)."""
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str):
            return value.strip() or None
        if strict:
            self.fail(key, f"expected a string, got {type_name(value)} ({_preview(value)})")
        self.ctx.warn(f"expected a string or number, got {type_name(value)}; ignored", self.loc(key))
        return None

    def child(self, key: str, kind: type, *, required: bool = True) -> Any:
        value = self.data.get(key)
        if isinstance(value, kind) and not isinstance(value, bool):
            return value
        expected = "an object" if kind is dict else "an array"
        if not required:
            if value is not None:
                self.ctx.warn(f"expected {expected}, got {type_name(value)}; ignored", self.loc(key))
            return None
        if value is None:
            self.fail(key, f"{key} is missing" if key not in self.data else f"{key} is null, expected {expected}")
        self.fail(key, f"expected {expected}, got {type_name(value)}")


def _preview(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:39] + "…"


def schedule_from_json(
    document: Any,
    *,
    ctx: Context | None = None,
    progress: ProgressCallback | None = None,
    default_time_zone: str | None = None,
) -> Schedule:
    """Build a Schedule from an already decoded ``schedule.json`` document."""
    ctx = ctx or Context(source="schedule.json")
    if not isinstance(document, dict):
        raise ctx.error(f'the top level must be an object with a "schedule" key, got {type_name(document)}')
    root = _Obj(ctx, document, [])
    if "schedule" in document:
        schedule = _Obj(ctx, root.child("schedule", dict), ["schedule"])
    elif "conference" in document:  # a bare schedule object without the wrapper
        ctx.warn('no top-level "schedule" key; read the document itself as the schedule')
        schedule = _Obj(ctx, document, [])
    else:
        raise ctx.error('no "schedule" key: this is not a pretalx/frab schedule.json', Loc(field="schedule"))

    conference = _Obj(ctx, schedule.child("conference", dict), [*schedule.path, "conference"])
    days = conference.child("days", list)

    acronym = clean_line(conference.text("acronym"))
    tz_name = clean_line(conference.text("time_zone_name"))
    tz = zone(tz_name)
    if tz_name and tz is None:
        ctx.warn(f"time_zone_name {tz_name!r} is not a known IANA time zone; ignored", conference.loc("time_zone_name"))
    ctx.default_zone = tz or zone(default_time_zone)

    rooms: list[str | None] = []
    listed = conference.child("rooms", list, required=False) or []
    for i, room in enumerate(listed):
        if isinstance(room, dict) and isinstance(room.get("name"), str):
            rooms.append(clean_line(room["name"]))
        else:
            ctx.warn("room without a name; ignored", Loc(field=json_path([*conference.path, "rooms", i])))

    day_objs: list[_Obj] = []
    for i, day in enumerate(days):
        path = [*conference.path, "days", i]
        if not isinstance(day, dict):
            raise ctx.error(f"expected an object, got {type_name(day)}", Loc(field=json_path(path)))
        day_objs.append(_Obj(ctx, day, path))

    slots: list[tuple[_Obj, str, int, Any]] = []
    for day in day_objs:
        if day.data.get("rooms") is None:
            ctx.warn("day has no rooms; no talks read from it", day.loc())
            continue
        day_rooms = day.child("rooms", dict)
        for room_name, talks in day_rooms.items():
            rooms.append(clean_line(room_name))
            if not isinstance(talks, list):
                raise ctx.error(
                    f"a room should hold an array of talks, got {type_name(talks)}",
                    Loc(field=json_path([*day.path, "rooms", room_name])),
                )
            for j, talk in enumerate(talks):
                slots.append((day, room_name, j, talk))

    tracker = Progress(progress, len(slots))
    located = []
    for day, room_name, j, talk in slots:
        path = [*day.path, "rooms", room_name, j]
        if not isinstance(talk, dict):
            raise ctx.error(f"expected a talk object, got {type_name(talk)}", Loc(field=json_path(path)))
        obj = _Obj(ctx, talk, path)
        located.append((_talk(obj, day, room_name, acronym), obj.loc()))
        tracker.step()

    start_text = conference.text("start")
    end_text = conference.text("end")
    return finish(
        ctx,
        located,
        title=clean_line(conference.text("title")),
        rooms=rooms,
        acronym=acronym,
        time_zone=tz_name if tz else None,
        start=parse_date(start_text) if start_text else None,
        end=parse_date(end_text) if end_text else None,
        version=clean_line(schedule.text("version")),
    )


def _talk(obj: _Obj, day: _Obj, room_name: str, acronym: str | None) -> ScheduledTalk:
    ctx = obj.ctx
    title = clean_line(obj.text("title", required=True))
    if not title:
        obj.fail("title", "title is empty")

    guid = obj.ident("guid", strict=True)
    if guid is None:
        for key in ("id", "code", "slug"):
            ident = obj.ident(key)
            if ident:
                guid = derive_guid(acronym, ident)
                ctx.warn(f"talk has no guid; derived {guid} from the acronym and its {key}", obj.loc())
                break
        else:
            obj.fail("guid", "talk has no guid (nor id, code or slug to derive one from)")

    day_date_text = day.text("date")
    day_start_text = day.text("day_start")
    start = resolve_start(
        ctx,
        date_text=obj.text("date", strict=True),
        start_text=obj.text("start", strict=True),
        day_date=parse_date(day_date_text) if day_date_text else None,
        day_start=parse_datetime(day_start_text) if day_start_text else None,
        fail=obj.fail,
        loc=obj.loc(),
    )
    end = resolve_end(
        ctx,
        start,
        duration_text=obj.text("duration", strict=True),
        end_text=obj.text("end", strict=True),
        fail=obj.fail,
        loc=obj.loc(),
    )

    room = clean_line(room_name)
    own_room = clean_line(obj.text("room"))
    if own_room and own_room != room:
        ctx.warn(f"talk says room {own_room!r} but is listed under {room!r}; used {room!r}", obj.loc("room"))

    track_value = obj.data.get("track")
    if isinstance(track_value, dict):  # some exporters write {"name": ...}
        track = clean_line(track_value.get("name")) if isinstance(track_value.get("name"), str) else None
    else:
        track = clean_line(obj.text("track"))

    return ScheduledTalk(
        guid=guid,
        title=title,
        start=start,
        end=end,
        room=room,
        track=track,
        subtitle=clean_line(obj.text("subtitle")),
        abstract=clean_text(obj.text("abstract")),
        description=clean_text(obj.text("description")),
        speakers=_persons(obj),
        code=clean_line(obj.ident("code")),
        url=clean_line(obj.text("url")),
        feedback_url=clean_line(obj.text("feedback_url")),
        language=clean_line(obj.text("language")),
        type=clean_line(obj.text("type")),
    )


def _persons(obj: _Obj) -> tuple[ScheduledPerson, ...]:
    persons = obj.data.get("persons")
    if persons is None:
        return ()
    if not isinstance(persons, list):
        obj.ctx.warn(f"persons should be an array, got {type_name(persons)}; ignored", obj.loc("persons"))
        return ()
    out: list[ScheduledPerson] = []
    for k, person in enumerate(persons):
        loc = Loc(field=json_path([*obj.path, "persons", k]))
        if not isinstance(person, dict):
            obj.ctx.warn(f"person should be an object, got {type_name(person)}; ignored", loc)
            continue
        p = _Obj(obj.ctx, person, [*obj.path, "persons", k])
        name = clean_line(p.text("name")) or clean_line(p.text("public_name"))
        if not name:
            obj.ctx.warn("person without a name; ignored", loc)
            continue
        code = p.ident("code") or p.ident("id") or p.ident("guid")
        candidate = ScheduledPerson(name=name, code=code, handles=_handles(person))
        if candidate not in out:
            out.append(candidate)
    return tuple(out)


_AT_PATH = re.compile(r"^/@([A-Za-z0-9_.-]+)/?$")


def _handles(person: dict[str, Any]) -> tuple[str, ...]:
    """Fediverse handles from ``links`` of type ``activitypub`` (``https://host/@user`` → ``@user@host``)."""
    links = person.get("links")
    if not isinstance(links, list):
        return ()
    handles: list[str] = []
    for link in links:
        if not isinstance(link, dict) or link.get("type") != "activitypub" or not isinstance(link.get("url"), str):
            continue
        parts = urlsplit(link["url"].strip())
        m = _AT_PATH.match(parts.path)
        if parts.hostname and m:
            handle = f"@{m[1]}@{parts.hostname}"
            if handle not in handles:
                handles.append(handle)
    return tuple(handles)
