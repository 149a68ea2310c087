"""The service's log lines: one per record, on the stderr the process has at that moment."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from app.logs import configure_logging


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def test_a_record_is_one_json_line_with_its_fields(root_logging: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    configure_logging("INFO", json_lines=True)
    logging.getLogger("app.services.audit").info("organizer.action", extra={"action": "post.file"})
    line = json.loads(sys.stderr.getvalue())
    assert (line["event"], line["action"], line["level"]) == ("organizer.action", "post.file", "info")


def test_logging_after_stderr_is_swapped_writes_to_the_new_one_not_the_closed_one(
    root_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging("INFO")
    first.close()  # as pytest closes the capture of a test that ran the CLI in-process
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    logging.getLogger("app").warning("still heard")
    assert "still heard" in second.getvalue()
    assert "Logging error" not in second.getvalue()
