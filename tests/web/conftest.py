"""Browser-test fixtures: the real server on a free 127.0.0.1 port (tmp SQLite), Debian's Chromium via Playwright."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from app.main import create_app
from app.services import events as event_service
from app.settings import Settings
from tests.conftest import fresh_broker, fresh_database
from tests.web.digests import put_digest, sample_digest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WEB_TESTS = Path(__file__).resolve().parent
AXE = WEB_TESTS / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = WEB_TESTS.parents[1] / "test-artifacts"


@dataclass
class LiveServer:
    """The running app: its base URL, the demo-like event it serves and that event's talks."""

    url: str
    settings: Settings
    app: Any
    loop: asyncio.AbstractEventLoop
    slug: str = "webcon"
    token: str = ""
    talks: list[dict[str, Any]] = field(default_factory=list)
    question: dict[str, Any] = field(default_factory=dict)

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def post_note(self, text: str, client: str | None = None, **fields: Any) -> dict[str, Any]:
        """Post as an attendee; each call is a new browser unless `client` says which (rate limits are per client)."""
        body = {"text": text, **fields}
        headers = {"X-Client-Id": client or uuid.uuid4().hex}
        return self.call("POST", f"/api/events/{self.slug}/posts", body, headers)["post"]  # type: ignore[no-any-return]

    def own_event(self) -> tuple[str, str]:
        """A fresh event for one test (slug, organizer token), made in the store on the server's loop: POST
        /api/events counts against the per-address creation limit (10 an hour) that the other tests' events share."""
        slug = f"ux-{uuid.uuid4().hex[:8]}"

        async def create() -> str:
            async with self.app.state.sessionmaker() as session:
                _, token = await event_service.create_event(session, slug=slug, name="UX Conf", hashtags=["uxconf"])
                await session.commit()
            return token

        return slug, asyncio.run_coroutine_threadsafe(create(), self.loop).result(timeout=30)

    def put_digest(
        self,
        talk_id: int | None,
        post_ids: list[int],
        version: int = 1,
        *,
        announce: bool = True,
        questions: list[dict[str, Any]] | None = None,
    ) -> None:
        """Store a digest for the talk, on the server's own loop, and announce it live like the clustering stage;
        ``questions``: the questions it names as asked more than once."""
        start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
        state = self.app.state
        write = put_digest(
            state.sessionmaker,
            self.slug,
            talk_id,
            {**sample_digest(post_ids, start), "questions": questions or []},
            version,
            broker=state.broker if announce else None,
        )
        asyncio.run_coroutine_threadsafe(write, self.loop).result(timeout=30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory, postgres_template: str | None) -> Iterator[LiveServer]:
    """The app on SQLite, or on PostgreSQL and Redis when the scale-out variables are set."""
    if not CHROMIUM.exists():
        pytest.skip("browser tests need Debian's Chromium at /usr/bin/chromium (make system-deps)")
    with (
        fresh_database(tmp_path_factory.mktemp("web"), postgres_template) as database_url,
        fresh_broker() as broker_url,
        _serving(database_url, broker_url) as live,
    ):
        yield live


@contextmanager
def _serving(database_url: str, broker_url: str) -> Iterator[LiveServer]:
    """The app under uvicorn on a thread of its own, holding the demo-like event the browser tests read."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        broker_url=broker_url,
        pipeline_in_process=False,
        admin_token=None,
        ws_heartbeat_seconds=5.0,
    )
    port = _free_port()
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    live = LiveServer(url=f"http://127.0.0.1:{port}", settings=settings, app=app, loop=loop)
    created = live.call(
        "POST",
        "/api/events",
        {"slug": live.slug, "name": "WebCon", "hashtags": ["webcon"], "time_zone": "Europe/Berlin"},
    )
    live.token = created["organizer_token"]
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    schedule = [
        ("Observability on a budget", "Main hall", "Operations", -20, 25),
        ("Shipping small models", "Room B", "Machine learning", -15, 30),
        ("Threat modelling for busy teams", "Main hall", "Security", 30, 70),
    ]
    for n, (title, room, track, start, end) in enumerate(schedule):
        talk = live.call(
            "POST",
            f"/api/events/{live.slug}/talks",
            {
                "guid": f"talk-{n}",
                "title": title,
                "room": room,
                "track": track,
                "speakers": ["Dev Patel"],
                "start": (now + timedelta(minutes=start)).isoformat(),
                "end": (now + timedelta(minutes=end)).isoformat(),
                "url": "https://example.org/talk",
                "feedback_url": "https://example.org/feedback",
            },
            {"Authorization": f"Bearer {live.token}"},
        )
        live.talks.append(talk)
    first = live.talks[0]["id"]
    seeded = [live.post_note(f"Seed note {n} about error budgets", talk_id=first) for n in range(3)]
    question = live.post_note("How long do you keep logs?", kind="question", talk_id=first)
    live.put_digest(first, [p["id"] for p in seeded])
    live.question = question
    try:
        yield live
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        _close(loop)


def _close(loop: asyncio.AbstractEventLoop) -> None:
    """As ``asyncio.run`` ends: what is still pending (anyio's reaper of export worker processes) is cancelled
    and let finish, instead of being destroyed pending."""
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()

    async def finished() -> None:  # gathered on this loop: outside it, gather would pick another
        await asyncio.gather(*pending, return_exceptions=True)

    loop.run_until_complete(finished())
    loop.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module, not the session.

    While Playwright's sync API is open, its event loop stays registered as the main thread's
    running loop (it is parked mid-run in a greenlet), so every asyncio.run() or anyio test that
    comes later in the same process fails with "another loop is running". Closing it with the
    module keeps that to the browser tests, whatever order the other tests run in.
    """
    if not CHROMIUM.exists():
        pytest.skip("browser tests need Debian's Chromium at /usr/bin/chromium (make system-deps)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: Any) -> Iterator[Any]:
    """A page that fails the test on any dialog (an XSS payload that ran) or script error."""
    problems: list[str] = []
    tab = context.new_page()
    tab.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    tab.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    yield tab
    assert not problems, problems


@pytest.fixture(scope="session")
def axe_script() -> Path:
    """axe-core from npm, installed into tests/web/node_modules (gitignored) on first use."""
    if not AXE.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("the accessibility audit needs npm to install axe-core (apt-get install npm)")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--prefix", str(WEB_TESTS)], check=True, timeout=120)
    return AXE
