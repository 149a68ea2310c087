"""Session summaries as plain frozen records: what the store fills in, the only input of every renderer.

The lead's query code builds these from the database (hidden, deleted and opted-out content already
removed); renderers never see ORM rows or requests. Sequences are tuples so a summary is immutable,
but renderers only iterate, so lists work too. Every datetime is timezone-aware.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from app.services.echoes import echo_groups

HALLWAY_GUID = "hallway"  # the guid the hallway pseudo-talk (posts tied to no talk) carries


@dataclass(frozen=True, slots=True)
class Citation:
    """One source post cited by a takeaway, a question or an answer."""

    post_id: int
    author_name: str
    author_handle: str
    url: str | None
    source: str
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TakeawayEntry:
    """A representative post (or merged near-duplicates) standing for a topic, with its sources."""

    text: str
    kind: str = "takeaway"
    count: int = 1  # how many near-duplicate posts were merged into this entry
    votes: int = 0
    citations: tuple[Citation, ...] = ()
    in_reply_to: Citation | None = None  # an answer's question, when not listed above it in the topic


@dataclass(frozen=True, slots=True)
class TopicSummary:
    """An emergent group of posts inside a talk."""

    id: int
    label: str
    keyphrases: tuple[str, ...] = ()
    takeaways: tuple[TakeawayEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class QuestionEntry:
    """A question asked in the backchannel and the answers it received."""

    question: Citation
    votes: int = 0  # of every copy
    answers: tuple[Citation, ...] = ()  # to any copy
    asked_again: tuple[Citation, ...] = ()  # the same question in other words or from elsewhere, oldest first
    marked_answered: bool = False  # answered on stage or marked by a moderator, without answer posts

    @property
    def answered(self) -> bool:
        return self.marked_answered or bool(self.answers)

    @property
    def answer_groups(self) -> tuple[tuple[Citation, ...], ...]:
        """The answers, those saying the same words (case, spacing and a closing stop aside) as one, in the
        order each was first given: a room that echoes the speaker's answer five times reads it once."""
        return tuple(tuple(group) for group in echo_groups(self.answers, lambda answer: answer.text))


def distinct_authors(citations: Iterable[Citation]) -> tuple[Citation, ...]:
    """One citation per author (name and handle) among ``citations``, in order: who said it, each once."""
    first: dict[tuple[str, str], Citation] = {}
    for citation in citations:
        first.setdefault((citation.author_name, citation.author_handle), citation)
    return tuple(first.values())


@dataclass(frozen=True, slots=True)
class ActivityPoint:
    """Posts counted in one minute (``minute`` is the start of the minute)."""

    minute: datetime
    count: int


@dataclass(frozen=True, slots=True)
class Burst:
    """A stretch of unusually high activity, labelled with what it was about."""

    start: datetime  # its first minute
    end: datetime  # the start of its last minute (the same as ``start`` for a one-minute burst)
    peak: int
    label: str


@dataclass(frozen=True, slots=True)
class Contributor:
    """A top contributor who did not opt out of being named."""

    name: str
    handle: str
    count: int


@dataclass(frozen=True, slots=True)
class PostRow:
    """One visible post, as a CSV row."""

    id: int
    created_at: datetime
    source: str
    author: str
    handle: str
    kind: str
    talk_guid: str | None
    topic_label: str | None
    upvotes: int
    boosts: int
    text: str
    url: str | None
    reply_to_id: int | None = None  # the post it answers: an answer's question


@dataclass(frozen=True, slots=True)
class TalkSummary:
    """Everything a talk's summary shows. The hallway uses ``guid=HALLWAY_GUID`` and no times."""

    event_name: str
    event_slug: str
    guid: str
    title: str
    speakers: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    room: str | None = None
    track: str | None = None
    url: str | None = None
    feedback_url: str | None = None
    slug: str | None = None  # the schedule's talk slug, preferred over the guid in file names
    time_zone: str = "UTC"  # IANA name used to display times
    topics: tuple[TopicSummary, ...] = ()
    questions: tuple[QuestionEntry, ...] = ()
    activity: tuple[ActivityPoint, ...] = ()
    bursts: tuple[Burst, ...] = ()
    counts_by_source: Mapping[str, int] = field(default_factory=dict)
    counts_by_language: Mapping[str, int] = field(default_factory=dict)
    top_contributors: tuple[Contributor, ...] = ()
    posts: tuple[PostRow, ...] = ()

    @property
    def answered_questions(self) -> tuple[QuestionEntry, ...]:
        return tuple(q for q in self.questions if q.answered)

    @property
    def open_questions(self) -> tuple[QuestionEntry, ...]:
        return tuple(q for q in self.questions if not q.answered)

    @property
    def post_count(self) -> int:
        """Visible posts: the CSV rows when given, else the per-source counts."""
        return len(self.posts) if self.posts else sum(self.counts_by_source.values())

    @property
    def takeaway_count(self) -> int:
        return sum(len(topic.takeaways) for topic in self.topics)


@dataclass(frozen=True, slots=True)
class EventSummary:
    """A whole event: every talk's summary plus the hallway."""

    name: str
    slug: str
    start_date: date | None
    end_date: date | None
    time_zone: str
    generated_at: datetime
    talks: tuple[TalkSummary, ...] = ()
    hallway: TalkSummary | None = None

    @property
    def all_talks(self) -> tuple[TalkSummary, ...]:
        """The talks, then the hallway when present."""
        return (*self.talks, self.hallway) if self.hallway is not None else tuple(self.talks)
