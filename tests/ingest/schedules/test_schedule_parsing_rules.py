"""Durations, time zones, guids, text cleanup, format sniffing and the validation policy."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ingest.schedules import SCHEMA_DIR_ENV, ScheduleError, load_schedule, sniff_format
from ingest.schedules._common import clean_text, derive_guid, parse_duration
from ingest.schedules.errors import one_line

ROOT = Path(__file__).resolve().parents[3]
SHARED = Path(os.environ.get("BACKCHANNEL_SHARED_DATA", ROOT.parent / "shared" / "data"))
FIXTURES = SHARED / "fixtures"
needs_data = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"shared schedule data not found at {SHARED}")

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(autouse=True)
def _no_schema_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SCHEMA_DIR_ENV, raising=False)


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("01:30", 90),
        ("1:30", 90),
        ("1:30:00", 90),
        ("00:05", 5),
        ("10:00", 600),
        ("0:45:30", 45.5),
        ("PT1H30M", 90),
        ("PT90M", 90),
        ("P1DT1H", 25 * 60),
        (" 00:40 ", 40),
    ],
)
def test_durations(text: str, minutes: float) -> None:
    assert parse_duration(text) == timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["90", "1h30", "01:75", "1:30:99", "", "PT", "-01:00", "1.5"])
def test_bad_durations(text: str) -> None:
    assert parse_duration(text) is None


def test_clean_text_removes_pretty_print_indentation_only() -> None:
    pad = " " * 20
    raw = f"First line.\n{pad}Second line.\n\n{pad}Code:\n{pad}    indented\n{pad[:16]}"
    assert clean_text(raw) == "First line.\nSecond line.\n\nCode:\n    indented"
    assert clean_text(None) == ""
    assert clean_text("  \n ") == ""
    assert clean_text("a\r\nb") == "a\nb"


def test_derived_guid_is_stable_and_scoped_by_acronym() -> None:
    assert derive_guid("39c3", "1254") == derive_guid("39c3", "1254")
    assert derive_guid("39c3", "1254") != derive_guid("38c3", "1254")
    assert len(derive_guid(None, "x")) == 36


def test_error_message_is_one_line() -> None:
    err = ScheduleError("bad\n  thing", source="a.xml", line=3)
    assert str(err) == "a.xml, line 3: bad thing"
    assert (err.line, err.source, err.reason) == (3, "a.xml", "bad thing")
    assert str(ScheduleError("x", field="schedule.version")) == "at schedule.version: x"
    assert len(one_line("x" * 1000)) == 300


@pytest.mark.parametrize(
    ("data", "filename", "expected"),
    [
        (b'  {"schedule": {}}', None, "json"),
        (b"\xef\xbb\xbf<?xml version='1.0'?><schedule/>", None, "xml"),
        (b"begin:vcalendar\r\n", None, "ical"),
        ("\ufeffBEGIN:VCALENDAR", None, "ical"),
        ("{}".encode("utf-16"), None, "json"),
        (b"garbage", "x.ics", "ical"),
        (b"garbage", "https://x/schedule.json?v=2", "json"),
        (b"garbage", None, None),
        (b"<schedule/>", "wrong-extension.json", "xml"),  # content wins
    ],
)
def test_sniff_format(data: bytes | str, filename: str | None, expected: str | None) -> None:
    assert sniff_format(data, filename) == expected


# ----------------------------------------------------------------------------- JSON times


def _json(talk: dict, *, tz: str | None = "Europe/Berlin", day: dict | None = None) -> str:
    conference = {
        "acronym": "mini",
        "title": "Mini",
        "days": [{"date": "2025-05-01", "rooms": {"A": [talk]}, **(day or {})}],
    }
    if tz:
        conference["time_zone_name"] = tz
    return json.dumps({"schedule": {"version": "1", "conference": conference}})


BASE = {"guid": "g1", "id": 1, "title": "T", "duration": "00:30"}


def test_naive_date_gets_time_zone_name() -> None:
    talk = load_schedule(_json({**BASE, "date": "2025-05-01T10:00:00"})).talks[0]
    assert talk.start == datetime(2025, 5, 1, 10, 0, tzinfo=BERLIN)
    assert talk.start.utcoffset() == timedelta(hours=2)  # summer time applied
    assert talk.end == datetime(2025, 5, 1, 10, 30, tzinfo=BERLIN)


def test_naive_date_without_zone_is_utc_with_one_warning() -> None:
    schedule = load_schedule(_json({**BASE, "date": "2025-05-01T10:00:00"}, tz=None))
    assert schedule.talks[0].start == datetime(2025, 5, 1, 10, 0, tzinfo=UTC)
    assert [w for w in schedule.warnings if "assumed UTC" in w] == [
        "some times have no UTC offset and the schedule names no time zone; assumed UTC"
    ]
    with_default = load_schedule(
        _json({**BASE, "date": "2025-05-01T10:00:00"}, tz=None), default_time_zone="Europe/Berlin"
    )
    assert with_default.talks[0].start == datetime(2025, 5, 1, 10, 0, tzinfo=BERLIN)


def test_offset_in_the_file_wins_over_time_zone_name() -> None:
    talk = load_schedule(_json({**BASE, "date": "2025-05-01T10:00:00-04:00"})).talks[0]
    assert talk.start.utcoffset() == timedelta(hours=-4)


def test_z_suffix_and_long_duration() -> None:
    talk = load_schedule(_json({**BASE, "date": "2025-05-01T10:00:00Z", "duration": "1:30:00"})).talks[0]
    assert talk.start == datetime(2025, 5, 1, 10, 0, tzinfo=UTC)
    assert talk.end - talk.start == timedelta(minutes=90)


def test_start_only_uses_day_date_and_rolls_past_midnight() -> None:
    day = {"day_start": "2025-05-01T09:00:00+02:00"}
    late = load_schedule(_json({**BASE, "start": "01:30"}, day=day)).talks[0]
    assert late.start == datetime(2025, 5, 2, 1, 30, tzinfo=BERLIN)
    early = load_schedule(_json({**BASE, "start": "10:00"}, day=day)).talks[0]
    assert early.start == datetime(2025, 5, 1, 10, 0, tzinfo=BERLIN)


def test_end_field_used_when_no_duration() -> None:
    talk = {**BASE, "date": "2025-05-01T10:00:00+02:00", "end": "2025-05-01T10:50:00+02:00"}
    del talk["duration"]
    parsed = load_schedule(_json(talk)).talks[0]
    assert parsed.end - parsed.start == timedelta(minutes=50)


def test_end_and_duration_disagree_is_a_warning() -> None:
    talk = {**BASE, "date": "2025-05-01T10:00:00+02:00", "end": "2025-05-01T12:00:00+02:00"}
    schedule = load_schedule(_json(talk))
    assert schedule.talks[0].end - schedule.talks[0].start == timedelta(minutes=30)
    assert any("does not match start + duration" in w for w in schedule.warnings)


def test_no_time_at_all_is_an_error() -> None:
    with pytest.raises(ScheduleError) as info:
        load_schedule(_json(dict(BASE)))
    assert info.value.field == 'schedule.conference.days[0].rooms["A"][0].date'


def test_missing_guid_is_derived_from_acronym_and_id() -> None:
    talk = {k: v for k, v in BASE.items() if k != "guid"}
    schedule = load_schedule(_json({**talk, "date": "2025-05-01T10:00:00+02:00"}))
    assert schedule.talks[0].guid == derive_guid("mini", "1")
    assert any("has no guid; derived" in w for w in schedule.warnings)


def test_persons_name_code_and_fediverse_handles() -> None:
    persons = [
        {
            "code": "ABC123",
            "name": "Ana",
            "public_name": "Ana Old",
            "links": [
                {"type": "activitypub", "url": "https://social.example/@ana"},
                {"type": "web", "url": "https://ana.example"},
            ],
        },
        {"id": 42, "public_name": "Bob"},
        {"guid": "7fa522b7-3b42-5b1c-8f62-eb9a7c3c5dab", "name": "Cy"},
        {"biography": "no name"},
        "not an object",
    ]
    schedule = load_schedule(_json({**BASE, "date": "2025-05-01T10:00:00+02:00", "persons": persons}))
    speakers = schedule.talks[0].speakers
    assert [(p.name, p.code, p.handles) for p in speakers] == [
        ("Ana", "ABC123", ("@ana@social.example",)),
        ("Bob", "42", ()),
        ("Cy", "7fa522b7-3b42-5b1c-8f62-eb9a7c3c5dab", ()),
    ]
    assert len([w for w in schedule.warnings if "persons[" in w]) == 2


def test_identical_duplicate_talk_is_collapsed_with_a_warning() -> None:
    talk = {**BASE, "date": "2025-05-01T10:00:00+02:00"}
    doc = json.loads(_json(talk))
    doc["schedule"]["conference"]["days"][0]["rooms"]["A"].append(dict(talk))
    schedule = load_schedule(json.dumps(doc))
    assert len(schedule.talks) == 1
    assert any("appears twice" in w for w in schedule.warnings)


def test_room_listed_twice_in_a_day_keeps_all_talks() -> None:
    one = json.dumps({**BASE, "date": "2025-05-01T10:00:00+02:00"})
    two = json.dumps({**BASE, "guid": "g2", "date": "2025-05-01T11:00:00+02:00"})
    text = (
        '{"schedule": {"version": "1", "conference": {"title": "M", "days": [{"date": "2025-05-01", '
        f'"rooms": {{"A": [{one}], "A": [{two}]}}}}]}}}}}}'
    )
    schedule = load_schedule(text)
    assert [t.guid for t in schedule.talks] == ["g1", "g2"]
    assert any("appears twice" in w for w in schedule.warnings)


# ----------------------------------------------------------------------------- XML specifics


XML = """<schedule><version>1</version><conference><acronym>mini</acronym><title>Mini</title></conference>
<day index="1" date="2014-12-27" start="2014-12-27T11:00:00+01:00" end="2014-12-28T04:00:00+01:00">
<room name="Saal 1"><event id="9"><start>01:15</start><duration>00:30</duration><room>Saal 2</room>
<title>Late &amp; loud</title><persons><person id="1">Ana</person><person id="1">Ana</person></persons></event></room>
<room name="Saal 2"/></day></schedule>"""


def test_xml_fallbacks_start_rollover_derived_guid_room_mismatch() -> None:
    schedule = load_schedule(XML)
    talk = schedule.talks[0]
    # no <date>: day date + start, after midnight; no tz name: the day start's offset
    assert talk.start == datetime(2014, 12, 28, 1, 15, tzinfo=timezone(timedelta(hours=1)))
    assert talk.guid == derive_guid("mini", "9")
    assert talk.title == "Late & loud"
    assert talk.room == "Saal 1"  # the enclosing <room> wins
    assert [p.name for p in talk.speakers] == ["Ana"]
    assert schedule.rooms == ("Saal 1", "Saal 2")  # empty rooms are still rooms
    assert any("says room 'Saal 2'" in w for w in schedule.warnings)
    assert not any("assumed UTC" in w for w in schedule.warnings)


def test_xml_namespaced_document() -> None:
    namespaced = XML.replace("<schedule>", '<schedule xmlns="urn:example:schedule">', 1)
    assert load_schedule(namespaced).talks == load_schedule(XML).talks


# ----------------------------------------------------------------------------- validation policy


@needs_data
def test_schema_problems_in_json_are_warnings_not_errors() -> None:
    document = json.loads((FIXTURES / "pretalx_schedule_democon.json").read_text(encoding="utf-8"))
    talk = document["schedule"]["conference"]["days"][0]["rooms"]["Gray Room"][0]
    talk["unexpected_field"] = True
    talk["slug"] = "Not A Slug!"
    schedule = load_schedule(json.dumps(document), schema_dir=FIXTURES)
    assert len(schedule.talks) == 36
    schema = [w for w in schedule.warnings if w.startswith("schema:")]
    assert schema[0].startswith("schema: the file does not fully match the c3voc JSON schema (2 problems)")
    assert any('rooms["Gray Room"][0]' in w and "unexpected_field" in w for w in schema)
    assert any('rooms["Gray Room"][0].slug' in w for w in schema)


@needs_data
def test_schema_file_given_directly_and_missing_directory(tmp_path: Path) -> None:
    path = FIXTURES / "pretalx_schedule_democon.json"
    assert load_schedule(path, schema_dir=FIXTURES / "c3voc_schedule_json_schema.json").warnings == ()
    missing = load_schedule(path, schema_dir=tmp_path / "nope").warnings
    assert missing == (f"schema directory {str(tmp_path / 'nope')!r} does not exist; checked structure only",)
    empty = load_schedule(path, schema_dir=tmp_path).warnings
    assert len(empty) == 1
    assert "no c3voc JSON schema in" in empty[0]


@needs_data
def test_broken_schema_file_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "c3voc_schedule_json_schema.json").write_text("{not json")
    (tmp_path / "c3voc_schedule_xml.xsd").write_text("<nope/>")
    json_warnings = load_schedule(FIXTURES / "pretalx_schedule_democon.json", schema_dir=tmp_path).warnings
    assert len(json_warnings) == 1
    assert json_warnings[0].startswith("cannot use JSON schema")
    xml_warnings = load_schedule(FIXTURES / "frab_schedule_39c3.xml", schema_dir=tmp_path).warnings
    assert len(xml_warnings) == 1
    assert xml_warnings[0].startswith("cannot use XSD")
