"""Under uvicorn the hub writes frames straight into each socket; followers see the same live protocol as anywhere."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from app.broadcast.hub import Hub
from app.broadcast.sinks import TransportSink
from app.broadcast.uvicorn_protocol import DirectWebSocketProtocol
from app.main import create_app
from app.settings import Settings
from app.store.live import encode_frame


class _Server(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # pytest keeps its signal handlers


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[tuple[str, Any]]:
    """The app under uvicorn as `backchannel serve` runs it: its address and the app."""
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        ws=DirectWebSocketProtocol,
        ws_per_message_deflate=False,
        ws_max_size=settings.ws_max_message_bytes,
        timeout_graceful_shutdown=2,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    with anyio.fail_after(20):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        await task


async def frames(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with anyio.fail_after(20):
        while len(out) < count:
            payload = json.loads(await ws.recv())
            out.extend(f for f in (payload if isinstance(payload, list) else [payload]) if f["type"] != "heartbeat")
    return out


async def post(http: httpx.AsyncClient, text: str) -> int:
    response = await http.post("/api/events/testcon/posts", json={"text": text})
    assert response.status_code == 201, response.text
    return int(response.json()["post"]["id"])


@pytest.mark.anyio
async def test_followers_get_every_note_and_resume_exactly_where_they_left_off(settings: Settings) -> None:
    async with served(settings) as (address, _), httpx.AsyncClient(base_url=f"http://{address}") as http:
        assert (await http.post("/api/events", json={"slug": "testcon", "name": "T"})).status_code == 201
        url = f"ws://{address}/ws/events/testcon"
        async with connect(url) as staying:
            async with connect(url) as dropping:
                await post(http, "before the drop")
                (seen,) = await frames(dropping, 1)
            missed = [await post(http, f"missed {i}") for i in range(3)]
            async with connect(f"{url}?after={seen['id']}") as back:
                replayed = await frames(back, 3)
                assert [f["data"]["id"] for f in replayed] == missed
                await post(http, "live again")
                (live,) = await frames(back, 1)
                assert live["data"]["text"] == "live again"
            everything = await frames(staying, 5)
        assert [f["data"]["text"] for f in everything] == [
            "before the drop",
            "missed 0",
            "missed 1",
            "missed 2",
            "live again",
        ]


def _stalled_follower(address: str) -> socket.socket:
    """A raw follower that completes the handshake, then never reads again (a tiny receive buffer)."""
    host, port = address.split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws/events/testcon HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert b" 101 " in response
    return sock


@pytest.mark.anyio
async def test_a_follower_that_stops_reading_is_cut_off_and_the_others_get_everything(settings: Settings) -> None:
    small = settings.model_copy(update={"ws_queue_size": 8})
    async with served(small) as (address, app), httpx.AsyncClient(base_url=f"http://{address}") as http:
        assert (await http.post("/api/events", json={"slug": "testcon", "name": "T"})).status_code == 201
        stalled = await asyncio.to_thread(_stalled_follower, address)
        try:
            async with connect(f"ws://{address}/ws/events/testcon", max_size=None) as healthy:
                hub: Hub = app.state.hub
                with anyio.fail_after(10):
                    while hub.connections < 2:
                        await asyncio.sleep(0.01)
                feed = await hub.feed(1, "testcon")
                assert all(isinstance(sub.sink, TransportSink) for sub in feed.subscribers)  # no writer task per socket
                # Far more than the kernel buffers of a socket nobody reads. The healthy follower reads each burst
                # before the next is published (it shares this event loop, so on a loaded machine it could
                # otherwise fall behind by more than the queue itself and be cut off too).
                count, burst, pad = 3000, small.ws_queue_size, "x" * 4000
                got: list[dict[str, Any]] = []
                with anyio.fail_after(60):
                    for first in range(1, count + 1, burst):
                        for seq in range(first, min(first + burst, count + 1)):
                            await app.state.broker.publish(
                                "event:testcon", encode_frame(seq, "talk.updated", {"pad": pad})
                            )
                        got += await frames(healthy, min(burst, count + 1 - first))
                assert [f["id"] for f in got] == list(range(1, count + 1))
                assert hub.frames_dropped == 1 and hub.connections == 1
        finally:
            stalled.close()
