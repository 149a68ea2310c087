"""Source management for organizers: validated configs in, Source rows out, plus their live status.

Kinds: ``mastodon`` (``instance_url``, ``hashtag``, optional ``access_token``) and ``bluesky``
(``jetstream_url``, ``hashtags``); both take an optional ``backfill_from`` (ISO time). Access tokens
are stored for the worker but never returned. Status comes from the in-process supervisor when this
process runs ingest, else from what the worker last persisted on the row (``save_statuses``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from app.errors import InvalidInput, NotFound
from app.services import audit
from app.services.unit_of_work import UnitOfWork
from app.store import sources as source_store
from app.store.tables import Cursor, Event, Source
from app.store.types import utcnow
from ingest.runner import SourceStatus
from ingest.times import as_utc

KINDS = ("mastodon", "bluesky")
_TAG = re.compile(r"^#?(\w{1,100})$")
_HANDLE = re.compile(r"^@?[\w.-]+@([\w.-]+\.[a-z]{2,})/?$", re.IGNORECASE)
MAX_SOURCES_PER_EVENT = 50


@dataclass(frozen=True, slots=True)
class StatusView:
    state: str  # pending | paused | connecting | connected | backing_off | stopped | failed
    connected: bool
    lag_seconds: float | None
    last_item_at: datetime | None
    last_error: str | None
    accepted: int
    skipped: int
    malformed: int
    reconnects: int
    reported_at: datetime | None


def _url(value: Any, field: str, schemes: tuple[str, ...], *, root: bool = False) -> str:
    """``schemes`` ends with the secure one, which a bare host name ("chaos.social", as people say an
    instance) gets; ``root`` keeps only scheme, host and port."""
    if not isinstance(value, str) or not value.strip() or len(value) > 1000:
        raise InvalidInput(f"{field} must be a URL", field=field)
    text = value.strip()
    if "://" not in text:
        handle = _HANDLE.match(text)  # "@alice@chaos.social": the instance is the part after the last @
        text = f"{schemes[-1]}://{handle.group(1) if handle else text}"
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise InvalidInput(f"{field} is not a URL: {exc}", field=field) from None
    if parts.scheme.lower() not in schemes or not parts.hostname:
        raise InvalidInput(f"{field} must start with {' or '.join(s + '://' for s in schemes)}", field=field)
    if parts.username or parts.password:
        raise InvalidInput(f"{field} must not carry credentials", field=field)
    if root:
        return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), "", "", ""))
    return text.rstrip("/")


def _tag(value: Any, field: str) -> str:
    match = _TAG.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        # name what was typed, as the event's own hashtags do: "hashtag must be a hashtag" told an organizer nothing
        if isinstance(value, str) and value.strip():
            raise InvalidInput(f"{value.strip()[:60]!r} is not a hashtag (letters, digits and _ only)", field=field)
        raise InvalidInput(f"{field} must be a hashtag (letters, digits and _ only)", field=field)
    return match.group(1).lower()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _backfill(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        # Both networks count from the epoch (Mastodon ids, Jetstream cursors); a time UTC cannot hold
        # ("0001-01-01T00:00:00+05:00") would fail the worker instead of this request.
        in_utc = as_utc(moment) if moment is not None and moment.tzinfo is not None else None
        if moment is not None and in_utc is not None and in_utc >= _EPOCH:
            return moment.isoformat()
    raise InvalidInput(
        "backfill_from must be an ISO 8601 time with a UTC offset, from 1970-01-01 on", field="backfill_from"
    )


def clean_config(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """The stored config for ``kind``; InvalidInput naming the first bad field."""
    known = {"mastodon": {"instance_url", "hashtag", "access_token", "backfill_from"},
             "bluesky": {"jetstream_url", "hashtags", "backfill_from"}}  # fmt: skip
    if kind not in known:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}", field="kind")
    for key in config:
        if key not in known[kind]:
            raise InvalidInput(f"{key!r} is not a {kind} setting", field=str(key)[:100])
    cleaned: dict[str, Any] = {}
    if kind == "mastodon":
        # Mastodon serves its API from the domain's root: a pasted profile or tag page ("…/@alice",
        # "…/tags/39c3") kept its path, and every call of the worker then went to a page that is no API
        cleaned["instance_url"] = _url(config.get("instance_url"), "instance_url", ("http", "https"), root=True)
        cleaned["hashtag"] = _tag(config.get("hashtag"), "hashtag")
        token = config.get("access_token")
        if token is not None:
            if not isinstance(token, str) or not 0 < len(token.strip()) <= 500:
                raise InvalidInput("access_token must be a non-empty string", field="access_token")
            cleaned["access_token"] = token.strip()
    else:
        cleaned["jetstream_url"] = _url(config.get("jetstream_url"), "jetstream_url", ("ws", "wss"))
        tags = config.get("hashtags")
        if not isinstance(tags, list) or not 1 <= len(tags) <= 20:
            raise InvalidInput("hashtags must be a list of 1 to 20 hashtags", field="hashtags")
        cleaned["hashtags"] = list(dict.fromkeys(_tag(t, f"hashtags[{i}]") for i, t in enumerate(tags)))
    backfill = _backfill(config.get("backfill_from"))
    if backfill is not None:
        cleaned["backfill_from"] = backfill
    return cleaned


def public_config(source: Source) -> dict[str, Any]:
    """The config as responses show it: the access token is never echoed, only whether one is set."""
    config = {k: v for k, v in (source.config or {}).items() if k != "access_token"}
    if source.kind == "mastodon":
        config["has_access_token"] = bool((source.config or {}).get("access_token"))
    return config


async def add_source(uow: UnitOfWork, event: Event, kind: str, config: dict[str, Any], paused: bool) -> Source:
    assert event.id is not None
    cleaned = clean_config(kind, config)
    if len(await source_store.list_for_event(uow.session, event.id)) >= MAX_SOURCES_PER_EVENT:
        raise InvalidInput(f"an event can have at most {MAX_SOURCES_PER_EVENT} sources", field="kind")
    source = Source(event_id=event.id, kind=kind, config=cleaned, paused=paused)
    uow.session.add(source)
    await uow.session.flush()
    await audit.record(uow, event, "source.add", f"source:{source.id}", kind=kind, **public_config(source))
    return source


async def get_source(uow: UnitOfWork, event: Event, source_id: int) -> Source:
    assert event.id is not None
    source = await source_store.get(uow.session, event.id, source_id)
    if source is None:
        raise NotFound(f"no source {source_id} in event {event.slug!r}", field="source_id")
    return source


async def list_sources(uow: UnitOfWork, event: Event) -> list[Source]:
    assert event.id is not None
    return await source_store.list_for_event(uow.session, event.id)


async def update_source(
    uow: UnitOfWork, event: Event, source_id: int, *, paused: bool | None, config: dict[str, Any] | None
) -> Source:
    """Pause, resume or change settings (merged into the current ones, then validated again)."""
    source = await get_source(uow, event, source_id)
    details: dict[str, Any] = {}
    if config is not None:
        source.config = clean_config(source.kind, {**(source.config or {}), **config})
        details["config"] = public_config(source)
    if paused is not None and paused != source.paused:
        source.paused = paused
        details["paused"] = paused
    if details:
        uow.session.add(source)
        action = "source.update" if "config" in details else ("source.pause" if paused else "source.resume")
        await audit.record(uow, event, action, f"source:{source.id}", **details)
    return source


async def remove_source(uow: UnitOfWork, event: Event, source_id: int) -> None:
    """Stop reading this source (the worker notices within seconds); its posts stay."""
    source = await get_source(uow, event, source_id)
    cursor = await uow.session.get(Cursor, source_key(source))
    if cursor is not None:
        await uow.session.delete(cursor)
    await uow.session.delete(source)
    await audit.record(uow, event, "source.remove", f"source:{source_id}", kind=source.kind)


def status_view(source: Source, live: SourceStatus | None) -> StatusView:
    """The status to show: the in-process runner's when there is one, else the last persisted one."""
    if live is not None:
        state = str(live.state)
        return StatusView(
            state="paused" if source.paused else state,
            connected=state == "connected" and not source.paused,
            lag_seconds=live.lag_seconds,
            last_item_at=live.last_item_at,
            last_error=live.last_error,
            accepted=live.accepted,
            skipped=live.skipped,
            malformed=live.malformed,
            reconnects=live.reconnects,
            reported_at=utcnow(),
        )
    state = "paused" if source.paused else (source.state or "pending")
    return StatusView(
        state=state,
        connected=state == "connected",
        lag_seconds=source.lag_seconds,
        last_item_at=source.last_item_at,
        last_error=source.last_error,
        accepted=source.accepted,
        skipped=source.skipped,
        malformed=source.malformed,
        reconnects=source.reconnects,
        reported_at=source.status_at,
    )


def source_key(row: Source) -> str:
    """The cursor key of a source row: stable across restarts and unique per event and source."""
    return f"event{row.event_id}:source{row.id}:{row.kind}"


async def save_statuses(uow: UnitOfWork, statuses: dict[int, SourceStatus]) -> int:
    """Persist runner statuses on their rows so every replica can show them; returns rows written.

    Meant for the ingest worker's loop (every few seconds); the caller commits.
    """
    written = 0
    now = utcnow()
    for source_id, status in statuses.items():
        row = await source_store.get_any(uow.session, source_id)
        if row is None:
            continue
        row.state = str(status.state)
        row.last_error = status.last_error[:1000] if status.last_error else None
        row.last_item_at = status.last_item_at
        row.lag_seconds = status.lag_seconds
        row.accepted, row.skipped, row.malformed = status.accepted, status.skipped, status.malformed
        row.reconnects = status.reconnects
        row.status_at = now
        uow.session.add(row)
        written += 1
    return written
