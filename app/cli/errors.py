"""The one error a command raises to stop with a one-line message and a non-zero exit."""

from __future__ import annotations

import asyncio

from app.settings import Settings


class CommandError(Exception):
    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def require_store(settings: Settings) -> None:
    """Stop with one line naming the database when it cannot be opened (down, misspelt, no such database)."""
    from app.store.reachable import StoreUnavailable, check_reachable

    try:
        asyncio.run(check_reachable(settings))
    except StoreUnavailable as exc:
        raise CommandError(str(exc)) from None
