"""Operations: /metrics in Prometheus format, /readyz with the broker down, worker processes that stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.app.api.test_posts import note
from tests.conftest import REPO, create_event
from tests.live import Follower
from tests.ports import closed_port


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def test_metrics_count_followers_and_frames(client: TestClient, event: dict[str, Any]) -> None:
    with client.websocket_connect("/ws/events/testcon") as ws:
        note(client, "counted")
        Follower(ws).next_frame()
        response = client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert metric(response.text, "backchannel_live_connections") == 1
        assert metric(response.text, "backchannel_live_frames_sent_total") >= 1
        assert metric(response.text, "backchannel_live_frames_dropped_total") == 0
        notes = 'backchannel_posts_ingested_total{source="notes",source_key="notes"}'
        assert metric(response.text, notes) == 1, "the note posted through this replica is counted by source"


def test_with_redis_down_the_api_is_degraded_but_takes_posts_and_followers_still_get_them(settings: Settings) -> None:
    down = settings.model_copy(update={"broker_url": f"redis://127.0.0.1:{closed_port()}/0"})
    with TestClient(create_app(down)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded"
        assert ready.json()["checks"] == {"database": "ok", "broker": "unavailable"}
        create_event(client)
        with client.websocket_connect("/ws/events/testcon") as ws:
            started = time.monotonic()
            note(client, "still accepted")
            frame = Follower(ws).next_frame()  # from the database poll, within seconds
            assert frame["data"]["text"] == "still accepted"
            assert time.monotonic() - started < 10


def start_worker(command: str, database_url: str, broker_url: str, *args: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "BACKCHANNEL_DATABASE_URL": database_url,
        "BACKCHANNEL_BROKER_URL": broker_url,
        "BACKCHANNEL_LOG_JSON": "true",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", command, *args],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )


def run_until_started_then_terminate(process: subprocess.Popen[bytes], metrics_port: int | None = None) -> str:
    assert process.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            line = process.stderr.readline().decode()
            if not line:
                break
            lines.append(line)
            if "worker.started" in line:
                if metrics_port is not None:
                    lines.append(httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text)
                process.send_signal(signal.SIGTERM)
                _, rest = process.communicate(timeout=30)
                return "".join(lines) + (rest or b"").decode()
        raise AssertionError("worker did not start:\n" + "".join(lines))
    finally:
        process.kill()
        process.wait()
        process.stderr.close()


def test_the_ingest_worker_serves_its_metrics_and_stops_cleanly_on_sigterm(database_url: str, broker_url: str) -> None:
    port = closed_port()
    process = start_worker("ingest", database_url, broker_url, "--metrics-port", str(port))
    log = run_until_started_then_terminate(process, metrics_port=port)
    assert process.returncode == 0
    assert 'backchannel_process_info{role="ingest"} 1.0' in log
    assert "worker.stopped" in log


def test_the_cluster_worker_stops_cleanly_on_sigterm(database_url: str, broker_url: str) -> None:
    pytest.importorskip("app.pipeline.cluster", reason="the clustering pipeline has not landed yet")
    process = start_worker("cluster", database_url, broker_url)
    log = run_until_started_then_terminate(process)
    assert process.returncode == 0
    assert "worker.stopped" in log
