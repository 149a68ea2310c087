"""Soak: posts at 50/s for a while with followers that connect, drop and resume at random; memory and exactness.

``python -m bench.soak [--seconds 60 | --minutes 10] [--followers 1000]`` reports the server's RSS growth
after warm-up (against its RSS at the end of warm-up) and frames lost or doubled per follower, which
must be zero: every follower that comes back with ``after=`` gets every frame exactly once.
"""

from __future__ import annotations

import argparse

from bench.fanout import Rig
from bench.figures import Figure, table

RATE = 50.0
CHURN_PER_SECOND = 20.0


def run(*, seconds: float = 60.0, followers: int = 1000) -> list[Figure]:
    rig = Rig("app", followers, stall=0)
    try:
        rig.start()
        rig.phase(RATE, int(RATE * 10))  # warm-up: ten seconds of the same traffic without churn
        warm = rig.server.rss_bytes()
        posts = int(RATE * seconds)
        first = rig.next_post
        rig.next_post += posts
        for client in rig.clients:
            assert client.ask(f"phase {first} {posts}") == "ok"
        for client in rig.clients:
            client.send(f"churn {seconds} {CHURN_PER_SECOND / len(rig.clients)}")
        assert rig.server.ask(f"publish {first} {posts} {RATE}", timeout=seconds * 3 + 60).startswith("published")
        churned = sum(int(client.read(timeout=seconds + 120).split()[1]) for client in rig.clients)
        reports = rig.wait_delivered(posts * followers, quiet=3.0)
        end = rig.server.rss_bytes()
    finally:
        rig.stop()
    lost = sum(int(r["lost"]) for r in reports)
    doubles = sum(int(r["doubles"]) for r in reports)
    name = f"soak {seconds:g} s, {followers:,} followers, {RATE:g} posts/s, {churned} reconnects"
    return [
        Figure(name, "server RSS after", end / 2**20, "MiB", warm / 2**20, "after warm-up", "≤ 1.10×"),
        Figure(name, "frames lost", lost / followers, "per follower", None, "", "0"),
        Figure(name, "frames doubled", doubles / followers, "per follower", None, "", "0"),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--minutes", type=float, help="the full soak: --minutes 10")
    parser.add_argument("--followers", type=int, default=1000)
    args = parser.parse_args(argv)
    seconds = args.minutes * 60 if args.minutes else args.seconds
    print(table(run(seconds=seconds, followers=args.followers)))  # noqa: T201


if __name__ == "__main__":
    main()
