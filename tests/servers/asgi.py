"""Run an ASGI app with uvicorn on 127.0.0.1 inside the caller's event loop: app in, base address out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import anyio
import uvicorn
from starlette.types import ASGIApp


class _EmbeddedServer(uvicorn.Server):
    """Leaves signal handling to the host process (pytest, or the app under test)."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@asynccontextmanager
async def serve_asgi(app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[int]:
    """Serve ``app`` until the block exits; yields the bound port (an ephemeral one by default)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="off",
        ws="websockets-sansio",
        timeout_graceful_shutdown=2,
        access_log=False,
    )
    server = _EmbeddedServer(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(10):
            while not server.started:
                await anyio.sleep(0.005)  # uvicorn exposes no startup event
        bound = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield bound
        finally:
            server.should_exit = True


def run_forever(app: ASGIApp, *, host: str, port: int) -> None:
    """Blocking entry point for the command-line servers."""
    uvicorn.run(app, host=host, port=port, log_level="info", ws="websockets-sansio", lifespan="off")
