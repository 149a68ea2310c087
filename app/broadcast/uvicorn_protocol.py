"""uvicorn's sans-I/O WebSocket protocol, able to hand a follower's socket over to the hub.

The live route finds ``scope["extensions"]["backchannel.transport"]``, attaches the socket to the hub
(which then writes pre-encoded frame bytes straight into the transport, see
``app.broadcast.sinks.TransportSink``) and calls ``hand_over``: its ASGI task ends, and with it the
coroutines, scope and request objects of the whole middleware stack, while the connection stays
open. What is left per follower is this protocol, its transport and the hub's subscriber. Anything
the client sends is dropped (followers only listen; oversized messages are refused with 1009); when
the connection goes, the callbacks given to ``when_closed`` run. The handshake, pings and close
are uvicorn's own. Pass the class as uvicorn's ``ws=``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from app.broadcast.sinks import TRANSPORT_EXTENSION


class _Discard:
    """Stands in for the receive queue once no ASGI task reads it."""

    def put_nowait(self, message: object) -> None:
        return None

    def empty(self) -> bool:
        return True


_DISCARD: Any = _Discard()


class DirectWebSocketProtocol(WebSocketsSansIOProtocol):
    # Class-level defaults: most sockets never set these, so they cost no instance memory.
    handed_over = False
    lost = False
    _closers: list[Callable[[], None]] | None = None
    _max_message = 0

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        # The ASGI task starts on the next loop iteration, so the scope can still be extended here.
        scope = getattr(self, "scope", None)
        if scope is not None and not self.close_sent:
            scope["extensions"][TRANSPORT_EXTENSION] = {"protocol": self}

    def hand_over(self, max_message_bytes: int) -> None:
        """The app returns from its handler; the connection stays open until the client or the hub closes it."""
        self.handed_over = True
        self._max_message = max_message_bytes
        self.queue = _DISCARD
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()

    def when_closed(self, callback: Callable[[], None]) -> None:
        if self.lost:
            callback()
            return
        if self._closers is None:
            self._closers = []
        self._closers.append(callback)

    async def run_asgi(self) -> None:
        try:
            result = await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException:
            self.logger.exception("Exception in ASGI application\n")
            self.send_500_response()
        else:
            if not self.handshake_complete:
                self.logger.error("ASGI callable returned without completing handshake.")
                self.send_500_response()
            elif result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.", result)
        if self.handed_over and not self.lost:
            # Drop what only the ASGI side needed; keeping it would cost kilobytes per follower.
            del self.scope, self.request, self.response
            return
        if self.close_timer is None:
            self.transport.close()

    def send_receive_event_to_app(self) -> None:
        if not self.handed_over:
            super().send_receive_event_to_app()
            return
        size = sum(len(part) for part in self.frames)
        self.frames = []
        if size > self._max_message and not self.close_sent:
            self.conn.send_close(1009, "message too big")
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.close_sent = True
            self.close_timer = self.loop.call_later(self.close_timeout, self.transport.close)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        super().connection_lost(exc)
        closers, self._closers = self._closers, None
        for callback in closers or ():
            callback()
