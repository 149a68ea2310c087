"""`python -m app.cli serve` as an operator may start it: its drawn exports run in worker processes, which load
the parent's main module again, and an unguarded one started a second server in each (every HTML or PDF
export answered 500)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.ports import free_port
from tests.served import Served


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    served = Served(tmp_path / "module.db", free_port())
    try:
        yield served.url
    finally:
        served.kill()


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
