"""Hostile posts (XSS corpus, RTL overrides, zero-width characters, 100 kB of emoji) through notes and Mastodon HTML:
stored as plain text plus sanitised HTML, served as text in the page, and exported safely in every format."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import anyio
import lxml.html
import pytest
from fastapi.testclient import TestClient

from app.broadcast.memory import InMemoryBroker
from app.main import create_app
from app.pipeline.ingest import StorePostSink
from app.settings import Settings
from app.store.db import create_engine, sessionmaker
from ingest.runner import SourceRunner
from ingest.sources.mastodon import MastodonSource
from ingest.text import normalise_text
from tests.conftest import create_event
from tests.fakes import JsonFileCursorStore
from tests.servers.mastodon import MastodonServer

XSS = [
    "<script>alert('xss')</script>",
    '<img src=x onerror="alert(1)">',
    "<svg onload=alert(1)><circle r=10 /></svg>",
    '<a href="javascript:alert(1)">click me</a>',
    '<iframe src="https://evil.example"></iframe>',
    "<div style=\"background:url('javascript:alert(1)')\">styled</div>",
    "<<script>alert(1)//<</script>",
    '<p title="</p><script>alert(1)</script>">malformed',
    '"><svg/onload=alert(1)>',
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    '=HYPERLINK("https://evil.example","click")',
    "safe text \u202egnp.exe\u202c with an RTL override",
    "zero\u200bwidth\u200c\u200djoiners\ufeff here",
]
EMOJI = "🎤🔥" * 25_000  # 100 kB of UTF-8, far over a note's 1000 characters

MASTODON_HTML = [
    "<p>Great talk #pycon <script>alert('xss')</script></p>",
    '<p>#pycon <img src=x onerror="alert(1)"> <a href="javascript:alert(1)">link</a></p>',
    "<p>#pycon <svg onload=alert(1)></svg> <iframe src=https://evil.example></iframe></p>",
    '<p>#pycon <a href="https://example.org" onclick="alert(1)" style="color:red">ok link</a></p>',
    "<p>#pycon <b>unclosed <i>tags <p>everywhere",
    "<p>#pycon \u202eevil\u202c and zero\u200bwidth</p>",
]

FOREIGN_TAGS = {"iframe", "math", "object", "embed", "frame", "applet"}  # the pages and exports never use these


@pytest.fixture
def open_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_posts": "1000/minute", "rate_limit_exports": "1000/minute"})


def assert_inert_html(markup: str | bytes, *, own_scripts: bool = False) -> None:
    """No markup from posts survives as markup: no script, handler attribute, javascript: URL or foreign element."""
    tree = lxml.html.fromstring(markup)
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        tag = element.tag.lower()
        if tag == "script" and own_scripts:
            assert (element.get("src") or "").startswith("/static/"), lxml.html.tostring(element)
            assert not (element.text or "").strip(), "inline script"
        elif tag == "script" or tag in FOREIGN_TAGS:
            raise AssertionError(f"<{tag}> from content: {lxml.html.tostring(element)[:200]!r}")
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), f"{name}= on <{tag}>"
            assert "javascript:" not in value.replace(" ", "").lower(), f"{name}={value!r} on <{tag}>"


def post_corpus(client: TestClient) -> list[dict[str, Any]]:
    stored = []
    for text in XSS:
        response = client.post("/api/events/testcon/posts", json={"text": text})
        assert response.status_code == 201, response.text
        stored.append(response.json()["post"])
    return stored


def test_hostile_notes_are_stored_as_the_plain_text_that_was_typed(open_settings: Settings) -> None:
    with TestClient(create_app(open_settings)) as client:
        create_event(client)
        stored = post_corpus(client)
        listed = {p["id"]: p for p in client.get("/api/events/testcon/posts?limit=200").json()["items"]}
    for text, post in zip(XSS, stored, strict=True):
        assert listed[post["id"]]["text"] == post["text"] == normalise_text(text)  # the typed text, not HTML
        assert not post.get("html")
        assert "\u202e" not in post["text"]  # bidi overrides cannot flip what others read


def test_100_kb_of_emoji_is_refused_as_too_long_not_crashed(client: TestClient, event: Any) -> None:
    response = client.post("/api/events/testcon/posts", json={"text": EMOJI})
    assert response.status_code in (413, 422)
    assert "error" in response.json()


def test_the_event_page_shows_hostile_notes_as_text(open_settings: Settings) -> None:
    with TestClient(create_app(open_settings)) as client:
        create_event(client)
        post_corpus(client)
        page = client.get("/e/testcon")
    assert page.status_code == 200
    assert "alert(1)" in page.text  # the posts are on the page ...
    assert_inert_html(page.text, own_scripts=True)  # ... as text only


async def _ingest_mastodon(settings: Settings, event_id: int, tmp_path: Path) -> int:
    engine = create_engine(settings)
    broker = InMemoryBroker()
    await broker.connect()
    try:
        async with MastodonServer() as server:
            for markup in MASTODON_HTML:
                server.publish("hostile", tags=["pycon"], content_html=markup)
            sink = StorePostSink(sessionmaker(engine), broker, event_id)
            source = MastodonSource(server.url, "pycon", streaming="websocket", poll_interval=0.05)
            runner = SourceRunner(
                source, sink, JsonFileCursorStore(tmp_path / "cursors.json"), source_key="m", batch_interval=0.02
            )
            async with anyio.create_task_group() as tg:
                tg.start_soon(runner.run)
                with anyio.fail_after(20):
                    while source.stats.accepted < len(MASTODON_HTML):
                        await anyio.sleep(0.02)
                runner.stop()
            return source.stats.accepted
    finally:
        await broker.close()
        await engine.dispose()


def test_hostile_mastodon_html_is_stored_sanitised_and_served_as_text(open_settings: Settings, tmp_path: Path) -> None:
    with TestClient(create_app(open_settings)) as client:
        create_event(client)
    event_id = 1  # the first event of a fresh database
    assert anyio.run(_ingest_mastodon, open_settings, event_id, tmp_path) == len(MASTODON_HTML)
    with TestClient(create_app(open_settings)) as client:
        posts = client.get("/api/events/testcon/posts?limit=200").json()["items"]
        page = client.get("/e/testcon").text
    assert len(posts) == len(MASTODON_HTML)
    for post in posts:
        assert "<" not in post["text"], post["text"]  # plain text: tags are gone
        if post.get("html"):
            assert_inert_html(f"<div>{post['html']}</div>")
    assert_inert_html(page, own_scripts=True)


@pytest.mark.parametrize("fmt", ["md", "html", "json", "csv", "zip", "pdf"])
def test_every_export_format_carries_hostile_posts_inertly(open_settings: Settings, fmt: str) -> None:
    with TestClient(create_app(open_settings)) as client:
        create_event(client)
        post_corpus(client)
        response = client.get(f"/api/events/testcon/export?format={fmt}")
    assert response.status_code == 200, response.text
    body = response.content
    if fmt == "html":
        assert_inert_html(body)
    elif fmt == "md":
        text = body.decode()
        for raw in ("<script", "<img", "<svg", "<iframe", "](javascript:"):
            assert raw not in text.lower(), raw  # Markdown viewers render raw HTML and links
    elif fmt == "json":
        json.loads(body)
    elif fmt == "csv":
        for row in csv.reader(io.StringIO(body.decode("utf-8-sig"))):
            for cell in row:
                assert not cell.startswith(("=", "+", "-", "@")), f"formula injection: {cell!r}"
    elif fmt == "zip":
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            for name in archive.namelist():
                if name.endswith(".html"):
                    assert_inert_html(archive.read(name))
    else:
        assert body.startswith(b"%PDF")
