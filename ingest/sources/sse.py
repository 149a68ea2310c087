"""Server-sent events: byte chunks in, (event, data) pairs out, with a bound on event size.

>>> decoder = SseDecoder(max_event_bytes=100)
>>> decoder.feed(b":thump\\nevent: delete\\ndata: 12")
[]
>>> decoder.feed(b"3\\n\\n")
[SseEvent(event='delete', data='123', oversized=False)]
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SseEvent:
    event: str
    data: str
    oversized: bool = False  # the data passed the limit and was dropped; the event is only counted


class SseDecoder:
    """Incremental SSE parser (WHATWG event-stream rules, ``\\n`` or ``\\r\\n`` line ends).

    Memory stays bounded: a line or event larger than ``max_event_bytes`` is discarded as it
    arrives and reported once as ``oversized`` instead of being buffered.
    """

    def __init__(self, max_event_bytes: int = 1_000_000) -> None:
        self.max_event_bytes = max_event_bytes
        self._line = bytearray()
        self._discarding_line = False
        self._event = ""
        self._data: list[bytes] = []
        self._size = 0
        self._oversized = False

    def feed(self, chunk: bytes) -> list[SseEvent]:
        events: list[SseEvent] = []
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                self._append_partial(chunk[start:])
                return events
            self._append_partial(chunk[start:end])
            start = end + 1
            line = bytes(self._line)
            discarded = self._discarding_line
            self._line.clear()
            self._discarding_line = False
            if discarded:
                self._oversized = True
                continue
            event = self._handle_line(line[:-1] if line.endswith(b"\r") else line)
            if event is not None:
                events.append(event)

    def _append_partial(self, part: bytes) -> None:
        if self._discarding_line:
            return
        if len(self._line) + len(part) + self._size > self.max_event_bytes:
            self._line.clear()
            self._discarding_line = True
            return
        self._line += part

    def _handle_line(self, line: bytes) -> SseEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(b":"):  # comment, used as heartbeat (":thump", ":)")
            return None
        field, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"event":
            self._event = value.decode("utf-8", "replace")
        elif field == b"data":
            self._data.append(value)
            self._size += len(value) + 1
        return None

    def _dispatch(self) -> SseEvent | None:
        event, data, oversized = self._event or "message", self._data, self._oversized
        self._event, self._data, self._size, self._oversized = "", [], 0, False
        if oversized:
            return SseEvent(event=event, data="", oversized=True)
        if not data:
            return None
        return SseEvent(event=event, data=b"\n".join(data).decode("utf-8", "replace"))
