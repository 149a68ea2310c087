"""Fan-out: N followers on one event's WebSocket, posts at 10/s, 100/s and flat out; Backchannel vs bare websockets.

``python -m bench.fanout [--full] [--followers 1000 5000]`` starts each server (``bench.servers``) in its own
process and the followers in client processes (``bench.clients``, one of them a follower that stops
reading), publishes bench posts inside the server process, and reports deliveries/s, the fraction
delivered to every follower that reads, publish-to-receive p50/p99, server CPU µs per delivery and
server RSS per connection, for the app and for a bare ``websockets.broadcast()`` server run the same way.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.figures import Figure, table
from bench.processes import Child, free_port

logger = logging.getLogger(__name__)

# (posts/s, seconds of publishing); 0 = as fast as possible, for DELIVERIES deliveries in all.
QUICK_PHASES = ((10.0, 4.0), (100.0, 2.0), (0.0, 0.0))
FULL_PHASES = ((10.0, 20.0), (100.0, 10.0), (0.0, 0.0))
QUICK_FLAT_OUT_DELIVERIES = 300_000
FULL_FLAT_OUT_DELIVERIES = 2_000_000
CLIENT_PROCESSES = 2


@dataclass
class Run:
    kind: str
    followers: int
    rate: float
    posts: int
    deliveries: int
    expected: int
    min_fraction: float
    stalled_fraction: float
    doubles: int
    deliveries_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_delivery: float
    client_cpu_us_per_delivery: float  # both follower processes: they share the machine with the server
    busy_cores: float  # server and followers' CPU over the phase's wall time
    rss_per_connection: float
    resyncs: int


def merge_latencies(reports: Sequence[dict[str, Any]], q: float) -> float:
    """Weighted percentile of the clients' latency samples (each sample stands for its share of deliveries)."""
    values: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    for report in reports:
        sample = np.asarray(report["latencies"], dtype=float)
        if len(sample):
            values.append(sample)
            weights.append(np.full(len(sample), report["latency_weight"] / len(sample)))
    if not values:
        return math.nan
    v = np.concatenate(values)
    w = np.concatenate(weights)
    order = np.argsort(v)
    cumulative = np.cumsum(w[order])
    return float(v[order][np.searchsorted(cumulative, q / 100 * cumulative[-1])])


class Rig:
    """One server process and its follower processes, kept up across publishing phases."""

    def __init__(
        self,
        kind: str,
        followers: int,
        *,
        settings: dict[str, Any] | None = None,
        stall: int = 1,
        profile: Path | None = None,
        poster: bool = False,
    ) -> None:
        self.kind = kind
        self.followers = followers
        self.tmp = tempfile.TemporaryDirectory(prefix=f"bench-{kind}-")
        self.port = free_port()
        extra = {"ws_max_connections_per_ip": 0, **(settings or {})}
        args = ["--port", str(self.port), "--dir", self.tmp.name, "--settings", json.dumps(extra)]
        if profile is not None:
            args += ["--profile", str(profile)]
        self.server = Child("bench.servers", kind, *args)
        # The attendees' phones (``notes`` phases: HTTP requests from a process of their own), when wanted.
        self.poster = Child("bench.servers", "poster", "--port", str(self.port)) if poster else None
        self.clients: list[Child] = []
        self.next_post = 1
        self.stall = stall
        self.rss_per_connection = math.nan
        self.connect_seconds = 0.0  # time for every follower to connect fresh (no history to replay)

    @property
    def url(self) -> str:
        path = "/ws/events/bench" if self.kind == "app" else "/"
        return f"ws://127.0.0.1:{self.port}{path}"

    def queries(self) -> tuple[int, int]:
        """SQL statements the app ran so far: all, and those reading or writing the live log."""
        _, total, live_log = self.server.ask("queries").split()
        return int(total), int(live_log)

    def start(self) -> None:
        ready = self.server.read(timeout=60)
        assert ready == "ready", ready
        if self.poster is not None:
            assert self.poster.read(timeout=60) == "ready"
        time.sleep(0.3)
        # RSS per connection is the slope between half and all followers connected, so one-off costs
        # (lazy imports, the feed, caches) are not divided among the connections.
        shares = [self.followers // CLIENT_PROCESSES + (i < self.followers % CLIENT_PROCESSES) for i in range(2)]
        rss: list[int] = []
        started = time.perf_counter()
        for i, share in enumerate(shares):
            stall = str(self.stall) if i == 0 else "0"
            client = Child("bench.clients", "--url", self.url, "--count", str(share), "--stall", stall)
            self.clients.append(client)
            answer = client.read(timeout=300)
            assert answer.startswith("ready"), answer
            self.connect_seconds += time.perf_counter() - started
            time.sleep(1.0)
            rss.append(self.server.rss_bytes())
            started = time.perf_counter()
        self.rss_per_connection = (rss[1] - rss[0]) / shares[1]
        self.phase(50.0, 20)  # warm-up, not reported: first-use costs (language model, code paths) are paid here

    def reports(self) -> list[dict[str, Any]]:
        for client in self.clients:
            client.send("report")
        return [json.loads(client.read()) for client in self.clients]

    def wait_delivered(self, expected: int, quiet: float = 1.5, limit: float = 60.0) -> list[dict[str, Any]]:
        """Poll the followers until everything expected arrived or nothing more arrives for ``quiet`` seconds."""
        deadline = time.monotonic() + limit
        last = -1
        still_since = time.monotonic()
        while True:
            reports = self.reports()
            got = sum(r["deliveries"] for r in reports)
            if got >= expected or time.monotonic() > deadline:
                return reports
            if got != last:
                last, still_since = got, time.monotonic()
            elif time.monotonic() - still_since > quiet:
                return reports
            time.sleep(0.2)

    def phase(self, rate: float, posts: int, command: str = "publish") -> Run:
        first = self.next_post
        self.next_post += posts
        for client in self.clients:
            assert client.ask(f"phase {first} {posts}") == "ok"
        live = self.followers - self.stall
        cpu_before = self.server.cpu_seconds()
        clients_before = sum(c.cpu_seconds() for c in self.clients)
        started = time.time()
        publisher = self.poster if command == "notes" and self.poster is not None else self.server
        answer = publisher.ask(f"{command} {first} {posts} {rate}", timeout=600)
        assert answer.startswith("published"), answer
        reports = self.wait_delivered(posts * live)
        cpu = self.server.cpu_seconds() - cpu_before
        client_cpu = sum(c.cpu_seconds() for c in self.clients) - clients_before
        deliveries = sum(r["deliveries"] for r in reports)
        last_arrival = max((r["last_arrival"] for r in reports), default=started)
        stalled = [x for r in reports for x in r["stalled_fraction"]]
        return Run(
            kind=self.kind,
            followers=live,
            rate=rate,
            posts=posts,
            deliveries=deliveries,
            expected=posts * live,
            min_fraction=min(r["min_fraction"] for r in reports),
            stalled_fraction=stalled[0] if stalled else math.nan,
            doubles=sum(r["doubles"] for r in reports),
            deliveries_per_s=deliveries / max(last_arrival - started, 1e-9),
            p50_ms=merge_latencies(reports, 50) * 1000,
            p99_ms=merge_latencies(reports, 99) * 1000,
            cpu_us_per_delivery=cpu / max(deliveries, 1) * 1e6,
            client_cpu_us_per_delivery=client_cpu / max(deliveries, 1) * 1e6,
            # Over the time until the last delivery: the quiet spell wait_delivered waits out is idle.
            busy_cores=(cpu + client_cpu) / max(last_arrival - started, 1e-9),
            rss_per_connection=self.rss_per_connection,
            resyncs=sum(r["resyncs"] for r in reports),
        )

    def stop(self) -> None:
        for child in (*self.clients, *([self.poster] if self.poster else []), self.server):
            child.stop()
        self.tmp.cleanup()


def posts_for(phases: Sequence[tuple[float, float]], followers: int, flat_out: int) -> list[tuple[float, int]]:
    """(rate, posts) per phase: paced phases last their seconds, flat out delivers ``flat_out`` frames in all."""
    return [(rate, int(rate * seconds) if rate else max(20, flat_out // followers)) for rate, seconds in phases]


def measure(
    kind: str, followers: int, phases: Sequence[tuple[float, int]], *, profile: Path | None = None
) -> list[Run]:
    rig = Rig(kind, followers, profile=profile)
    try:
        rig.start()
        runs = [rig.phase(rate, posts) for rate, posts in phases]
    finally:
        rig.stop()
    for run in runs:
        logger.info("bench.fanout_run", extra={"run": run.__dict__})
    return runs


def rate_name(rate: float) -> str:
    return "flat out" if rate == 0 else f"{rate:g}/s"


def figures(app: Sequence[Run], bare: Sequence[Run]) -> list[Figure]:
    out: list[Figure] = []
    for a, b in zip(app, bare, strict=True):
        name = f"fan-out {a.followers + 1:,} × {rate_name(a.rate)}"
        base = "bare websockets"
        wanted = "≥ 1.0×" if not a.rate else ""
        out.append(Figure(name, "deliveries/s", a.deliveries_per_s, "", b.deliveries_per_s, base, wanted))
        worst = "delivered, worst reading follower"
        out.append(Figure(name, worst, a.min_fraction, "", b.min_fraction, base, "1.0 (1 stalled)"))
        target = "≤ 100 ms" if a.rate == 10 and a.followers + 1 >= 5000 else ""
        out.append(Figure(name, "p50 publish→receive", a.p50_ms, "ms", b.p50_ms, base))
        out.append(Figure(name, "p99 publish→receive", a.p99_ms, "ms", b.p99_ms, base, target))
        out.append(Figure(name, "server CPU per delivery", a.cpu_us_per_delivery, "µs", b.cpu_us_per_delivery, base))
        client = "follower processes' CPU per delivery"
        out.append(Figure(name, client, a.client_cpu_us_per_delivery, "µs", b.client_cpu_us_per_delivery, base))
        out.append(Figure(name, "cores busy, server + followers", a.busy_cores, "", b.busy_cores, base))
        if a.doubles or b.doubles:
            out.append(Figure(name, "doubled deliveries", a.doubles, "", b.doubles, base, "0"))
    for a, b in zip(app[:1], bare[:1], strict=False):
        out.append(
            Figure(
                f"fan-out {a.followers + 1:,}",
                "server RSS per connection",
                a.rss_per_connection / 1024,
                "KiB",
                b.rss_per_connection / 1024,
                "bare websockets",
                "≤ 20 KiB",
            )
        )
    return out


def run(*, full: bool = False, followers: Sequence[int] = (1000, 5000), profile: Path | None = None) -> list[Figure]:
    out: list[Figure] = []
    for n in followers:
        if full:
            phases = posts_for(FULL_PHASES, n, FULL_FLAT_OUT_DELIVERIES)
        else:
            phases = posts_for(QUICK_PHASES, n, QUICK_FLAT_OUT_DELIVERIES)
        bare = measure("bare", n, phases)
        app = measure("app", n, phases, profile=profile)
        out.extend(figures(app, bare))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="longer phases (the quick run is the default)")
    parser.add_argument("--followers", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--profile", type=Path, help="cProfile the app server into this file")
    args = parser.parse_args(argv)
    print(table(run(full=args.full, followers=args.followers, profile=args.profile)))  # noqa: T201


if __name__ == "__main__":
    main()
