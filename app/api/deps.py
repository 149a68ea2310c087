"""FastAPI dependencies as Annotated aliases: settings, unit of work, hub, caller identity."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.routing import APIRoute
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.broadcast.broker import Broker
from app.broadcast.hub import Hub
from app.errors import InvalidInput
from app.metrics import Tally
from app.services.note_writer import NoteWriter
from app.services.tokens import client_key
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings

logger = logging.getLogger(__name__)


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _maker(request: Request) -> async_sessionmaker[AsyncSession]:
    return request.app.state.sessionmaker  # type: ignore[no-any-return]


def _engine(request: Request) -> AsyncEngine:
    return request.app.state.engine  # type: ignore[no-any-return]


def _broker(request: Request) -> Broker:
    return request.app.state.broker  # type: ignore[no-any-return]


def _hub(request: Request) -> Hub:
    return request.app.state.hub  # type: ignore[no-any-return]


async def _uow(request: Request) -> AsyncIterator[UnitOfWork]:
    async with request.app.state.sessionmaker() as session:
        uow = UnitOfWork(session, request.app.state.broker)
        try:
            yield uow
        finally:
            try:
                await uow.rollback()  # a no-op after commit; undoes anything a failed request left
            except (SQLAlchemyError, OSError) as exc:
                # The connection died with the request (a database restart): the answer is already given
                # (often after the response started), so throwing it away is all that is left to do.
                logger.warning("store.connection_lost", extra={"path": request.url.path, "error": str(exc)[:200]})
                await session.invalidate()


async def known_query(request: Request) -> None:
    """Refuse a query parameter the route does not take, naming it, rather than ignore it: ``?talk=12`` on
    the event's export downloaded the whole event's summary as if it were that talk's, and ``?talk_id=3``
    on the posts listed every post of the event."""
    if not request.query_params:
        return
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    declared: set[str] = set()  # what the route and its dependencies take: a few lists, walked when asked
    dependants = [route.dependant]
    while dependants:
        dependant = dependants.pop()
        declared.update(param.alias for param in dependant.query_params)
        dependants += dependant.dependencies
    for key in request.query_params:
        if key not in declared:
            takes = f"it takes {', '.join(sorted(declared))}" if declared else "it takes none"
            raise InvalidInput(f"unknown query parameter {key[:100]!r}: {takes}", field=key[:100])


# The note route's dependencies are coroutines: FastAPI runs a plain function in the threadpool, a round
# trip per request that a burst of notes pays while the event loop is busy fanning out.
async def _notes(request: Request) -> Tally:
    return request.app.state.notes  # type: ignore[no-any-return]


def _bearer(authorization: Annotated[str | None, Header(include_in_schema=False)] = None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def _client(
    request: Request,
    x_client_id: Annotated[str | None, Header(max_length=200, description="A stable random id per browser")] = None,
) -> str:
    # Votes count once per client: the browser's own random id when it sends one, else its address.
    raw = x_client_id or request.cookies.get("bc_client") or (request.client.host if request.client else "unknown")
    return client_key(raw)


SettingsDep = Annotated[Settings, Depends(_settings)]
SessionMakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(_maker)]
EngineDep = Annotated[AsyncEngine, Depends(_engine)]
BrokerDep = Annotated[Broker, Depends(_broker)]
HubDep = Annotated[Hub, Depends(_hub)]
UoW = Annotated[UnitOfWork, Depends(_uow)]
BearerToken = Annotated[str | None, Depends(_bearer)]
ClientKey = Annotated[str, Depends(_client)]
NotesTally = Annotated[Tally, Depends(_notes)]


async def _note_writer(request: Request) -> NoteWriter:
    return request.app.state.note_writer  # type: ignore[no-any-return]


# Both posting paths (the API and the plain form) store through the one writer: notes arriving together
# share a transaction whichever way they came.
Writer = Annotated[NoteWriter, Depends(_note_writer)]
