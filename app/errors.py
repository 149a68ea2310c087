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

    def __init__(
        self, message: str, *, field: str | None = None, status_code: int | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if status_code is not None:
            self.status_code = status_code
        self.retry_after = retry_after
        self.headers: dict[str, str] = {"Retry-After": str(retry_after)} if retry_after is not None else {}


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
        super().__init__(message, retry_after=retry_after)


def _body(message: str, field: str | None = None, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {"message": message}
    if field:
        detail["field"] = field
    if errors is not None:
        detail["errors"] = errors
    return {"error": detail}


def _error_entry(error: dict[str, Any]) -> dict[str, Any]:
    """One refused part of a request: the field it names, what is wrong, pydantic's type of error."""
    loc, kind = error.get("loc", ()), error.get("type")
    if kind == "json_invalid":
        # pydantic's place is ("body", character): the body is what is refused ("12: JSON decode error" named a
        # field "12"), and the character where it broke goes in the message
        at = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
        where = f" at character {at}" if at is not None else ""
        return {"field": "body", "message": f"not valid JSON{where}", "type": kind}
    return {"field": _field_name(loc), "message": str(error.get("msg", "invalid")), "type": kind}


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or str(loc[0] if loc else "request")


# What a person reads when an address or a form is refused (the API's JSON keeps pydantic's words and the
# field's name): "talk_id: Input should be a valid integer, unable to parse string as an integer" said nothing
# to someone who had mistyped /e/conf/talks/12a.
_LABELS = {"talk_id": "talk number", "post_id": "post number", "source_id": "source number", "slug": "event name"}
_PATTERNS = {"slug": "may only have lowercase letters, digits and hyphens"}
_SHOWN_VALUE = 40  # characters of the refused value repeated back, at most


def _problem(kind: str, name: str, context: dict[str, Any], fallback: str) -> str:
    def number(key: str) -> str:
        value = context.get(key)
        return f"{value:,}" if isinstance(value, int) else str(value)

    if kind in ("int_parsing", "int_type", "int_from_float", "float_parsing", "float_type"):
        return "must be a whole number"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        words = {"greater_than_equal": "at least", "greater_than": "more than", "less_than_equal": "at most"}
        key = {"greater_than_equal": "ge", "greater_than": "gt", "less_than_equal": "le", "less_than": "lt"}[kind]
        return f"must be {words.get(kind, 'less than')} {number(key)}"
    if kind == "string_too_long":
        return f"can be at most {number('max_length')} characters long"
    if kind == "string_too_short":
        return "must not be empty" if context.get("min_length") == 1 else f"needs {number('min_length')} characters"
    if kind == "string_pattern_mismatch":
        return _PATTERNS.get(name, "is not written the way it should be")
    if kind == "missing":
        return "is missing"
    if kind == "literal_error":
        return f"must be {context.get('expected', 'one of the choices offered')}"
    if kind == "bool_parsing":
        return "must be yes or no"
    return f"is not valid: {fallback[:1].lower()}{fallback[1:]}" if fallback else "is not valid"


def readable_validation(error: dict[str, Any]) -> str:
    """One refused field of a page's address or form as a sentence, e.g. "The talk number in this address must
    be a whole number (it is “12a”)."."""
    loc = tuple(error.get("loc", ()))
    place = loc[0] if loc else ""
    name = _field_name(loc)
    kind = str(error.get("type", ""))
    label = _LABELS.get(name) or f"“{name}” {'field' if place == 'body' else 'value'}"
    subject = f"The form's {label}" if place == "body" else f"The {label} in this address"
    problem = _problem(kind, name, dict(error.get("ctx") or {}), str(error.get("msg", "")))
    value = error.get("input")
    shown = ""
    if kind not in ("missing", "string_too_long") and isinstance(value, str | int) and not isinstance(value, bool):
        text = str(value)
        if 0 < len(text) <= _SHOWN_VALUE and text.isprintable():
            shown = f" (it is “{text}”)"
    return f"{subject} {problem}{shown}."


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


# (request, status code, message, headers, field) -> the error as a page in the site's look
ErrorPage = Callable[[Request, int, str, dict[str, str], str | None], Response]


def install_error_handlers(app: FastAPI, error_page: ErrorPage | None = None) -> None:
    """Every error answers through ``_answer``: a JSON body, or ``error_page`` on a ``PageRoute``."""

    def _answer(
        request: Request,
        status_code: int,
        body: dict[str, Any],
        headers: dict[str, str] | None,
        page_message: str | None = None,
    ) -> Response:
        if error_page is not None and _is_page(request):
            message = page_message or body["error"]["message"]
            return error_page(request, status_code, message, dict(headers or {}), body["error"].get("field"))
        return JSONResponse(body, status_code=status_code, headers=headers)

    @app.exception_handler(BackchannelError)
    async def _domain(request: Request, exc: BackchannelError) -> Response:
        return _answer(request, exc.status_code, _body(exc.message, exc.field), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [_error_entry(e) for e in exc.errors()]
        first = errors[0] if errors else {"field": "request", "message": "invalid request"}
        message = f"{first['field']}: {first['message']}"
        page_message = readable_validation(exc.errors()[0]) if exc.errors() else "This request is not valid."
        return _answer(request, 422, _body(message, first["field"], errors), None, page_message)

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
