"""The live WebSocket: replay what a follower missed, then stream frames, with heartbeats (sent by the hub)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocketState

from app.broadcast.hub import RESYNC, Hub
from app.broadcast.sinks import AsgiSink, TransportSink
from app.errors import NotFound
from app.services import events as event_service
from app.settings import Settings

logger = logging.getLogger(__name__)

router = APIRouter(tags=["live"])

EVENT_KEY_SECONDS = 10.0


def _int_param(ws: WebSocket, name: str) -> int | None:
    raw = ws.query_params.get(name)
    if raw is None or raw == "":
        return None
    value = int(raw)  # ValueError is answered with a policy-violation close below
    if value < 0 or value > 2**53:
        raise ValueError(name)
    return value


async def _read(ws: WebSocket, max_bytes: int) -> None:
    """Followers only listen; what they send is read and dropped so disconnects are seen, and oversized is refused."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        size = len(message.get("text") or "") + len(message.get("bytes") or b"")
        if size > max_bytes:
            # The server's own frame limit (uvicorn ws_max_size) normally stops this first; this covers any server.
            logger.info("live.client_message_too_large", extra={"bytes": size})
            await ws.close(code=1009, reason="message too big")
            return


async def _lookup_event(ws: WebSocket, slug: str) -> tuple[int, str] | None:
    async with ws.app.state.sessionmaker() as session:
        try:
            event = await event_service.get_event(session, slug)
        except NotFound:
            return None
    assert event.id is not None
    return event.id, event.slug


async def _event_key(ws: WebSocket, slug: str) -> tuple[int, str] | None:
    """The event's id and slug, remembered briefly: a mass reconnect must not cost a database query per socket.

    Sockets arriving together share one lookup in flight rather than each missing the cache at once.
    """
    state = ws.app.state
    cache: dict[str, tuple[float, asyncio.Future[tuple[int, str] | None]]] | None = getattr(
        state, "live_event_keys", None
    )
    if cache is None:
        cache = state.live_event_keys = {}
    now = time.monotonic()
    hit = cache.get(slug)
    if hit is None or hit[0] <= now or (hit[1].done() and hit[1].exception() is not None):
        if len(cache) > 10_000:
            cache.clear()  # bounded: slugs probed by strangers are not kept forever
        hit = cache[slug] = (now + EVENT_KEY_SECONDS, asyncio.ensure_future(_lookup_event(ws, slug)))
    found = await asyncio.shield(hit[1])
    if found is None and cache.get(slug) is hit:
        del cache[slug]  # an event created a moment later must be found at once
    return found


async def follow_event(ws: WebSocket) -> None:
    """Frames `{"id","type","data"}`; connect with `?after=<id>` to resume, `?talk=<id>` for one talk."""
    slug: str = ws.path_params["slug"]
    settings: Settings = ws.app.state.settings
    hub: Hub = ws.app.state.hub
    try:
        after = _int_param(ws, "after")
        talk_id = _int_param(ws, "talk")
    except ValueError:
        await ws.close(code=1008, reason="after and talk must be non-negative integers")
        return
    found = await _event_key(ws, slug)
    if found is None:
        await ws.close(code=4404, reason=f"no event {slug!r}"[:120])
        return
    event_id, event_slug = found
    await hub.feed(event_id, event_slug)  # started before the accept, so a client that leaves at once leaves it whole
    await ws.accept()
    # Under uvicorn with DirectWebSocketProtocol the hub writes into the socket itself; elsewhere a writer task does.
    direct = TransportSink.of(ws.scope)
    sink: TransportSink | AsgiSink = direct if direct is not None else AsgiSink(ws._send)
    sub = await hub.attach(
        event_id, event_slug, sink, after=after, talk_id=talk_id, heartbeat=settings.ws_heartbeat_seconds
    )
    if sub is None:
        await ws.send_text(RESYNC)
        await ws.close(code=4409, reason="resync")
        return
    if direct is not None:
        # The hub writes to the socket from here on; this handler (and its task) ends, the connection stays.
        direct.protocol.when_closed(lambda: hub.detach(event_id, sub))
        direct.protocol.hand_over(settings.ws_max_message_bytes)
        return
    assert isinstance(sink, AsgiSink)
    try:
        await _read_and_write(ws, sink, settings.ws_max_message_bytes, slug)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
    finally:
        hub.detach(event_id, sub)
        if (
            not sub.overflowed
            and ws.application_state == WebSocketState.CONNECTED
            and ws.client_state == WebSocketState.CONNECTED
        ):
            with contextlib.suppress(Exception):
                await ws.close(code=1000)


async def _read_and_write(ws: WebSocket, sink: AsgiSink, max_bytes: int, slug: str) -> None:
    """Without direct writes: the writer task drains the sink while this reads, until either ends."""
    writer = asyncio.create_task(sink.run())
    reader = asyncio.create_task(_read(ws, max_bytes))
    try:
        done, _ = await asyncio.wait({writer, reader}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                exc = task.exception()
                if not isinstance(exc, WebSocketDisconnect | RuntimeError | OSError):
                    logger.warning("live.socket_failed", extra={"event_slug": slug, "error": repr(exc)})
    finally:
        for task in (writer, reader):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


# A plain Starlette route: FastAPI's dependency solving per socket is a tenth of a mass reconnect's handshake CPU.
router.routes.append(WebSocketRoute("/ws/events/{slug}", follow_event, name="follow_event"))
