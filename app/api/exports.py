"""Export routes: an event's or a talk's session summary as Markdown, HTML, PDF, JSON, CSV or ZIP.

Public by default (summaries of public posts, with hidden and deleted content removed), rate-limited
per client; ``BACKCHANNEL_EXPORTS_PUBLIC=false`` makes them organizer-only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Annotated

import anyio.to_process
from anyio import BrokenWorkerProcess
from fastapi import APIRouter, Path, Query, Response

from app.api.deps import BearerToken, SettingsDep, UoW
from app.api.events import Slug
from app.api.throttle import ExportRateLimit
from app.errors import BackchannelError, InvalidInput
from app.export.formats import CONTENT_TYPES, ExportFormat, event_filename, export_event, export_talk, parse_format
from app.export.formats import talk_filename as export_talk_filename
from app.services import events as event_service
from app.services import summaries as summary_service
from app.services import talks as talk_service
from app.settings import Settings
from app.store.tables import Event

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api/events/{slug}", tags=["exports"])

FormatQuery = Annotated[str, Query(max_length=10, description="md, html, pdf, json, csv (and zip for an event)")]
# Drawn (charts) and printed in a worker process, not a thread: matplotlib and WeasyPrint hold the GIL for
# most of their work, and every await of every other request on this replica then waited its turn. A
# follower's page took 3-6 s while a 215-talk PDF printed; the HTML's charts blocked the loop outright.
_DRAWN = (ExportFormat.HTML, ExportFormat.PDF, ExportFormat.ZIP)


async def _rendered(render: Callable[[], bytes], fmt: ExportFormat) -> bytes:
    if fmt not in _DRAWN:
        return render()
    try:
        return await anyio.to_process.run_sync(render, cancellable=True)
    except BrokenWorkerProcess:
        # killed (out of memory, an operator) or failed to start: the next export starts a new worker
        logger.exception("export.worker_failed", extra={"format": fmt.value})
        message = "the summary could not be drawn right now; please try again"
        raise BackchannelError(message, status_code=503, retry_after=5) from None


def _format(value: str) -> ExportFormat:
    try:
        return parse_format(value)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="format") from None


def _check_access(event: Event, token: str | None, settings: Settings) -> None:
    if not settings.exports_public:
        event_service.require_organizer(event, token)


def _download(body: bytes, fmt: ExportFormat, filename: str) -> Response:
    return Response(
        content=body,
        media_type=CONTENT_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


@router.get("/export", response_class=Response, dependencies=[ExportRateLimit])
async def export_event_summary(
    slug: Slug,
    uow: UoW,
    settings: SettingsDep,
    token: BearerToken,
    format: FormatQuery = "md",
    pdf: Annotated[bool, Query(description="zip only: add a PDF per talk")] = False,
) -> Response:
    """The whole event's summary; zip holds every talk's summary plus an index."""
    event = await event_service.get_event(uow.session, slug)
    _check_access(event, token, settings)
    fmt = _format(format)
    summary = await summary_service.build_event_summary(uow.session, event)
    body = await _rendered(partial(export_event, summary, fmt, include_pdf=pdf), fmt)
    return _download(body, fmt, event_filename(summary, fmt))


@router.get("/talks/{talk_id}/export", response_class=Response, dependencies=[ExportRateLimit])
async def export_talk_summary(
    slug: Slug,
    talk_id: Annotated[int, Path(ge=1, le=2**53)],
    uow: UoW,
    settings: SettingsDep,
    token: BearerToken,
    format: FormatQuery = "md",
) -> Response:
    """One talk's summary."""
    event = await event_service.get_event(uow.session, slug)
    _check_access(event, token, settings)
    fmt = _format(format)
    if fmt is ExportFormat.ZIP:
        raise InvalidInput(
            "zip is only for a whole event; a talk exports as md, html, pdf, json or csv", field="format"
        )
    talk = await talk_service.get_talk(uow, event, talk_id)
    summary = await summary_service.build_talk_summary(uow.session, event, talk)
    body = await _rendered(partial(export_talk, summary, fmt), fmt)
    return _download(body, fmt, export_talk_filename(summary, fmt))
