"""Mass reconnect: every follower drops at once (a proxy reload) while posts go on, then all resume with ``after=``.

``python -m bench.reconnect [--followers 5000]`` reports the seconds until every follower is back and
caught up (against the seconds the same followers took to connect fresh, in the same run), frames
lost and doubled, and the SQL statements the server ran for the whole reconnect: history comes from
the hub's in-memory ring, so the live log is not queried per client.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.fanout import Rig
from bench.figures import Figure, table


def run(*, followers: int = 5000, missed: int = 200, profile: Path | None = None) -> list[Figure]:
    rig = Rig("app", followers, stall=0, profile=profile)
    try:
        rig.start()
        fresh = rig.connect_seconds
        first = rig.next_post
        rig.next_post += missed * 2
        for client in rig.clients:
            assert client.ask(f"phase {first} {missed * 2}") == "ok"
        assert rig.server.ask(f"publish {first} {missed} 200", timeout=600).startswith("published")
        rig.wait_delivered(missed * followers)
        for client in rig.clients:
            assert client.ask("drop") == "ok"
        # Posts the followers miss while they are away.
        assert rig.server.ask(f"publish {first + missed} {missed} 0", timeout=600).startswith("published")
        before = rig.queries()
        started = time.perf_counter()
        for client in rig.clients:
            client.send("resume")
        for client in rig.clients:
            assert client.read(timeout=300).startswith("resumed")
        reports = rig.wait_delivered(2 * missed * followers, quiet=3.0)
        back = time.perf_counter() - started
        after = rig.queries()
    finally:
        rig.stop()
    lost = sum(int(r["lost"]) for r in reports)
    doubles = sum(int(r["doubles"]) for r in reports)
    name = f"reconnect {followers:,} at once, {missed} missed"
    return [
        Figure(name, "all back and caught up", back, "s", fresh, "fresh connect", "≤ 10 s"),
        Figure(name, "frames lost / doubled", lost + doubles, "", None, "", "0"),
        Figure(name, "SQL statements per client, all", (after[0] - before[0]) / followers, "", None, "", ""),
        Figure(name, "live-log reads per client", (after[1] - before[1]) / followers, "", None, "", "0 (ring)"),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--followers", type=int, default=5000)
    parser.add_argument("--profile", type=Path, help="cProfile the app server into this file")
    args = parser.parse_args(argv)
    print(table(run(followers=args.followers, profile=args.profile)))  # noqa: T201


if __name__ == "__main__":
    main()
