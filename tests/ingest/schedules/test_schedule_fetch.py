"""fetch_schedule against an in-process HTTP transport (no network)."""

from __future__ import annotations

import httpx
import pytest

from ingest.schedules import ScheduleError, fetch_schedule, load_schedule
from ingest.schedules.loader import name_from_url

pytestmark = pytest.mark.anyio

ICS = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:a\r\nSUMMARY:A\r\n"
    b"DTSTART:20250501T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def client_for(handler) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_fetch_returns_the_body_and_follows_redirects() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.path == "/old.ics":
            return httpx.Response(301, headers={"Location": "https://conf.example/schedule.ics"})
        assert "text/calendar" in request.headers["accept"]
        return httpx.Response(200, content=ICS, headers={"Content-Type": "text/calendar"})

    async with client_for(handler) as client:
        body = await fetch_schedule("https://conf.example/old.ics", client=client)
        assert not client.is_closed  # a passed client is left open
    assert body == ICS
    assert seen == ["https://conf.example/old.ics", "https://conf.example/schedule.ics"]
    assert load_schedule(body, filename=name_from_url(seen[-1])).talks[0].guid == "a"


async def test_fetch_reports_progress() -> None:
    calls: list[tuple[int, int | None]] = []
    async with client_for(lambda request: httpx.Response(200, content=ICS)) as client:
        await fetch_schedule("https://conf.example/s.ics", client=client, progress=lambda a, b: calls.append((a, b)))
    assert calls[-1] == (len(ICS), len(ICS))


async def test_http_error_status() -> None:
    async with client_for(lambda request: httpx.Response(404)) as client:
        with pytest.raises(ScheduleError) as info:
            await fetch_schedule("https://conf.example/missing.json", client=client)
    assert str(info.value) == "https://conf.example/missing.json: the server answered HTTP 404 Not Found"


async def test_size_cap_from_content_length() -> None:
    async with client_for(lambda request: httpx.Response(200, content=b"{" + b" " * 2000 + b"}")) as client:
        with pytest.raises(ScheduleError, match="over the 1,000-byte limit \\(it is 2,002 bytes\\)"):
            await fetch_schedule("https://conf.example/big.json", client=client, max_bytes=1000)


async def test_size_cap_while_streaming_without_content_length() -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(100):
            yield b"x" * 100

    async with client_for(lambda request: httpx.Response(200, content=chunks())) as client:
        with pytest.raises(ScheduleError, match="over the 1,000-byte limit \\(it is larger\\)"):
            await fetch_schedule("https://conf.example/stream.json", client=client, max_bytes=1000)


async def test_timeout() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out", request=request)

    async with client_for(handler) as client:
        with pytest.raises(ScheduleError, match=r"^https://conf\.example/s\.xml: timed out after 5 s"):
            await fetch_schedule("https://conf.example/s.xml", client=client, timeout=5)


async def test_connection_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Name or service not known", request=request)

    async with client_for(handler) as client:
        with pytest.raises(ScheduleError, match="cannot fetch: Name or service not known"):
            await fetch_schedule("https://nowhere.invalid/s.xml", client=client)


async def test_empty_body() -> None:
    async with client_for(lambda request: httpx.Response(200, content=b"")) as client:
        with pytest.raises(ScheduleError, match="empty body"):
            await fetch_schedule("https://conf.example/s.xml", client=client)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://conf.example/s.xml", "conf.example/s.xml", ""])
async def test_only_http_urls(url: str) -> None:
    with pytest.raises(ScheduleError, match="only http:// and https:// URLs"):
        await fetch_schedule(url)


def test_name_from_url() -> None:
    assert name_from_url("https://c.example/39c3/schedule.xml?x=1") == "schedule.xml"
    assert name_from_url("https://c.example/") == "c.example"


async def test_whole_download_deadline_cuts_off_a_slow_server() -> None:
    import anyio

    async def drip():  # type: ignore[no-untyped-def]
        yield b"<schedule>"
        await anyio.sleep(30)
        yield b"</schedule>"

    async with client_for(lambda request: httpx.Response(200, content=drip())) as client:
        with anyio.fail_after(10):
            with pytest.raises(ScheduleError, match=r"timed out after 0\.2 s \(10 bytes received\)"):
                await fetch_schedule("https://conf.example/slow.xml", client=client, timeout=0.2)
