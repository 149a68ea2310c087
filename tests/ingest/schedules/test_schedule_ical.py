"""iCalendar import, from files generated here with the icalendar package."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar, Event, vCalAddress

from ingest.schedules import ScheduleError, load_schedule, parse_ical

BERLIN = ZoneInfo("Europe/Berlin")


def _address(email: str, **params: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}")
    for key, value in params.items():
        address.params[key.upper().replace("_", "-")] = value
    return address


def _event(uid: str | None, summary: str | None, start: object, **props: object) -> Event:
    event = Event()
    if uid is not None:
        event.add("uid", uid)
    if summary is not None:
        event.add("summary", summary)
    event.add("dtstamp", datetime(2025, 4, 1, tzinfo=UTC))
    event.add("dtstart", start)
    for key, value in props.items():
        if key == "attendees":
            for attendee in value:  # type: ignore[attr-defined]
                event.add("attendee", attendee)
        else:
            event.add(key.replace("_", "-"), value)
    return event


def build_calendar(*, move: bool = False, cancel: bool = False, extra: list[Event] | None = None) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//Backchannel tests//schedule//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", "Test Conf 2025")
    cal.add("x-wr-timezone", "Europe/Berlin")
    keynote = _event(
        "keynote@test",
        "Keynote: Why Backchannels",
        datetime(2025, 5, 1, 10, 0, tzinfo=BERLIN),
        dtend=datetime(2025, 5, 1, 11, 0, tzinfo=BERLIN),
        location="Hall A",
        categories=["Community", "Opening"],
        description="Line one.\nLine two.",
        url="https://conf.example/talk/keynote",
        organizer=_address("ana@example.org", cn="Ana Lyst"),
        attendees=[
            _address("bob@example.org", cn="Bob Builder"),
            _address("nobody@example.org"),  # no CN: not a speaker, and no e-mail is copied
            _address("hall-a@example.org", cn="Hall A", cutype="ROOM"),
        ],
    )
    workshop_start = datetime(2025, 5, 2, 14, 30, tzinfo=BERLIN) if move else datetime(2025, 5, 1, 14, 0, tzinfo=BERLIN)
    workshop = _event(
        "workshop@test",
        "Hands-on: Moderation",
        workshop_start,
        duration=timedelta(hours=1, minutes=30),
        location="Room 2" if move else "Hall A",
        categories=["Workshops"],
    )
    if cancel:
        workshop.add("status", "CANCELLED")
    utc_talk = _event(
        "utc@test",
        "Remote talk",
        datetime(2025, 5, 1, 16, 0, tzinfo=UTC),
        dtend=datetime(2025, 5, 1, 16, 45, tzinfo=UTC),
        location="Stream",
    )
    floating = _event(
        "floating@test",
        "Lightning talks",
        datetime(2025, 5, 1, 17, 0),  # no zone: read in X-WR-TIMEZONE
        dtend=datetime(2025, 5, 1, 18, 0),
        location="Hall A",
    )
    all_day = _event("allday@test", "Hackathon", date(2025, 5, 2), dtend=date(2025, 5, 3), location="Lab")
    for event in (keynote, workshop, utc_talk, floating, all_day, *(extra or [])):
        cal.add_component(event)
    return cal.to_ical()


def test_ical_fields_and_counts() -> None:
    data = build_calendar()
    text = data.decode()
    schedule = load_schedule(data, filename="conf.ics")
    assert len(schedule.talks) == text.count("BEGIN:VEVENT") == 5
    assert schedule.title == "Test Conf 2025"
    assert schedule.time_zone == "Europe/Berlin"
    assert schedule.acronym is None
    assert set(schedule.rooms) == {"Hall A", "Stream", "Lab"}
    assert (schedule.start, schedule.end) == (date(2025, 5, 1), date(2025, 5, 3))

    talks = {t.guid: t for t in schedule.talks}
    keynote = talks["keynote@test"]
    assert keynote.title == "Keynote: Why Backchannels"
    assert keynote.start == datetime(2025, 5, 1, 10, 0, tzinfo=BERLIN)
    assert keynote.end == datetime(2025, 5, 1, 11, 0, tzinfo=BERLIN)
    assert keynote.room == "Hall A"
    assert keynote.track == "Community"
    assert keynote.abstract == "Line one.\nLine two."
    assert keynote.url == "https://conf.example/talk/keynote"
    assert [p.name for p in keynote.speakers] == ["Ana Lyst", "Bob Builder"]
    assert all(p.code is None and "@" not in p.name for p in keynote.speakers)
    assert not keynote.cancelled

    workshop = talks["workshop@test"]
    assert workshop.end - workshop.start == timedelta(minutes=90)
    assert workshop.track == "Workshops"
    assert talks["utc@test"].start == datetime(2025, 5, 1, 18, 0, tzinfo=BERLIN)
    assert talks["floating@test"].start == datetime(2025, 5, 1, 17, 0, tzinfo=BERLIN)
    hackathon = talks["allday@test"]
    assert hackathon.start == datetime(2025, 5, 2, 0, 0, tzinfo=BERLIN)
    assert hackathon.end == datetime(2025, 5, 3, 0, 0, tzinfo=BERLIN)
    assert any("all-day" in w and "Hackathon" in w for w in schedule.warnings)
    assert [t.start for t in schedule.talks] == sorted(t.start for t in schedule.talks)


def test_ical_is_deterministic() -> None:
    data = build_calendar()
    assert load_schedule(data) == load_schedule(data)
    assert repr(load_schedule(data)) == repr(load_schedule(data.decode()))


def test_ical_moved_talk_keeps_guid() -> None:
    before = {t.guid: t for t in load_schedule(build_calendar()).talks}
    after = {t.guid: t for t in load_schedule(build_calendar(move=True)).talks}
    assert before.keys() == after.keys()
    moved = after["workshop@test"]
    assert moved.start == datetime(2025, 5, 2, 14, 30, tzinfo=BERLIN)
    assert moved.end == datetime(2025, 5, 2, 16, 0, tzinfo=BERLIN)
    assert moved.room == "Room 2"
    assert moved.title == before["workshop@test"].title
    assert {g: t for g, t in after.items() if g != "workshop@test"} == {
        g: t for g, t in before.items() if g != "workshop@test"
    }


def test_ical_cancelled() -> None:
    talks = {t.guid: t for t in load_schedule(build_calendar(cancel=True)).talks}
    assert talks["workshop@test"].cancelled
    assert not talks["keynote@test"].cancelled


def test_ical_floating_without_zone_is_utc_with_a_warning() -> None:
    cal = Calendar()
    cal.add("prodid", "-//t//t//EN")
    cal.add("version", "2.0")
    cal.add_component(_event("a@t", "A", datetime(2025, 5, 1, 9, 0), dtend=datetime(2025, 5, 1, 10, 0)))
    schedule = parse_ical(cal.to_ical(), filename="plain.ics")
    assert schedule.talks[0].start == datetime(2025, 5, 1, 9, 0, tzinfo=UTC)
    assert any("assumed UTC" in w for w in schedule.warnings)
    assert schedule.title == "plain"
    with_default = parse_ical(cal.to_ical(), default_time_zone="Europe/Berlin")
    assert with_default.talks[0].start == datetime(2025, 5, 1, 9, 0, tzinfo=BERLIN)
    assert not any("assumed UTC" in w for w in with_default.warnings)


def test_ical_event_without_uid_gets_a_stable_derived_guid() -> None:
    extra = [_event(None, "No uid", datetime(2025, 5, 1, 12, 0, tzinfo=BERLIN), location="Hall A")]
    first = load_schedule(build_calendar(extra=extra))
    second = load_schedule(build_calendar(extra=extra))
    derived = [t for t in first.talks if t.title == "No uid"][0]
    assert derived.guid == [t for t in second.talks if t.title == "No uid"][0].guid
    assert any("has no UID" in w for w in first.warnings)


def test_ical_missing_summary_names_the_line() -> None:
    data = build_calendar(extra=[_event("nosummary@t", None, datetime(2025, 5, 1, 12, 0, tzinfo=BERLIN))])
    text = data.decode()
    with pytest.raises(ScheduleError) as info:
        load_schedule(data, filename="conf.ics")
    begin = text.rindex("BEGIN:VEVENT")
    assert info.value.line == text.count("\n", 0, begin) + 1
    assert str(info.value) == f"conf.ics, line {info.value.line}: VEVENT 'nosummary@t': has no SUMMARY (title)"


def test_ical_truncated_names_the_open_component() -> None:
    text = build_calendar().decode()
    cut = text[: text.index("Remote talk")]
    with pytest.raises(ScheduleError) as info:
        load_schedule(cut, filename="conf.ics")
    assert "the file ends inside BEGIN:VEVENT (truncated?)" in str(info.value)
    assert info.value.line == cut.count("\n", 0, cut.rindex("BEGIN:VEVENT")) + 1


def test_ical_unreadable_dtstart_names_the_event() -> None:
    text = build_calendar().decode().replace("DTSTART:20250501T160000Z", "DTSTART:2025x0501T160000Z")
    with pytest.raises(ScheduleError, match=r"line \d+: VEVENT 'utc@test': DTSTART is unreadable"):
        load_schedule(text)


def test_ical_end_before_start_is_rejected() -> None:
    bad = _event(
        "bad@t",
        "Backwards",
        datetime(2025, 5, 1, 12, 0, tzinfo=BERLIN),
        dtend=datetime(2025, 5, 1, 11, 0, tzinfo=BERLIN),
    )
    with pytest.raises(ScheduleError, match="ends before it starts"):
        load_schedule(build_calendar(extra=[bad]))


def test_ical_custom_vtimezone_and_unknown_tzid() -> None:
    text = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//t//t//EN",
            "BEGIN:VTIMEZONE",
            "TZID:Custom Berlin",
            "BEGIN:DAYLIGHT",
            "DTSTART:19700329T020000",
            "TZOFFSETFROM:+0100",
            "TZOFFSETTO:+0200",
            "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
            "END:DAYLIGHT",
            "BEGIN:STANDARD",
            "DTSTART:19701025T030000",
            "TZOFFSETFROM:+0200",
            "TZOFFSETTO:+0100",
            "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
            "END:STANDARD",
            "END:VTIMEZONE",
            "BEGIN:VEVENT",
            "UID:custom@t",
            "SUMMARY:Custom zone",
            "DTSTART;TZID=Custom Berlin:20250701T100000",
            "DTEND;TZID=Custom Berlin:20250701T110000",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "UID:mars@t",
            "SUMMARY:Unknown zone",
            "DTSTART;TZID=Mars/Olympus:20250701T100000",
            "DURATION:PT30M",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )
    schedule = load_schedule(text, default_time_zone="Europe/Berlin")
    talks = {t.guid: t for t in schedule.talks}
    assert talks["custom@t"].start == datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
    assert talks["mars@t"].start == datetime(2025, 7, 1, 10, 0, tzinfo=BERLIN)
    assert talks["mars@t"].end - talks["mars@t"].start == timedelta(minutes=30)
    assert any("unknown TZID 'Mars/Olympus'" in w for w in schedule.warnings)
