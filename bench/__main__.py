"""``make bench``: every benchmark in one run, printed as one table of figures beside same-run baselines and ratios.

``python -m bench [--full] [--only fanout ingest reconnect soak parse export cluster]``. The default is a quick,
bounded run (a few minutes on two cores); ``--full`` runs the whole matrix: longer fan-out phases, a
10-minute soak, more Jetstream frames. Every figure is read against a baseline measured in the same run
(a bare websockets server, the raw parse rate, ...) so a busy shared machine cancels out of the ratio.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time

from bench.figures import Figure, table

logger = logging.getLogger(__name__)

PARTS = ("parse", "ingest", "fanout", "reconnect", "soak", "export", "cluster")


def parse_figures(frames: int) -> list[Figure]:
    from bench.ingest_parse import figures

    return figures(frames, replay=True)


def cluster_section() -> str:
    """bench.cluster's table, printed by a process of its own.

    Its posts/s are posts per CPU-second of the whole process, so it must not share one with the ingest,
    fan-out and soak parts: run after them in this process, the whole stage measured 6,482 posts/s on
    Tweets-T where ``python -m bench.cluster`` alone measures 14,000-16,000 for about the same code.
    """
    done = subprocess.run(
        [sys.executable, "-m", "bench.cluster"], capture_output=True, text=True, check=False, timeout=3600
    )
    if done.returncode != 0:
        logger.error("bench.cluster_failed", extra={"returncode": done.returncode, "stderr": done.stderr[-2000:]})
    return done.stdout


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="the whole matrix (much longer)")
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    figures: list[Figure] = []
    extra = ""
    started = time.perf_counter()
    for part in args.only:
        try:
            if part == "parse":
                figures += parse_figures(20_000)
            elif part == "ingest":
                from bench import ingest_e2e

                # 6,000 frames (3,000 items, under half a second of work) gave 4,903-7,895 items/s from run to run of
                # the same code on one quiet machine; 20,000 gave 7,963-8,406
                figures += ingest_e2e.run(frames=60_000 if args.full else 20_000)
            elif part == "fanout":
                from bench import fanout

                figures += fanout.run(full=args.full)
            elif part == "reconnect":
                from bench import reconnect

                figures += reconnect.run(followers=5000)
            elif part == "soak":
                from bench import soak

                figures += soak.run(seconds=600 if args.full else 60)
            elif part == "export":
                from bench import export

                figures += export.run()
            elif part == "cluster":
                extra = cluster_section()
        except Exception:
            # One broken benchmark must not hide the others' figures.
            logger.exception("bench.part_failed", extra={"part": part})
    print(table(figures))  # noqa: T201
    if extra:
        print("\nClustering (bench.cluster):\n" + extra)  # noqa: T201
    print(f"\n{time.perf_counter() - started:.0f} s in all")  # noqa: T201


if __name__ == "__main__":
    main()
