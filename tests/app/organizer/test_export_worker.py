"""Summaries are drawn in a worker process: if it dies mid-print, the organizer is told to try again (503, not
500), and the next export draws in a new one."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

from fastapi.testclient import TestClient

from bench.processes import children, cmdline
from tests.app.organizer.conftest import auth
from tests.conftest import SHARED_DATA

BASE = "/api/events/testcon"


def _workers() -> list[int]:
    return [pid for pid in children(os.getpid()) if b"anyio.to_process" in cmdline(pid)]


def test_a_worker_killed_mid_print_answers_try_again_and_the_next_export_draws(
    client: TestClient, event: dict[str, Any]
) -> None:
    schedule = (SHARED_DATA / "fixtures" / "frab_schedule_39c3.xml").read_bytes()
    imported = client.post(f"{BASE}/schedule", files={"file": ("39c3.xml", schedule)}, headers=auth(event))
    assert imported.status_code == 200, imported.text  # 215 talks: a PDF of seconds
    answers: list[Any] = []
    printing = threading.Thread(
        target=lambda: answers.append(client.get(f"{BASE}/export", params={"format": "pdf"}, headers=auth(event)))
    )
    printing.start()
    deadline = time.monotonic() + 30
    while not _workers():
        assert time.monotonic() < deadline, "no worker process was started"
        time.sleep(0.05)
    time.sleep(1.0)  # started and printing
    for pid in _workers():
        os.kill(pid, signal.SIGKILL)
    printing.join(timeout=60)
    [answer] = answers
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["message"] == "the summary could not be drawn right now; please try again"
    assert answer.headers["Retry-After"] == "5"
    again = client.get(f"{BASE}/export", params={"format": "html"}, headers=auth(event))
    assert again.status_code == 200 and "Opening Ceremony" in again.text
