"""Organizers import a schedule file or URL into an event; re-imports update talks in place by guid."""

from __future__ import annotations

import functools
import json
import re
import socket
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.errors import InvalidInput
from app.main import create_app
from app.services import schedules as schedule_service
from app.settings import Settings
from tests.app.organizer.conftest import auth, post_note
from tests.conftest import SHARED_DATA, create_event

XML_39C3 = SHARED_DATA / "fixtures" / "frab_schedule_39c3.xml"
JSON_DEMOCON = SHARED_DATA / "fixtures" / "pretalx_schedule_democon.json"
XML_31C3 = SHARED_DATA / "schedules" / "schedule.xml"


def upload(client: TestClient, event: dict[str, Any], path: Path, data: bytes | None = None) -> Any:
    content = data if data is not None else path.read_bytes()
    return client.post("/api/events/testcon/schedule", files={"file": (path.name, content)}, headers=auth(event))


def guids_in(path: Path) -> set[str]:
    """The talk guids of a schedule, walked with the standard library."""
    if path.suffix == ".json":
        days = json.loads(path.read_text())["schedule"]["conference"]["days"]
        return {talk["guid"] for day in days for talks in day["rooms"].values() for talk in talks}
    root = ET.parse(path).getroot()
    return {e.get("guid", "") for e in root.findall("day/room/event")}


def rooms_in(path: Path) -> set[str]:
    if path.suffix == ".json":
        days = json.loads(path.read_text())["schedule"]["conference"]["days"]
        return {room for day in days for room, talks in day["rooms"].items() if talks}
    return {r.get("name", "") for r in ET.parse(path).getroot().findall("day/room") if r.findall("event")}


@pytest.mark.parametrize("path", [XML_39C3, JSON_DEMOCON, XML_31C3], ids=lambda p: p.name)
def test_a_real_schedule_imports_every_talk(client: TestClient, event: dict[str, Any], path: Path) -> None:
    response = upload(client, event, path)
    assert response.status_code == 200, response.text
    report = response.json()
    guids = guids_in(path)
    assert report["talks"] == report["created"] == len(guids)
    assert report["updated"] == report["cancelled"] == 0
    talks = client.get("/api/events/testcon/talks").json()["items"]
    assert {t["guid"] for t in talks} == guids
    assert {t["room"] for t in talks} == rooms_in(path)


def test_importing_the_same_file_again_changes_nothing(client: TestClient, event: dict[str, Any]) -> None:
    upload(client, event, JSON_DEMOCON)
    report = upload(client, event, JSON_DEMOCON).json()
    assert report["created"] == report["updated"] == report["cancelled"] == 0
    assert report["unchanged"] == report["talks"]


def test_a_moved_talk_is_updated_in_place_and_keeps_its_posts(client: TestClient, event: dict[str, Any]) -> None:
    upload(client, event, XML_31C3)
    talk = client.get("/api/events/testcon/talks").json()["items"][0]
    note = post_note(client, "Great intro", talk_id=talk["id"])
    root = ET.parse(XML_31C3).getroot()
    node = next(e for e in root.iter("event") if e.get("guid") == talk["guid"])
    date, start = node.find("date"), node.find("start")
    assert date is not None and date.text and start is not None
    date.text = date.text[:11] + "23:45" + date.text[16:]  # the talk moves to late evening
    start.text = "23:45"
    moved = ET.tostring(root, encoding="unicode")
    report = upload(client, event, XML_31C3, moved.encode()).json()
    assert report["updated"] == 1 and report["created"] == 0
    after = client.get(f"/api/events/testcon/talks/{talk['id']}").json()
    assert after["start"] != talk["start"]
    posts = client.get(f"/api/events/testcon/posts?talk={talk['id']}").json()["items"]
    assert [p["id"] for p in posts] == [note["id"]]


def test_a_talk_missing_from_the_new_file_is_cancelled_not_deleted(client: TestClient, event: dict[str, Any]) -> None:
    upload(client, event, JSON_DEMOCON)
    talks = client.get("/api/events/testcon/talks").json()["items"]
    client.post("/api/events/testcon/talks", json={**_talk_body(talks[0]), "guid": "extra-talk"}, headers=auth(event))
    report = upload(client, event, JSON_DEMOCON).json()
    assert report["cancelled"] == 1
    extra = [t for t in client.get("/api/events/testcon/talks").json()["items"] if t["guid"] == "extra-talk"]
    assert extra and extra[0]["cancelled"] is True


def _talk_body(talk: dict[str, Any]) -> dict[str, Any]:
    return {"title": "Added by hand", "start": talk["start"], "end": talk["end"]}


def test_a_broken_file_is_refused_naming_the_line(client: TestClient, event: dict[str, Any]) -> None:
    broken = XML_31C3.read_text().replace("<title>", "<title", 1).encode()
    response = upload(client, event, XML_31C3, broken)
    assert response.status_code == 422
    error = response.json()["error"]
    assert isinstance(error["line"], int) and error["line"] > 0
    assert "line" in error["message"]
    assert client.get("/api/events/testcon/talks").json()["items"] == []


def test_a_json_file_with_a_bad_field_is_refused_naming_the_field(client: TestClient, event: dict[str, Any]) -> None:
    text = JSON_DEMOCON.read_text()
    broken = re.sub(r'"duration":\s*"[^"]*"', '"duration": "forever"', text, count=1).encode()
    error = upload(client, event, JSON_DEMOCON, broken).json()["error"]
    assert error["schedule_field"].endswith(".duration")


def test_import_needs_the_organizer_token(client: TestClient, event: dict[str, Any]) -> None:
    files = {"file": ("schedule.json", JSON_DEMOCON.read_bytes())}
    assert client.post("/api/events/testcon/schedule", files=files).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.post("/api/events/testcon/schedule", files=files, headers=wrong).status_code == 403


@pytest.fixture
def file_server() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving the shared fixtures directory."""
    handler = functools.partial(_QuietHandler, directory=str(XML_39C3.parent))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_schedule_can_be_fetched_by_url(client: TestClient, event: dict[str, Any], file_server: str) -> None:
    url = f"{file_server}/{JSON_DEMOCON.name}"
    response = client.post("/api/events/testcon/schedule", json={"url": url}, headers=auth(event))
    assert response.status_code == 200, response.text
    assert response.json()["created"] == len(guids_in(JSON_DEMOCON))


def test_a_missing_url_reports_the_http_error(client: TestClient, event: dict[str, Any], file_server: str) -> None:
    response = client.post(
        "/api/events/testcon/schedule", json={"url": f"{file_server}/nope.json"}, headers=auth(event)
    )
    assert response.status_code == 422
    assert "404" in response.json()["error"]["message"]


REFUSED_URLS = ["file:///etc/passwd", "ftp://example.org/s.xml", "http://127.0.0.1/s.xml", "http://[::1]/x",
                "http://10.0.0.1/x", "http://169.254.169.254/latest", "not a url", "http://host:99999/x"]  # fmt: skip


def test_local_and_non_http_urls_are_refused(settings: Settings) -> None:
    strict = settings.model_copy(update={"schedule_fetch_allow_private": False})
    with TestClient(create_app(strict)) as client:
        event = create_event(client)
        for url in REFUSED_URLS:
            response = client.post("/api/events/testcon/schedule", json={"url": url}, headers=auth(event))
            assert response.status_code == 422, url
            assert response.json()["error"]["field"] == "url"


def test_an_address_pasted_without_https_is_fetched_over_https(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As copied out of an address bar: the host is looked up (here it does not exist), not refused as non-http."""

    async def unknown(*_: object, **__: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(schedule_service.anyio, "getaddrinfo", unknown)
    strict = settings.model_copy(update={"schedule_fetch_allow_private": False})
    with TestClient(create_app(strict)) as client:
        event = create_event(client)
        url = "  pretalx.example/39c3/schedule/export/schedule.json "
        response = client.post("/api/events/testcon/schedule", json={"url": url}, headers=auth(event))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "url"
    assert error["message"].startswith("cannot resolve 'pretalx.example': no such host name")


@pytest.mark.parametrize(
    ("typed", "fetched"),
    [
        ("pretalx.com/39c3/schedule/export/schedule.json", "https://pretalx.com/39c3/schedule/export/schedule.json"),
        ("fahrplan.events.ccc.de:8443/congress/2025/schedule.xml",
         "https://fahrplan.events.ccc.de:8443/congress/2025/schedule.xml"),
        ("http://pretalx.com/x.json", None),  # has its scheme already
        ("schedule.json", None),  # a file name
        ("schedules/39c3.json", None),  # a relative path
        ("../shared/schedule.xml", None),
        ("not a url", None),
    ],
)  # fmt: skip
def test_only_an_address_without_its_scheme_gets_https(typed: str, fetched: str | None) -> None:
    assert schedule_service.bare_address(typed) == fetched


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("errno", "said"),
    [(socket.EAI_NONAME, "no such host name"), (socket.EAI_AGAIN, "did not answer"), (None, "could not be looked up")],
)
async def test_a_host_that_does_not_resolve_is_named_in_words(
    monkeypatch: pytest.MonkeyPatch, errno: int | None, said: str
) -> None:
    """The console shows this message as it is: the resolver's "[Errno -2] Name or service not known" was."""

    async def fails(*_: object, **__: object) -> None:
        if errno is None:
            raise OSError("Temporary failure")
        raise socket.gaierror(errno, "Name or service not known")

    monkeypatch.setattr(schedule_service.anyio, "getaddrinfo", fails)
    with pytest.raises(InvalidInput) as refused:
        await schedule_service.check_fetch_url("https://schedule.example/s.json", allow_private=False)
    assert refused.value.message.startswith("cannot resolve 'schedule.example': ")
    assert said in refused.value.message
    assert "Errno" not in refused.value.message and "Name or service" not in refused.value.message
    assert refused.value.field == "url"


GARBAGE: list[tuple[bytes, str]] = [
    (b"{}", "application/json"),
    (b'{"url": 5}', "application/json"),
    (b"{not json", "application/json"),
    (b"[]", "application/json"),
    (b"hello", "text/plain"),
    (b"--x\r\n\r\n", "multipart/form-data; boundary=x"),
    (b"", "multipart/form-data"),
]


def test_garbage_requests_get_a_4xx_with_a_message(client: TestClient, event: dict[str, Any]) -> None:
    for body, content_type in GARBAGE:
        headers = {"Content-Type": content_type, **auth(event)}
        response = client.post("/api/events/testcon/schedule", content=body, headers=headers)
        assert 400 <= response.status_code < 500, (body, response.text)
        assert response.json()["error"]["message"]


def test_an_oversized_upload_is_refused(settings: Settings) -> None:
    small = settings.model_copy(update={"schedule_max_bytes": 5000})
    with TestClient(create_app(small)) as client:
        event = create_event(client)
        response = upload(client, event, JSON_DEMOCON)
    assert response.status_code == 413
    assert response.json()["error"]["field"] == "file"


def test_a_dry_run_says_what_an_import_would_cancel_and_changes_nothing(
    client: TestClient, event: dict[str, Any]
) -> None:
    upload(client, event, JSON_DEMOCON)
    talks = client.get("/api/events/testcon/talks").json()["items"]
    extra = {**_talk_body(talks[0]), "guid": "extra-talk", "title": "A talk only the organizer added"}
    client.post("/api/events/testcon/talks", json=extra, headers=auth(event))
    before = client.get("/api/events/testcon/talks").json()["items"]
    last_id = client.get("/api/events/testcon").json()["last_id"]
    content = JSON_DEMOCON.read_bytes()
    response = client.post(
        "/api/events/testcon/schedule?dry_run=true", files={"file": (JSON_DEMOCON.name, content)}, headers=auth(event)
    )
    assert response.status_code == 200
    report = response.json()
    assert report["dry_run"] is True
    assert report["cancelled"] == 1 and report["cancelled_titles"] == ["A talk only the organizer added"]
    assert client.get("/api/events/testcon/talks").json()["items"] == before
    assert client.get("/api/events/testcon").json()["last_id"] == last_id  # no live frame went out
    applied = upload(client, event, JSON_DEMOCON).json()
    assert applied["dry_run"] is False and applied["cancelled_titles"] == ["A talk only the organizer added"]
    bad = client.post(
        "/api/events/testcon/schedule?dry_run=maybe", files={"file": (JSON_DEMOCON.name, content)}, headers=auth(event)
    )
    assert bad.status_code == 422 and "dry_run" in bad.text


def test_a_schedule_outside_the_events_dates_is_imported_with_a_warning_first(client: TestClient) -> None:
    """Last year's file (or dates typed wrong) imports, and the report says so before anything else: an organizer
    would otherwise find an event page where nothing is ever on."""
    event = create_event(client, starts_on="2026-11-28", ends_on="2026-11-29")
    report = upload(client, event, JSON_DEMOCON).json()
    assert report["created"] == len(guids_in(JSON_DEMOCON))
    assert report["warnings"][0] == (
        "the schedule's talks run 14 Dec 2020 – 16 Dec 2020, outside the event's dates (28 Nov 2026 – 29 Nov 2026);"
        " change the event's dates if the schedule is the right one"
    )


def test_a_schedule_within_the_events_dates_has_no_date_warning(client: TestClient) -> None:
    event = create_event(client, starts_on="2020-12-14", ends_on="2020-12-16")
    report = upload(client, event, JSON_DEMOCON).json()
    assert not any("outside the event's dates" in w for w in report["warnings"])
