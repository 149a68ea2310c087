"""GET /metrics: this replica's Prometheus metrics (live connections, frames, broker lag, in-process workers)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.metrics import ProcessMetrics, render

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    state = request.app.state
    body = render(
        ProcessMetrics(
            hub=getattr(state, "hub", None),
            broker=getattr(state, "broker", None),
            ingest=getattr(state, "ingest", None),
            cluster=getattr(state, "cluster", None),
            notes=getattr(state, "notes", None),
        )
    )
    return Response(body, media_type=CONTENT_TYPE_LATEST)
