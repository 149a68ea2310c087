"""Wire models for requests; responses reuse the shapes in app.services.payloads."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.services.payloads import EventRead, PostRead, TalkRead

MAX_POST_CHARS = 1000
SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
_HASHTAG = re.compile(r"^#?[^\W][\w]{0,99}$")


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Europe/Berlin") from exc
    return value


def _http_url(value: str | None) -> str | None:
    if value is None:
        return None
    if not re.match(r"^https?://[^\s/$.?#][^\s]*$", value, re.IGNORECASE):
        raise ValueError("must be an http(s) URL")
    return value


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must include a UTC offset, e.g. 2026-05-04T10:00:00+02:00")
    return value


TimeZone = Annotated[str, Field(max_length=64), AfterValidator(_time_zone)]
HttpUrl = Annotated[str | None, Field(default=None, max_length=1000), AfterValidator(_http_url)]
AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _hashtags(tags: list[str]) -> list[str]:
    """Bare, lower-case and each once: ``#PyCon`` and ``pycon`` are one hashtag to every source."""
    cleaned: list[str] = []
    for tag in tags:
        if not _HASHTAG.match(tag):
            raise ValueError(f"{tag!r} is not a hashtag (letters, digits and _ only)")
        bare = tag.removeprefix("#").lower()
        if bare not in cleaned:
            cleaned.append(bare)
    return cleaned


# A conference's days: the source workers read back from the first one (time arithmetic on year 1 or 9999 in
# an offset zone overflows), and nothing here predates the epoch.
EventDate = Annotated[date, Field(ge=date(1970, 1, 1), le=date(9000, 1, 1))]


class EventCreate(Strict):
    slug: str = Field(pattern=SLUG_PATTERN, description="URL name: lower-case letters, digits and dashes")
    name: str = Field(min_length=1, max_length=200)
    hashtags: list[Annotated[str, Field(max_length=101)]] = Field(default_factory=list, max_length=10)
    time_zone: TimeZone = "UTC"
    starts_on: EventDate | None = None
    ends_on: EventDate | None = None
    description: str = Field(default="", max_length=5000)

    @field_validator("hashtags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        return _hashtags(tags)

    @model_validator(mode="after")
    def _dates(self) -> EventCreate:
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise ValueError("ends_on must not be before starts_on")
        return self


_SAID_FOR_PEOPLE = {
    # pydantic's words name the check ("String should match pattern '^[a-z0-9](?:…'", "Input should be
    # greater than or equal to 1970-01-01"); a person needs what to type instead
    (
        "slug",
        "string_pattern_mismatch",
    ): "Only lower-case letters, digits and dashes, with a letter or digit first and last",
    ("starts_on", "greater_than_equal"): "A day between 1970-01-01 and 9000-01-01",
    ("starts_on", "less_than_equal"): "A day between 1970-01-01 and 9000-01-01",
    ("ends_on", "greater_than_equal"): "A day between 1970-01-01 and 9000-01-01",
    ("ends_on", "less_than_equal"): "A day between 1970-01-01 and 9000-01-01",
    ("ends_on", "value_error"): "The last day must not be before the first day",
}


def event_field_errors(exc: ValidationError) -> dict[str, str]:
    """An event's validation errors for a person (the web form, the shell): the first message per field;
    the check across fields (the dates' order) is the end date's."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "ends_on"
        message = _SAID_FOR_PEOPLE.get((field, error["type"])) or _said_for_people(error)
        errors.setdefault(field, message)
    return errors


def _said_for_people(error: Any) -> str:
    """A field's message under it on the form: what to type, not pydantic's name for the check it failed
    ("Input should be a valid date or datetime, month value is outside expected range of 1-12")."""
    kind, context = error["type"], error.get("ctx") or {}
    if kind == "missing" or (kind == "string_too_short" and context.get("min_length") == 1):
        return "This field is required"
    if kind == "string_too_long":
        limit = context.get("max_length")
        if len(error["loc"]) > 1:  # an item of a list: a hashtag, its '#' aside
            return f"A hashtag can have at most {limit - 1 if isinstance(limit, int) else limit} characters"
        return f"At most {limit:,} characters" if isinstance(limit, int) else "Too long"
    if kind == "too_long":
        return f"At most {context.get('max_length')} of them"
    if kind.startswith(("date_", "datetime_")):
        return "A day written like 2026-05-04"
    return str(error["msg"]).removeprefix("Value error, ")  # our own validators' words, as written


class EventUpdate(Strict):
    """The organizer's corrections; only the fields sent change (the address, the slug, stays)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    hashtags: list[Annotated[str, Field(max_length=101)]] | None = Field(default=None, max_length=10)
    time_zone: TimeZone | None = None
    starts_on: EventDate | None = None
    ends_on: EventDate | None = None
    description: str | None = Field(default=None, max_length=5000)

    @field_validator("hashtags")
    @classmethod
    def _tags(cls, tags: list[str] | None) -> list[str] | None:
        return None if tags is None else _hashtags(tags)


class EventCreated(BaseModel):
    event: EventRead
    organizer_token: str = Field(description="Shown once. Send it as `Authorization: Bearer <token>`.")


class TalkCreate(Strict):
    guid: str | None = Field(default=None, min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=500)
    start: AwareDatetime
    end: AwareDatetime
    subtitle: str | None = Field(default=None, max_length=500)
    abstract: str = Field(default="", max_length=20_000)
    room: str | None = Field(default=None, max_length=200)
    track: str | None = Field(default=None, max_length=200)
    speakers: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list, max_length=50)
    code: str | None = Field(default=None, max_length=100)
    url: HttpUrl = None
    feedback_url: HttpUrl = None
    language: str | None = Field(default=None, max_length=20)

    @model_validator(mode="after")
    def _order(self) -> TalkCreate:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class NoteCreate(Strict):
    text: str = Field(min_length=1, max_length=MAX_POST_CHARS)
    kind: Literal["note", "question"] = "note"
    talk_id: int | None = Field(default=None, ge=1, le=2**53)
    display_name: str | None = Field(default=None, max_length=60)
    reply_to: int | None = Field(default=None, ge=1, le=2**53, description="Answer this post")


class NoteCreated(BaseModel):
    post: PostRead
    delete_token: str = Field(description="Shown once. Send it as `X-Delete-Token` to delete the post.")


class PostPage(BaseModel):
    items: list[PostRead]
    next_cursor: str | None


class VoteRead(BaseModel):
    id: int
    upvotes: int


class TalkList(BaseModel):
    items: list[TalkRead]


class EventList(BaseModel):
    items: list[EventRead]


class Health(BaseModel):
    status: Literal["ok", "degraded", "unavailable"]
    checks: dict[str, str] = Field(default_factory=dict)


PostKindFilter = Literal["question", "takeaway", "answer", "feedback", "other"]
