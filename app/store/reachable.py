"""Whether the configured database answers, asked once before a command starts, for a one-line error."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from app.settings import Settings
from app.store.db import create_engine

CONNECT_SECONDS = 10.0


class StoreUnavailable(Exception):
    """The database cannot be opened; the message names it (password hidden) and says why."""


async def check_reachable(settings: Settings, *, timeout: float = CONNECT_SECONDS) -> None:
    """Open one connection and run ``SELECT 1``; raise ``StoreUnavailable`` when that fails or takes longer
    than ``timeout`` seconds. Without it a server whose database is down (or misspelt) stopped with a traceback
    from deep inside its startup, and a command from inside its first query."""
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    try:
        engine = create_engine(settings)  # a SQLite file's folder is made here
    except OSError as exc:
        raise StoreUnavailable(f"cannot open the database {shown}: {exc.strerror or exc} ({exc.filename})") from None
    try:
        async with asyncio.timeout(timeout):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except TimeoutError:
        raise StoreUnavailable(f"cannot open the database {shown}: no answer within {timeout:.0f} s") from None
    except (OSError, DBAPIError) as exc:
        reason = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        first = str(reason).strip().splitlines()[0] if str(reason).strip() else type(reason).__name__
        raise StoreUnavailable(f"cannot open the database {shown}: {first}") from None
    finally:
        await engine.dispose()
