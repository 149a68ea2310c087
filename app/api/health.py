"""Liveness and readiness: /healthz says the process runs, /readyz that the database and broker answer."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import text

from app.api.deps import BrokerDep, EngineDep
from app.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(engine: EngineDep, broker: BrokerDep, response: Response) -> Health:
    """Ready to serve: the database answers; the broker is reported (degraded when it is down)."""
    checks: dict[str, str] = {}
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        checks["broker"] = "ok" if await broker.ping() else "unavailable"
    except Exception as exc:
        checks["broker"] = f"error: {type(exc).__name__}"
    if checks["database"] != "ok":
        response.status_code = 503
        return Health(status="unavailable", checks=checks)
    return Health(status="ok" if checks["broker"] == "ok" else "degraded", checks=checks)
