"""Schedule import: pretalx/frab JSON, frab XML and iCalendar into Schedule records.

Pure library (no app imports). Start with ``load_schedule`` (bytes/text/Path, any format) and
``fetch_schedule`` (URL → bytes). Everything that cannot be imported raises ``ScheduleError``
naming the line or field; schema mismatches that do not stop the import are listed in
``Schedule.warnings`` (policy in ``ingest.schedules.validation``).
"""

from __future__ import annotations

from ingest.schedules.errors import ScheduleError
from ingest.schedules.frab import parse_schedule_xml
from ingest.schedules.ical import parse_ical
from ingest.schedules.loader import fetch_schedule, load_schedule, sniff_format
from ingest.schedules.pretalx import parse_schedule_json
from ingest.schedules.records import Schedule, ScheduledPerson, ScheduledTalk
from ingest.schedules.validation import SCHEMA_DIR_ENV

__all__ = [
    "SCHEMA_DIR_ENV",
    "Schedule",
    "ScheduleError",
    "ScheduledPerson",
    "ScheduledTalk",
    "fetch_schedule",
    "load_schedule",
    "parse_ical",
    "parse_schedule_json",
    "parse_schedule_xml",
    "sniff_format",
]
