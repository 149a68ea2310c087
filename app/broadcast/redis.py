"""Redis Streams broker for scale-out: one stream per channel, publish → stream id, subscribe = XREAD from an id."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from app.broadcast.broker import BrokerUnavailable, ResumeGap

logger = logging.getLogger(__name__)

_FIELD = "m"
# Errors that mean "Redis is not there right now": the hub retries and catches up from the database.
_UNAVAILABLE = (redis_errors.ConnectionError, redis_errors.TimeoutError, redis_errors.BusyLoadingError, OSError)


def parse_stream_id(value: str) -> tuple[int, int]:
    """``"1700000000000-3"`` → ``(1700000000000, 3)``; a bare ``"5"`` means ``5-0`` as in XREAD."""
    ms, _, seq = value.partition("-")
    parsed = (int(ms), int(seq or 0))
    if parsed[0] < 0 or parsed[1] < 0:
        raise ValueError(value)
    return parsed


def split_prefix(url: str) -> tuple[str, str | None]:
    """Take our own ``?prefix=`` option off a redis:// URL (redis-py would reject it)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((v for k, v in query if k == "prefix"), None)
    rest = urlencode([(k, v) for k, v in query if k != "prefix"])
    return urlunsplit(parts._replace(query=rest)), prefix


class RedisStreamsBroker:
    """Broker on Redis Streams: ``XADD key MAXLEN ~ history`` to publish, ``XREAD`` to follow.

    Message ids are the stream ids Redis assigns (``<ms>-<n>``). The live protocol's frame ids are
    not these: frames carry the database's live-event id, which is the same on every replica; the
    stream id is only this broker's resume position.

    Trimming is by length (``history``) and, when ``max_age`` seconds is set, by age (``XTRIM
    MINID``). A subscriber whose position was trimmed away gets ``ResumeGap``; when a trim may have
    removed entries after the position the check errs on the side of ``ResumeGap`` (the hub then
    refills from the database, which is always safe).
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        history: int = 10_000,
        max_age: float | None = None,
        client: Redis | None = None,
        key_prefix: str | None = None,
        block_ms: int = 5_000,
        batch: int = 500,
    ) -> None:
        self.url, url_prefix = split_prefix(url)
        self.key_prefix = key_prefix if key_prefix is not None else (url_prefix or "backchannel:")
        self.history = history
        self.max_age = max_age
        self.block_ms = block_ms
        self.batch = batch
        self._client = client
        self._owns_client = client is None
        # Seconds between a message's publish (its stream id's clock) and its delivery here.
        self.lag_seconds = 0.0
        # After a failed publish, fail fast for a moment: a post must not wait on a dead Redis.
        self.retry_after = 1.0
        self._down_until = 0.0

    def key(self, channel: str) -> str:
        return f"{self.key_prefix}{channel}"

    @property
    def client(self) -> Redis:
        if self._client is None:
            self._client = Redis.from_url(
                self.url,
                decode_responses=True,
                socket_connect_timeout=2.0,
                # Well past a blocking XREAD (a busy host stalls loops for seconds); a dead peer is still noticed.
                socket_timeout=self.block_ms / 1000 + 30.0,
                health_check_interval=10,
                retry_on_timeout=False,
            )
        return self._client

    async def connect(self) -> None:
        # A Redis that is down at start does not stop the process: posts go to the database and
        # live delivery catches up once Redis answers (the client reconnects by itself).
        if not await self.ping():
            logger.warning("broker.redis_unavailable_at_start", extra={"url": self._safe_url()})

    async def close(self) -> None:
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None

    async def ping(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self.client.ping(), timeout=2.0))
        except (TimeoutError, *_UNAVAILABLE, redis_errors.RedisError):
            return False

    async def publish(self, channel: str, message: str) -> str:
        key = self.key(channel)
        if time.monotonic() < self._down_until:
            raise BrokerUnavailable("redis: unavailable moments ago; not retrying yet")
        try:
            if self.max_age is None:
                return str(await self.client.xadd(key, {_FIELD: message}, maxlen=self.history, approximate=True))
            min_id = f"{int((time.time() - self.max_age) * 1000)}-0"
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.xadd(key, {_FIELD: message}, maxlen=self.history, approximate=True)
                pipe.xtrim(key, minid=min_id, approximate=False)  # exact: cheap when nothing is due
                message_id, _ = await pipe.execute()
            return str(message_id)
        except _UNAVAILABLE as exc:
            self._down_until = time.monotonic() + self.retry_after
            raise BrokerUnavailable(f"redis: {exc}") from exc

    async def publish_many(self, channel: str, messages: Sequence[str]) -> list[str]:
        """Every message in one pipelined round trip (an ingest batch publishes hundreds of frames at once)."""
        if not messages:
            return []
        key = self.key(channel)
        if time.monotonic() < self._down_until:
            raise BrokerUnavailable("redis: unavailable moments ago; not retrying yet")
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for message in messages:
                    pipe.xadd(key, {_FIELD: message}, maxlen=self.history, approximate=True)
                if self.max_age is not None:
                    pipe.xtrim(key, minid=f"{int((time.time() - self.max_age) * 1000)}-0", approximate=False)
                replies = await pipe.execute()
            return [str(message_id) for message_id in replies[: len(messages)]]
        except _UNAVAILABLE as exc:
            self._down_until = time.monotonic() + self.retry_after
            raise BrokerUnavailable(f"redis: {exc}") from exc

    async def _read(self, key: str, position: tuple[int, int]) -> tuple[dict[str, Any] | None, list[Any]]:
        """The stream's info and the entries after ``position``, read atomically (MULTI/EXEC)."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.xinfo_stream(key)
            pipe.xread({key: f"{position[0]}-{position[1]}"}, count=self.batch)
            info, response = await pipe.execute(raise_on_error=False)
        if isinstance(info, Exception):
            if isinstance(info, _UNAVAILABLE):
                raise info
            info = None  # no such key: the stream was never written or was lost with a Redis restart
        if isinstance(response, Exception):
            raise response
        entries = response[0][1] if response else []
        return info, entries

    @staticmethod
    def _trimmed_past(info: dict[str, Any] | None, position: tuple[int, int]) -> bool:
        """Whether entries after ``position`` may have been trimmed away."""
        if position == (0, 0):
            return False
        if info is None:
            return True  # history existed (we hold a position) and is gone
        first = info.get("first-entry")
        if not first:
            last = parse_stream_id(str(info.get("last-generated-id") or "0-0"))
            return position < last  # emptied: anything after position is gone
        first_id = parse_stream_id(str(first[0]))
        if position >= first_id:
            return False
        added = info.get("entries-added")
        if added is not None and int(added) <= int(info.get("length", 0)):
            return False  # nothing was ever removed: the first entry is the first ever written
        return True

    async def subscribe(self, channel: str, after: str | None = None) -> AsyncIterator[tuple[str, str]]:
        key = self.key(channel)
        try:
            if after is None:
                info, _ = await self._read_info(key)
                position = parse_stream_id(str(info["last-generated-id"])) if info else (0, 0)
            else:
                try:
                    position = parse_stream_id(after)
                except ValueError as exc:
                    raise ResumeGap(f"unknown position {after!r}") from exc
                info, _ = await self._read_info(key)
                last = parse_stream_id(str(info["last-generated-id"])) if info else (0, 0)
                if position > last:
                    raise ResumeGap(f"position {after} was never issued on {channel}")
            while True:
                info, entries = await self._read(key, position)
                if self._trimmed_past(info, position):
                    raise ResumeGap(f"history after {position[0]}-{position[1]} on {channel} is not retained")
                if not entries:
                    # Wait for the next entry, then read it again atomically with the trim check.
                    await self.client.xread({key: f"{position[0]}-{position[1]}"}, count=1, block=self.block_ms)
                    continue
                for message_id, fields in entries:
                    position = parse_stream_id(message_id)
                    self.lag_seconds = max(0.0, time.time() - position[0] / 1000)
                    yield str(message_id), str(fields.get(_FIELD, ""))
        except _UNAVAILABLE as exc:
            raise BrokerUnavailable(f"redis: {exc}") from exc

    async def _read_info(self, key: str) -> tuple[dict[str, Any] | None, None]:
        try:
            return await self.client.xinfo_stream(key), None
        except redis_errors.ResponseError:
            return None, None

    def _safe_url(self) -> str:
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        return f"{parts.scheme}://{host}:{parts.port or 6379}{parts.path}"
