"""Benchmark child processes: commands in on stdin, answer lines out, CPU seconds and RSS read from /proc."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (from every thread of it)."""
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def run_queue_wait(pid: int) -> float:
    """Seconds the threads of ``pid`` have spent ready to run but waiting for a core (schedstat): on a
    shared machine, how much of a run's wall clock was other people's work."""
    return _schedstat(pid, 1)


def on_core(pid: int) -> float:
    """Seconds the threads of ``pid`` have spent running on a core (schedstat): what a run cost, whoever else
    held the cores meanwhile."""
    return _schedstat(pid, 0)


def _schedstat(pid: int, field: int) -> float:
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[field])
    except (OSError, IndexError, ValueError):
        pass
    return total / 1e9


def cmdline(pid: int) -> bytes:
    """The command line of ``pid``, arguments NUL-separated; empty once it has gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Child:
    """A ``python -m module ...`` child speaking the line protocol of bench.servers and bench.clients."""

    def __init__(self, module: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def read(self, timeout: float = 120.0) -> str:
        """The next answer line; a dead child or a silent one past ``timeout`` is an error."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        import selectors

        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{self.proc.args} said nothing for {timeout}s")
                if sel.select(remaining):
                    line = self.proc.stdout.readline()
                    if not line:
                        raise RuntimeError(f"{self.proc.args} exited with {self.proc.wait()}")
                    return line.strip()

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def ask(self, line: str, timeout: float = 120.0) -> str:
        self.send(line)
        return self.read(timeout)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime

    def rss_bytes(self) -> int:
        return rss_bytes(self.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
