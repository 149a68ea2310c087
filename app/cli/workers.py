"""`backchannel ingest` and `backchannel cluster`: the pipeline stages as their own processes (scale-out mode)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from app.cli.arguments import port_number, positive_number
from app.cli.errors import CommandError, require_store
from app.settings import Settings
from ingest.schedules.errors import ScheduleError

logger = logging.getLogger(__name__)

# What a worker does with the engine, session maker, broker and a stop signal; returns at stop.
Body = Callable[[Any, Any, Any, asyncio.Event], Awaitable[None]]


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


def _serve_metrics(port: int | None, metrics: Any) -> None:
    """Expose this worker's metrics on ``port`` (Prometheus scrapes each process)."""
    if port is None:
        return
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics)
    start_http_server(port, registry=registry)


async def run_worker(settings: Settings, role: str, body: Body) -> None:
    """Open the store and broker, run ``body`` until SIGTERM/SIGINT, then close everything."""
    from app.broadcast.broker import broker_for
    from app.store.db import create_engine, migrate, sessionmaker

    stop = asyncio.Event()
    _stop_on_signals(stop)
    engine = create_engine(settings)
    try:
        await migrate(engine)
        broker = broker_for(settings)
        await broker.connect()
        try:
            logger.info("worker.started", extra={"role": role, "database": engine.url.get_backend_name()})
            await body(engine, sessionmaker(engine), broker, stop)
        finally:
            await broker.close()
    finally:
        await engine.dispose()
        logger.info("worker.stopped", extra={"role": role})


def ingest_body(metrics_port: int | None) -> Body:
    from app.metrics import ProcessMetrics
    from app.pipeline.ingest import IngestSupervisor, prepare_ingest_process

    async def body(engine: Any, maker: Any, broker: Any, stop: asyncio.Event) -> None:
        supervisor = IngestSupervisor(maker, broker)
        # Metrics answer from the start (as "worker.started" says), also while the models load.
        _serve_metrics(metrics_port, ProcessMetrics(broker=broker, ingest=supervisor, role="ingest"))
        await prepare_ingest_process()
        task = asyncio.create_task(supervisor.run(), name="ingest")
        await asyncio.wait({task, asyncio.create_task(stop.wait())}, return_when=asyncio.FIRST_COMPLETED)
        # Cancelling run() stops every runner and waits for it: a batch in flight is committed
        # (or rolled back whole) and its cursor saved before the process exits.
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return body


def cluster_body(metrics_port: int | None, poll_interval: float) -> Body:
    from app.metrics import ProcessMetrics
    from app.pipeline.lease import LeasedWorker, create_leases

    try:
        from app.pipeline.cluster import ClusterPipeline
    except ImportError as exc:
        raise CommandError(f"the clustering pipeline is not available: {exc}") from exc

    async def body(engine: Any, maker: Any, broker: Any, stop: asyncio.Event) -> None:
        from app.pipeline.ingest import freeze_startup_heap, warm_kind_model

        # As the web app and the ingest worker do: models loaded off the loop, then the startup heap
        # (~300k objects: sklearn, scipy, numba) frozen, so a full collection (~150 ms) skips it.
        await warm_kind_model()
        freeze_startup_heap()
        pipeline = ClusterPipeline(maker, broker)
        _serve_metrics(metrics_port, ProcessMetrics(broker=broker, cluster=pipeline, role="cluster"))
        worker = LeasedWorker(
            create_leases(engine),
            pipeline.events,
            pipeline.run_event,
            name=f"cluster@{socket.gethostname()}:{os.getpid()}",
            poll_interval=poll_interval,
        )
        await worker.run(stop)

    return body


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> None:
    require_store(settings)
    asyncio.run(run_worker(settings, "ingest", ingest_body(args.metrics_port)))


def cmd_cluster(args: argparse.Namespace, settings: Settings) -> None:
    if args.posts is not None or args.out is not None:
        cmd_cluster_offline(args)
        return
    require_store(settings)
    asyncio.run(run_worker(settings, "cluster", cluster_body(args.metrics_port, args.poll_interval)))


def cmd_cluster_offline(args: argparse.Namespace) -> None:
    """The offline contract: the same model as live, posts replayed in order, one JSON line out per post."""
    if args.posts is None or args.out is None:
        raise CommandError("offline clustering needs both --posts POSTS.jsonl and --out OUT.jsonl")
    if not args.posts.is_file():
        raise CommandError(f"{args.posts}: no such file")
    if args.schedule is not None and not args.schedule.is_file():
        raise CommandError(f"{args.schedule}: no such file")
    # the output is checked before the posts are clustered, not found wanting after (a large replay takes minutes)
    if args.out.is_dir():
        raise CommandError(f"--out {args.out}: is a directory")
    if not args.out.parent.is_dir():
        raise CommandError(f"--out {args.out}: no such directory {args.out.parent}")
    if args.out.resolve() == args.posts.resolve():
        raise CommandError(f"--out {args.out}: is the --posts file (it would be overwritten)")
    # imported here: scikit-learn costs every other command (and each export worker, which loads the CLI's
    # main module again) 1.2 s and about 120 MB before it does anything
    from clustering.offline import run_offline

    try:
        stats = run_offline(args.posts, args.out, args.schedule)
    except ScheduleError as exc:
        raise CommandError(f"schedule: {exc}") from exc
    except ValueError as exc:
        raise CommandError(f"{args.posts}: {exc}") from exc
    except OSError as exc:  # reading the posts or writing the output (a full disk, no permission)
        raise CommandError(f"{exc.filename or args.posts}: {exc.strerror or exc}") from exc
    sys.stderr.write(
        f"clustered {stats.posts} posts into {stats.topics} topics; {stats.attributed} on one of "
        f"{stats.talks} talks; {stats.seconds:.2f} s → {args.out}\n"
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ingest = sub.add_parser("ingest", help="run every configured source into the store (scale-out worker)")
    ingest.add_argument("--metrics-port", type=port_number, help="serve Prometheus metrics on this port")
    ingest.set_defaults(func=cmd_ingest)

    cluster = sub.add_parser("cluster", help="cluster posts by talk and topic; one owner per event (scale-out worker)")
    cluster.add_argument("--metrics-port", type=port_number, help="serve Prometheus metrics on this port")
    cluster.add_argument(
        "--poll-interval",
        type=positive_number,
        default=1.0,
        help="seconds between looking for events to own (takeover time)",
    )
    offline = cluster.add_argument_group("offline", "cluster a file instead of running the worker")
    offline.add_argument("--posts", type=Path, help='JSON Lines: {"id","text","created_at"?,"author"?,"reply_to"?}')
    offline.add_argument("--schedule", type=Path, help="pretalx/frab JSON, frab XML or iCalendar")
    offline.add_argument("--out", type=Path, help='JSON Lines: {"id","talk","topic","kind","confidence"}')
    cluster.set_defaults(func=cmd_cluster)
