"""`backchannel serve` as an operator starts it: a subprocess, `python -m app.cli serve`, waited for until it
answers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import REPO


class Served:
    """`backchannel serve` in a subprocess (on a SQLite file, or any database URL); kill() is kill -9."""

    def __init__(self, database: Path | str, port: int, *, workers: bool = False, log: Path | None = None) -> None:
        self.port = port
        self.log = log
        self.url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "BACKCHANNEL_DATABASE_URL": database if isinstance(database, str) else f"sqlite:///{database}",
            "BACKCHANNEL_RATE_LIMIT_POSTS": "100000/minute",
            "BACKCHANNEL_LOG_LEVEL": "WARNING",
        }
        env.pop("BACKCHANNEL_BROKER_URL", None)
        command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
        command += [] if workers else ["--no-workers"]
        out = log.open("ab") if log is not None else subprocess.DEVNULL
        self.proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        if log is not None:
            out.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + 90  # generous: the machine may be busy with benchmarks
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, "the server exited at start"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
