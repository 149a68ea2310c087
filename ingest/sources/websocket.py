"""Closing a client WebSocket so that no socket is ever left open, whatever state the peer is in."""

from __future__ import annotations

import anyio
from websockets.asyncio.client import ClientConnection


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
