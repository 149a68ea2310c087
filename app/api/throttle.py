"""Rate-limit dependencies for routes: per client and category, 429 with Retry-After when over."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, Request

from app.api.deps import ClientKey
from app.errors import TooManyRequests
from app.services.ratelimits import RateLimiter, create_rate_limiter


def _limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        limiter = create_rate_limiter(request.app.state.settings)
        request.app.state.rate_limiter = limiter
    return limiter


def limited(category: str) -> Callable[[Request, str], Awaitable[None]]:
    async def check(request: Request, client: ClientKey) -> None:
        decision = await _limiter(request).hit(category, client)
        if not decision.allowed:
            raise TooManyRequests(
                f"too many {category} from this client; try again in {decision.retry_after} s",
                retry_after=decision.retry_after,
            )

    return check


PostRateLimit = Depends(limited("posts"))
VoteRateLimit = Depends(limited("votes"))
ExportRateLimit = Depends(limited("exports"))
