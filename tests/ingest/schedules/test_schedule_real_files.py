"""The three real schedules: counts match an independent walk of each file; parsing is deterministic."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from ingest.schedules import SCHEMA_DIR_ENV, Schedule, load_schedule

ROOT = Path(__file__).resolve().parents[3]
SHARED = Path(os.environ.get("BACKCHANNEL_SHARED_DATA", ROOT.parent / "shared" / "data"))
FIXTURES = SHARED / "fixtures"
XML_39C3 = FIXTURES / "frab_schedule_39c3.xml"
JSON_DEMOCON = FIXTURES / "pretalx_schedule_democon.json"
XML_31C3 = SHARED / "schedules" / "schedule.xml"

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"shared schedule data not found at {SHARED}")

CET = timezone(timedelta(hours=1))


@pytest.fixture(autouse=True)
def _no_schema_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SCHEMA_DIR_ENV, raising=False)


# ----------------------------------------------------------------------------- independent counts


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def count_xml(path: Path) -> dict[str, object]:
    """Walk a frab schedule.xml with the standard library only."""
    root = ET.parse(path).getroot()
    rooms: list[str] = []
    guids: list[str] = []
    titles: dict[str, str] = {}
    persons: set[str] = set()
    appearances = 0
    for day in root.findall("day"):
        for room in day.findall("room"):
            if room.get("name") not in rooms:
                rooms.append(room.get("name"))
            for event in room.findall("event"):
                guids.append(event.get("guid"))
                titles[event.get("guid")] = _one_line(event.findtext("title"))
                for person in event.findall("persons/person"):
                    appearances += 1
                    persons.add(person.get("id") or person.get("guid") or _one_line(person.text))
    return {
        "talks": len(guids),
        "guids": set(guids),
        "titles": titles,
        "rooms": rooms,
        "persons": persons,
        "appearances": appearances,
    }


def count_json(path: Path) -> dict[str, object]:
    """Walk a pretalx schedule.json as plain dicts and lists."""
    conference = json.loads(path.read_text(encoding="utf-8"))["schedule"]["conference"]
    rooms = [room["name"] for room in conference.get("rooms", [])]
    guids: list[str] = []
    titles: dict[str, str] = {}
    persons: set[str] = set()
    appearances = 0
    for day in conference["days"]:
        for room_name, talks in day["rooms"].items():
            if room_name not in rooms:
                rooms.append(room_name)
            for talk in talks:
                guids.append(talk["guid"])
                titles[talk["guid"]] = talk["title"]
                for person in talk["persons"]:
                    appearances += 1
                    persons.add(str(person.get("code") or person.get("id") or person.get("public_name")))
    return {
        "talks": len(guids),
        "guids": set(guids),
        "titles": titles,
        "rooms": rooms,
        "persons": persons,
        "appearances": appearances,
    }


def assert_counts_match(schedule: Schedule, expected: dict[str, object]) -> None:
    assert len(schedule.talks) == expected["talks"]
    assert {t.guid for t in schedule.talks} == expected["guids"]
    assert {t.guid: t.title for t in schedule.talks} == expected["titles"]
    assert list(schedule.rooms) == expected["rooms"]
    assert {p.code or p.name for t in schedule.talks for p in t.speakers} == expected["persons"]
    assert sum(len(t.speakers) for t in schedule.talks) == expected["appearances"]


# ----------------------------------------------------------------------------- per file


def test_39c3_xml_counts_match_the_file() -> None:
    expected = count_xml(XML_39C3)
    assert expected["talks"] == 215
    assert len(expected["rooms"]) == 14
    schedule = load_schedule(XML_39C3)
    assert_counts_match(schedule, expected)
    assert schedule.title == "39th Chaos Communications Congress"
    assert schedule.acronym == "39c3"
    assert schedule.time_zone == "Europe/Berlin"
    assert (schedule.start, schedule.end) == (date(2025, 12, 27), date(2025, 12, 30))


def test_39c3_xml_talk_fields() -> None:
    schedule = load_schedule(XML_39C3)
    talk = next(t for t in schedule.talks if t.guid == "a2dd3dc7-ecae-50b3-82d9-266ad02f7a40")
    assert talk.title == "All my Deutschlandtickets gone: Fraud at an industrial scale"
    assert talk.start == datetime(2025, 12, 27, 16, 0, tzinfo=CET)
    assert talk.end - talk.start == timedelta(hours=1)
    assert talk.room == "One"
    assert talk.track == "Security"
    assert talk.type == "Talk"
    assert talk.language == "en"
    assert talk.code == "JZ9A3E"
    assert talk.subtitle is None
    assert talk.feedback_url == "https://cfp.cccv.de/39c3/talk/JZ9A3E/feedback/"
    assert [p.name for p in talk.speakers] == ["Q Misell", "maya / 551724"]
    assert talk.speakers[0].code == "7fa522b7-3b42-5b1c-8f62-eb9a7c3c5dab"
    # pretty-printing indentation is removed, paragraphs are kept
    assert talk.abstract.startswith("The Deutschlandticket was the flagship")
    assert "\n\nGerman public transport" in talk.abstract
    assert "                    " not in talk.abstract
    assert all(t.start.tzinfo is not None and t.end > t.start for t in schedule.talks)
    assert [t.start for t in schedule.talks] == sorted(t.start for t in schedule.talks)


def test_31c3_xml_counts_match_the_file() -> None:
    expected = count_xml(XML_31C3)
    assert expected["talks"] == 138  # SOURCE.md says 138 events in 4 rooms
    schedule = load_schedule(XML_31C3)
    assert_counts_match(schedule, expected)
    assert schedule.rooms == ("Saal 1", "Saal 2", "Saal G", "Saal 6")
    assert schedule.time_zone is None  # the file names none; the +01:00 offsets are kept
    opening = next(t for t in schedule.talks if t.guid == "29aecfd7-2e44-4f49-ab86-29b5e0877325")
    assert opening.start == datetime(2014, 12, 27, 11, 0, tzinfo=CET)
    assert opening.end == datetime(2014, 12, 27, 11, 30, tzinfo=CET)
    assert [(p.name, p.code) for p in opening.speakers] == [("erdgeist", "1544"), ("Geraldine de Bastion", "3874")]
    by_room: dict[str, int] = {}
    for talk in schedule.talks:
        by_room[talk.room] = by_room.get(talk.room, 0) + 1
    assert by_room == {"Saal 1": 41, "Saal 2": 36, "Saal G": 31, "Saal 6": 30}


def test_democon_json_counts_match_the_file() -> None:
    expected = count_json(JSON_DEMOCON)
    assert expected["talks"] == 36
    schedule = load_schedule(JSON_DEMOCON)
    assert_counts_match(schedule, expected)
    assert schedule.title == "DemoCon"
    assert schedule.version == "v1.1"
    assert schedule.time_zone == "UTC"
    first = next(t for t in schedule.talks if t.guid == "8079583e-8321-506c-95af-fd2903a5f075")
    # the file's own offset wins over time_zone_name (which only applies to times without offset)
    assert first.start == datetime(2020, 12, 14, 9, 0, tzinfo=CET)
    assert first.start == datetime(2020, 12, 14, 8, 0, tzinfo=UTC)
    assert first.end - first.start == timedelta(minutes=30)
    assert first.speakers[0].name == "Brian Robinson"
    assert first.speakers[0].code == "NQTF8Y"
    assert first.url == "http://localhost/democon/talk/G9JGWY/"
    long_talks = [t for t in schedule.talks if t.end - t.start == timedelta(minutes=90)]
    assert len(long_talks) == 9


@pytest.mark.parametrize("path", [XML_39C3, XML_31C3, JSON_DEMOCON], ids=lambda p: p.name)
def test_reparsing_gives_identical_records(path: Path) -> None:
    first = load_schedule(path)
    again = load_schedule(path.read_bytes(), filename=path.name)
    as_text = load_schedule(path.read_text(encoding="utf-8"), filename=path.name)
    assert first == again == as_text
    assert repr(first) == repr(again) == repr(as_text)  # same offsets too, not just the same instants
    assert len({t.guid for t in first.talks}) == len(first.talks)


@pytest.mark.parametrize("path", [XML_39C3, XML_31C3, JSON_DEMOCON], ids=lambda p: p.name)
def test_progress_reports_every_talk(path: Path) -> None:
    calls: list[tuple[int, int]] = []
    schedule = load_schedule(path, progress=lambda done, total: calls.append((done, total)))
    total = len(schedule.talks)
    assert calls == [(i, total) for i in range(total + 1)]


# ----------------------------------------------------------------------------- schema validation


def test_real_xml_files_are_not_fully_schema_valid_but_import_with_warnings() -> None:
    strict = load_schedule(XML_39C3, schema_dir=FIXTURES)
    assert strict.talks == load_schedule(XML_39C3).talks
    schema_warnings = [w for w in strict.warnings if w.startswith("schema:")]
    assert schema_warnings, "39C3 has <code> elements the XSD does not allow"
    assert any("Element 'code'" in w and "line " in w for w in schema_warnings)

    old = load_schedule(XML_31C3, schema_dir=FIXTURES)
    assert len(old.talks) == 138
    assert any("guid" in w for w in old.warnings)  # 31C3 has non-UUID guids


def test_democon_json_is_schema_valid() -> None:
    schedule = load_schedule(JSON_DEMOCON, schema_dir=FIXTURES)
    assert schedule.warnings == ()


def test_schema_dir_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not any(w.startswith("schema:") for w in load_schedule(XML_39C3).warnings)
    monkeypatch.setenv(SCHEMA_DIR_ENV, str(FIXTURES))
    assert any(w.startswith("schema:") for w in load_schedule(XML_39C3).warnings)
