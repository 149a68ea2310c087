"""Stopping background tasks at shutdown without waiting forever on one that does not end when cancelled.

A task blocked in a driver that swallows its cancellation (a socket read that retries, a lock never released)
kept ``await task`` waiting, and with it the server's shutdown and every step after it: the store's connections
were never closed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

logger = logging.getLogger(__name__)


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], *, within: float, what: str) -> None:
    """Cancel ``tasks`` and wait up to ``within`` seconds for them to end; the ones still running are named in a
    warning and left behind. Their failures are theirs to log: they are retrieved here, not raised."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    _, stuck = await asyncio.wait(tasks, timeout=within)
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()
    if stuck:
        logger.warning(
            "shutdown.tasks_stuck", extra={"what": what, "tasks": sorted(t.get_name() for t in stuck), "after": within}
        )
