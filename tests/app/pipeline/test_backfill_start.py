"""Where a new source starts reading: the day before the event, or before its creation."""

from __future__ import annotations

from datetime import UTC, date, datetime

from app.pipeline.sources import backfill_start
from app.store.tables import Event

CREATED = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def test_a_new_source_reads_from_the_day_before_the_event_in_its_zone() -> None:
    event = Event(slug="x", name="X", time_zone="Europe/Berlin", starts_on=date(2026, 12, 27), created_at=CREATED)
    assert backfill_start(event) == datetime(2026, 12, 25, 23, 0, tzinfo=UTC)


def test_without_a_usable_first_day_it_reads_from_the_day_before_the_event_was_created() -> None:
    undated = Event(slug="x", name="X", created_at=CREATED)
    # stored before event dates were checked: the day before year 1 in UTC+14 is no date
    ancient = Event(slug="y", name="Y", time_zone="Pacific/Kiritimati", starts_on=date(1, 1, 1), created_at=CREATED)
    assert backfill_start(undated) == backfill_start(ancient) == datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
