"""Schedule import route: an uploaded file (multipart) or a URL (JSON) in, the import report out."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import anyio
import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.datastructures import UploadFile

from app.api.deps import BearerToken, SettingsDep, UoW
from app.api.events import Slug
from app.errors import BackchannelError, InvalidInput
from app.services import events as event_service
from app.services import schedules as schedule_service
from app.settings import Settings
from ingest.schedules import ScheduleError, fetch_schedule, load_schedule
from ingest.schedules.loader import USER_AGENT, name_from_url

router = APIRouter(prefix="/api/events/{slug}", tags=["organizer"])

_CHUNK = 1 << 16


class ScheduleUrl(BaseModel):
    url: str = Field(min_length=1, max_length=2000)
    model_config = {"extra": "forbid"}


class ImportReportRead(BaseModel):
    talks: int
    rooms: int
    persons: int
    created: int
    updated: int
    unchanged: int
    cancelled: int
    cancelled_titles: list[str] = Field(description="The first 20 talks cancelled (not in the file), by title.")
    warnings: list[str]
    dry_run: bool = Field(default=False, description="Nothing was changed: what importing the file would do.")


class PayloadTooLarge(BackchannelError):
    status_code = 413


class UnsupportedMediaType(BackchannelError):
    status_code = 415


async def _read_upload(request: Request, max_bytes: int) -> tuple[bytes, str]:
    async with request.form(max_files=1, max_fields=5) as form:  # closes the spooled upload files
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("send the schedule file in the multipart field 'file'", field="file")
        chunks: list[bytes] = []
        size = 0
        while chunk := await upload.read(_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLarge(f"the schedule is over the {max_bytes:,}-byte limit", field="file")
            chunks.append(chunk)
        return b"".join(chunks), (upload.filename or "schedule")[:200]


async def _read_url(request: Request, settings: Settings) -> tuple[bytes, str]:
    raw = await request.body()
    if len(raw) > 10_000:
        raise PayloadTooLarge("the JSON body is too large", field="url")
    try:
        body = ScheduleUrl.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        errors = exc.errors() if isinstance(exc, ValidationError) else []
        field = ".".join(str(p) for p in errors[0]["loc"]) if errors and errors[0]["loc"] else "url"
        raise InvalidInput('send JSON {"url": "https://…"} or a multipart file', field=field) from None
    url = schedule_service.bare_address(body.url) or body.url.strip()
    allow_private = settings.schedule_fetch_allow_private
    await schedule_service.check_fetch_url(url, allow_private=allow_private)

    async def check_hop(hop: httpx.Request) -> None:
        # Every redirect hop is checked too, so a public URL cannot bounce the fetch to a private one.
        await schedule_service.check_fetch_url(str(hop.url), allow_private=allow_private)

    timeout = settings.schedule_fetch_timeout
    headers = {"User-Agent": USER_AGENT}
    async with httpx.AsyncClient(timeout=timeout, headers=headers, event_hooks={"request": [check_hop]}) as client:
        try:
            data = await fetch_schedule(url, client=client, max_bytes=settings.schedule_max_bytes, timeout=timeout)
        except ScheduleError:
            raise
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as exc:
            raise InvalidInput(f"cannot fetch this URL: {exc}", field="url") from None
    return data, name_from_url(url)[:200]


def _schedule_error(exc: ScheduleError) -> JSONResponse:
    detail: dict[str, Any] = {
        "message": str(exc),
        "field": "file",
        "reason": exc.reason,
        "source": exc.source,
        "line": exc.line,
        "column": exc.column,
        "schedule_field": exc.field,
    }
    return JSONResponse({"error": detail}, status_code=422)


@router.post(
    "/schedule",
    response_model=ImportReportRead,
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                },
                "application/json": {
                    "schema": {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]}
                },
            }
        }
    },
)
async def import_schedule(
    slug: Slug, request: Request, uow: UoW, token: BearerToken, settings: SettingsDep, dry_run: bool = False
) -> Any:
    """Import a pretalx/frab JSON, frab XML or iCalendar schedule (organizer); re-import updates talks by guid
    and cancels the talks the file no longer has. ``dry_run=true``: the same report, nothing changed."""
    event = await event_service.get_event(uow.session, slug)
    event_service.require_organizer(event, token)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.schedule_max_bytes + 100_000:
        raise PayloadTooLarge(f"the schedule is over the {settings.schedule_max_bytes:,}-byte limit", field="file")
    content_type = request.headers.get("content-type", "").lower()
    try:
        if content_type.startswith("multipart/form-data"):
            data, filename = await _read_upload(request, settings.schedule_max_bytes)
        elif content_type.startswith("application/json"):
            data, filename = await _read_url(request, settings)
        else:
            raise UnsupportedMediaType(
                'send the schedule as multipart/form-data (field "file") or JSON {"url": "https://…"}', field="file"
            )
        load = partial(
            load_schedule,
            data,
            filename=filename,
            schema_dir=settings.schedule_schema_dir,
            default_time_zone=event.time_zone,
        )
        schedule = await anyio.to_thread.run_sync(load)
    except ScheduleError as exc:
        return _schedule_error(exc)
    report = await schedule_service.import_schedule(uow, event, schedule)
    if dry_run:
        await uow.rollback()  # the talks' rows and their live frames: nothing was written, nothing goes out
    else:
        await uow.commit()
    return ImportReportRead(**report.as_dict(), dry_run=dry_run)
