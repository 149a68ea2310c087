"""A conference schedule as plain records, whatever format it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class ScheduledPerson:
    name: str
    code: str | None = None  # pretalx code / frab person id, as a string
    handles: tuple[str, ...] = ()  # social handles when the schedule gives them (e.g. "@ana@social.example")


@dataclass(frozen=True, slots=True)
class ScheduledTalk:
    """One talk. ``guid`` is the identity across re-imports; times are timezone-aware."""

    guid: str
    title: str
    start: datetime
    end: datetime
    room: str | None = None
    track: str | None = None
    subtitle: str | None = None
    abstract: str = ""
    description: str = ""
    speakers: tuple[ScheduledPerson, ...] = ()
    code: str | None = None  # short code/slug people might use as a hashtag
    url: str | None = None
    feedback_url: str | None = None
    language: str | None = None
    type: str | None = None
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class Schedule:
    title: str
    talks: tuple[ScheduledTalk, ...]
    acronym: str | None = None
    time_zone: str | None = None  # IANA name, e.g. "Europe/Berlin"
    start: date | None = None
    end: date | None = None
    rooms: tuple[str, ...] = field(default=())
    version: str | None = None
    # Problems that did not stop the import (schema mismatches, ignored fields, assumed time zone).
    warnings: tuple[str, ...] = ()
