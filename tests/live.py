"""A test-side WebSocket follower: flattens batched frames and skips heartbeats."""

from __future__ import annotations

import json
from typing import Any

from starlette.testclient import WebSocketTestSession


class Follower:
    def __init__(self, ws: WebSocketTestSession) -> None:
        self.ws = ws
        self._pending: list[dict[str, Any]] = []

    def next_frame(self) -> dict[str, Any]:
        while not self._pending:
            payload = json.loads(self.ws.receive_text())
            frames = payload if isinstance(payload, list) else [payload]
            self._pending.extend(f for f in frames if f.get("type") != "heartbeat")
        return self._pending.pop(0)

    def frames_until(self, predicate: Any) -> list[dict[str, Any]]:
        """Every frame up to and including the first one matching ``predicate``."""
        seen: list[dict[str, Any]] = []
        while True:
            frame = self.next_frame()
            seen.append(frame)
            if predicate(frame):
                return seen
