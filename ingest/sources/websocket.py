"""Client WebSocket plumbing shared by the sources: bounded receives, and closes that never leak a socket."""

from __future__ import annotations

import asyncio

import anyio
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import WebSocketException

from ingest.errors import SourceUnavailable


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


async def receive_frame(ws: ClientConnection, *, name: str, timeout: float, max_bytes: int) -> bytes | None:
    """The next frame as bytes, or None when it is larger than ``max_bytes`` (the caller skips and counts it).

    A peer silent for ``timeout`` seconds, or a closed connection, is ``SourceUnavailable``: the runner reconnects.
    """
    try:
        # asyncio's own timeout, not anyio's cancel scope: this runs once per frame, and the websockets
        # client is asyncio-only anyway; a scope costs several times more than the receive it bounds.
        async with asyncio.timeout(timeout):
            frame = await ws.recv(decode=False)
    except TimeoutError as exc:
        raise SourceUnavailable(f"{name}: silent for {timeout}s") from exc
    except WebSocketException as exc:
        raise SourceUnavailable(f"{name}: connection closed: {exc!r}") from exc
    return frame if len(frame) <= max_bytes else None
