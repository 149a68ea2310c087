"""Check a schedule against the c3voc schemas, when the caller has them.

How strict (the policy, in one place):

* **Rejected** (``ScheduleError`` naming the line or field): input that is not well-formed
  JSON/XML/iCalendar, a wrong root, and talks that cannot become records — no title, no start
  time, an unreadable duration, no identity (guid/id/code/slug), a required field of the wrong type,
  or two different talks sharing one guid. A truncated file is always rejected (importing the part
  that parsed would make a re-import treat the missing talks as removed).
* **Warned** (``Schedule.warnings``): everything the c3voc schema says beyond that. Real exports
  are routinely not 100 % valid — the 39C3 ``schedule.xml`` has ``<code>`` elements and structured
  ``<link>``s the XSD does not allow, the 31C3 one has non-UUID guids — and they import fine, so
  schema problems never reject a file. Optional fields with a wrong type are ignored with a warning.

The schema files are not shipped with Backchannel (they are EUPL-licensed c3voc files). Validation
uses the directory given by the caller or in ``BACKCHANNEL_SCHEDULE_SCHEMA_DIR``; without one, only
the parsers' own structural checks run. The upstream files are ``validator/json/schema.json`` and
``validator/xsd/schedule.xml.xsd`` in https://github.com/voc/schedule.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from ingest.schedules._common import type_name
from ingest.schedules.errors import one_line

SCHEMA_DIR_ENV = "BACKCHANNEL_SCHEDULE_SCHEMA_DIR"

# File names looked for in the schema directory, first match wins.
JSON_SCHEMA_NAMES = ("c3voc_schedule_json_schema.json", "schedule.schema.json", "schema.json")
XML_SCHEMA_NAMES = ("c3voc_schedule_xml.xsd", "schedule.xml.xsd", "schedule.xsd", "schema.xsd")

# Distinct schema problems listed one by one; the rest are counted.
MAX_SCHEMA_WARNINGS = 20

SchemaKind = Literal["json", "xml"]
PathLike = str | os.PathLike[str]


def schema_directory(schema_dir: PathLike | None = None) -> Path | None:
    """The directory to look for schemas in: the caller's, else ``$BACKCHANNEL_SCHEDULE_SCHEMA_DIR``."""
    if schema_dir is not None and str(schema_dir) != "":
        return Path(schema_dir)
    env = os.environ.get(SCHEMA_DIR_ENV, "").strip()
    return Path(env) if env else None


def find_schema(kind: SchemaKind, schema_dir: PathLike | None = None) -> tuple[Path | None, str | None]:
    """``(path, None)`` for the schema file to use, or ``(None, why_not)``; ``(None, None)`` when no
    directory is configured at all (validation is simply off)."""
    directory = schema_directory(schema_dir)
    if directory is None:
        return None, None
    if directory.is_file():  # a schema file given directly
        suffix_ok = directory.suffix == (".json" if kind == "json" else ".xsd")
        return (directory, None) if suffix_ok else (None, None)
    names = JSON_SCHEMA_NAMES if kind == "json" else XML_SCHEMA_NAMES
    for name in names:
        candidate = directory / name
        if candidate.is_file():
            return candidate, None
    label = "JSON schema" if kind == "json" else "XSD"
    if not directory.is_dir():
        return None, f"schema directory {str(directory)!r} does not exist; checked structure only"
    return None, f"no c3voc {label} in {str(directory)!r} ({', '.join(names)}); checked structure only"


# --------------------------------------------------------------------------- JSON


@lru_cache(maxsize=8)
def _json_validator(path: str, mtime_ns: int, size: int) -> Any:
    import jsonschema

    schema = json.loads(Path(path).read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    cls.check_schema(schema)
    # Formats are checked where jsonschema can do it without extra packages (uuid, date, email...).
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def json_path(parts: Iterable[str | int], *, root: str = "") -> str:
    """``schedule.conference.days[1].rooms["Saal 1"][3].start`` from path parts.

    Keys that are not identifiers, and every key under a ``rooms`` object (room names are data),
    are written as ``["..."]``.
    """
    out = root
    previous: str | int | None = None
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier() and previous != "rooms":
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
        previous = part
    return out or "(document)"


def validate_json(document: Any, *, schema_dir: PathLike | None = None) -> list[str]:
    """Schema problems of a decoded ``schedule.json``, as warning lines (empty when valid or when
    no schema is available)."""
    path, why_not = find_schema("json", schema_dir)
    if path is None:
        return [why_not] if why_not else []
    try:
        stat = path.stat()
        validator = _json_validator(str(path), stat.st_mtime_ns, stat.st_size)
    except Exception as exc:  # a broken schema file is the operator's problem, not the schedule's
        return [f"cannot use JSON schema {path.name}: {one_line(str(exc), limit=160)}; checked structure only"]
    problems: list[tuple[str, str]] = []
    for err in validator.iter_errors(document):
        problems.append((json_path(err.absolute_path), _short_json_message(err)))
    return _summarise(problems, label="c3voc JSON schema")


def _short_json_message(err: Any) -> str:
    # jsonschema quotes the whole offending instance in some messages; for objects that is a talk.
    if not isinstance(err.instance, dict | list) or err.validator in ("required", "additionalProperties"):
        return one_line(err.message, limit=160)
    if err.validator == "type":
        return f"is {type_name(err.instance)}, expected {json.dumps(err.validator_value)}"
    if err.validator == "oneOf":
        return "does not match exactly one of the allowed shapes (oneOf)"
    if err.validator == "anyOf":
        return "does not match any of the allowed shapes (anyOf)"
    return one_line(f"does not satisfy {err.validator} {json.dumps(err.validator_value)}", limit=160)


# --------------------------------------------------------------------------- XML


@lru_cache(maxsize=8)
def _xml_schema(path: str, mtime_ns: int, size: int) -> Any:
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(path, parser))


_NOISE = ("No precomputed value available",)
_XML_LOCK = threading.Lock()


def validate_xml(tree: Any, *, schema_dir: PathLike | None = None) -> list[str]:
    """Schema problems of a parsed ``schedule.xml`` (an lxml tree), as warning lines."""
    path, why_not = find_schema("xml", schema_dir)
    if path is None:
        return [why_not] if why_not else []
    try:
        stat = path.stat()
        schema = _xml_schema(str(path), stat.st_mtime_ns, stat.st_size)
    except Exception as exc:
        return [f"cannot use XSD {path.name}: {one_line(str(exc), limit=160)}; checked structure only"]
    with _XML_LOCK:  # an XMLSchema keeps its error log on the instance: one validation at a time
        if schema.validate(tree):
            return []
        problems = [
            (f"line {entry.line}", one_line(entry.message, limit=200))
            for entry in schema.error_log
            if not any(noise in entry.message for noise in _NOISE)
        ]
    return _summarise(problems, label="c3voc XSD")


# --------------------------------------------------------------------------- reporting

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|\b\d+\b")


def _summarise(problems: Sequence[tuple[str, str]], *, label: str) -> list[str]:
    """Group problems that differ only in quoted values, one warning per kind with the first place."""
    if not problems:
        return []
    groups: dict[str, list[tuple[str, str]]] = {}
    for where, message in problems:
        groups.setdefault(_QUOTED.sub("…", message), []).append((where, message))
    lines = [f"schema: the file does not fully match the {label} ({len(problems)} problems); imported anyway"]
    for members in list(groups.values())[:MAX_SCHEMA_WARNINGS]:
        where, message = members[0]
        more = f" (and {len(members) - 1} more like it)" if len(members) > 1 else ""
        lines.append(f"schema: {where}: {message}{more}")
    if len(groups) > MAX_SCHEMA_WARNINGS:
        lines.append(f"schema: ... and {len(groups) - MAX_SCHEMA_WARNINGS} more kinds of problem")
    return lines
