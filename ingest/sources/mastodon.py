"""Mastodon hashtag timeline (REST catch-up, then WebSocket/SSE streaming or polling) in, SourceItems out.

Identity and cursors:
- ``native_id`` is the status ``uri``, the same on every instance, so several instances of one
  event dedupe through the store's unique ``(source, native_id)``; ``source`` is ``"mastodon"``.
- The cursor is the instance-local status id (a snowflake): always the highest id seen so far,
  so an edit of an old status never moves it back.
- The streaming API does not replay, so every connection first opens the stream, then catches
  up over REST with ``min_id`` from the cursor (rewound a little, because remote statuses get
  ids from their publication time and can land just below it), then reads the stream.

Known gap: edits made while no stream was open are only seen if the status is re-read (it was
published within ``catch_up_rewind`` of the cursor); Mastodon offers no "changed since" query.

Deletes: the stream's ``delete`` payload is an instance-local id. A bounded map local id → uri
resolves it to a DELETE of the uri. An id the map does not know (seen before a restart, or
never seen) becomes a DELETE whose ``native_id`` is ``local_ref(domain, id)``
(``"mastodon-local:{domain}/{id}"``); every upsert carries ``extra["instance"]`` and
``extra["local_id"]`` so the app can resolve such a reference, and ignores it otherwise.

Bridged posts: a status whose uri is a Bridgy Fed conversion of a Bluesky post
(``https://bsky.brid.gy/convert/ap/at://…``) carries ``extra["bridged_from"] = "at://…"``,
the Bluesky ``native_id`` of the original, so the app can count it once.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import anyio
import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from ingest.errors import MalformedItem, SourceRejected, SourceUnavailable, network_reason
from ingest.html import html_to_text, sanitise_html
from ingest.items import IncomingPost, ItemAction, SourceItem
from ingest.source import SourceStats
from ingest.sources.consent import DEFAULT_OPT_OUT_TAG, mastodon_skip_reason, normalise_tag
from ingest.sources.sse import SseDecoder
from ingest.sources.websocket import FrameReceiver, close_websocket
from ingest.times import utc_time

logger = logging.getLogger(__name__)

SOURCE = "mastodon"
Streaming = Literal["websocket", "sse", "poll"]
_BRIDGY_FROM_BLUESKY = "https://bsky.brid.gy/convert/ap/"
_REFUSED = frozenset({401, 403, 404})  # streaming needs a user token since Mastodon 4.2
_HARD_FRAME_CAP_FACTOR = 16  # frames above the soft limit are read then dropped, up to this multiple
_SNOWFLAKE_MS_SHIFT = 16  # Mastodon ids are (milliseconds since epoch << 16) | sequence


def local_ref(domain: str, local_id: str) -> str:
    """The reference a DELETE carries when the deleted status's uri is unknown."""
    return f"mastodon-local:{domain}/{local_id}"


def snowflake_at(moment: datetime) -> str:
    """The smallest Mastodon id a status created at ``moment`` can have (usable as ``min_id``)."""
    return str(int(moment.timestamp() * 1000) << _SNOWFLAKE_MS_SHIFT)


def _id_key(status_id: str) -> tuple[int, str]:
    # Mastodon ids are decimal strings of varying length; Pleroma's are fixed-width flakes.
    return (len(status_id), status_id)


class MastodonSource:
    """One instance + one hashtag. Several instances of one event each get their own source."""

    def __init__(
        self,
        instance_url: str,
        hashtag: str,
        *,
        access_token: str | None = None,
        client: httpx.AsyncClient | None = None,
        opt_out_tag: str = DEFAULT_OPT_OUT_TAG,
        poll_interval: float = 15.0,
        streaming: Streaming = "websocket",
        streaming_url: str | None = None,
        backfill_from: datetime | None = None,
        catch_up_rewind: float = 60.0,
        page_limit: int = 40,
        max_frame_bytes: int = 1_000_000,
        recv_timeout: float = 120.0,
        request_timeout: float = 20.0,
        respect_indexable: bool = True,
        known_statuses: int = 20_000,
    ) -> None:
        self.instance_url = instance_url.rstrip("/")
        self.hashtag = normalise_tag(hashtag)
        self.name = f"mastodon:{urlsplit(self.instance_url).netloc}#{self.hashtag}"
        self.stats = SourceStats()
        self.connected = False
        self.progress: str | None = None
        self.access_token = access_token
        self.opt_out_tag = opt_out_tag
        self.poll_interval = poll_interval
        self.streaming: Streaming = streaming
        self.backfill_from = backfill_from
        self.catch_up_rewind = catch_up_rewind
        self.page_limit = page_limit
        self.max_frame_bytes = max_frame_bytes
        self.recv_timeout = recv_timeout
        self.respect_indexable = respect_indexable
        self._client = client
        self._request_timeout = request_timeout
        self._streaming_url = streaming_url.rstrip("/") if streaming_url else None
        self._domain: str | None = None
        self._uris: OrderedDict[str, str] = OrderedDict()  # local id -> uri ("" for boosts)
        self._known_limit = known_statuses
        self._high_water: str | None = None
        self._caught_up: set[str] = set()  # ids delivered by this connection's catch-up

    # -- the Source protocol -------------------------------------------------------------------

    def items(self, since: str | None) -> AsyncIterator[SourceItem]:
        self.progress = None
        return self._items(since)

    async def _items(self, since: str | None) -> AsyncIterator[SourceItem]:
        self._high_water = since
        self._caught_up = set()
        owns_client = self._client is None
        client = self._client or httpx.AsyncClient(timeout=self._request_timeout)
        try:
            await self._discover(client)
            async with self._open_stream(client) as events:
                async for item in self._catch_up(client):
                    yield item
                    self.progress = self._high_water
                self.progress = self._high_water  # statuses skipped for consent need no second look
                if events is None:
                    async for item in self._poll(client):
                        yield item
                        self.progress = self._high_water
                    return
                async for item in self._read_stream(events):
                    yield item
                    self.progress = self._high_water
        finally:
            self.connected = False
            if owns_client:
                with anyio.CancelScope(shield=True):
                    await client.aclose()

    # -- discovery -----------------------------------------------------------------------------

    async def _discover(self, client: httpx.AsyncClient) -> None:
        """Learn the instance's domain (for qualified handles) and its streaming host, once."""
        if self._domain is not None:
            return
        domain = urlsplit(self.instance_url).netloc
        streaming = None
        try:
            response = await client.get(f"{self.instance_url}/api/v2/instance", headers=self._headers())
            if response.status_code >= 500 or response.status_code == 429:
                raise SourceUnavailable(f"{self.name}: instance HTTP {response.status_code}")
            if response.status_code == 200:
                body = response.json()
                domain = str(body.get("domain") or domain)
                streaming = (body.get("configuration") or {}).get("urls", {}).get("streaming")
        except httpx.TransportError as exc:
            raise SourceUnavailable(f"{self.instance_url} unreachable: {network_reason(exc)}") from exc
        except (ValueError, AttributeError):  # not JSON or odd shape: keep the defaults
            pass
        self._domain = domain
        if self._streaming_url is None:
            self._streaming_url = str(streaming).rstrip("/") if streaming else self.instance_url

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"} if self.access_token else {}

    # -- REST catch-up and polling ---------------------------------------------------------------

    def _catch_up_from(self) -> str:
        if self._high_water is None:
            return snowflake_at(self.backfill_from) if self.backfill_from else "0"
        if self._high_water.isdigit():
            rewind = int(self.catch_up_rewind * 1000) << _SNOWFLAKE_MS_SHIFT
            return str(max(0, int(self._high_water) - rewind))
        return self._high_water

    async def _catch_up(self, client: httpx.AsyncClient) -> AsyncIterator[SourceItem]:
        min_id = self._catch_up_from()
        while True:
            response = await self._get_timeline(client, min_id)
            try:
                page = response.json()
            except ValueError:
                page = None
            if not isinstance(page, list):
                self.stats.malformed += 1
                raise SourceUnavailable(f"{self.name}: timeline page is not a JSON list")
            if not page:
                return
            ids: list[str] = []
            for status in reversed(page):  # pages are newest first; emit in id order
                status_id = status.get("id") if isinstance(status, Mapping) else None
                if isinstance(status_id, str) and status_id:
                    ids.append(status_id)
                    self._advance(status_id)
                    self._caught_up.add(status_id)
                for item in self._on_status(status, edited=False):
                    yield item
            next_min = _prev_min_id(response) or (max(ids, key=_id_key) if ids else None)
            if next_min is None or next_min == min_id:
                return
            min_id = next_min
            _raise_if_rate_limited(response, self.name)

    async def _get_timeline(self, client: httpx.AsyncClient, min_id: str) -> httpx.Response:
        url = f"{self.instance_url}/api/v1/timelines/tag/{quote(self.hashtag, safe='')}"
        try:
            response = await client.get(
                url, params={"min_id": min_id, "limit": self.page_limit}, headers=self._headers()
            )
        except httpx.TransportError as exc:
            raise SourceUnavailable(f"{self.name}: {network_reason(exc)}") from exc
        if response.status_code == 429:
            raise SourceUnavailable(f"{self.name}: rate limited", retry_after=_retry_after(response))
        if response.status_code >= 500:
            raise SourceUnavailable(f"{self.name}: HTTP {response.status_code}")
        if response.status_code in (401, 403):
            raise SourceRejected(f"{self.name}: timeline refused (HTTP {response.status_code}), check the token")
        if response.status_code != 200:
            raise SourceRejected(f"{self.name}: unexpected HTTP {response.status_code} for {url}")
        self.connected = True
        return response

    async def _poll(self, client: httpx.AsyncClient) -> AsyncIterator[SourceItem]:
        while True:
            await anyio.sleep(self.poll_interval)
            self._caught_up.clear()  # only a stream needs it
            async for item in self._catch_up(client):
                yield item
                self.progress = self._high_water
            self.progress = self._high_water

    # -- streaming -----------------------------------------------------------------------------

    def _open_stream(
        self, client: httpx.AsyncClient
    ) -> AbstractAsyncContextManager[AsyncIterator[tuple[str, str]] | None]:
        if self.streaming == "websocket":
            return self._open_websocket()
        if self.streaming == "sse":
            return self._open_sse(client)
        return _no_stream()

    def _refused(self, status: int) -> None:
        logger.warning("mastodon.streaming_refused", extra={"source_name": self.name, "status": status})
        self.streaming = "poll"  # for the life of this source: polling is the documented fallback

    @asynccontextmanager
    async def _open_websocket(self) -> AsyncIterator[AsyncIterator[tuple[str, str]] | None]:
        base = _with_scheme(self._streaming_url or self.instance_url, websocket=True)
        url = f"{base}/api/v1/streaming?{urlencode({'stream': 'hashtag', 'tag': self.hashtag})}"
        try:
            ws = await connect(
                url,
                additional_headers=self._headers(),
                max_size=self.max_frame_bytes * _HARD_FRAME_CAP_FACTOR,
                open_timeout=self._request_timeout,
                user_agent_header="Backchannel",
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in _REFUSED:
                self._refused(status)
                yield None
                return
            raise SourceUnavailable(f"{self.name}: streaming HTTP {status}") from exc
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise SourceUnavailable(f"{self.name}: streaming connect failed: {network_reason(exc)}") from exc
        try:
            yield self._websocket_events(ws)
        finally:
            await close_websocket(ws)

    async def _websocket_events(self, ws: ClientConnection) -> AsyncIterator[tuple[str, str]]:
        with FrameReceiver(ws, name=self.name, timeout=self.recv_timeout, max_bytes=self.max_frame_bytes) as inbox:
            while True:
                frame = await inbox.recv()
                if frame is None:
                    self.stats.malformed += 1
                    logger.warning("mastodon.frame_oversized", extra={"source_name": self.name})
                    continue
                try:
                    envelope = json.loads(frame)
                except ValueError:
                    self.stats.malformed += 1
                    continue
                if not isinstance(envelope, dict):
                    self.stats.malformed += 1
                    continue
                if "error" in envelope:
                    status = envelope.get("status")
                    if status in _REFUSED:
                        self._refused(int(status))
                        raise SourceUnavailable(f"{self.name}: streaming refused: {envelope['error']}")
                    self.stats.malformed += 1
                    continue
                event, payload = envelope.get("event"), envelope.get("payload")
                if isinstance(event, str):
                    yield event, payload if isinstance(payload, str) else ""

    @asynccontextmanager
    async def _open_sse(self, client: httpx.AsyncClient) -> AsyncIterator[AsyncIterator[tuple[str, str]] | None]:
        base = _with_scheme(self._streaming_url or self.instance_url, websocket=False)
        url = f"{base}/api/v1/streaming/hashtag"
        request = client.build_request(
            "GET",
            url,
            params={"tag": self.hashtag},
            headers={**self._headers(), "Accept": "text/event-stream"},
            timeout=httpx.Timeout(self._request_timeout, read=self.recv_timeout),
        )
        try:
            response = await client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise SourceUnavailable(f"{self.name}: streaming connect failed: {network_reason(exc)}") from exc
        try:
            if response.status_code in _REFUSED:
                self._refused(response.status_code)
                yield None
                return
            if response.status_code == 429:
                raise SourceUnavailable(f"{self.name}: streaming rate limited", retry_after=_retry_after(response))
            if response.status_code != 200:
                raise SourceUnavailable(f"{self.name}: streaming HTTP {response.status_code}")
            yield self._sse_events(response)
        finally:
            with anyio.move_on_after(2, shield=True):
                await response.aclose()

    async def _sse_events(self, response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
        decoder = SseDecoder(self.max_frame_bytes)
        try:
            async for chunk in response.aiter_raw():
                for event in decoder.feed(chunk):
                    if event.oversized:
                        self.stats.malformed += 1
                        logger.warning("mastodon.frame_oversized", extra={"source_name": self.name})
                        continue
                    yield event.event, event.data
        except httpx.TimeoutException as exc:
            raise SourceUnavailable(f"{self.name}: stream silent for {self.recv_timeout}s") from exc
        except httpx.TransportError as exc:
            raise SourceUnavailable(f"{self.name}: stream broken: {network_reason(exc)}") from exc
        raise SourceUnavailable(f"{self.name}: stream ended")

    async def _read_stream(self, events: AsyncIterator[tuple[str, str]]) -> AsyncIterator[SourceItem]:
        async for event, payload in events:
            if event == "delete":
                item = self._on_delete(payload.strip())
                if item is not None:
                    yield item
                continue
            if event not in ("update", "status.update"):
                continue  # filters_changed, announcements…: nothing a hashtag source needs
            try:
                status = json.loads(payload)
            except ValueError:
                self.stats.malformed += 1
                continue
            status_id = status.get("id") if isinstance(status, dict) else None
            if event == "update" and isinstance(status_id, str) and status_id:
                if status_id in self._caught_up:
                    # Published between opening the stream and the catch-up: already delivered.
                    self._caught_up.discard(status_id)
                    continue
                self._advance(status_id)
            for item in self._on_status(status, edited=event == "status.update"):
                yield item

    # -- decoding ------------------------------------------------------------------------------

    def _advance(self, status_id: str) -> None:
        if self._high_water is None or _id_key(status_id) > _id_key(self._high_water):
            self._high_water = status_id

    def _remember(self, local_id: str, uri: str) -> None:
        self._uris[local_id] = uri
        self._uris.move_to_end(local_id)
        while len(self._uris) > self._known_limit:
            self._uris.popitem(last=False)

    def _on_delete(self, local_id: str) -> SourceItem | None:
        if not local_id:
            self.stats.malformed += 1
            return None
        uri = self._uris.pop(local_id, None)
        if uri == "":  # an un-boost: the original stays
            return None
        native_id = uri or local_ref(self._domain or "", local_id)
        return SourceItem(ItemAction.DELETE, SOURCE, native_id, cursor=self._high_water)

    def _on_status(self, status: object, *, edited: bool) -> list[SourceItem]:
        """Zero or one item for a status seen on the timeline or the stream."""
        try:
            if not isinstance(status, dict):
                raise MalformedItem("status is not an object")
            original = status.get("reblog")
            if isinstance(original, dict):
                # A boost is engagement on the original, never a post of its own.
                self._remember(_require_str(status, "id"), "")
                status = original
            text = html_to_text(_optional_str(status, "content") or "")
            reason = mastodon_skip_reason(
                status, text, opt_out_tag=self.opt_out_tag, respect_indexable=self.respect_indexable
            )
            uri = _require_str(status, "uri")
            if reason is not None:
                self.stats.skipped += 1
                logger.debug("mastodon.skipped", extra={"source_name": self.name, "reason": reason})
                if edited:  # an edit that adds the opt-out tag (or narrows visibility) withdraws consent
                    return [SourceItem(ItemAction.DELETE, SOURCE, uri, cursor=self._high_water)]
                return []
            post = self._to_post(status, text, uri)
        except MalformedItem as exc:
            self.stats.malformed += 1
            logger.warning("mastodon.malformed", extra={"source_name": self.name, "error": str(exc)})
            return []
        self._remember(post.extra["local_id"], uri)
        # The caller has already advanced the high-water mark past this status (or its boost).
        return [SourceItem(ItemAction.UPSERT, SOURCE, uri, post=post, cursor=self._high_water)]

    def _to_post(self, status: dict[str, Any], text: str, uri: str) -> IncomingPost:
        domain = self._domain or urlsplit(self.instance_url).netloc
        status_id = _require_str(status, "id")
        account = status.get("account")
        if not isinstance(account, dict):
            raise MalformedItem("status has no account")
        acct = _require_str(account, "acct")
        handle = acct if "@" in acct else f"{acct}@{domain}"
        extra = {"instance": domain, "local_id": status_id}
        reply_to = None
        parent_id = status.get("in_reply_to_id")
        if isinstance(parent_id, str) and parent_id:
            reply_to = self._uris.get(parent_id) or None
            if reply_to is None:
                extra["in_reply_to_id"] = parent_id
        if uri.startswith(_BRIDGY_FROM_BLUESKY):
            extra["bridged_from"] = uri.removeprefix(_BRIDGY_FROM_BLUESKY)
        media = tuple(
            description.strip()
            for attachment in status.get("media_attachments") or ()
            if isinstance(attachment, dict)
            and isinstance(description := attachment.get("description"), str)
            and description.strip()
        )
        tags = tuple(
            normalise_tag(tag["name"])
            for tag in status.get("tags") or ()
            if isinstance(tag, dict) and isinstance(tag.get("name"), str)
        )
        content = _optional_str(status, "content") or ""
        return IncomingPost(
            source=SOURCE,
            native_id=uri,
            text=text,
            created_at=_parse_time(_require_str(status, "created_at")),
            html=sanitise_html(content) if content else None,
            url=_optional_str(status, "url") or uri,
            language=_optional_str(status, "language"),
            author_handle=handle,
            author_name=_optional_str(account, "display_name") or _optional_str(account, "username"),
            author_url=_optional_str(account, "url"),
            reply_to=reply_to,
            sensitive=bool(status.get("sensitive")),
            spoiler_text=_optional_str(status, "spoiler_text") or None,
            media_descriptions=media,
            tags=tags,
            boosts=_count(status, "reblogs_count"),
            likes=_count(status, "favourites_count"),
            replies=_count(status, "replies_count"),
            edited_at=_parse_time(edited) if isinstance(edited := status.get("edited_at"), str) else None,
            extra=extra,
        )


@asynccontextmanager
async def _no_stream() -> AsyncIterator[None]:
    yield None


def _with_scheme(base: str, *, websocket: bool) -> str:
    parts = urlsplit(base)
    secure = parts.scheme in ("https", "wss")
    scheme = ("wss" if secure else "ws") if websocket else ("https" if secure else "http")
    return parts._replace(scheme=scheme).geturl().rstrip("/")


def _prev_min_id(response: httpx.Response) -> str | None:
    """``min_id`` from the ``Link: <…?min_id=ID>; rel="prev"`` header (the newer page)."""
    link = response.links.get("prev")
    if not link or "url" not in link:
        return None
    values = parse_qs(urlsplit(link["url"]).query).get("min_id")
    return values[0] if values else None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value:
        if value.strip().isdigit():
            return float(value)
        try:
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError):
            pass
    return _seconds_until_reset(response)


def _seconds_until_reset(response: httpx.Response) -> float | None:
    reset = response.headers.get("X-RateLimit-Reset")
    if not reset:
        return None
    try:
        return max(0.0, (_parse_time(reset) - datetime.now(UTC)).total_seconds())
    except MalformedItem:
        return None


def _raise_if_rate_limited(response: httpx.Response, name: str) -> None:
    """Stop before the next page when the window is spent, instead of provoking a 429."""
    remaining = response.headers.get("X-RateLimit-Remaining")
    if remaining is not None and remaining.strip().lstrip("-").isdigit() and int(remaining) <= 0:
        raise SourceUnavailable(f"{name}: rate limit window spent", retry_after=_seconds_until_reset(response))


def _parse_time(value: str) -> datetime:
    moment = utc_time(value)
    if moment is None:
        raise MalformedItem(f"bad timestamp {value[:64]!r}")
    return moment


def _require_str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedItem(f"missing {key}")
    return value


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _count(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    return value if isinstance(value, int) and value >= 0 else 0
