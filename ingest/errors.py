"""Ingest errors, classified so the runner knows whether to retry, stop or skip."""

from __future__ import annotations


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
