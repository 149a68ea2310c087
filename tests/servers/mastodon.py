"""A local Mastodon instance speaking the real REST and streaming protocols, fed by tests and the cassettes.

Endpoints (as Mastodon 4.x):
- ``GET /api/v2/instance``: ``domain`` and ``configuration.urls.streaming``.
- ``GET /api/v1/timelines/tag/{tag}``: ``max_id`` / ``since_id`` / ``min_id`` / ``limit`` paging,
  ``Link`` header (rel="next" older, rel="prev" newer), ``X-RateLimit-*`` headers, 429 + ``Retry-After``.
- ``GET /api/v1/streaming/hashtag?tag=`` (SSE, ``:thump`` heartbeats) and
  ``GET /api/v1/streaming?stream=hashtag&tag=`` (WebSocket, ``{"stream","event","payload"}`` envelopes):
  events ``update``, ``status.update``, ``delete``.

Deliberately more generous than a real instance, so client rules can be tested: it delivers
statuses of any visibility and boosts (reblogs) to hashtag readers. Fault switches:
``fail_next`` (429 / 500 / garbage on the timeline), ``drop_streams``, ``send_raw`` (garbage or
huge frames), ``require_token`` / ``streaming_enabled`` (streaming refused → the client polls).

Several instances federate with ``a.federate_to(b)``: statuses published on ``a`` appear on ``b``
under a new local id with the same ``uri``; edits and deletes follow.

Command line: ``python -m tests.servers.mastodon --port 3000 [--hashtag pycon] [--seed]``. The same
operations are then available as ``POST /_control/{publish,edit,delete,boost,drop,fail,raw}`` with
JSON bodies mirroring the method arguments (statuses are named by their local ``id``).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import html
import json
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tests.servers.asgi import run_forever, serve_asgi
from tests.servers.cassettes import sse_statuses, tag_timeline_status

Fault = Literal["429", "500", "garbage"]
_HASHTAG = re.compile(r"(?<![\w/])#(\w+)")


@dataclass
class _Drop:
    partial: bool = False


@dataclass
class _Raw:
    event: str
    payload: str


_Message = tuple[str, str] | _Drop | _Raw


@dataclass
class _Subscriber:
    tag: str
    send: MemoryObjectSendStream[_Message]
    receive: MemoryObjectReceiveStream[_Message]
    transport: str


@dataclass
class _Stored:
    status: dict[str, Any]
    deleted: bool = False


@dataclass
class _Faults:
    timeline: list[tuple[Fault, float]] = field(default_factory=list)


def _account_id(username: str) -> str:
    return str(int(hashlib.sha256(username.encode()).hexdigest()[:15], 16))


class MastodonServer:
    """A fake instance. Use ``async with MastodonServer() as server``; ``server.url`` is its base URL."""

    def __init__(
        self,
        *,
        hashtag: str = "pycon",
        require_token: str | None = None,
        streaming_enabled: bool = True,
        rate_limit: int = 300,
        heartbeat: float = 5.0,
        seed: bool = False,
        port: int = 0,
    ) -> None:
        self.hashtag = hashtag.lower()
        self.require_token = require_token
        self.streaming_enabled = streaming_enabled
        self.rate_limit = rate_limit
        self.rate_remaining = rate_limit
        self.heartbeat = heartbeat
        self.port = port
        self.url = ""
        self.domain = ""
        self.requests: list[str] = []  # paths with query of every timeline request, for tests
        self._seed = seed
        self._statuses: dict[str, _Stored] = {}  # local id -> status, insertion order = id order
        self._by_uri: dict[str, str] = {}  # uri -> local id
        self._subscribers: list[_Subscriber] = []
        self._peers: list[MastodonServer] = []
        self._faults = _Faults()
        self._last_id = 0
        self._stream_opened: anyio.Event | None = None
        self._stack: AsyncExitStack | None = None
        self.app = self._build_app()

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> MastodonServer:
        self._stack = AsyncExitStack()
        port = await self._stack.enter_async_context(serve_asgi(self.app, port=self.port))
        self.bind(port)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.drop_streams()
        assert self._stack is not None
        await self._stack.aclose()

    def bind(self, port: int) -> None:
        self.port = port
        self.domain = f"127.0.0.1:{port}"
        self.url = f"http://{self.domain}"
        if self._seed:
            self.seed_from_cassettes()

    # -- publishing ----------------------------------------------------------------------------

    def _next_id(self, at: datetime | None = None) -> str:
        moment = at or datetime.now(UTC)
        candidate = int(moment.timestamp() * 1000) << 16
        self._last_id = max(self._last_id + 1, candidate)
        return str(self._last_id)

    def _account(self, username: str, *, indexable: bool | None, noindex: bool | None) -> dict[str, Any]:
        account = copy.deepcopy(tag_timeline_status()["account"])
        account.update(
            id=_account_id(username),
            username=username,
            acct=username,
            display_name=username.title(),
            url=f"{self.url}/@{username}",
            uri=f"{self.url}/users/{username}",
        )
        for key, value in (("indexable", indexable), ("noindex", noindex)):
            if value is None:
                account.pop(key, None)
            else:
                account[key] = value
        return account

    def _content(self, text: str) -> str:
        def link(match: re.Match[str]) -> str:
            tag = match.group(1)
            return f'<a href="{self.url}/tags/{tag.lower()}" class="mention hashtag" rel="tag">#<span>{tag}</span></a>'

        paragraphs = [p for p in text.split("\n\n") if p]
        return "".join(f"<p>{_HASHTAG.sub(link, html.escape(p, quote=False))}</p>" for p in paragraphs)

    def publish(
        self,
        text: str,
        *,
        account: str = "alice",
        visibility: str = "public",
        in_reply_to: dict[str, Any] | None = None,
        tags: Iterable[str] = (),
        content_html: str | None = None,
        language: str | None = "en",
        sensitive: bool = False,
        spoiler_text: str = "",
        media_descriptions: Sequence[str] = (),
        indexable: bool | None = True,
        noindex: bool | None = False,
        created_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Post a status as a local account; readers of its hashtags get an ``update``. Returns the Status."""
        created = created_at or datetime.now(UTC)
        status_id = self._next_id(created if created_at else None)
        names = list(dict.fromkeys([*_HASHTAG.findall(text), *tags]))
        status = copy.deepcopy(tag_timeline_status())
        status.update(
            id=status_id,
            created_at=created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            in_reply_to_id=in_reply_to["id"] if in_reply_to else None,
            in_reply_to_account_id=in_reply_to["account"]["id"] if in_reply_to else None,
            sensitive=sensitive,
            spoiler_text=spoiler_text,
            visibility=visibility,
            language=language,
            uri=f"{self.url}/users/{account}/statuses/{status_id}",
            url=f"{self.url}/@{account}/{status_id}",
            replies_count=0,
            reblogs_count=0,
            favourites_count=0,
            edited_at=None,
            content=content_html if content_html is not None else self._content(text),
            reblog=None,
            account=self._account(account, indexable=indexable, noindex=noindex),
            media_attachments=[
                {
                    "id": f"{status_id}{i}",
                    "type": "image",
                    "url": f"{self.url}/media/{status_id}/{i}.png",
                    "description": description,
                }
                for i, description in enumerate(media_descriptions)
            ],
            tags=[{"name": name.lower(), "url": f"{self.url}/tags/{name.lower()}"} for name in names],
        )
        if in_reply_to is not None:
            parent = self._statuses.get(in_reply_to["id"])
            if parent is not None:
                parent.status["replies_count"] += 1
        self._store(status)
        self._broadcast("update", status)
        for peer in self._peers:
            peer.receive_federated(status, origin=self)
        return status

    def receive_federated(self, original: dict[str, Any], *, origin: MastodonServer) -> dict[str, Any]:
        """A status from another instance arrives: new local id, same uri, account qualified."""
        status = copy.deepcopy(original)
        status["id"] = self._next_id()
        account = status["account"]
        if "@" not in account["acct"]:
            account["acct"] = f"{account['acct']}@{origin.domain}"
        account["id"] = _account_id(account["acct"])
        parent = original.get("in_reply_to_id")
        if parent is not None:
            parent_uri = origin.status(parent)["uri"] if parent in origin._statuses else None
            status["in_reply_to_id"] = self._by_uri.get(parent_uri or "", None)
        self._store(status)
        self._broadcast("update", status)
        return status

    def _store(self, status: dict[str, Any]) -> None:
        self._statuses[status["id"]] = _Stored(status)
        self._by_uri[status["uri"]] = status["id"]

    def status(self, status_id: str) -> dict[str, Any]:
        return self._statuses[status_id].status

    def local_id(self, uri: str) -> str | None:
        return self._by_uri.get(uri)

    def edit(self, status: dict[str, Any], text: str, *, content_html: str | None = None) -> dict[str, Any]:
        """Edit a status (local or federated copy, by uri); readers get ``status.update`` with ``edited_at``."""
        edited = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        updated: dict[str, Any] = {}
        local_id = self._by_uri.get(status["uri"])
        if local_id is not None and not self._statuses[local_id].deleted:
            current = self._statuses[local_id].status
            current["content"] = content_html if content_html is not None else self._content(text)
            current["edited_at"] = edited
            names = list(dict.fromkeys([*(t["name"] for t in current["tags"]), *_HASHTAG.findall(text)]))
            current["tags"] = [{"name": n.lower(), "url": f"{self.url}/tags/{n.lower()}"} for n in names]
            updated = current
            self._broadcast("status.update", current)
        for peer in self._peers:
            peer.edit(status, text, content_html=content_html)
        return updated

    def delete(self, status: dict[str, Any]) -> None:
        """Delete a status everywhere it federated to; readers get ``delete`` with their local id."""
        local_id = self._by_uri.get(status["uri"])
        if local_id is not None and not self._statuses[local_id].deleted:
            self._statuses[local_id].deleted = True
            self._broadcast_delete(local_id, self._statuses[local_id].status)
        for peer in self._peers:
            peer.delete(status)

    def boost(self, status: dict[str, Any], *, account: str = "bob") -> dict[str, Any]:
        """Reblog a status: the original's ``reblogs_count`` grows; readers get an ``update`` wrapping it."""
        local_id = self._by_uri[status["uri"]]
        original = self._statuses[local_id].status
        original["reblogs_count"] += 1
        wrapper_id = self._next_id()
        wrapper = copy.deepcopy(original)
        wrapper.update(
            id=wrapper_id,
            uri=f"{self.url}/users/{account}/statuses/{wrapper_id}/activity",
            url=None,
            content="",
            tags=[],
            account=self._account(account, indexable=True, noindex=False),
            reblog=copy.deepcopy(original),
        )
        self._store(wrapper)
        self._broadcast("update", wrapper)
        return wrapper

    def federate_to(self, other: MastodonServer) -> None:
        """Statuses published here from now on also appear on ``other`` (one direction)."""
        self._peers.append(other)

    def seed_from_cassettes(self) -> list[dict[str, Any]]:
        """Store the recorded statuses under this server's hashtag: the #hoot status and the streamed ones.

        They keep their recorded text, accounts (one has ``indexable: false``) and timestamps; ids are
        re-issued so they sort as the recording did; uris point at this server.
        """
        recorded = [tag_timeline_status()] + [json.loads(data) for event, data in sse_statuses() if event == "update"]
        seeded = []
        for original in recorded:
            status = copy.deepcopy(original)
            created = datetime.fromisoformat(status["created_at"])
            status["id"] = self._next_id(created)
            username = status["account"]["username"]
            status["uri"] = f"{self.url}/users/{username}/statuses/{status['id']}"
            status["url"] = f"{self.url}/@{username}/{status['id']}"
            status["content"] = status["content"].removesuffix("</p>") + f" #{self.hashtag}</p>"
            status["tags"] = [*status.get("tags", []), {"name": self.hashtag, "url": f"{self.url}/tags/{self.hashtag}"}]
            self._store(status)
            seeded.append(status)
        return seeded

    def live_statuses(self, tag: str | None = None) -> list[dict[str, Any]]:
        """Current (not deleted) statuses under ``tag`` in id order, boosts excluded: what was published."""
        wanted = (tag or self.hashtag).lower()
        return [
            stored.status
            for stored in self._statuses.values()
            if not stored.deleted and stored.status.get("reblog") is None and _has_tag(stored.status, wanted)
        ]

    # -- faults --------------------------------------------------------------------------------

    def fail_next(self, fault: Fault, *, times: int = 1, retry_after: float = 0.0) -> None:
        """The next ``times`` timeline requests answer 429 (with Retry-After), 500 or a non-JSON body."""
        self._faults.timeline.extend([(fault, retry_after)] * times)

    def drop_streams(self, *, partial: bool = False) -> None:
        """Close every open stream now; with ``partial`` an SSE stream ends in the middle of an event."""
        for subscriber in list(self._subscribers):
            subscriber.send.send_nowait(_Drop(partial))
        self._subscribers.clear()

    def send_raw(self, payload: str, *, event: str = "update") -> None:
        """Send ``payload`` as-is to every open stream (garbage, or a 5 MB frame)."""
        for subscriber in self._subscribers:
            subscriber.send.send_nowait(_Raw(event, payload))

    @property
    def open_streams(self) -> int:
        return len(self._subscribers)

    async def wait_for_streams(self, count: int = 1) -> None:
        """Return once at least ``count`` streams are open (a client has connected)."""
        while len(self._subscribers) < count:
            self._stream_opened = anyio.Event()
            await self._stream_opened.wait()

    # -- delivery ------------------------------------------------------------------------------

    def _broadcast(self, event: str, status: dict[str, Any]) -> None:
        tagged = status["reblog"] if status.get("reblog") else status
        payload = json.dumps(status)
        for subscriber in self._subscribers:
            if _has_tag(tagged, subscriber.tag):
                subscriber.send.send_nowait((event, payload))

    def _broadcast_delete(self, local_id: str, status: dict[str, Any]) -> None:
        for subscriber in self._subscribers:
            if _has_tag(status, subscriber.tag):
                subscriber.send.send_nowait(("delete", local_id))

    def _subscribe(self, tag: str, transport: str) -> _Subscriber:
        send, receive = anyio.create_memory_object_stream[_Message](max_buffer_size=float("inf"))
        subscriber = _Subscriber(tag.lower(), send, receive, transport)
        self._subscribers.append(subscriber)
        if self._stream_opened is not None:
            self._stream_opened.set()
        return subscriber

    def _unsubscribe(self, subscriber: _Subscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)
        subscriber.send.close()
        subscriber.receive.close()

    def _authorised(self, headers: Any, query: Any) -> bool:
        if self.require_token is None:
            return True
        token = query.get("access_token") or headers.get("authorization", "").removeprefix("Bearer ")
        return token == self.require_token

    # -- HTTP ----------------------------------------------------------------------------------

    def _build_app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/v2/instance", self._instance),
                Route("/api/v1/timelines/tag/{tag}", self._tag_timeline),
                Route("/api/v1/streaming/health", lambda request: PlainTextResponse("OK")),
                Route("/api/v1/streaming/hashtag", self._sse),
                WebSocketRoute("/api/v1/streaming", self._websocket),
                Route("/_control/{operation}", self._control, methods=["POST"]),
            ]
        )

    async def _instance(self, request: Request) -> Response:
        return JSONResponse(
            {
                "domain": self.domain,
                "title": "Backchannel test instance",
                "version": "4.3.0",
                "configuration": {"urls": {"streaming": f"ws://{self.domain}"}},
            }
        )

    def _rate_headers(self) -> dict[str, str]:
        reset = (datetime.now(UTC) + timedelta(minutes=5)).isoformat(timespec="microseconds")
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.rate_remaining)),
            "X-RateLimit-Reset": reset.replace("+00:00", "Z"),
        }

    async def _tag_timeline(self, request: Request) -> Response:
        self.requests.append(f"{request.url.path}?{request.url.query}")
        self.rate_remaining -= 1
        if self._faults.timeline:
            fault, retry_after = self._faults.timeline.pop(0)
            if fault == "429":
                headers = {**self._rate_headers(), "X-RateLimit-Remaining": "0", "Retry-After": f"{retry_after:g}"}
                return JSONResponse({"error": "Too many requests"}, status_code=429, headers=headers)
            if fault == "500":
                return JSONResponse({"error": "Internal server error"}, status_code=500)
            return Response(b'[{"id": "1", "content": <html>oops', media_type="application/json")
        if self.rate_remaining < 0:
            headers = {**self._rate_headers(), "Retry-After": "300"}
            return JSONResponse({"error": "Too many requests"}, status_code=429, headers=headers)
        tag = request.path_params["tag"].lower()
        params = request.query_params
        limit = min(40, max(1, int(params.get("limit", "20"))))
        matching = [
            stored.status
            for stored in self._statuses.values()
            if not stored.deleted
            and _has_tag(stored.status["reblog"] if stored.status.get("reblog") else stored.status, tag)
        ]
        key = int
        if "max_id" in params:
            matching = [s for s in matching if key(s["id"]) < key(params["max_id"])]
        if "since_id" in params:
            matching = [s for s in matching if key(s["id"]) > key(params["since_id"])]
        if "min_id" in params:
            matching = [s for s in matching if key(s["id"]) > key(params["min_id"])]
            page = matching[:limit]  # the oldest ones just above min_id
        else:
            page = matching[-limit:]
        page = sorted(page, key=lambda s: key(s["id"]), reverse=True)
        headers = self._rate_headers()
        if page:
            base = f"{self.url}/api/v1/timelines/tag/{tag}"
            older, newer = page[-1]["id"], page[0]["id"]
            headers["Link"] = f'<{base}?max_id={older}>; rel="next", <{base}?min_id={newer}>; rel="prev"'
        return JSONResponse(page, headers=headers)

    async def _sse(self, request: Request) -> Response:
        if not self.streaming_enabled:
            return JSONResponse({"error": "Not found"}, status_code=404)
        if not self._authorised(request.headers, request.query_params):
            return JSONResponse({"error": "Missing access token"}, status_code=401)
        tag = request.query_params.get("tag")
        if not tag:
            return JSONResponse({"error": "Unknown channel requested"}, status_code=400)
        subscriber = self._subscribe(tag, "sse")

        async def body() -> AsyncIterator[bytes]:
            try:
                yield b":)\n"
                while True:
                    message: _Message | None = None
                    with anyio.move_on_after(self.heartbeat):
                        message = await subscriber.receive.receive()
                    if message is None:
                        yield b":thump\n"
                    elif isinstance(message, _Drop):
                        if message.partial:
                            yield b'event: update\ndata: {"id":"999'
                        return
                    elif isinstance(message, _Raw):
                        yield f"event: {message.event}\ndata: {message.payload}\n\n".encode()
                    else:
                        yield f"event: {message[0]}\ndata: {message[1]}\n\n".encode()
            finally:
                self._unsubscribe(subscriber)

        return StreamingResponse(body(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    async def _websocket(self, websocket: WebSocket) -> None:
        if not self.streaming_enabled:
            await websocket.send_denial_response(JSONResponse({"error": "Not found"}, status_code=404))
            return
        if not self._authorised(websocket.headers, websocket.query_params):
            await websocket.send_denial_response(JSONResponse({"error": "Missing access token"}, status_code=401))
            return
        await websocket.accept()
        tag = websocket.query_params.get("tag")
        if websocket.query_params.get("stream") != "hashtag" or not tag:
            await websocket.send_json({"error": "Unknown stream type", "status": 400})
            await websocket.close()
            return
        subscriber = self._subscribe(tag, "websocket")
        try:
            async with anyio.create_task_group() as tg:

                async def watch_client() -> None:
                    try:
                        while True:
                            await websocket.receive_text()  # subscribe/unsubscribe messages: ignored
                    except (WebSocketDisconnect, RuntimeError, KeyError):
                        tg.cancel_scope.cancel()

                tg.start_soon(watch_client)
                async for message in subscriber.receive:
                    if isinstance(message, _Drop):
                        await websocket.close(code=1011)
                        break
                    if isinstance(message, _Raw):
                        await websocket.send_text(message.payload)
                        continue
                    event, payload = message
                    envelope = {"stream": ["hashtag", subscriber.tag], "event": event, "payload": payload}
                    await websocket.send_text(json.dumps(envelope))
                tg.cancel_scope.cancel()
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self._unsubscribe(subscriber)

    async def _control(self, request: Request) -> Response:
        """Remote control for out-of-process use; statuses are named by local ``id``."""
        operation = request.path_params["operation"]
        body = await request.json() if await request.body() else {}
        if operation == "publish":
            text = body.pop("text")
            if "in_reply_to" in body:
                body["in_reply_to"] = self.status(body["in_reply_to"])
            return JSONResponse(self.publish(text, **body))
        if operation == "edit":
            return JSONResponse(self.edit(self.status(body["id"]), body["text"]))
        if operation == "delete":
            self.delete(self.status(body["id"]))
            return JSONResponse({})
        if operation == "boost":
            return JSONResponse(self.boost(self.status(body["id"]), account=body.get("account", "bob")))
        if operation == "drop":
            self.drop_streams(partial=bool(body.get("partial")))
            return JSONResponse({})
        if operation == "fail":
            times, retry_after = int(body.get("times", 1)), float(body.get("retry_after", 0))
            self.fail_next(body["fault"], times=times, retry_after=retry_after)
            return JSONResponse({})
        if operation == "raw":
            self.send_raw(body["payload"], event=body.get("event", "update"))
            return JSONResponse({})
        return JSONResponse({"error": f"unknown operation {operation}"}, status_code=404)


def _has_tag(status: dict[str, Any], tag: str) -> bool:
    return any(isinstance(t, dict) and str(t.get("name", "")).lower() == tag for t in status.get("tags") or ())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a local Mastodon test instance.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--hashtag", default="pycon")
    parser.add_argument("--seed", action="store_true", help="store the recorded cassette statuses at start")
    parser.add_argument("--require-token", default=None, help="refuse streaming without this bearer token")
    args = parser.parse_args(argv)
    server = MastodonServer(hashtag=args.hashtag, seed=args.seed, require_token=args.require_token)
    server.bind(args.port)
    run_forever(server.app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
