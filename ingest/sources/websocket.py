"""Client WebSocket plumbing shared by the sources: bounded receives, and closes that never leak a socket."""

from __future__ import annotations

import asyncio

import anyio
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import WebSocketException

from ingest.errors import SourceUnavailable, network_reason


async def close_websocket(ws: ClientConnection) -> None:
    """Close politely for at most two seconds, then drop the connection whatever state it is in.

    Cutting ``close()`` short (a peer that never answers the close frame, or a kill landing during
    the handshake) leaves websockets waiting for the TCP close, with the socket still open: abort it.
    """
    try:
        with anyio.move_on_after(2, shield=True):
            await ws.close()
    finally:
        ws.transport.abort()  # a no-op once the connection is closed


class FrameReceiver:
    """Bounded receives: a frame larger than ``max_bytes`` comes back as None, a peer silent for ``timeout``
    seconds (or a closed connection) is ``SourceUnavailable`` and the runner reconnects.

    No timer is armed and cancelled per frame: a busy stream delivers thousands of frames a second and
    almost every ``recv`` returns at once;
    one watchdog every ``timeout / 4`` seconds looks whether the current ``recv`` has waited longer than
    ``timeout`` and, if so, aborts the connection (so "silent" is noticed after ``timeout`` to
    ``1.25 × timeout`` seconds). Time spent outside ``recv`` (the consumer applying backpressure) never counts.
    Use as ``with FrameReceiver(ws, …) as receiver: frame = await receiver.recv()``.
    """

    def __init__(self, ws: ClientConnection, *, name: str, timeout: float, max_bytes: int) -> None:
        self._ws = ws
        self._name = name
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._loop = asyncio.get_running_loop()
        self._waiting_since: float | None = None
        self._silent = False
        self._watchdog: asyncio.TimerHandle | None = None

    def __enter__(self) -> FrameReceiver:
        self._watchdog = self._loop.call_later(self._timeout / 4, self._check)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _check(self) -> None:
        since = self._waiting_since
        if since is not None and self._loop.time() - since >= self._timeout:
            self._silent = True
            self._ws.transport.abort()  # the pending recv ends with ConnectionClosed
            return
        self._watchdog = self._loop.call_later(self._timeout / 4, self._check)

    async def recv(self) -> bytes | None:
        """The next frame as bytes, or None when it is larger than ``max_bytes`` (the caller skips and counts it)."""
        self._waiting_since = self._loop.time()
        try:
            frame = await self._ws.recv(decode=False)
        except WebSocketException as exc:
            if self._silent:
                raise SourceUnavailable(f"{self._name}: silent for {self._timeout}s") from exc
            raise SourceUnavailable(f"{self._name}: connection closed: {network_reason(exc)}") from exc
        finally:
            self._waiting_since = None
        return frame if len(frame) <= self._max_bytes else None
