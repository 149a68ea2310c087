"""Times in exports: shown in the event's zone, and a bad zone name never breaks an export."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from app.export.markdown import render_talk_markdown
from app.export.summary import TalkSummary
from app.export.times import format_span
from tests.app.export.examples import END, START


def test_span_is_shown_in_the_given_zone() -> None:
    assert format_span(START, END, "Europe/Berlin") == "Thu 14 May 2026, 10:00–10:45"
    assert format_span(START, END, "America/New_York") == "Thu 14 May 2026, 04:00–04:45"


def test_unknown_zone_falls_back_to_utc_and_logs(talk: TalkSummary, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="app.export.times"):
        markdown = render_talk_markdown(dataclasses.replace(talk, time_zone="Mars/Olympus_Mons"))
    assert "**When:** Thu 14 May 2026, 08:00–08:45" in markdown
    assert "Mars/Olympus_Mons" in caplog.text
