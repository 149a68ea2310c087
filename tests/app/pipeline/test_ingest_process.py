"""A process that only ingests (``backchannel ingest``) loads its models, then freezes its startup heap."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.cli import workers
from app.pipeline import ingest

pytestmark = pytest.mark.anyio


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What preparing the process did, in order (the models and the collector replaced by recorders)."""
    seen: list[str] = []
    frozen = [0]

    def freeze() -> None:
        seen.append("freeze")
        frozen[0] += 1

    monkeypatch.setattr(ingest, "default_model", lambda: seen.append("kind model"))
    monkeypatch.setattr(ingest, "detect_language", lambda text: seen.append("language") and None)
    monkeypatch.setattr(ingest.gc, "get_freeze_count", lambda: frozen[0])
    monkeypatch.setattr(ingest.gc, "freeze", freeze)
    return seen


async def test_models_are_loaded_before_the_heap_is_frozen_once(calls: list[str]) -> None:
    await ingest.prepare_ingest_process()
    await ingest.prepare_ingest_process()
    # Frozen after the models (they are most of the heap a full collection would walk), and only once.
    assert calls == ["kind model", "language", "freeze", "kind model", "language"]


async def test_the_ingest_worker_prepares_before_it_runs_sources(
    calls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Supervisor:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

        async def run(self) -> None:
            calls.append("run")
            await asyncio.sleep(3600)

    monkeypatch.setattr(ingest, "IngestSupervisor", Supervisor)
    stop = asyncio.Event()
    task = asyncio.create_task(workers.ingest_body(None)(None, None, None, stop))
    while "run" not in calls:
        await asyncio.sleep(0.01)
    stop.set()
    await task
    assert calls == ["kind model", "language", "freeze", "run"]
