"""Exports of a big schedule: how long its PDF takes, and what the rest of the server answers meanwhile.

``python -m bench.export`` starts ``backchannel serve`` on a fresh SQLite store, imports 39c3's frab
schedule from ``../shared/data/fixtures`` (215 talks, no posts: the print's text layout, not its charts),
then times the whole event's PDF against its Markdown (same summary, same run) and reads the event page
over and over, first idle and then while the PDF prints. Exports are drawn in a worker process, so the
page should answer about as fast during the print as before it.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.figures import Figure, percentile, table
from bench.processes import REPO, children, cmdline, free_port, rss_bytes

SCHEDULE = REPO.parent / "shared" / "data" / "fixtures" / "frab_schedule_39c3.xml"
SLUG = "bench-39c3"
_PAGES = re.compile(r"^Pages:\s+(\d+)", re.MULTILINE)


def _serve(directory: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if k != "BACKCHANNEL_ADMIN_TOKEN"},
        "BACKCHANNEL_DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'bench.db'}",
        "BACKCHANNEL_BROKER_URL": "memory://",
        "BACKCHANNEL_PORT": str(port),
        "BACKCHANNEL_LOG_LEVEL": "WARNING",
        "BACKCHANNEL_RATE_LIMIT_EXPORTS": "1000/minute",
    }
    command = [sys.executable, "-m", "app.cli", "serve"]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _ready(client: httpx.Client, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server stopped: {server.stderr.read().decode()[-2000:] if server.stderr else ''}")
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not start within 60 s")


def _page_seconds(client: httpx.Client, until: threading.Event | None, count: int) -> list[float]:
    seconds: list[float] = []
    while len(seconds) < count if until is None else not until.is_set():
        started = time.perf_counter()
        assert client.get(f"/e/{SLUG}").status_code == 200
        seconds.append(time.perf_counter() - started)
        time.sleep(0.05)  # a follower's reload, not a flood
    return seconds


def _pages(pdf: bytes, directory: Path) -> int | None:
    """From poppler's pdfinfo (``make system-deps``): WeasyPrint packs its page objects into compressed streams."""
    if shutil.which("pdfinfo") is None:
        return None
    path = directory / "summary.pdf"
    path.write_bytes(pdf)
    found = _PAGES.search(subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True).stdout)
    return int(found.group(1)) if found else None


def run(*, reads: int = 150) -> list[Figure]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        server = _serve(Path(tmp), port)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300) as client:
                _ready(client, server)
                created = client.post("/api/events", json={"slug": SLUG, "name": "39C3", "time_zone": "Europe/Berlin"})
                created.raise_for_status()
                auth = {"Authorization": f"Bearer {created.json()['organizer_token']}"}
                files = {"file": (SCHEDULE.name, SCHEDULE.read_bytes(), "application/xml")}
                client.post(f"/api/events/{SLUG}/schedule", files=files, headers=auth).raise_for_status()
                export = f"/api/events/{SLUG}/export"
                client.get(export, params={"format": "html"}, headers=auth).raise_for_status()  # the worker starts
                started = time.perf_counter()
                client.get(export, params={"format": "md"}, headers=auth).raise_for_status()
                markdown = time.perf_counter() - started
                idle = _page_seconds(client, None, reads)
                printed = threading.Event()
                during: list[float] = []
                reader = threading.Thread(target=lambda: during.extend(_page_seconds(client, printed, 0)))
                started = time.perf_counter()
                reader.start()
                pdf = client.get(export, params={"format": "pdf"}, headers=auth)
                printing = time.perf_counter() - started
                printed.set()
                reader.join()
                pdf.raise_for_status()
                pages = _pages(pdf.content, Path(tmp))
                workers = [pid for pid in children(server.pid) if b"anyio.to_process" in cmdline(pid)]
                worker_mib = sum(rss_bytes(pid) for pid in workers) / 2**20
                server_mib = rss_bytes(server.pid) / 2**20
        finally:
            server.terminate()
            server.wait(timeout=30)
    name = "export, 39c3 schedule (215 talks)"
    return [
        Figure(name, f"whole event's PDF ({pages or '?'} pages)", printing, "s", markdown, "its Markdown", ""),
        Figure(name, "PDF pages per second", (pages or math.nan) / printing, "", None, "", ""),
        Figure(name, f"event page p50 while it prints ({len(during)} reads)", percentile(during, 50) * 1000, "ms",
               percentile(idle, 50) * 1000, "idle", ""),
        Figure(name, "event page p99 while it prints", percentile(during, 99) * 1000, "ms",
               percentile(idle, 99) * 1000, "idle", "≤ 3×"),
        # the worker leaves after 5 idle minutes, and its memory with it
        Figure(name, f"RSS of the export worker{'s' if len(workers) != 1 else ''} after it", worker_mib, "MiB",
               server_mib, "the server", ""),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=150, help="idle reads of the event page")
    args = parser.parse_args(argv)
    print(table(run(reads=args.reads)))  # noqa: T201


if __name__ == "__main__":
    main()
