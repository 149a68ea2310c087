"""Schedule import into an event: a parsed Schedule in, talks upserted by guid and an ImportReport out.

Talks are matched by ``guid``: changed times, rooms or titles update the talk in place (posts stay
attached), talks no longer in the file are marked cancelled, never deleted. Also the URL policy for
fetching a schedule (http(s) only, no private or loopback addresses unless allowed).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import anyio

from app.errors import InvalidInput
from app.services.talks import upsert_talk
from app.services.unit_of_work import UnitOfWork
from app.store import talks as talk_store
from app.store.tables import Event
from ingest.schedules import Schedule, ScheduledTalk

logger = logging.getLogger(__name__)

# Column limits of the talk table: longer values from a schedule are cut, never refused.
_LIMITS = {"title": 500, "subtitle": 500, "room": 200, "track": 200, "code": 100, "url": 1000,
           "feedback_url": 1000, "language": 20}  # fmt: skip
GUID_LIMIT = 200


CANCELLED_TITLES = 20  # an import's report names this many of the talks it cancels


@dataclass(slots=True)
class ImportReport:
    talks: int = 0  # talks in the file
    rooms: int = 0
    persons: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    cancelled: int = 0  # talks of the event no longer in the file, now marked cancelled
    cancelled_titles: list[str] = field(default_factory=list)  # the first CANCELLED_TITLES of them
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "talks": self.talks,
            "rooms": self.rooms,
            "persons": self.persons,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "cancelled": self.cancelled,
            "cancelled_titles": list(self.cancelled_titles),
            "warnings": list(self.warnings),
        }


def _cut(value: str | None, limit: int) -> str | None:
    return value[:limit] if value is not None else None


def talk_fields(talk: ScheduledTalk) -> dict[str, object]:
    fields: dict[str, object] = {
        "title": talk.title,
        "subtitle": talk.subtitle,
        "abstract": talk.abstract or "",
        "description": talk.description or "",
        "room": talk.room,
        "track": talk.track,
        "start": talk.start,
        "end": talk.end,
        "speakers": [person.name for person in talk.speakers if person.name],
        "code": talk.code,
        "url": talk.url,
        "feedback_url": talk.feedback_url,
        "language": talk.language,
        "cancelled": talk.cancelled,
    }
    for key, limit in _LIMITS.items():
        fields[key] = _cut(fields[key], limit)  # type: ignore[arg-type]
    return fields


def _outside_event_dates(event: Event, schedule: Schedule) -> str | None:
    """A warning when the schedule's talks fall outside the event's dates: an organizer who imports last
    year's file, or one whose dates were typed wrong, sees it at once instead of a page with nothing on."""
    if event.starts_on is None or not schedule.talks:
        return None
    zone = ZoneInfo(event.time_zone)
    last_day = event.ends_on or event.starts_on
    days = sorted({t.start.astimezone(zone).date() for t in schedule.talks if not t.cancelled})
    outside = [d for d in days if not event.starts_on <= d <= last_day]
    if not outside:
        return None

    def span(first: date, last: date) -> str:
        return f"{first:%d %b %Y}" if first == last else f"{first:%d %b %Y} – {last:%d %b %Y}"

    return (
        f"the schedule's talks run {span(days[0], days[-1])}, outside the event's dates "
        f"({span(event.starts_on, last_day)}); change the event's dates if the schedule is the right one"
    )


def _persons(schedule: Schedule) -> int:
    return len({person.code or person.name for talk in schedule.talks for person in talk.speakers})


async def import_schedule(uow: UnitOfWork, event: Event, schedule: Schedule) -> ImportReport:
    """Upsert every talk of ``schedule`` into ``event`` by guid; cancel the event's talks the file no longer has."""
    assert event.id is not None
    report = ImportReport(
        talks=len(schedule.talks),
        rooms=len(schedule.rooms) or len({t.room for t in schedule.talks if t.room}),
        persons=_persons(schedule),
        warnings=list(schedule.warnings),
    )
    if (dates := _outside_event_dates(event, schedule)) is not None:
        report.warnings.insert(0, dates)  # the console shows the first few
    existing = {talk.guid: talk for talk in await talk_store.list_for_event(uow.session, event.id)}
    seen: set[str] = set()
    for talk in schedule.talks:
        if len(talk.guid) > GUID_LIMIT:
            report.warnings.append(f"talk {talk.title[:80]!r}: guid longer than {GUID_LIMIT} characters, skipped")
            continue
        seen.add(talk.guid)
        before = existing.get(talk.guid)
        version = before.version if before is not None else None
        fields = talk_fields(talk)
        if talk.end <= talk.start:
            # A zero-length slot (some schedules have them) still needs an end after its start.
            report.warnings.append(f"talk {talk.guid}: no duration; given one minute")
            fields["end"] = talk.start + timedelta(minutes=1)
        stored, created = await upsert_talk(uow, event, talk.guid, fields)
        if created:
            report.created += 1
        elif stored.version != version:
            report.updated += 1
        else:
            report.unchanged += 1
    for guid, talk in existing.items():
        if guid not in seen and not talk.cancelled:
            await upsert_talk(uow, event, guid, {"cancelled": True})
            report.cancelled += 1
            if len(report.cancelled_titles) < CANCELLED_TITLES:
                report.cancelled_titles.append(talk.title)
    counts = {f"talks_{k}": v for k, v in report.as_dict().items() if k != "warnings"}  # LogRecord owns "created"
    logger.info("schedule.imported", extra={"event": event.slug, **counts})
    return report


# ----------------------------------------------------------------------------- URL policy


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


# The resolver's own words ("[Errno -2] Name or service not known") mean nothing to an organizer typing a URL.
_LOOKUP_FAILURES = {
    socket.EAI_NONAME: "no such host name; check the address",
    getattr(socket, "EAI_NODATA", socket.EAI_NONAME): "no such host name; check the address",
    socket.EAI_AGAIN: "the name server did not answer; try again in a moment",
}


def _lookup_failure(exc: OSError | UnicodeError) -> str:
    if isinstance(exc, UnicodeError):
        return "the host name has characters a host name cannot have"
    if isinstance(exc, socket.gaierror):
        return _LOOKUP_FAILURES.get(exc.errno, "the host name could not be looked up")
    return "the host name could not be looked up"


# A host name of two or more labels (or an IPv4 address), an optional port, then a path: a schedule is a file
# on a site, and "schedule.json" alone is a file name, not a host.
_BARE_ADDRESS = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?::\d{1,5})?/\S*", re.IGNORECASE
)


def bare_address(text: str) -> str | None:
    """``https://`` + ``text`` when it is an address without its scheme, as people copy one out of the address
    bar ("pretalx.com/39c3/schedule/export/schedule.json"); None otherwise."""
    text = text.strip()
    return f"https://{text}" if _BARE_ADDRESS.fullmatch(text) else None


async def check_fetch_url(url: str, *, allow_private: bool) -> None:
    """Refuse non-http(s) URLs and hosts that resolve to private, loopback or link-local addresses.

    The check resolves the name once; it keeps honest mistakes and simple SSRF out, not a DNS
    server that answers differently a moment later.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"not a URL: {exc}", field="url") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidInput("only http:// and https:// URLs can be fetched", field="url")
    if allow_private:
        return
    host = parts.hostname
    try:
        infos = await anyio.getaddrinfo(host, port or (443 if parts.scheme.lower() == "https" else 80))
    except (OSError, UnicodeError) as exc:
        raise InvalidInput(f"cannot resolve {host!r}: {_lookup_failure(exc)}", field="url") from None
    addresses = {str(info[4][0]) for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)}
    if not addresses or not all(_public(a) for a in addresses):
        raise InvalidInput(
            f"{host!r} is a private or local address; schedules are fetched from the internet", field="url"
        )
