"""Session summaries from the database: an event (and a talk) in, the app.export.summary records out.

Only visible posts count: hidden, held and deleted posts never appear, takeaways whose representative
post is gone are dropped, and citations of posts no longer visible are skipped. Authors who opted out
are never named among top contributors. Activity and bursts come from the clustering stage's digest,
or are counted per minute from the posts when there is no digest yet.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from app.export.summary import (
    HALLWAY_GUID,
    ActivityPoint,
    Burst,
    Citation,
    Contributor,
    EventSummary,
    PostRow,
    QuestionEntry,
    TakeawayEntry,
    TalkSummary,
    TopicSummary,
)
from app.services.answer_context import Listed, questions_to_show
from app.services.asked_again import group_copies
from app.services.payloads import RepeatedQuestionRead
from app.services.tokens import is_anon_handle
from app.store import digests as digest_store
from app.store import posts as post_store
from app.store import summaries as summary_store
from app.store import talks as talk_store
from app.store.tables import Author, Event, Post, Talk, TalkDigest
from app.store.types import utcnow

TOP_CONTRIBUTORS = 10


class _Context:
    """What every talk of one summary shares: visible posts by id, replies, authors."""

    def __init__(self, posts: Sequence[Post], replies: Sequence[Post], authors: dict[int, Author]) -> None:
        self.posts = {p.id: p for p in posts if p.id is not None}
        self.replies: dict[int, list[Post]] = defaultdict(list)
        for reply in replies:
            if reply.reply_to_id is not None:
                self.replies[reply.reply_to_id].append(reply)
        self.authors = authors

    def citation(self, post: Post) -> Citation:
        name, handle = _credit(self.authors.get(post.author_id) if post.author_id else None)
        assert post.id is not None
        return Citation(
            post_id=post.id,
            author_name=name,
            author_handle=handle,
            url=post.url,
            source=post.source,
            text=post.text,
            created_at=post.created_at,
        )


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _topics(digest: TalkDigest | None, context: _Context) -> tuple[TopicSummary, ...]:
    if digest is None:
        return ()
    meta: dict[Any, dict[str, Any]] = {t.get("id"): t for t in digest.topics if isinstance(t, dict)}
    grouped: dict[Any, list[TakeawayEntry]] = defaultdict(list)
    labels: dict[Any, tuple[str, tuple[str, ...]]] = {}
    for raw in digest.takeaways:
        if not isinstance(raw, dict):
            continue
        post_ids = [i for i in raw.get("post_ids", []) if isinstance(i, int)]
        # The takeaway's text is its representative post's: gone with that post, it must go too.
        if post_ids and post_ids[0] not in context.posts:
            continue
        citations = tuple(context.citation(context.posts[i]) for i in post_ids if i in context.posts)
        topic_id = raw.get("topic_id")
        labels.setdefault(topic_id, (str(raw.get("label", "")), tuple(raw.get("keyphrases", []))))
        grouped[topic_id].append(
            TakeawayEntry(
                text=str(raw.get("text", "")),
                kind=str(raw.get("kind", "takeaway")),
                count=int(raw.get("count", 1) or 1),
                votes=int(raw.get("votes", 0) or 0),
                citations=citations,
            )
        )
    for topic_id, entries in grouped.items():
        grouped[topic_id] = _with_questions(entries, context)
    topics: list[TopicSummary] = []
    order = list(grouped)  # the clustering stage's order: biggest topic first, those of praise last
    for index, topic_id in enumerate(order):
        info = meta.get(topic_id, {})
        label, keyphrases = labels.get(topic_id, ("", ()))
        topics.append(
            TopicSummary(
                id=int(topic_id) if isinstance(topic_id, int) else -(index + 1),
                label=str(info.get("label") or label),
                keyphrases=tuple(str(k) for k in (info.get("keyphrases") or keyphrases)),
                takeaways=tuple(grouped[topic_id]),
            )
        )
    return tuple(topics)


def _with_questions(entries: list[TakeawayEntry], context: _Context) -> list[TakeawayEntry]:
    """A topic's entries, an answer given its question when that is visible and not listed above it."""

    def reply_to(post_id: int) -> int | None:
        post = context.posts.get(post_id)
        return post.reply_to_id if post is not None else None

    listed = [Listed(e.kind, [c.post_id for c in e.citations]) for e in entries]
    return [
        replace(entry, in_reply_to=context.citation(context.posts[question]))
        if question is not None and question in context.posts
        else entry
        for entry, question in zip(entries, questions_to_show(listed, reply_to), strict=True)
    ]


def _repeated(digest: TalkDigest | None) -> list[RepeatedQuestionRead]:
    """The digest's groups of copies; a row that does not read as one (written by hand, say) names none."""
    groups = []
    for row in (digest.questions if digest is not None else None) or []:
        try:
            groups.append(RepeatedQuestionRead.model_validate(row))
        except ValidationError:
            continue
    return groups


def _questions(posts: Iterable[Post], context: _Context, digest: TalkDigest | None) -> tuple[QuestionEntry, ...]:
    """Each question once: the copies the clustering stage found asked again (the digest's ``questions``)
    under the copy that says it best, with every copy's votes and answers."""
    entries = []
    for group in group_copies((p for p in posts if p.kind == "question"), _repeated(digest)):
        answers = [r for c in group.copies for r in context.replies.get(c.id, [])]  # type: ignore[arg-type]
        if len(group.copies) > 1:
            answers.sort(key=lambda r: (r.created_at, r.id or 0))
        entries.append(
            QuestionEntry(
                question=context.citation(group.shown),
                votes=sum(c.upvotes for c in group.copies),
                answers=tuple(context.citation(r) for r in answers),
                asked_again=tuple(context.citation(c) for c in group.copies if c is not group.shown),
                # an organizer marked it (or a copy of it) answered, on stage say
                marked_answered=any(c.marked_answered for c in group.copies),
            )
        )
    return tuple(entries)


def _activity(digest: TalkDigest | None, posts: Sequence[Post]) -> tuple[ActivityPoint, ...]:
    points: list[ActivityPoint] = []
    for row in digest.activity if digest is not None else []:
        if isinstance(row, list | tuple) and len(row) >= 2:
            moment = _moment(row[0])
            if moment is not None and isinstance(row[1], int):
                points.append(ActivityPoint(minute=moment, count=row[1]))
    if points:
        return tuple(points)
    per_minute = Counter(p.created_at.replace(second=0, microsecond=0) for p in posts)
    return tuple(ActivityPoint(minute=m, count=c) for m, c in sorted(per_minute.items()))


def _bursts(digest: TalkDigest | None) -> tuple[Burst, ...]:
    bursts: list[Burst] = []
    for raw in digest.bursts if digest is not None else []:
        if not isinstance(raw, dict):
            continue
        start, end = _moment(raw.get("start")), _moment(raw.get("end"))
        if start is not None and end is not None:
            bursts.append(
                Burst(start=start, end=end, peak=int(raw.get("peak", 0) or 0), label=str(raw.get("label", "")))
            )
    return tuple(bursts)


def _credit(author: Author | None) -> tuple[str, str]:
    """The name and handle a summary shows for ``author``: an in-app note's generated handle is left out."""
    if author is None:
        return "", ""
    if is_anon_handle(author.handle):
        return author.display_name or "Anonymous", ""
    return author.display_name or author.handle, author.handle


def _contributors(posts: Sequence[Post], authors: dict[int, Author]) -> tuple[Contributor, ...]:
    counts = Counter(p.author_id for p in posts if p.author_id is not None)
    result: list[Contributor] = []
    for author_id, count in counts.most_common():
        author = authors.get(author_id)
        # Anonymous in-app notes have a generated handle; naming it would credit no one.
        if author is None or author.opted_out or (is_anon_handle(author.handle) and not author.display_name):
            continue
        name, handle = _credit(author)
        result.append(Contributor(name=name, handle=handle, count=count))
        if len(result) == TOP_CONTRIBUTORS:
            break
    return tuple(result)


def _rows(posts: Sequence[Post], context: _Context, guid: str | None, labels: dict[int, str]) -> tuple[PostRow, ...]:
    rows = []
    for post in posts:
        name, handle = _credit(context.authors.get(post.author_id) if post.author_id else None)
        assert post.id is not None
        rows.append(
            PostRow(
                id=post.id,
                created_at=post.created_at,
                source=post.source,
                author=name,
                handle=handle,
                kind=post.kind,
                talk_guid=guid,
                topic_label=labels.get(post.topic_id) if post.topic_id is not None else None,
                upvotes=post.upvotes,
                boosts=post.boosts,
                text=post.text,
                url=post.url,
                reply_to_id=post.reply_to_id,
            )
        )
    return tuple(rows)


def _talk_summary(
    event: Event, talk: Talk | None, posts: Sequence[Post], digest: TalkDigest | None, context: _Context
) -> TalkSummary:
    labels = {
        t["id"]: str(t.get("label", ""))
        for t in (digest.topics if digest else [])
        if isinstance(t, dict) and isinstance(t.get("id"), int)
    }
    guid = talk.guid if talk is not None else HALLWAY_GUID
    common: dict[str, Any] = {
        "event_name": event.name,
        "event_slug": event.slug,
        "time_zone": event.time_zone,
        "topics": _topics(digest, context),
        "questions": _questions(posts, context, digest),
        "activity": _activity(digest, posts),
        "bursts": _bursts(digest),
        "counts_by_source": dict(Counter(p.source for p in posts)),
        "counts_by_language": dict(Counter(p.language or "unknown" for p in posts)),
        "top_contributors": _contributors(posts, context.authors),
        "posts": _rows(posts, context, guid if talk is not None else None, labels),
    }
    if talk is None:
        return TalkSummary(guid=HALLWAY_GUID, title="Hallway", **common)
    return TalkSummary(
        guid=talk.guid,
        title=talk.title,
        speakers=tuple(talk.speakers),
        start=talk.start,
        end=talk.end,
        room=talk.room,
        track=talk.track,
        url=talk.url,
        feedback_url=talk.feedback_url,
        slug=talk.code,
        **common,
    )


async def _context(
    session: AsyncSession, event_id: int, posts: Sequence[Post], digests: Iterable[TalkDigest]
) -> _Context:
    cited = {
        i
        for d in digests
        for t in d.takeaways
        if isinstance(t, dict)
        for i in t.get("post_ids", [])
        if isinstance(i, int)
    }
    known = {p.id for p in posts}
    extra = await summary_store.posts_by_id(session, event_id, [i for i in cited if i not in known])
    # the questions that cited answers reply to, shown with an answer listed apart from its question
    asked = {
        q for p in (*posts, *extra.values()) if p.id in cited and (q := p.reply_to_id) is not None and q not in known
    }
    extra |= await summary_store.posts_by_id(session, event_id, [q for q in asked if q not in extra])
    replies = await summary_store.visible_replies(
        session, event_id, [p.id for p in posts if p.kind == "question" and p.id is not None]
    )
    everything = [*posts, *extra.values(), *replies]
    authors = await post_store.authors_by_id(session, [p.author_id for p in everything if p.author_id])
    return _Context([*posts, *extra.values()], replies, authors)


async def build_talk_summary(session: AsyncSession, event: Event, talk: Talk) -> TalkSummary:
    """One talk's summary from its visible posts and its digest."""
    assert event.id is not None and talk.id is not None
    posts = await summary_store.visible_posts(session, event.id, talk_ids=[talk.id])
    digest = await digest_store.get(session, event.id, talk.id)
    context = await _context(session, event.id, posts, [digest] if digest else [])
    return _talk_summary(event, talk, posts, digest, context)


async def build_event_summary(session: AsyncSession, event: Event) -> EventSummary:
    """Every talk plus the hallway (when it has posts or a digest); cancelled talks without posts are left out."""
    assert event.id is not None
    posts = await summary_store.visible_posts(session, event.id)
    digests = await digest_store.list_for_event(session, event.id)
    by_talk: dict[int | None, list[Post]] = defaultdict(list)
    for post in posts:
        by_talk[post.talk_id].append(post)
    digest_of = {d.talk_id: d for d in digests}
    context = await _context(session, event.id, posts, digests)
    talks = [
        _talk_summary(event, talk, by_talk.get(talk.id, []), digest_of.get(talk.id), context)
        for talk in await talk_store.list_for_event(session, event.id)
        if not talk.cancelled or by_talk.get(talk.id)
    ]
    hallway = None
    if by_talk.get(None) or None in digest_of:
        hallway = _talk_summary(event, None, by_talk.get(None, []), digest_of.get(None), context)
    return EventSummary(
        name=event.name,
        slug=event.slug,
        start_date=event.starts_on,
        end_date=event.ends_on,
        time_zone=event.time_zone,
        generated_at=utcnow(),
        talks=tuple(talks),
        hallway=hallway,
    )
