"""A local Jetstream relay (``/subscribe`` WebSocket, JSON events) replaying the recorded captures plus test posts.

Protocol as bluesky-social/jetstream v1: ``?wantedCollections=…&cursor=<time_us>``; with a cursor the
server replays every logged event with ``time_us >= cursor`` (inclusive, in log order) and then
follows live; without one it sends live events only. Commit events are filtered by collection;
identity and account events always pass.

Test controls: ``publish_post`` (facets with UTF-8 byte offsets are built from ``#words``),
``edit_post``, ``delete_post``, ``publish_event`` (any event dict), ``send_raw`` (garbage or huge
frames to connected clients, not logged), ``drop_connections``.

Command line: ``python -m tests.servers.jetstream --port 6008 [--replay]``; then
``POST /_control/{post,posts,edit,delete,drop,raw}`` with JSON bodies mirroring the methods (``posts``
takes ``{"posts": [...]}``, a burst of ``post`` bodies in one request).
"""

from __future__ import annotations

import argparse
import json
import re
import string
from collections.abc import Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tests.servers.asgi import run_forever, serve_asgi
from tests.servers.cassettes import jetstream_lines

POST = "app.bsky.feed.post"
_HASHTAG = re.compile(r"(?<![\w/])#(\w+)")
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class _Logged:
    time_us: int
    collection: str | None
    frame: str


@dataclass
class _Drop:
    pass


_Message = _Logged | _Drop | bytes | str


@dataclass
class _Client:
    wanted: frozenset[str]
    send: MemoryObjectSendStream[_Message]
    receive: MemoryObjectReceiveStream[_Message]


def hashtag_facets(text: str) -> list[dict[str, Any]]:
    """``app.bsky.richtext.facet#tag`` facets for every ``#word``, with UTF-8 byte offsets as Bluesky writes them."""
    facets = []
    for match in _HASHTAG.finditer(text):
        start = len(text[: match.start()].encode("utf-8"))
        end = start + len(match.group(0).encode("utf-8"))
        facets.append(
            {
                "index": {"byteStart": start, "byteEnd": end},
                "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": match.group(1)}],
            }
        )
    return facets


class JetstreamServer:
    """``async with JetstreamServer(replay=True) as server``: ``server.url`` is the ``ws://…/subscribe`` URL."""

    def __init__(self, *, replay: bool = False, port: int = 0) -> None:
        self.port = port
        self.url = ""
        self.subscriptions: list[str] = []  # query strings of every connection, for tests
        self._log: list[_Logged] = []
        self._clients: list[_Client] = []
        self._last_time_us = 0
        self._rkeys = 0
        self._client_joined: anyio.Event | None = None
        self._stack: AsyncExitStack | None = None
        self.app = Starlette(
            routes=[
                WebSocketRoute("/subscribe", self._subscribe),
                Route("/_control/{operation}", self._control, methods=["POST"]),
            ]
        )
        if replay:
            for line in jetstream_lines():
                self._append(json.loads(line), frame=line)

    async def __aenter__(self) -> JetstreamServer:
        self._stack = AsyncExitStack()
        port = await self._stack.enter_async_context(serve_asgi(self.app, port=self.port))
        self.bind(port)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.drop_connections()
        assert self._stack is not None
        await self._stack.aclose()

    def bind(self, port: int) -> None:
        self.port = port
        self.url = f"ws://127.0.0.1:{port}/subscribe"

    # -- publishing ----------------------------------------------------------------------------

    def _now_us(self) -> int:
        self._last_time_us = max(self._last_time_us + 1, int(datetime.now(UTC).timestamp() * 1_000_000))
        return self._last_time_us

    def _next_rkey(self) -> str:
        self._rkeys += 1
        value, digits = self._now_us() * 1024 + self._rkeys % 1024, []
        for _ in range(13):
            value, digit = divmod(value, 32)
            digits.append(_TID_ALPHABET[digit])
        return "".join(reversed(digits))

    def _append(self, event: dict[str, Any], *, frame: str | None = None) -> dict[str, Any]:
        time_us = event["time_us"]
        self._last_time_us = max(self._last_time_us, time_us)
        commit = event.get("commit")
        collection = commit.get("collection") if isinstance(commit, dict) else None
        logged = _Logged(time_us, collection, frame or json.dumps(event, ensure_ascii=False))
        self._log.append(logged)
        for client in self._clients:
            if _wanted(logged, client.wanted):
                client.send.send_nowait(logged)
        return event

    def log_frames(self, frames: Iterable[bytes | str]) -> int:
        """Append recorded or generated frames verbatim (for replays with ``cursor``); returns how many."""
        count = 0
        for frame in frames:
            text = frame.decode() if isinstance(frame, bytes) else frame
            self._append(json.loads(text), frame=text)
            count += 1
        return count

    def publish_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Log and deliver any event; ``time_us`` is assigned when missing."""
        event.setdefault("time_us", self._now_us())
        return self._append(event)

    def publish_post(
        self,
        text: str,
        *,
        did: str = "did:plc:alice0000000000000000000",
        rkey: str | None = None,
        langs: Sequence[str] = ("en",),
        reply_to: str | None = None,
        tags: Iterable[str] = (),
        facets: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
        operation: str = "create",
    ) -> str:
        """Create (or update) a post record; returns its ``at://`` uri."""
        rkey = rkey or self._next_rkey()
        record: dict[str, Any] = {
            "$type": POST,
            "createdAt": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "langs": list(langs),
            "text": text,
        }
        record_facets = hashtag_facets(text) if facets is None else facets
        if record_facets:
            record["facets"] = record_facets
        if tags:
            record["tags"] = list(tags)
        if reply_to:
            ref = {"cid": "bafyreitestparent", "uri": reply_to}
            record["reply"] = {"parent": ref, "root": ref}
        record.update(extra or {})
        self.publish_event(
            {
                "did": did,
                "kind": "commit",
                "commit": {
                    "rev": self._next_rkey(),
                    "operation": operation,
                    "collection": POST,
                    "rkey": rkey,
                    "record": record,
                    "cid": "bafyrei" + "".join(c for c in rkey if c in string.ascii_lowercase + "234567"),
                },
            }
        )
        return f"at://{did}/{POST}/{rkey}"

    def edit_post(self, uri: str, text: str, **kwargs: Any) -> str:
        did, _, rkey = _split_uri(uri)
        return self.publish_post(text, did=did, rkey=rkey, operation="update", **kwargs)

    def delete_post(self, uri: str) -> None:
        did, _, rkey = _split_uri(uri)
        self.publish_event(
            {
                "did": did,
                "kind": "commit",
                "commit": {"rev": self._next_rkey(), "operation": "delete", "collection": POST, "rkey": rkey},
            }
        )

    def live_posts(self, hashtag: str) -> dict[str, str]:
        """``uri -> text`` of posts currently live under ``hashtag`` (facet tags), from the whole log."""
        wanted, posts = hashtag.lower(), {}
        for logged in self._log:
            if logged.collection != POST:
                continue
            event = json.loads(logged.frame)
            commit = event["commit"]
            uri = f"at://{event['did']}/{POST}/{commit['rkey']}"
            record = commit.get("record") or {}
            tags = {
                f["tag"].lower()
                for facet in record.get("facets", [])
                for f in facet.get("features", [])
                if f.get("$type") == "app.bsky.richtext.facet#tag"
            }
            tags |= {t.lower() for t in record.get("tags", [])}
            if commit["operation"] != "delete" and wanted in tags:
                posts[uri] = record["text"]
            else:
                posts.pop(uri, None)
        return posts

    # -- faults --------------------------------------------------------------------------------

    def send_raw(self, frame: bytes | str) -> None:
        """Send one frame to every connected client, unlogged (garbage JSON, a 5 MB frame…)."""
        for client in self._clients:
            client.send.send_nowait(frame)

    def drop_connections(self) -> None:
        for client in list(self._clients):
            client.send.send_nowait(_Drop())
        self._clients.clear()

    @property
    def connections(self) -> int:
        return len(self._clients)

    async def wait_for_connections(self, count: int = 1) -> None:
        while len(self._clients) < count:
            self._client_joined = anyio.Event()
            await self._client_joined.wait()

    # -- WebSocket -----------------------------------------------------------------------------

    async def _subscribe(self, websocket: WebSocket) -> None:
        await websocket.accept()
        self.subscriptions.append(websocket.url.query)
        wanted = frozenset(websocket.query_params.getlist("wantedCollections"))
        cursor_param = websocket.query_params.get("cursor")
        send, receive = anyio.create_memory_object_stream[_Message](max_buffer_size=float("inf"))
        client = _Client(wanted, send, receive)
        # Register before reading the log so nothing published meanwhile falls between replay and live.
        backlog = list(self._log) if cursor_param is not None else []
        self._clients.append(client)
        if self._client_joined is not None:
            self._client_joined.set()
        cursor = int(cursor_param) if cursor_param and cursor_param.lstrip("-").isdigit() else 0
        try:
            async with anyio.create_task_group() as tg:

                async def watch_client() -> None:
                    try:
                        while True:
                            await websocket.receive_text()
                    except (WebSocketDisconnect, RuntimeError, KeyError):
                        tg.cancel_scope.cancel()

                tg.start_soon(watch_client)
                for logged in backlog:
                    if logged.time_us >= cursor and _wanted(logged, wanted):
                        await websocket.send_text(logged.frame)
                async for message in receive:
                    if isinstance(message, _Drop):
                        await websocket.close(code=1011)
                        break
                    if isinstance(message, _Logged):
                        await websocket.send_text(message.frame)
                    elif isinstance(message, bytes):
                        await websocket.send_text(message.decode("utf-8", "replace"))
                    else:
                        await websocket.send_text(message)
                tg.cancel_scope.cancel()
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            if client in self._clients:
                self._clients.remove(client)
            send.close()
            receive.close()

    async def _control(self, request: Request) -> Response:
        operation = request.path_params["operation"]
        body = await request.json() if await request.body() else {}
        if operation == "post":
            text = body.pop("text")
            return JSONResponse({"uri": self.publish_post(text, **body)})
        if operation == "posts":  # many at once: {"posts": [{"text": …, …}, …]}, one request for a whole burst
            return JSONResponse({"uris": [self.publish_post(post.pop("text"), **post) for post in body["posts"]]})
        if operation == "edit":
            return JSONResponse({"uri": self.edit_post(body["uri"], body["text"])})
        if operation == "delete":
            self.delete_post(body["uri"])
            return JSONResponse({})
        if operation == "drop":
            self.drop_connections()
            return JSONResponse({})
        if operation == "raw":
            self.send_raw(body["frame"])
            return JSONResponse({})
        return JSONResponse({"error": f"unknown operation {operation}"}, status_code=404)


def _wanted(logged: _Logged, wanted: frozenset[str]) -> bool:
    return logged.collection is None or not wanted or logged.collection in wanted


def _split_uri(uri: str) -> tuple[str, str, str]:
    did, collection, rkey = uri.removeprefix("at://").split("/")
    return did, collection, rkey


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a local Jetstream relay.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6008)
    parser.add_argument("--replay", action="store_true", help="log the recorded captures at start")
    args = parser.parse_args(argv)
    server = JetstreamServer(replay=args.replay)
    server.bind(args.port)
    run_forever(server.app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
