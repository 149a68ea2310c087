"""An event summary in, a ZIP of every talk's summary plus an index and all posts as CSV out.

Layout (names are deterministic, derived from talk slugs or guids, never trusted as paths)::

    index.md  index.html  posts.csv
    talks/<name>.md  talks/<name>.html  talks/<name>.json  [talks/<name>.pdf]
    hallway.md  hallway.html  hallway.json  [hallway.pdf]      (when there is a hallway)
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator

from app.export.csv_export import render_event_csv
from app.export.html import render_event_html, render_talk_html
from app.export.json_export import render_talk_json
from app.export.markdown import render_event_index_markdown, render_talk_markdown
from app.export.summary import EventSummary, TalkSummary

NAME_LIMIT = 80
# Entries carry a fixed timestamp so the same summary always gives the same archive listing.
_ENTRY_TIME = (2000, 1, 1, 0, 0, 0)
_NOT_NAME = re.compile(r"[^a-z0-9]+")
# Latin letters that NFKD does not decompose into ASCII.
_TRANSLITERATE = str.maketrans({"ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "OE",
                                "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "þ": "th", "Þ": "TH"})  # fmt: skip


def safe_name(text: str, fallback_seed: str) -> str:
    """A file name stem of ``[a-z0-9-]`` only: no dots, slashes or drive letters survive, so a
    title like ``../../etc/passwd`` cannot escape the archive's folder."""
    ascii_text = (
        unicodedata.normalize("NFKD", text.translate(_TRANSLITERATE)).encode("ascii", "ignore").decode("ascii").lower()
    )
    name = _NOT_NAME.sub("-", ascii_text).strip("-")[:NAME_LIMIT].rstrip("-")
    if not name:
        name = "talk-" + hashlib.sha256(fallback_seed.encode("utf-8")).hexdigest()[:12]
    return name


def talk_file_stems(event: EventSummary) -> dict[str, str]:
    """Talk guid → path stem (``talks/<name>``), unique even when slugs collide."""
    stems: dict[str, str] = {}
    taken: set[str] = set()
    for talk in event.talks:
        base = safe_name(talk.slug or talk.guid, talk.guid)
        name, n = base, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name)
        stems[talk.guid] = f"talks/{name}"
    if event.hallway is not None:
        stems[event.hallway.guid] = "hallway"
    return stems


def _entries(event: EventSummary, include_pdf: bool) -> Iterator[tuple[str, Callable[[], bytes | str]]]:
    stems = talk_file_stems(event)
    yield "index.md", lambda: render_event_index_markdown(event, talk_links={g: f"{s}.md" for g, s in stems.items()})
    yield "index.html", lambda: render_event_html(event, talk_links={g: f"{s}.html" for g, s in stems.items()})
    yield "posts.csv", lambda: render_event_csv(event)
    for talk in event.all_talks:
        stem = stems[talk.guid]
        yield from _talk_entries(talk, stem, include_pdf)


def _talk_entries(talk: TalkSummary, stem: str, include_pdf: bool) -> Iterator[tuple[str, Callable[[], bytes | str]]]:
    yield f"{stem}.md", lambda: render_talk_markdown(talk)
    yield f"{stem}.html", lambda: render_talk_html(talk)
    yield f"{stem}.json", lambda: render_talk_json(talk)
    if include_pdf:
        # Imported on use: WeasyPrint needs the Pango system library; archives without PDFs must not.
        from app.export.pdf import render_talk_pdf

        yield f"{stem}.pdf", lambda: render_talk_pdf(talk)


def archive_names(event: EventSummary, *, include_pdf: bool = False) -> list[str]:
    """The files the archive will contain, in order (cheap: nothing is rendered)."""
    return [name for name, _ in _entries(event, include_pdf)]


def render_event_archive(
    event: EventSummary, *, include_pdf: bool = False, progress: Callable[[str], None] | None = None
) -> bytes:
    """The ZIP as bytes. ``progress`` is called with each file name once it is written (a CLI bar)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, render in _entries(event, include_pdf):
            content = render()
            data = content.encode("utf-8") if isinstance(content, str) else content
            info = zipfile.ZipInfo(name, date_time=_ENTRY_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
            if progress is not None:
                progress(name)
    return buffer.getvalue()
