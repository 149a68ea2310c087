"""Where a follower's messages go: straight into its connection's transport, or through ASGI ``send``.

A ``Message`` is one WebSocket text message (a frame, or several as one JSON array), encoded to
wire bytes once and written as is to every follower that gets it. Under uvicorn with
``app.broadcast.uvicorn_protocol`` the hub writes those bytes into each socket's transport without
a task, a queue or per-socket framing (``TransportSink``); any other ASGI server gets the same
messages through a per-socket writer task (``AsgiSink``).
"""

from __future__ import annotations

import asyncio
import struct
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

from starlette.types import Scope, Send

TRANSPORT_EXTENSION = "backchannel.transport"


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final WebSocket text frame (RFC 6455 §5.2): what a server sends."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 65536:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


class Message:
    """One WebSocket message for any number of followers; ``frames`` live frames inside.

    A bundle (``parts``) is several messages written to a socket at once: one write for a whole replay.
    """

    __slots__ = ("_wire", "frames", "parts", "text")

    def __init__(self, text: str, frames: int = 1, parts: tuple[Message, ...] = ()) -> None:
        self.text = text
        self.frames = frames
        self.parts = parts
        self._wire: bytes | None = None

    @classmethod
    def of(cls, texts: Sequence[str]) -> Message:
        return cls(texts[0] if len(texts) == 1 else "[" + ",".join(texts) + "]", len(texts))

    @classmethod
    def bundle(cls, messages: Sequence[Message]) -> Message:
        return cls("", sum(m.frames for m in messages), tuple(messages))

    @property
    def wire(self) -> bytes:
        if self._wire is None:
            if self.parts:
                self._wire = b"".join(part.wire for part in self.parts)
            else:
                self._wire = text_frame(self.text.encode())
        return self._wire


class Sink(Protocol):
    def send(self, message: Message) -> int:
        """Hand ``message`` on without waiting; returns how many frames still wait on this socket."""
        ...

    def cut_off(self, resync: Message) -> None:
        """The follower fell too far behind: drop what waits, send ``resync``, close with 4409."""
        ...


class TransportSink:
    """Writes pre-encoded frames into a uvicorn WebSocket connection's transport.

    Nothing waits on a healthy socket: the write goes to the kernel at once. Only while the
    transport holds unsent bytes are the messages' ends remembered, to count the frames waiting.
    """

    __slots__ = ("_pending", "_waiting", "_written", "protocol", "transport")

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol  # uvicorn's WebSocketsSansIOProtocol
        self.transport: asyncio.WriteTransport = protocol.transport
        self._written = 0
        self._waiting = 0
        self._pending: deque[tuple[int, int]] | None = None

    @classmethod
    def of(cls, scope: Scope) -> TransportSink | None:
        extension = scope.get("extensions", {}).get(TRANSPORT_EXTENSION)
        return cls(extension["protocol"]) if extension else None

    def send(self, message: Message) -> int:
        transport = self.transport
        if self.protocol.close_sent or transport.is_closing():
            return 0
        wire = message.wire
        transport.write(wire)
        buffered = transport.get_write_buffer_size()
        if not buffered:
            if self._pending is not None:
                self._pending = None
                self._written = self._waiting = 0
            return 0
        if self._pending is None:
            self._pending = deque()
        self._written += len(wire)
        self._pending.append((self._written, message.frames))
        self._waiting += message.frames
        sent = self._written - buffered
        pending = self._pending
        while pending and pending[0][0] <= sent:
            self._waiting -= pending.popleft()[1]
        return self._waiting

    def cut_off(self, resync: Message) -> None:
        protocol = self.protocol
        if protocol.close_sent or self.transport.is_closing():
            return
        # What is already buffered cannot be taken back; the resync and the close go after it, and
        # a follower that does not read them within a few seconds is dropped (its memory freed).
        self.transport.write(resync.wire)
        protocol.conn.send_close(4409, "resync")
        self.transport.write(b"".join(protocol.conn.data_to_send()))
        protocol.close_sent = True
        protocol.close_timer = protocol.loop.call_later(5.0, self.transport.abort)
        self._pending = None


class AsgiSink:
    """Messages through the ASGI ``send`` of any server, drained by one writer task per socket."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.queue: deque[Message | None] = deque()
        self._waiting = 0
        self._ready = asyncio.Event()
        self.closed_code: int | None = None

    def send(self, message: Message) -> int:
        if self.closed_code is not None:
            return 0
        self.queue.extend(message.parts or (message,))
        self._waiting += message.frames
        self._ready.set()
        return self._waiting

    def cut_off(self, resync: Message) -> None:
        self.queue.clear()
        self._waiting = 0
        self.queue.extend((resync, None))
        self.closed_code = 4409
        self._ready.set()

    async def run(self) -> None:
        """Send until cut off (then close with 4409); cancelled when the socket goes away."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self.queue:
                message = self.queue.popleft()
                if message is None:
                    await self._send({"type": "websocket.close", "code": 4409, "reason": "resync"})
                    return
                self._waiting -= message.frames
                await self._send({"type": "websocket.send", "text": message.text})
