"""The composition root of the web process: create_app(settings) builds everything in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from app.api import digests, events, exports, health, live, moderation, pages, posts, schedules, sources, talks
from app.api import metrics as metrics_api
from app.api.deps import known_query
from app.api.pages import WEB_DIR
from app.broadcast.broker import broker_for
from app.broadcast.hub import Hub
from app.errors import install_error_handlers
from app.limits import BodySizeLimit, WebSocketGuard
from app.metrics import Tally
from app.pipeline.cluster import ClusterPipeline
from app.pipeline.cluster_process import ClusterProcess, runs_in_child
from app.pipeline.ingest import IngestSupervisor, freeze_startup_heap, warm_kind_model, warm_language_model
from app.security import SecurityHeaders
from app.services.note_writer import NoteWriter
from app.settings import Settings, get_settings
from app.store.db import create_engine, migrate, sessionmaker
from app.store.live import StoreLiveLog

logger = logging.getLogger(__name__)


async def _freeze_once_warm(warming: list[asyncio.Task[None]]) -> None:
    await asyncio.gather(*warming, return_exceptions=True)
    freeze_startup_heap()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        await migrate(engine)
        maker = sessionmaker(engine)
        broker = broker_for(settings)
        await broker.connect()
        hub = Hub(broker, StoreLiveLog(maker), ring_size=settings.live_ring_size, queue_size=settings.ws_queue_size)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessionmaker = maker
        app.state.broker = broker
        app.state.hub = hub
        app.state.notes = Tally()
        note_writer = NoteWriter(maker, broker)
        app.state.note_writer = note_writer
        tasks: list[asyncio.Task[None]] = [
            asyncio.create_task(warm_kind_model(), name="kind-model"),
            asyncio.create_task(warm_language_model(), name="language-model"),
        ]
        tasks.append(asyncio.create_task(_freeze_once_warm(list(tasks)), name="freeze-heap"))
        app.state.ingest = None
        app.state.cluster = None
        if settings.pipeline_in_process:
            ingest = IngestSupervisor(maker, broker, reconcile_every=settings.ingest_reconcile_seconds)
            app.state.ingest = ingest
            tasks.append(asyncio.create_task(ingest.run(), name="ingest"))
            cluster = ClusterProcess(settings, broker) if runs_in_child(settings) else ClusterPipeline(maker, broker)
            app.state.cluster = cluster
            tasks.append(asyncio.create_task(cluster.run(), name="cluster"))
        logger.info("app.started", extra={"database": engine.url.get_backend_name(), "broker": settings.broker_url})
        try:
            yield
        finally:
            await note_writer.close()  # notes in flight are stored (or refused) before the store goes
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            await hub.close()
            limiter = getattr(app.state, "rate_limiter", None)
            if limiter is not None:
                await limiter.close()
            await broker.close()
            await engine.dispose()
            logger.info("app.stopped")

    app = FastAPI(
        title="Backchannel",
        version="0.1.0",
        summary="The live conversation around a conference, turned into learning.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    install_error_handlers(app, error_page=pages.error_page)
    app.add_middleware(
        WebSocketGuard,
        max_per_ip=settings.ws_max_connections_per_ip,
        allowed_origins=[*settings.allowed_origins, *([settings.public_base_url] if settings.public_base_url else [])],
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, large_max_bytes=settings.schedule_max_bytes)
    app.add_middleware(SecurityHeaders)
    # The more specific mount first: Starlette matches mounts in order.
    app.mount("/static/swagger", StaticFiles(directory=swagger_ui_path), name="swagger")
    app.mount("/static", StaticFiles(directory=str(WEB_DIR / "static")), name="static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Backchannel API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon-32x32.png",
        )

    # The live socket's router first: a mass reconnect then matches it without walking every other route.
    for module in (live, health, events, talks, posts, digests, pages, schedules, moderation, exports, sources):
        # a mistyped API parameter is refused; a page keeps ignoring what links add (utm_source, fbclid)
        api = module.router.prefix.startswith("/api/")
        app.include_router(module.router, dependencies=[Depends(known_query)] if api else None)
    app.include_router(metrics_api.router)
    return app
