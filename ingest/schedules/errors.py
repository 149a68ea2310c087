"""The one error schedule import raises: a file (or URL) that cannot be imported, and where."""

from __future__ import annotations

import re

_SPACE = re.compile(r"\s+")


def one_line(text: str, *, limit: int = 300) -> str:
    """Collapse whitespace so a message fits on one line; cut it at ``limit`` characters."""
    text = _SPACE.sub(" ", str(text)).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class ScheduleError(ValueError):
    """A schedule that cannot be imported, with the place that made it fail.

    ``str(error)`` is one human-readable line that names the file and either the line (XML, JSON
    syntax, iCalendar) or the field path (JSON structure, e.g.
    ``schedule.conference.days[1].rooms["Saal 1"][3].start``), e.g.::

        schedule.xml, line 812: <event id="6561"> has no <title>
        schedule.json, at schedule.conference.days[0].rooms["Gray Room"][2].date: expected ...

    The parts are also kept as attributes so an API can return them as structured data.
    Fetch failures (HTTP status, timeout, size cap) raise this class too, with ``source`` = URL.
    """

    def __init__(
        self,
        reason: str,
        *,
        source: str | None = None,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = one_line(reason)
        self.source = one_line(source, limit=200) if source else None
        self.line = line
        self.column = column
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        where: list[str] = []
        if self.source:
            where.append(self.source)
        if self.line is not None:
            where.append(f"line {self.line}" + (f", column {self.column}" if self.column is not None else ""))
        if self.field:
            where.append(f"at {self.field}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason
