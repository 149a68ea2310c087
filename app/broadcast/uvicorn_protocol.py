"""uvicorn's sans-I/O WebSocket protocol, telling the app its connection so the hub can write frames directly.

The live route finds ``scope["extensions"]["backchannel.transport"]`` and fans out pre-encoded frame
bytes straight into the transport (``app.broadcast.sinks.TransportSink``): one encoding per message
for every follower instead of a queue, a writer task and a framing per socket. Everything else (the
handshake, pings, the receive side, close) is uvicorn's own. Pass the class as uvicorn's ``ws=``.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from app.broadcast.sinks import TRANSPORT_EXTENSION


class DirectWebSocketProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        # The ASGI task starts on the next loop iteration, so the scope can still be extended here.
        scope = getattr(self, "scope", None)
        if scope is not None and not self.close_sent:
            scope["extensions"][TRANSPORT_EXTENSION] = {"protocol": self}
