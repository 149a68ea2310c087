"""Entry points: load a schedule from bytes/text/a file whatever its format, or fetch one by URL."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Literal
from urllib.parse import unquote, urlsplit

import anyio
import httpx

from ingest.schedules._common import ProgressCallback
from ingest.schedules.errors import ScheduleError
from ingest.schedules.frab import parse_schedule_xml
from ingest.schedules.ical import parse_ical
from ingest.schedules.pretalx import parse_schedule_json
from ingest.schedules.records import Schedule

__all__ = ["DEFAULT_MAX_BYTES", "ScheduleFormat", "fetch_schedule", "load_schedule", "name_from_url", "sniff_format"]

ScheduleFormat = Literal["json", "xml", "ical"]

DEFAULT_MAX_BYTES = 20_000_000
DEFAULT_TIMEOUT = 30.0
USER_AGENT = "backchannel-schedule-import/0.1"
_ACCEPT = "application/json, application/xml;q=0.9, text/xml;q=0.9, text/calendar;q=0.8, */*;q=0.5"
_EXTENSIONS: dict[str, ScheduleFormat] = {
    ".json": "json",
    ".xml": "xml",
    ".ics": "ical",
    ".ical": "ical",
    ".ifb": "ical",
    ".icalendar": "ical",
}


def sniff_format(data: bytes | str, filename: str | None = None) -> ScheduleFormat | None:
    """``"json"`` (starts with ``{``), ``"xml"`` (``<``) or ``"ical"`` (``BEGIN:VCALENDAR``), judged
    from the content; the file name's extension decides only when the content says nothing."""
    head = data[:256]
    if isinstance(head, bytes):
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            head = head.decode("utf-16", errors="ignore")
        else:
            head = head.decode("utf-8", errors="ignore")
    head = head.lstrip("\ufeff \t\r\n")
    if head.startswith(("{", "[")):
        return "json"
    if head.startswith("<"):
        return "xml"
    if head[:15].upper() == "BEGIN:VCALENDAR":
        return "ical"
    if filename:
        return _EXTENSIONS.get(PurePosixPath(filename.split("?", 1)[0]).suffix.lower())
    return None


def load_schedule(
    source: bytes | str | Path,
    *,
    filename: str | None = None,
    schema_dir: str | os.PathLike[str] | None = None,
    progress: ProgressCallback | None = None,
    default_time_zone: str | None = None,
) -> Schedule:
    """Parse a schedule in any supported format into a ``Schedule``.

    ``source`` is the document itself (``bytes`` as uploaded or fetched, or ``str`` text — a
    ``str`` is never taken as a path) or a ``Path`` to read. ``filename`` names it in error
    messages and breaks ties when the content does not show the format. ``schema_dir`` (else
    ``$BACKCHANNEL_SCHEDULE_SCHEMA_DIR``) is a directory holding the c3voc schemas (or one schema
    file); problems they find are warnings in ``Schedule.warnings`` (see ``validation`` for the
    policy); without it only the parsers' structural checks run. iCalendar has no schema.
    ``progress(done, total)`` is called as talks are read. ``default_time_zone`` (IANA name) is
    used for times without offset when the file names no zone of its own.

    Raises ``ScheduleError`` (one line naming the file and the line or field) when the file cannot
    be imported.
    """
    if isinstance(source, Path):
        filename = filename or source.name
        try:
            data: bytes | str = source.read_bytes()
        except OSError as exc:
            raise ScheduleError(f"cannot read the file: {exc.strerror or exc}", source=filename) from None
    elif isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    elif isinstance(source, str):
        data = source
    else:
        raise TypeError(f"load_schedule() takes bytes, str or Path, not {type(source).__name__}")

    label = filename or "schedule"
    if not (data.strip() if isinstance(data, str) else data.strip()):
        raise ScheduleError("the file is empty", source=label)
    binary = _binary_kind(data)
    if binary:  # before the extension: a photo saved as schedule.json is still a photo
        raise ScheduleError(f"{_NOT_A_SCHEDULE}; this is {binary}", source=label)
    kind = sniff_format(data, filename)
    if kind == "json":
        return parse_schedule_json(
            data, filename=filename, schema_dir=schema_dir, progress=progress, default_time_zone=default_time_zone
        )
    if kind == "xml":
        return parse_schedule_xml(
            data, filename=filename, schema_dir=schema_dir, progress=progress, default_time_zone=default_time_zone
        )
    if kind == "ical":
        return parse_ical(data, filename=filename, progress=progress, default_time_zone=default_time_zone)
    raise ScheduleError(f"{_NOT_A_SCHEDULE}; {_describe_start(data)}", source=label)


_NOT_A_SCHEDULE = "not a schedule: pretalx/frab JSON, frab XML or iCalendar expected"
# Files organizers pick by mistake, by their first bytes: named, never quoted.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive or office document"),
    (b"\x1f\x8b", "a gzip-compressed file"),
)
_EXCERPT_CHARS = 30


def _binary_kind(data: bytes | str) -> str | None:
    """What a well-known binary file is, from its first bytes (None for text and anything unknown)."""
    if isinstance(data, str):
        return None
    return next((name for magic, name in _MAGIC if data.startswith(magic)), None)


def _describe_start(data: bytes | str) -> str:
    """How the document starts, for a message: a short quoted excerpt of text, never raw binary.

    Bytes that are not UTF-8, NULs and other control characters (beyond a few escaped ones) mean a
    binary file: echoing those would put junk on the organizer's screen and in the logs.
    """
    head = data[: _EXCERPT_CHARS * 4]
    text = head.decode("utf-8", errors="replace") if isinstance(head, bytes) else head
    text = text.lstrip("\ufeff \t\r\n")
    # a multi-byte character cut by the slice is not a sign of binary: only judge what came whole
    whole = text[:-1] if isinstance(head, bytes) and len(data) > len(head) else text
    controls = sum(1 for ch in whole if not ch.isprintable() and ch not in "\t\r\n")
    if "\ufffd" in whole or "\x00" in whole or controls > len(whole) // 10:
        return "it holds binary data"
    line = text.splitlines()[0] if text.strip() else ""
    excerpt = line[:_EXCERPT_CHARS].rstrip()
    cut = "…" if len(line) > _EXCERPT_CHARS or len(text.splitlines()) > 1 else ""
    return f"it starts with {excerpt!r}{cut}"


def name_from_url(url: str) -> str:
    """A short name for messages: the last path segment of ``url``, else its host."""
    parts = urlsplit(url)
    name = unquote(PurePosixPath(parts.path).name)
    return name or parts.netloc or url


async def fetch_schedule(
    url: str,
    *,
    client: httpx.AsyncClient | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Callable[[int, int | None], None] | None = None,
) -> bytes:
    """Download a schedule and return its bytes (decompressed), for ``load_schedule``.

    Only ``http``/``https``. Redirects are followed. ``timeout`` bounds the whole download (and each
    network step); the body may not exceed ``max_bytes`` (checked against ``Content-Length`` first,
    then while reading, so a lying server is cut off too). ``progress(received, total_or_None)`` is
    called per chunk. A passed ``client`` is used as is and not closed.

    Raises ``ScheduleError`` (``source`` = the URL) for a bad URL, HTTP errors, timeouts,
    connection problems, an oversize or empty body. Which hosts may be fetched (e.g. no private
    addresses) is the caller's policy.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ScheduleError("only http:// and https:// URLs can be fetched", source=url)
    own_client = client is None
    if client is None:
        client = httpx.AsyncClient(timeout=timeout, headers={"User-Agent": USER_AGENT})
    received = 0
    try:
        with anyio.fail_after(timeout):
            async with client.stream(
                "GET", url, headers={"Accept": _ACCEPT}, timeout=timeout, follow_redirects=True
            ) as response:
                if response.status_code >= 400 or response.status_code < 200:
                    reason = response.reason_phrase or ""
                    raise ScheduleError(f"the server answered HTTP {response.status_code} {reason}".strip(), source=url)
                if 300 <= response.status_code < 400:
                    raise ScheduleError(
                        f"the server answered HTTP {response.status_code} without a usable redirect", source=url
                    )
                declared = response.headers.get("content-length", "")
                total = int(declared) if declared.isdigit() else None
                if total is not None and total > max_bytes:
                    raise ScheduleError(_too_big(max_bytes, f"it is {total:,} bytes"), source=url)
                chunks: list[bytes] = []
                async for chunk in response.aiter_bytes():
                    received += len(chunk)
                    if received > max_bytes:
                        raise ScheduleError(_too_big(max_bytes, "it is larger"), source=url)
                    chunks.append(chunk)
                    if progress is not None:
                        progress(received, total)
    except TimeoutError:
        raise ScheduleError(f"timed out after {timeout:g} s ({received:,} bytes received)", source=url) from None
    except httpx.TimeoutException:
        raise ScheduleError(f"timed out after {timeout:g} s ({received:,} bytes received)", source=url) from None
    except httpx.TooManyRedirects:
        raise ScheduleError("too many redirects", source=url) from None
    except httpx.HTTPError as exc:
        detail = str(exc) or type(exc).__name__
        raise ScheduleError(f"cannot fetch: {detail}", source=url) from None
    finally:
        if own_client:
            await client.aclose()
    body = b"".join(chunks)
    if not body.strip():
        raise ScheduleError("the server sent an empty body", source=url)
    return body


def _too_big(max_bytes: int, actual: str) -> str:
    return f"the schedule is over the {max_bytes:,}-byte limit ({actual})"
