"""Broken files give one ScheduleError whose one-line message names the line or field."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import pytest

from ingest.schedules import SCHEMA_DIR_ENV, ScheduleError, load_schedule

ROOT = Path(__file__).resolve().parents[3]
SHARED = Path(os.environ.get("BACKCHANNEL_SHARED_DATA", ROOT.parent / "shared" / "data"))
FIXTURES = SHARED / "fixtures"
XML_39C3 = FIXTURES / "frab_schedule_39c3.xml"
JSON_DEMOCON = FIXTURES / "pretalx_schedule_democon.json"
XML_31C3 = SHARED / "schedules" / "schedule.xml"

needs_data = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"shared schedule data not found at {SHARED}")


@pytest.fixture(autouse=True)
def _no_schema_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SCHEMA_DIR_ENV, raising=False)


def fail(source: bytes | str, filename: str | None = None) -> ScheduleError:
    with pytest.raises(ScheduleError) as info:
        load_schedule(source, filename=filename)
    message = str(info.value)
    assert "\n" not in message
    assert message.strip() == message
    assert isinstance(info.value, ValueError)
    return info.value


def line_of(text: str, needle: str, start: int = 0) -> int:
    return text.count("\n", 0, text.index(needle, start)) + 1


MINI_XML = """<?xml version="1.0" encoding="UTF-8"?>
<schedule>
  <version>1</version>
  <conference>
    <acronym>mini</acronym>
    <title>Mini</title>
    <time_zone_name>Europe/Berlin</time_zone_name>
  </conference>
  <day index="1" date="2025-05-01" start="2025-05-01T09:00:00+02:00" end="2025-05-02T03:00:00+02:00">
    <room name="Hall A">
      <event guid="11111111-1111-4111-8111-111111111111" id="1">
        <date>2025-05-01T10:00:00+02:00</date>
        <start>10:00</start>
        <duration>00:45</duration>
        <room>Hall A</room>
        <title>First</title>
        <persons><person id="7">Ana</person></persons>
      </event>
      <event guid="22222222-2222-4222-8222-222222222222" id="2">
        <date>2025-05-01T11:00:00+02:00</date>
        <start>11:00</start>
        <duration>01:00</duration>
        <room>Hall A</room>
        <title>Second</title>
      </event>
    </room>
  </day>
</schedule>
"""


# ----------------------------------------------------------------------------- XML


@needs_data
def test_truncated_xml_names_the_line() -> None:
    data = XML_39C3.read_bytes()
    cut = data[: len(data) // 2]
    err = fail(cut, "schedule.xml")
    assert err.line == cut.count(b"\n") + 1  # the end of what is there
    assert str(err).startswith(f"schedule.xml, line {err.line}")
    assert "not well-formed XML" in str(err)
    assert "Premature end of data" in str(err)


def test_xml_event_without_title_names_its_line() -> None:
    broken = MINI_XML.replace("<title>Second</title>", "")
    err = fail(broken, "mini.xml")
    assert err.line == line_of(broken, 'guid="22222222')
    assert re.fullmatch(r"mini\.xml, line \d+: <event guid='2222[-0-9a-f]+'>: has no <title>", str(err))


def test_xml_empty_title_is_rejected_at_the_title_line() -> None:
    broken = MINI_XML.replace("<title>Second</title>", "<title>  </title>")
    err = fail(broken)
    assert err.line == line_of(broken, "<title>  </title>")
    assert "<title> is empty" in str(err)


@needs_data
def test_real_file_missing_title_names_the_event_line() -> None:
    text = XML_39C3.read_text(encoding="utf-8")
    event_at = text.index('<event guid="304dd87b-7de5-557c-9951-1add24396a0b"')
    title_start = text.index("<title>", event_at)
    title_end = text.index("</title>", title_start) + len("</title>")
    broken = text[:title_start] + text[title_end:]
    err = fail(broken.encode(), "schedule.xml")
    assert err.line == line_of(text, '<event guid="304dd87b')
    assert "304dd87b-7de5-557c-9951-1add24396a0b" in str(err)
    assert "has no <title>" in str(err)


def test_xml_bad_duration_names_the_duration_line() -> None:
    broken = MINI_XML.replace("<duration>01:00</duration>", "<duration>an hour</duration>")
    err = fail(broken)
    assert err.line == line_of(broken, "<duration>an hour")
    assert "duration 'an hour' is not like 01:30" in str(err)


def test_xml_bad_date_names_the_date_line() -> None:
    broken = MINI_XML.replace("<date>2025-05-01T11:00:00+02:00</date>", "<date>tomorrow</date>")
    err = fail(broken)
    assert err.line == line_of(broken, "<date>tomorrow")


@pytest.mark.parametrize(
    ("date", "says"),
    [
        ("0001-01-01T00:30:00+05:00", "is not between 1970 and 9000"),  # no UTC time holds it
        ("1969-07-20T20:17:00+00:00", "is not between 1970 and 9000"),
        ("9999-12-31T23:30:00-05:00", "cannot end within the calendar"),
    ],
)
def test_xml_talk_at_a_time_no_conference_has_is_rejected_at_its_line(date: str, says: str) -> None:
    broken = MINI_XML.replace("<date>2025-05-01T11:00:00+02:00</date>", f"<date>{date}</date>")
    err = fail(broken)
    assert says in str(err)
    assert err.line is not None


def test_xml_duplicate_guid_with_different_talks_is_rejected() -> None:
    broken = MINI_XML.replace("22222222-2222-4222-8222-222222222222", "11111111-1111-4111-8111-111111111111")
    err = fail(broken)
    assert err.line == line_of(broken, 'id="2"')
    assert "used by two different talks" in str(err)
    assert "'First' at line" in str(err)


def test_xml_wrong_root_and_html_pages() -> None:
    err = fail("<!DOCTYPE html><html><body>Not found</body></html>", "schedule.xml")
    assert "the root element is <html>, expected <schedule> (is this a web page?)" in str(err)
    assert err.line == 1


def test_xml_external_entities_are_not_expanded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    evil = MINI_XML.replace('<?xml version="1.0" encoding="UTF-8"?>', "").replace(
        "<title>First</title>", "<title>First &xxe;</title>"
    )
    evil = f'<?xml version="1.0"?>\n<!DOCTYPE schedule [<!ENTITY xxe SYSTEM "file://{secret}">]>' + evil
    try:
        schedule = load_schedule(evil.encode())
    except ScheduleError:
        return  # refusing is fine too
    assert all("TOP SECRET" not in t.title for t in schedule.talks)


# ----------------------------------------------------------------------------- JSON


@needs_data
def test_json_wrong_type_in_one_talk_names_the_field_path() -> None:
    document = json.loads(JSON_DEMOCON.read_text(encoding="utf-8"))
    broken = copy.deepcopy(document)
    broken["schedule"]["conference"]["days"][1]["rooms"]["Tan Room"][2]["date"] = 20201215
    err = fail(json.dumps(broken, indent=1), "schedule.json")
    assert err.field == 'schedule.conference.days[1].rooms["Tan Room"][2].date'
    assert str(err) == (
        'schedule.json, at schedule.conference.days[1].rooms["Tan Room"][2].date: '
        "expected a string, got a number (20201215)"
    )


@needs_data
def test_json_wrong_duration_type_names_the_field_path() -> None:
    document = json.loads(JSON_DEMOCON.read_text(encoding="utf-8"))
    document["schedule"]["conference"]["days"][0]["rooms"]["Gray Room"][1]["duration"] = 30
    err = fail(json.dumps(document))
    assert err.field == 'schedule.conference.days[0].rooms["Gray Room"][1].duration'


@needs_data
def test_json_missing_title_names_the_field_path() -> None:
    document = json.loads(JSON_DEMOCON.read_text(encoding="utf-8"))
    del document["schedule"]["conference"]["days"][2]["rooms"]["Gray Room"][0]["title"]
    err = fail(json.dumps(document), "democon.json")
    assert str(err) == 'democon.json, at schedule.conference.days[2].rooms["Gray Room"][0].title: title is missing'


@needs_data
def test_json_wrong_type_in_an_optional_field_is_a_warning() -> None:
    document = json.loads(JSON_DEMOCON.read_text(encoding="utf-8"))
    document["schedule"]["conference"]["days"][0]["rooms"]["Gray Room"][0]["subtitle"] = ["not", "a", "string"]
    schedule = load_schedule(json.dumps(document))
    assert len(schedule.talks) == 36
    assert schedule.warnings == (
        'schedule.conference.days[0].rooms["Gray Room"][0].subtitle: expected a string, got an array; ignored',
    )


def test_json_syntax_error_names_line_and_column() -> None:
    text = '{\n  "schedule": {\n    "version": "1",\n    "conference": {"title": "x",, }\n  }\n}\n'
    err = fail(text, "schedule.json")
    assert (err.line, err.column) == (4, 33)
    assert str(err).startswith("schedule.json, line 4, column 33: not valid JSON:")


@needs_data
def test_truncated_json_names_the_line() -> None:
    text = JSON_DEMOCON.read_text(encoding="utf-8")
    cut = text[: len(text) // 3]
    err = fail(cut)
    assert err.line is not None
    assert err.line >= cut.count("\n")
    assert "not valid JSON" in str(err)


def test_json_structure_errors() -> None:
    assert "not a pretalx/frab schedule.json" in str(fail('{"hello": "world"}'))
    assert "top level must be an object" in str(fail("[1, 2]"))
    err = fail('{"schedule": {"version": "1", "conference": {"title": "x", "days": {}}}}')
    assert err.field == "schedule.conference.days"
    assert "expected an array, got an object" in str(err)
    err = fail('{"schedule": {"conference": {"title": "x", "days": [{"date": "2025-01-01", "rooms": {"A": {}}}]}}}')
    assert err.field == 'schedule.conference.days[0].rooms["A"]'
    assert "should hold an array of talks" in str(err)


def test_json_talk_without_any_identity_is_rejected() -> None:
    talk = {"title": "T", "date": "2025-01-01T10:00:00+00:00", "duration": "00:30"}
    doc = {"schedule": {"conference": {"title": "x", "days": [{"rooms": {"A": [talk]}}]}}}
    err = fail(json.dumps(doc))
    assert err.field == 'schedule.conference.days[0].rooms["A"][0].guid'


# ----------------------------------------------------------------------------- any format


def test_empty_and_unknown_inputs() -> None:
    assert str(fail(b"", "x.json")) == "x.json: the file is empty"
    assert str(fail("   \n")) == "schedule: the file is empty"
    err = fail(b"Title,Start\nFoo,10:00\n", "talks.csv")
    assert str(err).startswith("talks.csv: not a schedule: pretalx/frab JSON, frab XML or iCalendar expected;")
    assert "it starts with 'Title,Start'" in str(err)


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x000\x00\x00\x000\x08\x06\x00\x00\x00W" + bytes(range(256))


@pytest.mark.parametrize("name", ["x.png", "schedule.json", "schedule.ics", None])
def test_an_image_is_named_not_echoed(name: str | None) -> None:
    """The organizer picked a picture: say what it is and what was expected, with none of its bytes."""
    err = fail(PNG, name)
    assert err.reason == "not a schedule: pretalx/frab JSON, frab XML or iCalendar expected; this is a PNG image"


@pytest.mark.parametrize(
    "data",
    [bytes(range(256)) * 4, b"\x00\x01\x02 some text after", b"\xde\xad\xbe\xef" * 50, b"\x1b[31m\x1b[0m\x07\x08x"],
    ids=["every-byte", "nul", "not-utf8", "control-characters"],
)
def test_unknown_binary_data_is_described_not_quoted(data: bytes) -> None:
    err = fail(data, "upload")
    assert str(err) == "upload: not a schedule: pretalx/frab JSON, frab XML or iCalendar expected; it holds binary data"


def test_unknown_text_is_quoted_short_on_one_line() -> None:
    err = fail(("Ünïcode title " * 40 + "\nsecond line").encode(), "notes.txt")
    excerpt = str(err).split("it starts with ", 1)[1]
    assert excerpt == "'Ünïcode title Ünïcode title Ün'…"
    assert str(err).isprintable()


def test_invalid_utf8_names_the_line() -> None:
    data = b'{\n  "schedule":\n "\xff"}'
    err = fail(data)
    assert err.line == 3
    assert "not valid UTF-8" in str(err)


def test_missing_file() -> None:
    with pytest.raises(ScheduleError, match=r"^nope\.xml: cannot read the file"):
        load_schedule(Path("/definitely/not/here/nope.xml"))


def test_str_is_never_read_as_a_path(tmp_path: Path) -> None:
    path = tmp_path / "schedule.xml"
    path.write_text(MINI_XML)
    with pytest.raises(ScheduleError, match="not a schedule: "):
        load_schedule(str(path))
    assert len(load_schedule(path).talks) == 2
