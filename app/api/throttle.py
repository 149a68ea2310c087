"""Rate-limit dependencies for routes: per client and per network address, 429 with Retry-After when over."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, Request

from app.api.deps import ClientKey
from app.errors import TooManyRequests
from app.services.ratelimits import RateLimiter, create_rate_limiter
from app.settings import Settings


def _limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        limiter = create_rate_limiter(request.app.state.settings)
        request.app.state.rate_limiter = limiter
    return limiter


async def enforce(request: Request, category: str, client: str | None = None) -> None:
    """Count one ``category`` action for this client (when given) and for its network address; raise
    TooManyRequests when either is over. The address counts too because a client chooses its own id."""
    address = request.client.host if request.client else "unknown"
    checks = ((category, client, "this client"), (f"{category}_per_address", address, "this network address"))
    for name, key, who in checks:
        if key is None:
            continue
        decision = await _limiter(request).hit(name, key)
        if not decision.allowed:
            raise TooManyRequests(
                f"too many {category} from {who}; try again in {decision.retry_after} s",
                retry_after=decision.retry_after,
            )


def limited(category: str) -> Callable[[Request, str], Awaitable[None]]:
    async def check(request: Request, client: ClientKey) -> None:
        await enforce(request, category, client)

    return check


async def count_event_creation(request: Request, settings: Settings) -> None:
    """While anyone may create events, each address may create only so many (called once the request is
    valid, so fixing a typo on the form costs nothing); with an admin token set only its holders create."""
    if not settings.admin_token:
        await enforce(request, "events")


PostRateLimit = Depends(limited("posts"))
VoteRateLimit = Depends(limited("votes"))
ExportRateLimit = Depends(limited("exports"))
