"""Domain errors with HTTP status codes, and the handlers that render every error as JSON."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)


class BackchannelError(Exception):
    status_code = 400

    def __init__(self, message: str, *, field: str | None = None, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if status_code is not None:
            self.status_code = status_code
        self.headers: dict[str, str] = {}


class NotFound(BackchannelError):
    status_code = 404


class Conflict(BackchannelError):
    status_code = 409


class Unauthorized(BackchannelError):
    status_code = 401


class Forbidden(BackchannelError):
    status_code = 403


class InvalidInput(BackchannelError):
    status_code = 422


class TooManyRequests(BackchannelError):
    status_code = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}


def _body(message: str, field: str | None = None, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {"message": message}
    if field:
        detail["field"] = field
    if errors is not None:
        detail["errors"] = errors
    return {"error": detail}


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or str(loc[0] if loc else "request")


def store_unavailable(exc: BaseException) -> bool:
    """The database is down, restarting, locked for too long or out of disk: nothing was saved; try again.

    A refused or timed-out connect reaches us as the socket's own error (asyncpg raises it unwrapped),
    a connection cut mid-statement as InterfaceError or an invalidated DBAPIError, a full pool as
    SQLAlchemy's TimeoutError; SQLSTATE classes 08 (connection), 53 (insufficient resources) and
    57 (shutting down, starting up) say so too.
    """
    if isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError | PoolTimeout):
        return True
    if isinstance(exc, DBAPIError) and not isinstance(exc, IntegrityError):
        sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
        return exc.connection_invalidated or sqlstate[:2] in ("08", "53", "57")
    return False


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BackchannelError)
    async def _domain(_: Request, exc: BackchannelError) -> JSONResponse:
        return JSONResponse(_body(exc.message, exc.field), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field_name(e.get("loc", ())), "message": str(e.get("msg", "invalid")), "type": e.get("type")}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "request", "message": "invalid request"}
        message = f"{first['field']}: {first['message']}"
        return JSONResponse(_body(message, first["field"], errors), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(_body(str(exc.detail)), status_code=exc.status_code, headers=exc.headers)

    def _unavailable(request: Request, error: str) -> JSONResponse:
        logger.error("store.unavailable", extra={"path": request.url.path, "error": error[:200]})
        body = _body("the store is unavailable right now; nothing was saved, please try again")
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})

    # See store_unavailable for which errors these are.
    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _store_unavailable(request: Request, exc: DBAPIError) -> JSONResponse:
        return _unavailable(request, str(exc.orig))

    @app.exception_handler(DBAPIError)
    async def _store_error(request: Request, exc: DBAPIError) -> JSONResponse:
        if store_unavailable(exc):
            return _unavailable(request, str(exc.orig))
        logger.error("request.failed", extra={"path": request.url.path}, exc_info=exc)
        return JSONResponse(_body("internal error"), status_code=500)

    @app.exception_handler(ConnectionError)
    @app.exception_handler(TimeoutError)
    @app.exception_handler(PoolTimeout)
    async def _store_unreachable(request: Request, exc: Exception) -> JSONResponse:
        return _unavailable(request, f"{type(exc).__name__}: {exc}")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("request.failed", extra={"path": request.url.path})
        return JSONResponse(_body("internal error"), status_code=500)
