"""Fixtures for the export tests: the example summaries, built once per session."""

from __future__ import annotations

import pytest

from app.export.summary import EventSummary, TalkSummary
from tests.app.export.examples import build_empty_talk, build_event_summary, build_talk_summary


@pytest.fixture(scope="session")
def talk() -> TalkSummary:
    return build_talk_summary()


@pytest.fixture(scope="session")
def empty_talk() -> TalkSummary:
    return build_empty_talk()


@pytest.fixture(scope="session")
def event() -> EventSummary:
    return build_event_summary()
