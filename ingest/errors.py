"""Ingest errors, classified so the runner knows whether to retry, stop or skip."""

from __future__ import annotations

import errno
import socket
import ssl


class IngestError(Exception):
    """Root of every error an ingest source raises."""


class SourceUnavailable(ConnectionError, IngestError):
    """Transient: network down, 5xx, rate limited. The runner retries with backoff."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SourceRejected(IngestError):
    """Permanent: bad credentials or configuration. The runner stops and reports it."""


class MalformedItem(ValueError, IngestError):
    """One item could not be understood. It is skipped and counted, never fatal."""


def network_reason(exc: BaseException) -> str:
    """What went wrong on the wire, in words an organizer can act on: the console shows it beside the source,
    where "ConnectError('All connection attempts failed')" told them little. The reason often sits in the
    exception's cause (httpx wraps the socket's OSError), so the chain is read too."""
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain and len(chain) < 8:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    for link in chain:
        text = str(link).lower()
        code = getattr(link, "errno", None)
        if isinstance(link, TimeoutError) or "timed out" in text or "timeout" in type(link).__name__.lower():
            return "no answer in time"
        if isinstance(link, socket.gaierror) or "name or service not known" in text or "name resolution" in text:
            return "host name not found"
        if isinstance(link, ConnectionRefusedError) or code == errno.ECONNREFUSED or "connection refused" in text:
            return "connection refused (nothing listens there)"
        if isinstance(link, ssl.SSLError) or "certificate" in text:
            return f"TLS failed: {link}"
        if isinstance(link, ConnectionResetError) or code == errno.ECONNRESET:
            return "connection reset by the server"
    return str(exc) or type(exc).__name__
