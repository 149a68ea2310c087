"""Every table, in one place, so mapper registration is one explicit import."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.store.types import UTCDateTime, utcnow


def _utc(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class Event(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=200)
    hashtags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    time_zone: str = Field(default="UTC", max_length=64)
    starts_on: date | None = None
    ends_on: date | None = None
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    organizer_token_hash: str = Field(max_length=128)
    # The live-event counter: the id of the newest frame. Bumped in the same transaction as the change.
    last_seq: int = Field(default=0, sa_type=BigInteger)
    premoderation: bool = False
    retention_days: int | None = None
    created_at: datetime = _utc(default_factory=utcnow)


class Talk(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("event_id", "guid"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    guid: str = Field(max_length=200)
    title: str = Field(max_length=500)
    subtitle: str | None = Field(default=None, max_length=500)
    abstract: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    room: str | None = Field(default=None, max_length=200)
    track: str | None = Field(default=None, max_length=200)
    start: datetime = _utc()
    end: datetime = _utc()
    speakers: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    code: str | None = Field(default=None, max_length=100)
    url: str | None = Field(default=None, max_length=1000)
    feedback_url: str | None = Field(default=None, max_length=1000)
    language: str | None = Field(default=None, max_length=20)
    cancelled: bool = False
    version: int = 1
    updated_at: datetime = _utc(default_factory=utcnow)


class Author(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("source", "handle"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=40)
    handle: str = Field(max_length=300)
    display_name: str | None = Field(default=None, max_length=200)
    url: str | None = Field(default=None, max_length=1000)
    # Not named among top contributors in summaries (set by the privacy erase, or by the author's opt-out tag).
    opted_out: bool = False


class Post(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("source", "native_id"),
        Index("ix_post_event_id_id", "event_id", "id"),
        Index("ix_post_event_talk", "event_id", "talk_id"),
        # Which stored replies await a post (asked once per ingest batch).
        Index("ix_post_source_reply_to_native", "source", "reply_to_native"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id")
    source: str = Field(max_length=40)
    native_id: str = Field(max_length=500)
    author_id: int | None = Field(default=None, foreign_key="author.id")
    text: str = Field(sa_column=Column(Text, nullable=False))
    html: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    url: str | None = Field(default=None, max_length=1000)
    language: str | None = Field(default=None, max_length=20)
    # Classified from the text when the post is stored (``PostBatch``), then set by the clustering stage. At
    # version 1 it is still the stored one, and the stage hands it to the model instead of classifying again.
    kind: str = Field(default="other", max_length=20)
    talk_id: int | None = Field(default=None, foreign_key="talk.id")
    talk_confidence: float | None = None
    topic_id: int | None = None
    reply_to_native: str | None = Field(default=None, max_length=500)
    reply_to_id: int | None = Field(default=None, index=True)
    upvotes: int = 0
    boosts: int = 0
    likes: int = 0
    replies: int = 0
    sensitive: bool = False
    spoiler_text: str | None = Field(default=None, max_length=500)
    media_descriptions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # visible | hidden (moderator) | held (pre-moderation) | deleted (author or source)
    status: str = Field(default="visible", max_length=20)
    pinned: bool = False
    # An organizer marked the question answered (on stage, say) though no answer was posted; undoable.
    marked_answered: bool = False
    delete_token_hash: str | None = Field(default=None, max_length=128)
    # Why moderation hid or held it (blocked author, filter, caps, pre-moderation); shown in the queue.
    moderation_reason: str | None = Field(default=None, max_length=200)
    created_at: datetime = _utc()
    edited_at: datetime | None = _utc(default=None, nullable=True)
    received_at: datetime = _utc(default_factory=utcnow)
    # Bumped on every change; live frames carry it so a replay never applies a change twice.
    version: int = 1


class Vote(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("post_id", "client_key"),)

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="post.id", index=True)
    client_key: str = Field(max_length=128)
    created_at: datetime = _utc(default_factory=utcnow)


class Topic(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("event_id", "model_id"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    model_id: int  # the clusterer's stable topic id
    talk_id: int | None = Field(default=None, foreign_key="talk.id")
    label: str = Field(default="", max_length=300)
    keyphrases: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    size: int = 0
    version: int = 1
    updated_at: datetime = _utc(default_factory=utcnow)


class Source(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    kind: str = Field(max_length=40)  # mastodon | bluesky | notes | demo
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    paused: bool = False
    created_at: datetime = _utc(default_factory=utcnow)
    # The runner's last reported status, persisted so any replica can show it (scale-out).
    state: str | None = Field(default=None, max_length=20)
    last_error: str | None = Field(default=None, max_length=1000)
    last_item_at: datetime | None = _utc(default=None, nullable=True)
    lag_seconds: float | None = None
    accepted: int = 0
    skipped: int = 0
    malformed: int = 0
    reconnects: int = 0
    status_at: datetime | None = _utc(default=None, nullable=True)


class Cursor(SQLModel, table=True):
    source_key: str = Field(primary_key=True, max_length=300)
    position: str = Field(max_length=300)
    updated_at: datetime = _utc(default_factory=utcnow)


class LiveEvent(SQLModel, table=True):
    """The per-event log of live frames: what a resuming follower replays."""

    event_id: int = Field(foreign_key="event.id", primary_key=True)
    seq: int = Field(primary_key=True, sa_type=BigInteger)
    type: str = Field(max_length=40)
    talk_id: int | None = None
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = _utc(default_factory=utcnow)


class ModelState(SQLModel, table=True):
    """The clusterer's saved state per event, so a restart does not re-learn from scratch."""

    event_id: int = Field(foreign_key="event.id", primary_key=True)
    state: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    last_post_id: int = 0
    updated_at: datetime = _utc(default_factory=utcnow)


class TalkDigest(SQLModel, table=True):
    """What the clustering stage says about one talk (or the hallway, talk_id NULL): topics,
    takeaways, activity and bursts, as the page and the exports show them."""

    __table_args__ = (UniqueConstraint("event_id", "talk_key"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    talk_id: int | None = Field(default=None, foreign_key="talk.id")
    talk_key: int = 0  # talk_id, or 0 for the hallway: a unique key that NULL could not give
    topics: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    takeaways: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    activity: list[list[Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    bursts: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Questions asked more than once: {"post_ids": [the copy that says it best, then the others], "count",
    # "votes"}; the Q&A list shows each once.
    questions: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    version: int = 1
    updated_at: datetime = _utc(default_factory=utcnow)


class ModerationPolicy(SQLModel, table=True):
    """An event's automatic moderation rules, applied when a post arrives."""

    event_id: int = Field(foreign_key="event.id", primary_key=True)
    keywords: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    patterns: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    max_hashtags: int | None = None
    max_posts_per_minute: int | None = None  # per author
    updated_at: datetime = _utc(default_factory=utcnow)


class BlockedAuthor(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("event_id", "source", "handle"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    source: str = Field(max_length=40)
    handle: str = Field(max_length=300)
    created_at: datetime = _utc(default_factory=utcnow)


class AuditEntry(SQLModel, table=True):
    """One moderator action: who, what, on what, when, with which details."""

    __table_args__ = (Index("ix_auditentry_event_id_id", "event_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id")
    actor: str = Field(default="organizer", max_length=40)
    action: str = Field(max_length=40)
    target: str = Field(default="", max_length=400)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _utc(default_factory=utcnow)


class PostAlias(SQLModel, table=True):
    """Other ids a source may use for a stored post (Mastodon's per-instance status ids)."""

    source: str = Field(primary_key=True, max_length=40)
    alias: str = Field(primary_key=True, max_length=500)
    post_id: int = Field(foreign_key="post.id", index=True)
