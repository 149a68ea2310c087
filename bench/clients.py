"""Follower client processes: open many WebSockets to a live URL, count what arrives, report JSON on stdout.

``python -m bench.clients --url ws://127.0.0.1:PORT/ws/events/bench --count 500 [--stall 1]`` connects
``count`` followers (raw WebSocket over asyncio, no per-message library overhead, so one process keeps
up with tens of thousands of deliveries per second), prints ``ready N``, then obeys stdin lines:

- ``phase FIRST COUNT``: start counting bench posts numbered FIRST..FIRST+COUNT-1;
- ``report``: print one JSON line with deliveries, per-follower delivered fractions, doubles, latencies;
- ``drop``: close every socket at once; ``resume``: reconnect each with ``after=<last frame id>``;
- ``churn SECONDS RATE``: drop and resume random followers at RATE per second for SECONDS;
- ``quit``.

Bench posts carry ``"text":"bench <n> <unix time>"``; a delivery is one such post reaching one
follower, its latency the arrival time minus the time written in the text.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import re
import resource
import socket
import sys
import time
from array import array
from dataclasses import dataclass, field
from urllib.parse import urlsplit

_POST = re.compile(rb'"text":"bench (\d+) (\d+\.\d+)')
_FRAME_ID = re.compile(rb'\{"id":(\d+),"type":"')
_SAMPLES = 20_000


def raise_open_files() -> None:
    """Thousands of sockets per process need more descriptors than the default soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1_000_000
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


@dataclass
class Phase:
    first: int = 0
    count: int = 0
    started: float = 0.0
    first_arrival: float = 0.0
    last_arrival: float = 0.0
    deliveries: int = 0
    doubles: int = 0
    out_of_phase: int = 0
    latencies: array = field(default_factory=lambda: array("d"))


class Follower(asyncio.Protocol):
    """One WebSocket follower: handshake, unmasked server frames in, pongs out."""

    def __init__(self, client: Clients, path: str, host: str, stalled: bool) -> None:
        self.client = client
        self.path = path
        self.host = host
        self.stalled = stalled
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.open = False
        self.handshaken: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self.close_code: int | None = None
        self.seen = bytearray()
        self.last_id = 0
        self.messages = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio.Transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        if self.open and not self.buffer and len(data) >= 4 and data[0] == 0x81:
            # The common case at paced rates: one whole text frame in one read, parsed without the buffer.
            length = data[1] & 0x7F
            if length < 126 and length + 2 == len(data):
                self._message(data[2:])
                return
            if length == 126 and (data[2] << 8 | data[3]) + 4 == len(data):
                self._message(data[4:])
                return
        self.buffer += data
        if not self.open:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buffer[:end]).split(b"\r\n", 1)[0]
            del self.buffer[: end + 4]
            if b" 101 " not in status + b" ":
                if not self.handshaken.done():
                    self.handshaken.set_result(False)
                assert self.transport is not None
                self.transport.close()
                return
            self.open = True
            if not self.handshaken.done():
                self.handshaken.set_result(True)
            if self.stalled:
                assert self.transport is not None
                self.transport.pause_reading()  # this follower stops reading: its buffers fill up
        self._frames()

    def _frames(self) -> None:
        buf = self.buffer
        offset = 0
        size = len(buf)
        while size - offset >= 2:
            b0, b1 = buf[offset], buf[offset + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if size - offset < 4:
                    break
                length = int.from_bytes(buf[offset + 2 : offset + 4], "big")
                head = 4
            elif length == 127:
                if size - offset < 10:
                    break
                length = int.from_bytes(buf[offset + 2 : offset + 10], "big")
                head = 10
            if size - offset < head + length:
                break
            payload = bytes(buf[offset + head : offset + head + length])
            offset += head + length
            opcode = b0 & 0x0F
            if opcode in (0x1, 0x2, 0x0):
                self._message(payload)
            elif opcode == 0x9:
                self._send(0xA, payload)
            elif opcode == 0x8:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self._send(0x8, payload[:2])
                assert self.transport is not None
                self.transport.close()
        if offset:
            del buf[:offset]

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def _message(self, payload: bytes) -> None:
        now = time.time()
        self.messages += 1
        if payload[:1] == b"[":
            ids = _FRAME_ID.findall(payload)
            if ids:
                self.last_id = max(self.last_id, int(ids[-1]))
        elif (match := _FRAME_ID.match(payload)) is not None:
            self.last_id = max(self.last_id, int(match[1]))
        elif b'"resync"' in payload:  # a resync frame has no id and always comes alone
            self.client.resyncs += 1
        phase = self.client.phase
        for number, sent in _POST.findall(payload):
            n = int(number) - phase.first
            if not 0 <= n < phase.count:
                phase.out_of_phase += 1
                continue
            if self.seen[n]:
                phase.doubles += 1
                continue
            self.seen[n] = 1
            phase.deliveries += 1
            if not phase.first_arrival:
                phase.first_arrival = now
            phase.last_arrival = now
            if len(phase.latencies) < _SAMPLES * 4 or random.random() < 0.25:
                phase.latencies.append(now - float(sent))

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if not self.handshaken.done():
            self.handshaken.set_result(False)
        if not self.closed.done():
            self.closed.set_result(self.close_code)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()


class Clients:
    def __init__(self, url: str, count: int, stall: int) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = parts.path + (f"?{parts.query}" if parts.query else "")
        self.count = count
        self.stall = stall
        self.followers: list[Follower] = []
        self.phase = Phase()
        self.resyncs = 0
        self.failed_connects = 0

    async def connect_one(self, stalled: bool, previous: Follower | None = None) -> Follower:
        """A new socket; given the ``previous`` one of the same follower, it resumes after its last frame id."""
        after = previous.last_id if previous is not None else None
        loop = asyncio.get_running_loop()
        path = self.path
        if after is not None:
            path += ("&" if "?" in path else "?") + f"after={after}"
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        if stalled:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        while True:
            try:
                await loop.sock_connect(sock, (self.host, self.port))
                break
            except (ConnectionRefusedError, BlockingIOError, OSError):
                self.failed_connects += 1
                sock.close()
                await asyncio.sleep(0.05 + random.random() * 0.1)
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)

        def protocol() -> Follower:
            follower = Follower(self, path, f"{self.host}:{self.port}", stalled)
            # Set before any byte arrives: replayed frames can come in the same read as the handshake.
            follower.seen = previous.seen if previous is not None else bytearray(self.phase.count)
            follower.last_id = previous.last_id if previous is not None else 0
            return follower

        _, follower = await loop.create_connection(protocol, sock=sock)
        await follower.handshaken
        return follower

    async def connect_all(self) -> None:
        gate = asyncio.Semaphore(64)

        async def one(i: int) -> Follower:
            async with gate:
                return await self.connect_one(stalled=i < self.stall)

        self.followers = list(await asyncio.gather(*(one(i) for i in range(self.count))))

    def start_phase(self, first: int, count: int) -> None:
        self.phase = Phase(first=first, count=count, started=time.time())
        for follower in self.followers:
            follower.seen = bytearray(count)

    def report(self) -> dict[str, object]:
        phase = self.phase
        live = [f for f in self.followers if not f.stalled]
        fractions = [sum(f.seen) / phase.count if phase.count else 1.0 for f in live]
        stalled = [sum(f.seen) / phase.count if phase.count else 1.0 for f in self.followers if f.stalled]
        sample = list(phase.latencies)
        if len(sample) > _SAMPLES:
            sample = random.sample(sample, _SAMPLES)
        return {
            "followers": len(live),
            "open": sum(1 for f in live if f.open),
            "deliveries": phase.deliveries,
            "doubles": phase.doubles,
            "lost": sum(phase.count - sum(f.seen) for f in live),
            "min_fraction": min(fractions) if fractions else 1.0,
            "mean_fraction": sum(fractions) / len(fractions) if fractions else 1.0,
            "stalled_fraction": stalled,
            "first_arrival": phase.first_arrival,
            "last_arrival": phase.last_arrival,
            "latencies": sample,
            "latency_weight": len(phase.latencies),
            "resyncs": self.resyncs,
            "failed_connects": self.failed_connects,
        }

    async def drop(self) -> None:
        for follower in self.followers:
            follower.close()
        await asyncio.gather(*(f.closed for f in self.followers))

    async def resume(self) -> float:
        """Reconnect every follower with after=<last id it saw>; returns seconds until all are open."""
        started = time.perf_counter()
        gate = asyncio.Semaphore(256)
        old = self.followers

        async def back(previous: Follower) -> Follower:
            async with gate:
                return await self.connect_one(stalled=False, previous=previous)

        self.followers = list(await asyncio.gather(*(back(f) for f in old)))
        return time.perf_counter() - started

    async def churn(self, seconds: float, rate: float) -> int:
        """Drop and resume random followers; each comes back with after=<its last frame id>."""
        deadline = time.monotonic() + seconds
        tasks: set[asyncio.Task[None]] = set()
        done = 0

        async def cycle(index: int) -> None:
            nonlocal done
            previous = self.followers[index]
            previous.close()
            await previous.closed
            await asyncio.sleep(random.random() * 0.5)
            self.followers[index] = await self.connect_one(stalled=False, previous=previous)
            done += 1

        busy: set[int] = set()
        while time.monotonic() < deadline:
            await asyncio.sleep(1 / rate)
            index = random.randrange(len(self.followers))
            if index in busy or self.followers[index].stalled:
                continue
            busy.add(index)
            task = asyncio.create_task(cycle(index))
            tasks.add(task)
            task.add_done_callback(lambda t, i=index: (tasks.discard(t), busy.discard(i)))
        if tasks:
            await asyncio.gather(*tasks)
        return done


async def run(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    clients = Clients(args.url, args.count, args.stall)
    await clients.connect_all()
    _say(f"ready {sum(1 for f in clients.followers if f.open)}")
    while line := (await reader.readline()).decode().strip():
        command, *rest = line.split()
        if command == "phase":
            clients.start_phase(int(rest[0]), int(rest[1]))
            _say("ok")
        elif command == "report":
            _say(json.dumps(clients.report()))
        elif command == "drop":
            await clients.drop()
            _say("ok")
        elif command == "resume":
            _say(f"resumed {await clients.resume():.3f}")
        elif command == "churn":
            _say(f"churned {await clients.churn(float(rest[0]), float(rest[1]))}")
        elif command == "quit":
            break
    for follower in clients.followers:
        follower.close()


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--stall", type=int, default=0, help="followers that stop reading once connected")
    args = parser.parse_args(argv)
    raise_open_files()
    try:
        import uvloop

        uvloop.run(run(args))
    except ImportError:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
