"""`backchannel serve` and `backchannel demo`: run the web process."""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys

import uvicorn

from app.broadcast.uvicorn_protocol import DirectWebSocketProtocol
from app.cli.arguments import port_number, positive_number
from app.cli.errors import CommandError, require_store
from app.settings import Settings

# A proxy reload sends every follower back at once; uvicorn's default of 2048 pending connections
# would refuse some of them (the kernel caps it at net.core.somaxconn).
LISTEN_BACKLOG = 8192


def require_address(host: str, port: int) -> None:
    """Stop with one line when the server could not listen on ``host:port`` (no such host, the port taken,
    an address of another machine), before the app starts: uvicorn finds out only after the app's startup
    has run, and says so in a log line among its own."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CommandError(f"cannot listen on {where}: no such host ({exc.strerror})") from None
    for family, kind, proto, _, address in addresses:
        # the options asyncio's create_server sets, so a port left in TIME_WAIT is no more refused here than there
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise CommandError(f"cannot listen on {where}: {(exc.strerror or str(exc)).lower()}") from None


def _serve(settings: Settings, *, host: str, port: int) -> None:
    from app.main import create_app

    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        ws_max_size=settings.ws_max_message_bytes,
        ws=DirectWebSocketProtocol,  # the hub writes pre-encoded frames into each socket's transport
        ws_per_message_deflate=False,  # compression halves fan-out throughput and triples memory
        backlog=LISTEN_BACKLOG,
        proxy_headers=True,
    )


async def _prepare_demo(settings: Settings) -> tuple[str, str]:
    """The demo event, made or re-anchored, and an organizer token for it: made with the event, else a new one
    (only a hash is kept, so a second start could not show the first token again; the old one stops working)."""
    from app.broadcast.broker import broker_for
    from app.services.demo import ensure_demo_event
    from app.services.moderation import rotate_token
    from app.services.unit_of_work import UnitOfWork
    from app.store.db import create_engine, migrate, sessionmaker

    engine = create_engine(settings)
    try:
        await migrate(engine)
        broker = broker_for(settings)
        await broker.connect()
        async with sessionmaker(engine)() as session:
            uow = UnitOfWork(session, broker)
            event, token = await ensure_demo_event(
                uow, slug=settings.demo_slug, seed=settings.demo_seed, speed=settings.demo_speed
            )
            if token is None:
                token = await rotate_token(uow, event)
            await uow.commit()
        await broker.close()
        return event.slug, token
    finally:
        await engine.dispose()


def cmd_serve(args: argparse.Namespace, settings: Settings) -> None:
    if args.no_workers:
        settings = settings.model_copy(update={"pipeline_in_process": False})
    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    require_address(host, port)
    require_store(settings)
    _serve(settings, host=host, port=port)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> None:
    updates: dict[str, object] = {"pipeline_in_process": True}
    if args.speed is not None:
        updates["demo_speed"] = args.speed
    if args.seed is not None:
        updates["demo_seed"] = args.seed
    settings = settings.model_copy(update=updates)
    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    require_address(host, port)
    require_store(settings)
    slug, token = asyncio.run(_prepare_demo(settings))
    sys.stderr.write(f"\n  Backchannel demo: open http://{host}:{port}/e/{slug}\n")
    sys.stderr.write(f"  Organizer console: http://{host}:{port}/e/{slug}/organize\n")
    sys.stderr.write(f"  Organizer token for {slug} (new each start; the last one stops working): {token}\n")
    sys.stderr.write("\n")
    _serve(settings, host=host, port=port)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser("serve", help="run the web app (with ingest and clustering in process by default)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=port_number)
    serve.add_argument("--no-workers", action="store_true", help="API only; run `backchannel ingest/cluster` apart")
    serve.set_defaults(func=cmd_serve)

    demo = sub.add_parser("demo", help="create a generated conference and serve it live")
    demo.add_argument("--host")
    demo.add_argument("--port", type=port_number)
    demo.add_argument("--speed", type=positive_number, help="pace multiplier; 1 is a realistic 12 posts a minute")
    demo.add_argument("--seed", type=int)
    demo.set_defaults(func=cmd_demo)
