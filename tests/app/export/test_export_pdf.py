"""The PDF summary: printed from the HTML, its pages show the chart and the text, and it fetches nothing."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.export.pdf import DataOnlyURLFetcher, html_to_pdf, render_event_pdf, render_talk_pdf
from app.export.summary import EventSummary, TalkSummary
from tests.app.export.examples import OPEN_QUESTION, TAKEAWAY_TEXT, TALK_TITLE

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None,
    reason="poppler-utils (pdftoppm, pdftotext) is not installed: apt-get install -y poppler-utils",
)
BAR_BLUE = (59, 110, 168)  # the chart's bar colour, used nowhere else on the page


def pdf_text(path: Path) -> str:
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True)
    return re.sub(r"\s+", " ", out.stdout)


def pdf_pages(path: Path, dpi: int = 60) -> list[Path]:
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(path), str(path.with_suffix(""))], check=True)
    return sorted(path.parent.glob(path.stem + "-*.png"))


def chart_pixels(page: Path) -> int:
    """Pixels of the chart's bar colour (anti-aliasing tolerated)."""
    with Image.open(page) as image:
        rgb = np.asarray(image.convert("RGB"), dtype=np.int16)
    return int((np.abs(rgb - np.array(BAR_BLUE)) <= 24).all(axis=-1).sum())


@pytest.fixture(scope="module")
def talk_pdf(talk: TalkSummary, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pdf") / "talk.pdf"
    path.write_bytes(render_talk_pdf(talk))
    return path


def test_is_a_pdf(talk_pdf: Path) -> None:
    assert talk_pdf.read_bytes().startswith(b"%PDF-")


@needs_poppler
def test_text_has_the_title_takeaways_and_questions(talk_pdf: Path) -> None:
    text = pdf_text(talk_pdf)
    assert TALK_TITLE in text
    assert TAKEAWAY_TEXT in text
    assert OPEN_QUESTION in text


@needs_poppler
def test_first_page_shows_the_activity_chart(talk_pdf: Path) -> None:
    pages = pdf_pages(talk_pdf)
    assert len(pages) >= 1
    with Image.open(pages[0]) as first:
        assert first.width < first.height  # A4 portrait
    assert chart_pixels(pages[0]) > 1000


@needs_poppler
def test_empty_talk_prints_one_page_without_a_bar(empty_talk: TalkSummary, tmp_path: Path) -> None:
    path = tmp_path / "empty.pdf"
    path.write_bytes(render_talk_pdf(empty_talk))
    [page] = pdf_pages(path)
    assert chart_pixels(page) < 50
    assert "No takeaways yet." in pdf_text(path)


@needs_poppler
def test_event_pdf_starts_each_talk_on_a_new_page(event: EventSummary, tmp_path: Path) -> None:
    path = tmp_path / "event.pdf"
    path.write_bytes(render_event_pdf(event))
    text = subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout
    talk_pages = [page for page in text.split("\f") if "· SESSION SUMMARY" in page]
    assert len(talk_pages) == len(event.all_talks)


class CountingHandler(BaseHTTPRequestHandler):
    hits: list[str]

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []
    handler = type("Handler", (CountingHandler,), {"hits": hits})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_rendering_never_fetches_a_url(server: tuple[str, list[str]]) -> None:
    base, hits = server
    html = (
        f'<html><head><link rel="stylesheet" href="{base}/style.css">'
        f"<style>@import url({base}/import.css); body {{ background: url({base}/bg.png) }}</style></head>"
        f'<body><img src="{base}/chart.png"><img src="file:///etc/hostname"><p>hello</p></body></html>'
    )
    assert html_to_pdf(html).startswith(b"%PDF-")
    assert hits == []


def test_fetcher_serves_data_urls() -> None:
    response = DataOnlyURLFetcher().fetch("data:text/plain;base64,aGk=")
    assert response.read() == b"hi"


@pytest.mark.parametrize("url", ["http://127.0.0.1/x", "https://example.org/x", "file:///etc/passwd"])
def test_fetcher_refuses_everything_else(url: str) -> None:
    with pytest.raises(ValueError, match="only data: URLs"):
        DataOnlyURLFetcher().fetch(url)
