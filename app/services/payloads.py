"""What API responses and live frames carry: one shape per aggregate, shared by both."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any, Protocol

from pydantic import BaseModel, PrivateAttr

from app.services.tokens import is_anon_handle
from app.store.tables import Event, Post, Talk, TalkDigest


class AuthorView(Protocol):
    """What a post's view shows of its author (an ``Author``, or the values an ingest batch read)."""

    @property
    def handle(self) -> str: ...
    @property
    def display_name(self) -> str | None: ...
    @property
    def url(self) -> str | None: ...


class AuthorRead(BaseModel):
    name: str | None
    handle: str | None
    url: str | None


class PostRead(BaseModel):
    id: int
    version: int
    event: str
    source: str
    kind: str
    text: str
    url: str | None
    language: str | None
    talk_id: int | None
    # 1.0: the talk (or, with no talk_id, the hallway) was chosen by the poster or an organizer; below 1.0: the
    # clustering stage's own confidence; null: not attributed yet
    talk_confidence: float | None
    topic_id: int | None
    reply_to_id: int | None
    author: AuthorRead
    created_at: datetime
    edited_at: datetime | None
    upvotes: int
    boosts: int
    sensitive: bool
    spoiler_text: str | None
    media_descriptions: list[str]
    pinned: bool
    marked_answered: bool  # a question an organizer marked answered (on stage), answer posts or not
    status: str
    # The author's handle even where ``author.handle`` leaves it out (an in-app note's generated one):
    # the server compares it, never sends it.
    _handle: str | None = PrivateAttr(default=None)

    def written_by(self, handle: str) -> bool:
        return bool(handle) and self._handle == handle


def public_handle(handle: str | None) -> str | None:
    """The handle readers see: an in-app note's generated one names no one and would link all of one
    browser's notes, so it is left out (its author, and organizers moderating, still get it)."""
    return None if handle is None or is_anon_handle(handle) else handle


class TalkRead(BaseModel):
    id: int
    guid: str
    version: int
    title: str
    subtitle: str | None
    abstract: str
    room: str | None
    track: str | None
    start: datetime
    end: datetime
    speakers: list[str]
    code: str | None
    url: str | None
    feedback_url: str | None
    language: str | None
    cancelled: bool


class EventRead(BaseModel):
    slug: str
    name: str
    hashtags: list[str]
    time_zone: str
    starts_on: date | None
    ends_on: date | None
    description: str
    last_id: int


def post_read(post: Post, author: AuthorView | None, event_slug: str, *, reveal_handle: bool = False) -> PostRead:
    """The post as readers see it; ``reveal_handle`` for its own author and for organizers."""
    assert post.id is not None
    handle = author.handle if author else None
    view = PostRead(
        id=post.id,
        version=post.version,
        event=event_slug,
        source=post.source,
        kind=post.kind,
        text=post.text,
        url=post.url,
        language=post.language,
        talk_id=post.talk_id,
        talk_confidence=post.talk_confidence,
        topic_id=post.topic_id,
        reply_to_id=post.reply_to_id,
        author=AuthorRead(
            name=author.display_name if author else None,
            handle=handle if reveal_handle else public_handle(handle),
            url=author.url if author else None,
        ),
        created_at=post.created_at,
        edited_at=post.edited_at,
        upvotes=post.upvotes,
        boosts=post.boosts,
        sensitive=post.sensitive,
        spoiler_text=post.spoiler_text,
        media_descriptions=list(post.media_descriptions or []),
        pinned=post.pinned,
        marked_answered=post.marked_answered,
        status=post.status,
    )
    view._handle = handle
    return view


# A post frame's keys, in order: ``post_data``'s parameters, and what a reader passes it.
POST_FIELDS = tuple(PostRead.model_fields)


def post_data(
    id: int,
    version: int,
    event: str,
    source: str,
    kind: str,
    text: str,
    url: str | None,
    language: str | None,
    talk_id: int | None,
    talk_confidence: float | None,
    topic_id: int | None,
    reply_to_id: int | None,
    author: AuthorView | None,
    created_at: datetime,
    edited_at: datetime | None,
    upvotes: int,
    boosts: int,
    sensitive: bool,
    spoiler_text: str | None,
    media_descriptions: Iterable[str],
    pinned: bool,
    marked_answered: bool,
    status: str,
    /,
) -> dict[str, Any]:
    """``frame_data(post_read(...))`` of a post, built straight from its values (``POST_FIELDS``' order).

    For the writers that already hold a post's values (an ingest batch's new posts, the clustering
    arrow's attributions): the model's validation and dump, and a stored post's attribute reads, cost
    about as much as inserting the post. Same keys in the same order, datetimes as the dump writes them
    (UTC, as stored), lists copied. Positional only: 23 keyword arguments cost a microsecond more a call.
    """
    return {
        "id": id,
        "version": version,
        "event": event,
        "source": source,
        "kind": kind,
        "text": text,
        "url": url,
        "language": language,
        "talk_id": talk_id,
        "talk_confidence": talk_confidence,
        "topic_id": topic_id,
        "reply_to_id": reply_to_id,
        "author": {
            "name": author.display_name if author else None,
            "handle": public_handle(author.handle) if author else None,
            "url": author.url if author else None,
        },
        "created_at": json_time(created_at),
        "edited_at": json_time(edited_at),
        "upvotes": upvotes,
        "boosts": boosts,
        "sensitive": sensitive,
        "spoiler_text": spoiler_text,
        "media_descriptions": list(media_descriptions),
        "pinned": pinned,
        "marked_answered": marked_answered,
        "status": status,
    }


def new_post_data(row: Mapping[str, Any], post_id: int, author: AuthorView | None, event_slug: str) -> dict[str, Any]:
    """``post_data`` of the post just inserted as ``post_id`` from ``row`` (the insert's column values; the
    table's defaults for the rest: version 1, no topic, no votes, not pinned or marked), without loading the post."""
    return post_data(
        post_id, 1, event_slug, row["source"], row["kind"], row["text"], row["url"], row["language"],
        row["talk_id"], row["talk_confidence"], None, row["reply_to_id"], author, row["created_at"],
        row["edited_at"], 0, row["boosts"], row["sensitive"], row["spoiler_text"], row["media_descriptions"],
        False, False, row["status"],
    )  # fmt: skip


def json_time(value: datetime | None) -> str | None:
    """A stored datetime as pydantic's JSON dump writes it: ISO 8601 in UTC, ``Z`` for the offset."""
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z"  # always "+00:00" once in UTC


def talk_read(talk: Talk) -> TalkRead:
    assert talk.id is not None
    return TalkRead.model_validate(talk, from_attributes=True)


def event_read(event: Event) -> EventRead:
    return EventRead(
        slug=event.slug,
        name=event.name,
        hashtags=list(event.hashtags or []),
        time_zone=event.time_zone,
        starts_on=event.starts_on,
        ends_on=event.ends_on,
        description=event.description,
        last_id=event.last_seq,
    )


def frame_data(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


class TopicRead(BaseModel):
    id: int
    talk_id: int | None
    label: str
    keyphrases: list[str]
    size: int


class TakeawayRead(BaseModel):
    topic_id: int | None
    label: str
    keyphrases: list[str]
    text: str
    kind: str
    count: int  # posts merged into this takeaway (near-duplicates, boosts)
    votes: int
    score: float
    post_ids: list[int]  # the posts it cites, most representative first


class BurstRead(BaseModel):
    start: datetime
    end: datetime
    peak: int
    label: str


class RepeatedQuestionRead(BaseModel):
    """One question asked several times (in other words, from other sources): listed once."""

    post_ids: list[int]  # the copy that says it best (most upvoted, then shortest, then first), then the others
    count: int  # times asked
    votes: int  # upvotes of every copy


class DigestRead(BaseModel):
    """What the clustering stage says about one talk, or the hallway when talk_id is None."""

    talk_id: int | None
    version: int
    topics: list[TopicRead]
    takeaways: list[TakeawayRead]
    activity: list[tuple[datetime, int]]  # posts per minute
    bursts: list[BurstRead]
    questions: list[RepeatedQuestionRead] = []
    updated_at: datetime


def digest_read(digest: TalkDigest) -> DigestRead:
    return DigestRead(
        talk_id=digest.talk_id,
        version=digest.version,
        topics=[TopicRead.model_validate(t) for t in digest.topics],
        takeaways=[TakeawayRead.model_validate(t) for t in digest.takeaways],
        activity=[(a[0], a[1]) for a in digest.activity],  # type: ignore[misc]
        bursts=[BurstRead.model_validate(b) for b in digest.bursts],
        questions=[RepeatedQuestionRead.model_validate(q) for q in digest.questions or []],
        updated_at=digest.updated_at,
    )
