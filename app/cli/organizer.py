"""`backchannel create-event`, `rotate-token`, `import-schedule`, `export` and `purge`: the organizer's work from
a shell."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from app.cli.errors import CommandError, require_store
from app.errors import BackchannelError
from app.settings import Settings

T = TypeVar("T")


async def _with_uow(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Open the store and broker, run ``work(uow)``, commit, publish, close everything."""
    from app.broadcast.broker import broker_for
    from app.services.unit_of_work import UnitOfWork
    from app.store.db import create_engine, migrate, sessionmaker

    engine = create_engine(settings)
    try:
        await migrate(engine)
        broker = broker_for(settings)
        await broker.connect()
        try:
            async with sessionmaker(engine)() as session:
                uow = UnitOfWork(session, broker)
                try:
                    result = await work(uow)
                    await uow.commit()
                except BaseException:
                    await uow.rollback()
                    raise
                return result
        finally:
            await broker.close()
    finally:
        await engine.dispose()


def _run(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    require_store(settings)
    try:
        return asyncio.run(_with_uow(settings, work))
    except BackchannelError as exc:
        raise CommandError(exc.message) from None


def _bar(description: str, unit: str = "it", total: int | None = None) -> tqdm[Any]:
    # disable=None: a bar on a terminal, nothing in logs and pipes.
    return tqdm(total=total, desc=description, unit=unit, disable=None, file=sys.stderr, leave=False)


# ----------------------------------------------------------------------------- create-event


# The fields whose command-line argument is not ``--`` and the field's name: the slug is positional and
# hashtags are given one ``--hashtag`` at a time.
_CREATE_EVENT_ARGS = {"slug": "slug", "hashtags": "--hashtag"}


def cmd_create_event(args: argparse.Namespace, settings: Settings) -> int:
    """Create an event and print its organizer token (shown once). A shell on the store needs no admin token."""
    from pydantic import ValidationError

    from app.api.schemas import EventCreate, event_field_errors
    from app.services import events as event_service

    fields = {
        "slug": args.slug,
        "name": args.name,
        "hashtags": args.hashtag,
        "time_zone": args.time_zone,
        "starts_on": args.starts_on,
        "ends_on": args.ends_on,
        "description": args.description,
    }
    try:
        body = EventCreate.model_validate({key: value for key, value in fields.items() if value is not None})
    except ValidationError as exc:
        field, message = next(iter(event_field_errors(exc).items()))
        raise CommandError(f"{_CREATE_EVENT_ARGS.get(field, '--' + field.replace('_', '-'))}: {message}") from None

    async def work(uow: Any) -> str:
        _, token = await event_service.create_event(uow.session, **body.model_dump())
        return token

    token = _run(settings, work)
    sys.stdout.write(
        f"created {body.slug} ({body.name}); organizer token (shown once): {token}; "
        f"console: {_console(settings, body.slug)}\n"
    )
    return 0


def _console(settings: Settings, slug: str) -> str:
    base = settings.public_base_url or f"http://{settings.host}:{settings.port}"
    return f"{base.rstrip('/')}/e/{slug}/organize"


def cmd_rotate_token(args: argparse.Namespace, settings: Settings) -> int:
    """A new organizer token for an event whose token was lost (only a hash is stored): a shell on the store
    needs none. The old token stops working."""
    from app.services import events as event_service
    from app.services.moderation import rotate_token

    async def work(uow: Any) -> str:
        return await rotate_token(uow, await event_service.get_event(uow.session, args.event))

    token = _run(settings, work)
    sys.stdout.write(
        f"new organizer token for {args.event} (shown once; the old one no longer works): {token}; "
        f"console: {_console(settings, args.event)}\n"
    )
    return 0


# ----------------------------------------------------------------------------- import-schedule


async def _read_schedule(settings: Settings, location: str) -> tuple[bytes, str]:
    from app.services.schedules import bare_address, check_fetch_url
    from ingest.schedules import ScheduleError, fetch_schedule
    from ingest.schedules.loader import name_from_url

    if location.startswith(("http://", "https://")):
        await check_fetch_url(location, allow_private=settings.schedule_fetch_allow_private)
        with _bar("download", "B") as bar:

            def progress(received: int, total: int | None) -> None:
                bar.total = total
                bar.update(received - bar.n)

            data = await fetch_schedule(
                location,
                max_bytes=settings.schedule_max_bytes,
                timeout=settings.schedule_fetch_timeout,
                progress=progress,
            )
        return data, name_from_url(location)
    path = Path(location)
    address = bare_address(location)
    if address is not None and not path.exists():
        # A file path and a URL without its scheme look alike; say which was meant rather than guess.
        raise CommandError(f"{location}: no such file; to fetch it from the web, give {address}")
    try:
        size = path.stat().st_size
        if size > settings.schedule_max_bytes:
            raise CommandError(f"{location}: over the {settings.schedule_max_bytes:,}-byte limit ({size:,} bytes)")
        return path.read_bytes(), path.name
    except OSError as exc:
        raise ScheduleError(f"cannot read the file: {exc.strerror or exc}", source=location) from None


def cmd_import_schedule(args: argparse.Namespace, settings: Settings) -> int:
    from app.services import events as event_service
    from app.services.schedules import import_schedule
    from ingest.schedules import ScheduleError, load_schedule

    async def work(uow: Any) -> Any:
        event = await event_service.get_event(uow.session, args.event)
        data, filename = await _read_schedule(settings, args.source)
        with _bar("talks", "talk") as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            schedule = await asyncio.to_thread(
                load_schedule,
                data,
                filename=filename,
                schema_dir=settings.schedule_schema_dir,
                progress=progress,
                default_time_zone=event.time_zone,
            )
        report = await import_schedule(uow, event, schedule)
        if args.dry_run:
            await uow.rollback()
        return filename, report

    try:
        filename, report = _run(settings, work)
    except ScheduleError as exc:
        raise CommandError(str(exc)) from None
    sys.stdout.write(
        f"{filename} → {args.event}{' (dry run: nothing changed)' if args.dry_run else ''}: {report.talks} talks "
        f"({report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.cancelled} cancelled), {report.rooms} rooms, {report.persons} persons, "
        f"{len(report.warnings)} warnings\n"
    )
    for title in report.cancelled_titles:
        sys.stdout.write(f"cancelled, not in the file: {title}\n")
    if report.cancelled > len(report.cancelled_titles):
        sys.stdout.write(f"… and {report.cancelled - len(report.cancelled_titles)} more cancelled\n")
    for warning in report.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    return 0


# ----------------------------------------------------------------------------- export


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from app.export.archive import archive_names, render_event_archive
    from app.export.formats import ExportFormat, event_filename, export_event, export_talk, parse_format, talk_filename
    from app.services import events as event_service
    from app.services import summaries as summary_service
    from app.store import talks as talk_store

    try:
        fmt = parse_format(args.format)
    except ValueError as exc:
        raise CommandError(str(exc), exit_code=2) from None
    if args.talk and fmt is ExportFormat.ZIP:
        raise CommandError("zip is only for a whole event; a talk exports as md, html, pdf, json or csv", exit_code=2)

    async def work(uow: Any) -> Any:
        event = await event_service.get_event(uow.session, args.event)
        if not args.talk:
            return await summary_service.build_event_summary(uow.session, event)
        talk = await talk_store.get_by_guid(uow.session, event.id, args.talk)
        if talk is None:
            raise CommandError(f"no talk with guid {args.talk!r} in event {args.event!r}")
        return await summary_service.build_talk_summary(uow.session, event, talk)

    summary = _run(settings, work)
    if args.talk:
        name, body = talk_filename(summary, fmt), export_talk(summary, fmt)
    elif fmt is ExportFormat.ZIP:
        with _bar("files", "file", total=len(archive_names(summary, include_pdf=args.pdf))) as bar:
            body = render_event_archive(summary, include_pdf=args.pdf, progress=lambda _: bar.update(1))
        name = event_filename(summary, fmt)
    else:
        name, body = event_filename(summary, fmt), export_event(summary, fmt)
    target = Path(args.output)
    if target.is_dir():
        target = target / name
    try:
        target.write_bytes(body)
    except OSError as exc:
        raise CommandError(f"cannot write {target}: {exc.strerror or exc}") from None
    sys.stdout.write(f"{target} ({len(body):,} bytes)\n")
    return 0


# ----------------------------------------------------------------------------- purge


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    from app.services import events as event_service
    from app.services import privacy

    async def work(uow: Any) -> list[tuple[str, int]]:
        events = [await event_service.get_event(uow.session, args.event)] if args.event else None
        if events is None:
            events = await privacy.events_with_retention(uow)
        return [(event.slug, await privacy.purge_expired(uow, event)) for event in events]

    for slug, purged in _run(settings, work):
        sys.stdout.write(f"{slug}: {purged} posts past retention erased\n")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    create = sub.add_parser("create-event", help="create an event and print its organizer token (shown once)")
    create.add_argument("slug", help="URL name: lower-case letters, digits and dashes")
    create.add_argument("--name", required=True, help="the event's name")
    create.add_argument("--hashtag", action="append", default=[], help="a hashtag to follow (repeatable)")
    create.add_argument("--time-zone", help="IANA time zone of the venue (default UTC)")
    create.add_argument("--starts-on", metavar="YYYY-MM-DD", help="first day")
    create.add_argument("--ends-on", metavar="YYYY-MM-DD", help="last day")
    create.add_argument("--description", help="a sentence or two about the event")
    create.set_defaults(func=cmd_create_event)

    rotate = sub.add_parser("rotate-token", help="print a new organizer token for an event (the old one stops working)")
    rotate.add_argument("event", help="event slug")
    rotate.set_defaults(func=cmd_rotate_token)

    schedule = sub.add_parser("import-schedule", help="import a pretalx/frab JSON, frab XML or iCalendar schedule")
    schedule.add_argument("event", help="event slug")
    schedule.add_argument("source", help="a file path or an http(s) URL")
    schedule.add_argument("--dry-run", action="store_true", help="say what the import would do; change nothing")
    schedule.set_defaults(func=cmd_import_schedule)

    export = sub.add_parser("export", help="write an event's (or one talk's) session summary")
    export.add_argument("event", help="event slug")
    export.add_argument("--talk", metavar="GUID", help="only this talk")
    export.add_argument("--format", "-f", default="md", help="md, html, pdf, json, csv or zip (event only)")
    export.add_argument(
        "--output", "-o", required=True, metavar="PATH", help="a file, or a directory for the default name"
    )
    export.add_argument("--pdf", action="store_true", help="zip only: add a PDF per talk")
    export.set_defaults(func=cmd_export)

    purge = sub.add_parser("purge", help="erase posts older than each event's retention setting")
    purge.add_argument("event", nargs="?", help="event slug (default: every event with a retention setting)")
    purge.set_defaults(func=cmd_purge)
