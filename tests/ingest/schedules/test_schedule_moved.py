"""A talk moved in a copy of a real file: same guid, new time and room, everything else unchanged."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ingest.schedules import SCHEMA_DIR_ENV, Schedule, ScheduledTalk, load_schedule

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


def by_guid(schedule: Schedule) -> dict[str, ScheduledTalk]:
    return {t.guid: t for t in schedule.talks}


def assert_only_moved(before: Schedule, after: Schedule, guid: str) -> ScheduledTalk:
    old, new = by_guid(before), by_guid(after)
    assert old.keys() == new.keys()
    assert {g: t for g, t in old.items() if g != guid} == {g: t for g, t in new.items() if g != guid}
    moved = new[guid]
    for name in ("title", "abstract", "speakers", "track", "url", "language"):
        assert getattr(moved, name) == getattr(old[guid], name)
    return moved


def move_xml_event(path: Path, tmp_path: Path, guid: str, *, day_index: str, room: str, hhmm: str) -> Path:
    """Cut the event out of its <room> and paste it into another day's <room>, with a new time."""
    tree = ET.parse(path)
    root = tree.getroot()
    parent = next(r for r in root.iter("room") if any(e.get("guid") == guid for e in r.findall("event")))
    event = next(e for e in parent.findall("event") if e.get("guid") == guid)
    parent.remove(event)
    day = next(d for d in root.findall("day") if d.get("index") == day_index)
    target = next(r for r in day.findall("room") if r.get("name") == room)
    target.append(event)
    event.find("date").text = f"{day.get('date')}T{hhmm}:00+01:00"
    event.find("start").text = hhmm
    event.find("room").text = room
    out = tmp_path / path.name
    tree.write(out, encoding="utf-8", xml_declaration=True)
    return out


def test_moved_talk_in_39c3_xml(tmp_path: Path) -> None:
    guid = "a2dd3dc7-ecae-50b3-82d9-266ad02f7a40"  # day 1, room One, 16:00
    before = load_schedule(XML_39C3)
    assert by_guid(before)[guid].room == "One"
    copy = move_xml_event(XML_39C3, tmp_path, guid, day_index="3", room="Fuse", hhmm="13:20")
    after = load_schedule(copy)
    moved = assert_only_moved(before, after, guid)
    assert moved.start == datetime(2025, 12, 29, 13, 20, tzinfo=CET)
    assert moved.end == datetime(2025, 12, 29, 14, 20, tzinfo=CET)
    assert moved.room == "Fuse"
    assert after.rooms == before.rooms


def test_moved_talk_in_31c3_xml(tmp_path: Path) -> None:
    guid = "8c4e647f-813e-41ef-b05b-65469dd841c3"  # the keynote, Saal 1, day 1 11:30
    before = load_schedule(XML_31C3)
    copy = move_xml_event(XML_31C3, tmp_path, guid, day_index="2", room="Saal G", hhmm="21:45")
    moved = assert_only_moved(before, load_schedule(copy), guid)
    assert (moved.start, moved.room) == (datetime(2014, 12, 28, 21, 45, tzinfo=CET), "Saal G")


def test_moved_talk_in_democon_json() -> None:
    document = json.loads(JSON_DEMOCON.read_text(encoding="utf-8"))
    days = document["schedule"]["conference"]["days"]
    talk = days[0]["rooms"]["Gray Room"].pop(1)
    guid = talk["guid"]
    talk.update(date="2020-12-16T15:00:00+01:00", start="15:00", room="Tan Room", duration="01:30")
    days[2]["rooms"]["Tan Room"].append(talk)

    before = load_schedule(JSON_DEMOCON)
    after = load_schedule(json.dumps(document, indent=2), filename="moved.json")
    moved = assert_only_moved(before, after, guid)
    assert moved.start == datetime(2020, 12, 16, 15, 0, tzinfo=CET)
    assert moved.end == datetime(2020, 12, 16, 16, 30, tzinfo=CET)
    assert moved.room == "Tan Room"


def test_xml_time_changed_only_in_place(tmp_path: Path) -> None:
    """Editing just <date> (the talk stays in its room) is picked up; <start> disagreeing is a warning."""
    guid = "304dd87b-7de5-557c-9951-1add24396a0b"
    text = XML_39C3.read_text(encoding="utf-8")
    at = text.index(f'<event guid="{guid}"')
    date_at = text.index("<date>2025-12-27T11:00:00+01:00</date>", at)
    changed = text[:date_at] + "<date>2025-12-27T12:15:00+01:00</date>" + text[date_at + 38 :]
    after = load_schedule(changed.encode(), filename="schedule.xml")
    moved = assert_only_moved(load_schedule(XML_39C3), after, guid)
    assert moved.start == datetime(2025, 12, 27, 12, 15, tzinfo=CET)
    assert any("disagree" in w for w in after.warnings)
