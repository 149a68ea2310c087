"""Domain errors with HTTP status codes, and the handlers that render every error: JSON for the API and
programs, an HTML page for the routes a person opens in a browser (``PageRoute``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
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


class PageRoute(APIRoute):
    """A route a person opens in a browser (web/templates): its errors answer as an HTML page.

    Decided by the route the request matched, not by its Accept header: the API answers JSON to every
    client, and a page answers a page even to curl. A path that matches no route is a page too (a mistyped
    address in a browser), except under the API's and the sockets' prefixes.
    """


_MACHINE_PREFIXES = ("/api/", "/ws/", "/static/")


def _is_page(request: Request) -> bool:
    route = request.scope.get("route")
    if route is not None:
        return isinstance(route, PageRoute)
    return not request.url.path.startswith(_MACHINE_PREFIXES)


# (request, status code, message, headers) -> the error as a page in the site's look
ErrorPage = Callable[[Request, int, str, dict[str, str]], Response]


def install_error_handlers(app: FastAPI, error_page: ErrorPage | None = None) -> None:
    """Every error answers through ``_answer``: a JSON body, or ``error_page`` on a ``PageRoute``."""

    def _answer(request: Request, status_code: int, body: dict[str, Any], headers: dict[str, str] | None) -> Response:
        if error_page is not None and _is_page(request):
            return error_page(request, status_code, body["error"]["message"], dict(headers or {}))
        return JSONResponse(body, status_code=status_code, headers=headers)

    @app.exception_handler(BackchannelError)
    async def _domain(request: Request, exc: BackchannelError) -> Response:
        return _answer(request, exc.status_code, _body(exc.message, exc.field), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"field": _field_name(e.get("loc", ())), "message": str(e.get("msg", "invalid")), "type": e.get("type")}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "request", "message": "invalid request"}
        message = f"{first['field']}: {first['message']}"
        return _answer(request, 422, _body(message, first["field"], errors), None)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return _answer(request, exc.status_code, _body(str(exc.detail)), exc.headers)

    def _unavailable(request: Request, error: str) -> Response:
        logger.error("store.unavailable", extra={"path": request.url.path, "error": error[:200]})
        body = _body("the store is unavailable right now; nothing was saved, please try again")
        return _answer(request, 503, body, {"Retry-After": "5"})

    # See store_unavailable for which errors these are.
    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _store_unavailable(request: Request, exc: DBAPIError) -> Response:
        return _unavailable(request, str(exc.orig))

    @app.exception_handler(DBAPIError)
    async def _store_error(request: Request, exc: DBAPIError) -> Response:
        if store_unavailable(exc):
            return _unavailable(request, str(exc.orig))
        logger.error("request.failed", extra={"path": request.url.path}, exc_info=exc)
        return _answer(request, 500, _body("internal error"), None)

    @app.exception_handler(ConnectionError)
    @app.exception_handler(TimeoutError)
    @app.exception_handler(PoolTimeout)
    async def _store_unreachable(request: Request, exc: Exception) -> Response:
        return _unavailable(request, f"{type(exc).__name__}: {exc}")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("request.failed", extra={"path": request.url.path})
        return _answer(request, 500, _body("internal error"), None)
