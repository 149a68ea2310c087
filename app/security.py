"""Security headers on every response: a strict Content-Security-Policy and friends."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI boots itself with one inline script; only the /docs page gets that allowance.
DOCS_CSP = STRICT_CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'").replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)


class SecurityHeaders:
    """Pure ASGI middleware (not BaseHTTPMiddleware) so WebSockets and streaming are untouched."""

    def __init__(self, app: ASGIApp, *, embeddable_prefixes: tuple[str, ...] = ("/embed/",)) -> None:
        self.app = app
        self.embeddable_prefixes = embeddable_prefixes
        # Three sets of headers, encoded once (every response built and encoded its own).
        self._strict = self._headers(STRICT_CSP, framed=False)
        self._docs = self._headers(DOCS_CSP, framed=False)
        self._embed = self._headers(STRICT_CSP.replace("frame-ancestors 'none'", "frame-ancestors *"), framed=True)

    @staticmethod
    def _headers(csp: str, *, framed: bool) -> tuple[tuple[bytes, bytes], ...]:
        extra = [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
        ]
        if not framed:
            extra.append((b"x-frame-options", b"DENY"))
        return tuple(extra)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        extra = (
            self._embed
            if path.startswith(self.embeddable_prefixes)
            else self._docs
            if path == "/docs"
            else self._strict
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers.extend((k, v) for k, v in extra if k not in names)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
