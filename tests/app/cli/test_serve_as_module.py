"""`python -m app.cli serve` as an operator may start it: its drawn exports run in worker processes, which load
the parent's main module again, and an unguarded one started a second server in each (every HTML or PDF
export answered 500)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.ports import free_port

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_")}
    env |= {
        "BACKCHANNEL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'module.db'}",
        "BACKCHANNEL_PORT": str(port),
        "BACKCHANNEL_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen([sys.executable, "-m", "app.cli", "serve"], cwd=REPO, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "the server stopped"
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start within 60 s"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_server_started_as_a_module_draws_its_summaries(server: str) -> None:
    created = httpx.post(f"{server}/api/events", json={"slug": "modcon", "name": "Module Conf"}, timeout=30)
    assert created.status_code == 201, created.text
    token = created.json()["organizer_token"]
    for fmt, marker in (("html", b"Module Conf"), ("pdf", b"%PDF-")):
        response = httpx.get(
            f"{server}/api/events/modcon/export",
            params={"format": fmt},
            headers={"Authorization": f"Bearer {token}"},
            timeout=120,
        )
        assert response.status_code == 200, response.text
        assert marker in response.content
