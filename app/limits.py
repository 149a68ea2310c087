"""Abuse limits as pure ASGI middleware: request body size (413), WebSocket connections per IP, Origin on the upgrade.

Pure ASGI (not BaseHTTPMiddleware) so streaming responses and WebSockets pass untouched. Refusals
are the JSON errors of ``app.errors`` for HTTP; a refused WebSocket upgrade is closed before it is
accepted, which servers answer with HTTP 403.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.broadcast.sinks import TRANSPORT_EXTENSION

logger = logging.getLogger(__name__)

# Organizers upload schedule files, which can be far larger than any other request body.
LARGE_BODY_SUFFIXES = ("/schedule",)


def _error(message: str, field: str | None = None) -> bytes:
    detail: dict[str, str] = {"message": message}
    if field:
        detail["field"] = field
    return json.dumps({"error": detail}).encode()


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` with 413, whether Content-Length says so or the stream shows it."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, large_max_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.large_max_bytes = max(large_max_bytes or max_bytes, max_bytes)

    def _limit(self, path: str) -> int:
        return self.large_max_bytes if path.rstrip("/").endswith(LARGE_BODY_SUFFIXES) else self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope.get("path", ""))
        declared = next((v for k, v in scope.get("headers", []) if k == b"content-length"), None)
        if declared is not None:
            try:
                too_large = int(declared) > limit
            except ValueError:
                await _respond(send, 400, _error("Content-Length is not a number", "Content-Length"))
                return
            if too_large:
                await _respond_too_large(send, limit)
                return
        # Chunked or lying clients: read the body up to the limit before the app sees any of it.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                chunks_done: Message = message
                break
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                await _respond_too_large(send, limit)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                chunks_done = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return chunks_done
            return await receive()

        await self.app(scope, replay, send)


async def _respond_too_large(send: Send, limit: int) -> None:
    logger.info("limits.body_too_large", extra={"limit": limit})
    await _respond(send, 413, _error(f"the request body is larger than {limit} bytes", "body"))


async def _respond(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 413:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    try:
        port = parts.port or default
    except ValueError:
        return None
    return f"{parts.scheme}://{parts.hostname.lower()}:{port}"


class WebSocketGuard:
    """On each WebSocket upgrade: a browser's Origin must be this site (or an allowed one); at most N sockets per IP.

    Clients that send no Origin (not browsers) pass the Origin check: the check exists to stop other
    sites from opening sockets with a visitor's browser, and a non-browser can forge any header anyway.
    ``max_per_ip`` 0 means no limit.
    """

    def __init__(self, app: ASGIApp, *, max_per_ip: int, allowed_origins: list[str] | tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_per_ip = max_per_ip
        self.allowed = {o for o in (_origin_of(url) for url in allowed_origins) if o}
        self.open: Counter[str] = Counter()

    def _origin_allowed(self, scope: Scope) -> bool:
        headers = dict(scope.get("headers", []))
        raw = headers.get(b"origin")
        if raw is None:
            return True
        origin = _origin_of(raw.decode("latin-1"))
        if origin is None:
            return False
        if origin in self.allowed:
            return True
        host = headers.get(b"host", b"").decode("latin-1")
        secure = scope.get("scheme") in ("wss", "https")
        # Same origin: the page that opened the socket was served by this host (scheme may differ behind TLS proxies).
        return any(
            origin == _origin_of(f"{scheme}://{host}")
            for scheme in (("https", "http") if secure else ("http", "https"))
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        if not self._origin_allowed(scope):
            logger.info("limits.ws_foreign_origin", extra={"path": scope.get("path")})
            await _refuse(receive, send)
            return
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        if self.max_per_ip and self.open[ip] >= self.max_per_ip:
            logger.info("limits.ws_too_many_connections", extra={"limit": self.max_per_ip})
            await _refuse(receive, send)
            return
        self.open[ip] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            # A follower handed over to the hub outlives its handler: it counts until its connection closes.
            protocol = (scope.get("extensions") or {}).get(TRANSPORT_EXTENSION, {}).get("protocol")
            if protocol is not None and protocol.handed_over:
                protocol.when_closed(lambda: self._release(ip))
            else:
                self._release(ip)

    def _release(self, ip: str) -> None:
        self.open[ip] -= 1
        if self.open[ip] <= 0:
            del self.open[ip]


async def _refuse(receive: Receive, send: Send) -> None:
    message = await receive()  # websocket.connect
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": 1008})
