"""What the server-rendered pages show: an event, one talk, the wall and the embed, built from the store."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from app.services.answer_context import Listed, questions_to_show
from app.services.asked_again import group_copies
from app.services.payloads import (
    DigestRead,
    PostRead,
    RepeatedQuestionRead,
    TalkRead,
    TopicRead,
    digest_read,
    post_read,
    talk_read,
)
from app.store import digests as digest_store
from app.store import posts as post_store
from app.store import talks as talk_store
from app.store.tables import Event
from app.store.types import utcnow

KINDS = ("question", "takeaway")
TIMELINE_WIDTH = 300
TIMELINE_HEIGHT = 48
MAX_CITED = 5  # cited posts shown under one takeaway
MAX_FETCHED_CITATIONS = 60  # cited posts looked up one by one when they are not among the recent posts


@dataclass(slots=True)
class Filters:
    room: str = ""
    track: str = ""
    kind: str = ""  # "" | "question" | "takeaway"
    language: str = ""

    @property
    def active(self) -> bool:
        return bool(self.room or self.track or self.kind or self.language)

    def admits_talk(self, talk: TalkRead) -> bool:
        if self.room and talk.room != self.room:
            return False
        if self.track and talk.track != self.track:
            return False
        return not (self.language and talk.language and not _same_language(talk.language, self.language))

    def admits_post(self, post: PostRead, talks: dict[int, TalkRead]) -> bool:
        if self.kind and post.kind != self.kind:
            return False
        if self.language and not (post.language and _same_language(post.language, self.language)):
            return False
        if self.room or self.track:
            talk = talks.get(post.talk_id) if post.talk_id is not None else None
            return talk is not None and self.admits_talk(talk)
        return True


def _same_language(a: str, b: str) -> bool:
    return a.split("-")[0].lower() == b.split("-")[0].lower()


@dataclass(slots=True)
class TakeawayView:
    label: str
    text: str
    kind: str
    count: int
    votes: int
    post_ids: list[int]
    sources: list[PostRead]
    in_reply_to: PostRead | None = None  # an answer's question, when not listed above it in the topic


@dataclass(slots=True)
class TopicGroup:
    id: int | None
    label: str
    keyphrases: list[str]
    size: int
    takeaways: list[TakeawayView]


@dataclass(slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    minute: datetime
    count: int


@dataclass(slots=True)
class BurstBox:
    x: float
    width: float
    label: str
    peak: int
    start: datetime


@dataclass(slots=True)
class Timeline:
    bars: list[Bar]
    bursts: list[BurstBox]
    total: int
    peak: int
    start: datetime
    end: datetime
    width: int = TIMELINE_WIDTH
    height: int = TIMELINE_HEIGHT


@dataclass(slots=True)
class TalkCard:
    talk: TalkRead
    state: str  # "now" | "next" | "later" | "past"
    posts: list[PostRead] = field(default_factory=list)
    topics: list[TopicGroup] = field(default_factory=list)
    timeline: Timeline | None = None
    digest_version: int = 0


@dataclass(slots=True)
class RoomNow:
    room: str
    now: TalkRead | None
    next: TalkRead | None


@dataclass(slots=True)
class TrendingTopic:
    label: str
    keyphrases: list[str]
    size: int
    talks: list[TalkRead]  # the talks where it comes up; empty for the hallway
    hallway: bool = False


@dataclass(slots=True)
class Options:
    rooms: list[str]
    tracks: list[str]
    languages: list[str]


@dataclass(frozen=True, slots=True)
class AskedAgain:
    """A listed question that stands for its copies (the same question in other words or from elsewhere)."""

    count: int  # times asked
    votes: int  # upvotes of every copy
    speaker: int  # the copy that says it best, which stands for the others (perhaps older than the page's posts)
    others: tuple[PostRead, ...]  # the other copies at hand, by id: the asker of one sees it is in the list

    @property
    def copies(self) -> tuple[int, ...]:
        """The other copies' ids (the page's script folds them in as they arrive)."""
        return tuple(c.id for c in self.others)

    @property
    def marked(self) -> tuple[int, ...]:
        """The other copies an organizer marked answered (the listed one's own mark aside)."""
        return tuple(c.id for c in self.others if c.marked_answered)


@dataclass(slots=True)
class EventPage:
    event: Event
    zone: ZoneInfo
    now: datetime
    cards: list[TalkCard]
    feed: list[PostRead]
    questions: list[PostRead]
    answers: dict[int, list[PostRead]]
    asked: dict[int, AskedAgain]
    answered: set[int]  # listed questions answered: by an answer post, or marked by an organizer
    rooms: list[RoomNow]
    trending: list[TrendingTopic]
    hallway: list[TopicGroup]
    filters: Filters
    options: Options
    talks: dict[int, TalkRead]
    schedule_ended: datetime | None = None  # the last session's end, once it is past
    replied: dict[int, PostRead] = field(default_factory=dict)  # question id -> question, for answers in the feed


@dataclass(slots=True)
class TalkPage:
    event: Event
    zone: ZoneInfo
    now: datetime
    card: TalkCard
    topics: list[TopicRead]
    questions: list[PostRead]
    answers: dict[int, list[PostRead]]
    asked: dict[int, AskedAgain]
    answered: set[int]  # listed questions answered: by an answer post, or marked by an organizer
    feed: list[PostRead]
    replied: dict[int, PostRead] = field(default_factory=dict)  # question id -> question, for answers in the feed


def _state(talk: TalkRead, now: datetime, next_start: dict[str | None, datetime]) -> str:
    if talk.cancelled:
        return "past" if talk.end <= now else "later"
    if talk.start <= now < talk.end:
        return "now"
    if talk.end <= now:
        return "past"
    return "next" if next_start.get(talk.room) == talk.start else "later"


def _states(talks: list[TalkRead], now: datetime) -> dict[int, str]:
    next_start: dict[str | None, datetime] = {}
    for talk in sorted(talks, key=lambda t: t.start):
        if talk.start > now and not talk.cancelled and talk.room not in next_start:
            next_start[talk.room] = talk.start
    return {t.id: _state(t, now, next_start) for t in talks}


def _minute(value: datetime) -> datetime:
    return value.replace(second=0, microsecond=0)


def build_timeline(talk: TalkRead | None, activity: list[tuple[datetime, int]], digest: DigestRead | None) -> Timeline:
    """Bars for posts per minute over the talk (stretched to any activity outside it), bursts as shaded spans."""
    counts = {_minute(m): c for m, c in activity if c > 0}
    times = list(counts)
    edges = ([talk.start, talk.end] if talk else []) + times + [t + timedelta(minutes=1) for t in times]
    start = min(edges, default=utcnow())
    end = max(edges, default=start)
    span = max((end - start).total_seconds() / 60, 1.0)
    unit = TIMELINE_WIDTH / span
    peak = max(counts.values(), default=0)
    bars = [
        Bar(
            x=round((m - start).total_seconds() / 60 * unit, 2),
            y=round(TIMELINE_HEIGHT - max(1.0, c / peak * (TIMELINE_HEIGHT - 4)), 2),
            width=round(max(unit * 0.8, 1.0), 2),
            height=round(max(1.0, c / peak * (TIMELINE_HEIGHT - 4)), 2),
            minute=m,
            count=c,
        )
        for m, c in sorted(counts.items())
    ]
    bursts = []
    for burst in digest.bursts if digest else []:
        x = max(0.0, (burst.start - start).total_seconds() / 60 * unit)
        # ``end`` is the start of the burst's last minute: the box covers that minute's bar too
        width = max(2.0, ((burst.end - burst.start).total_seconds() / 60 + 1) * unit)
        bursts.append(
            BurstBox(
                x=round(x, 2),
                width=round(min(width, TIMELINE_WIDTH - x), 2),
                label=burst.label,
                peak=burst.peak,
                start=burst.start,
            )
        )
    return Timeline(bars=bars, bursts=bursts, total=sum(counts.values()), peak=peak, start=start, end=end)


def _activity_from_posts(posts: list[PostRead]) -> list[tuple[datetime, int]]:
    counts = Counter(_minute(p.created_at) for p in posts)
    return sorted(counts.items())


async def _cited(
    session: AsyncSession, ids: list[int], known: dict[int, PostRead], event: Event, budget: list[int]
) -> list[PostRead]:
    """The posts a takeaway cites, visible ones only: from the recent posts, else looked up (within a budget)."""
    found: list[PostRead] = []
    for post_id in ids[:MAX_CITED]:
        view = known.get(post_id)
        if view is None and budget[0] > 0:
            budget[0] -= 1
            post = await post_store.get(session, post_id)
            if post is not None and post.event_id == event.id:
                author = await post_store.get_author(session, post.author_id)
                view = post_read(post, author, event.slug)
                known[post_id] = view
        if view is not None and view.status == "visible":
            found.append(view)
    return found


async def _topic_groups(
    session: AsyncSession,
    digest: DigestRead,
    known: dict[int, PostRead],
    event: Event,
    budget: list[int],
    *,
    kind: str = "",
) -> list[TopicGroup]:
    """Takeaways grouped by topic in the clustering stage's order (biggest topic first, those of praise for the
    speaker last), each citing its source posts."""
    topics = {t.id: t for t in digest.topics}
    order = {topic_id: rank for rank, topic_id in enumerate(dict.fromkeys(t.topic_id for t in digest.takeaways))}
    groups: dict[int | None, TopicGroup] = {}
    # in the stage's order: a topic's first pick stands for it best, the next ones for what it adds (MMR), as
    # the summaries list them; by score, a pick close to the first came before one that says something else
    for takeaway in digest.takeaways:
        if kind and takeaway.kind != kind:
            continue
        topic = topics.get(takeaway.topic_id) if takeaway.topic_id is not None else None
        group = groups.get(takeaway.topic_id)
        if group is None:
            group = TopicGroup(
                id=takeaway.topic_id,
                label=topic.label if topic else takeaway.label,
                keyphrases=list(topic.keyphrases if topic else takeaway.keyphrases)[:6],
                size=topic.size if topic else takeaway.count,
                takeaways=[],
            )
            groups[takeaway.topic_id] = group
        sources = await _cited(session, takeaway.post_ids, known, event, budget)
        group.takeaways.append(
            TakeawayView(
                label=takeaway.label,
                text=takeaway.text,
                kind=takeaway.kind,
                count=takeaway.count,
                votes=takeaway.votes,
                post_ids=takeaway.post_ids,
                sources=sources,
            )
        )
    for group in groups.values():
        await _show_questions(session, group, known, event, budget)
    return sorted(groups.values(), key=lambda g: order[g.id])


async def _show_questions(
    session: AsyncSession, group: TopicGroup, known: dict[int, PostRead], event: Event, budget: list[int]
) -> None:
    """Give each answer among the group's takeaways its question when the question is not listed above it
    (it sits on another talk, say): the question is looked up like a cited post, and shown only while visible."""

    def reply_to(post_id: int) -> int | None:
        view = known.get(post_id)
        return view.reply_to_id if view is not None else None

    listed = [Listed(t.kind, t.post_ids) for t in group.takeaways]
    for takeaway, question in zip(group.takeaways, questions_to_show(listed, reply_to), strict=True):
        if question is not None:
            found = await _cited(session, [question], known, event, budget)
            takeaway.in_reply_to = found[0] if found else None


async def _replied(
    session: AsyncSession, feed: Iterable[PostRead], known: dict[int, PostRead], event: Event, budget: list[int]
) -> dict[int, PostRead]:
    """The questions the feed's answers reply to, visible ones only: in a newest-first feed an answer is far
    from its question, and "On the speaker page, within the hour." says nothing alone."""
    asked = {p.reply_to_id for p in feed if p.kind == "answer" and p.reply_to_id is not None}
    return {q.id: q for question in sorted(asked) for q in await _cited(session, [question], known, event, budget)}


def _trending(
    digests: Iterable[DigestRead], talks: dict[int, TalkRead], shown: set[int], limit: int = 12
) -> list[TrendingTopic]:
    """Topics across the event, biggest first; one topic raised in several talks counts once, summed."""
    merged: dict[str, TrendingTopic] = {}
    for digest in digests:
        if digest.talk_id is not None and digest.talk_id not in shown:
            continue
        for topic in digest.topics:
            if not topic.label:
                continue
            entry = merged.setdefault(topic.label.casefold(), TrendingTopic(topic.label, topic.keyphrases[:4], 0, []))
            entry.size += topic.size
            talk = talks.get(topic.talk_id if topic.talk_id is not None else digest.talk_id or 0)
            if talk is not None and talk not in entry.talks:
                entry.talks.append(talk)
            elif digest.talk_id is None:
                entry.hallway = True
    return sorted(merged.values(), key=lambda t: -t.size)[:limit]


def _answers(views: list[PostRead]) -> dict[int, list[PostRead]]:
    answers: dict[int, list[PostRead]] = {}
    for view in reversed(views):
        if view.kind == "answer" and view.reply_to_id is not None:
            answers.setdefault(view.reply_to_id, []).append(view)
    return answers


@dataclass(slots=True)
class QuestionList:
    questions: list[PostRead]  # each question once, open ones first
    answers: dict[int, list[PostRead]]  # question id -> its answers (a listed copy's: every copy's)
    asked: dict[int, AskedAgain]  # listed question id -> its copies, when asked again
    answered: set[int]  # listed question ids answered by an answer post or marked answered by an organizer


MAX_GONE_LOOKUPS = 500  # copies named by the digests and not among the page's posts, looked up at most


async def _repeated_now(
    session: AsyncSession, event: Event, digests: Iterable[DigestRead], known: Iterable[int]
) -> list[RepeatedQuestionRead]:
    """The digests' questions asked again, less the copies gone since (deleted by their askers, hidden):
    the clustering stage counts again after it hears of them, and a page loaded meanwhile (the no-JavaScript
    delete lands on one at once) would still say "Asked 2×" of a question asked once."""
    assert event.id is not None
    groups = [group for digest in digests for group in digest.questions]
    seen = set(known)
    unseen = list(dict.fromkeys(i for group in groups for i in group.post_ids if i not in seen))[:MAX_GONE_LOOKUPS]
    gone = await post_store.gone_among(session, event.id, unseen)
    if not gone:
        return groups
    out = []
    for group in groups:
        left = [i for i in group.post_ids if i not in gone]
        if left:
            dropped = [gone[i] for i in group.post_ids if i in gone]
            count = max(1, group.count - len(dropped))
            out.append(RepeatedQuestionRead(post_ids=left, count=count, votes=max(0, group.votes - sum(dropped))))
    return out


def _question_list(
    candidates: Iterable[PostRead], views: list[PostRead], repeated: list[RepeatedQuestionRead], limit: int
) -> QuestionList:
    """The questions to list, open ones first, then most voted, each question once: copies the clustering
    stage found (``DigestRead.questions``) are listed as the copy that says it best, with every copy's votes
    and answers. A question an organizer marked answered (or a copy of it) is answered, answers or not."""
    answers = _answers(views)
    asked: dict[int, AskedAgain] = {}
    answered: set[int] = set()
    ranked: list[tuple[bool, int, int, PostRead]] = []
    for group in group_copies((v for v in candidates if v.kind == "question"), repeated):
        shown = group.shown
        votes = max(sum(c.upvotes for c in group.copies), group.votes)  # the page's counts are the newer
        if group.count > 1:
            others = tuple(sorted((c for c in group.copies if c is not shown), key=lambda c: c.id))
            asked[shown.id] = AskedAgain(group.count, votes, group.key, others)
            merged = [a for c in group.copies for a in answers.get(c.id, [])]
            answers[shown.id] = sorted(merged, key=lambda a: a.id)
        if answers.get(shown.id) or any(c.marked_answered for c in group.copies):
            answered.add(shown.id)
        ranked.append((shown.id in answered, votes, shown.id, shown))
    ranked.sort(key=lambda r: (r[0], -r[1], -r[2]))  # the open ones first
    return QuestionList([r[3] for r in ranked[:limit]], answers, asked, answered)


async def _views(
    session: AsyncSession, event: Event, *, talk_id: int | None = None, limit: int = 500
) -> list[PostRead]:
    assert event.id is not None
    posts = await post_store.list_posts(session, event.id, talk_id=talk_id, limit=limit)
    authors = await post_store.authors_by_id(session, [p.author_id for p in posts if p.author_id])
    return [post_read(p, authors.get(p.author_id) if p.author_id else None, event.slug) for p in posts]


def _schedule_ended(talks: list[TalkRead], now: datetime) -> datetime | None:
    last = max((t.end for t in talks if not t.cancelled), default=None)
    return last if last is not None and last <= now else None


def _rooms(talks: list[TalkRead], states: dict[int, str]) -> list[RoomNow]:
    by_room: dict[str, RoomNow] = {}
    for talk in sorted(talks, key=lambda t: t.start):
        if not talk.room or talk.cancelled:
            continue  # a room that only held cancelled talks (a replaced schedule's) is no room of this event
        slot = by_room.setdefault(talk.room, RoomNow(room=talk.room, now=None, next=None))
        if states[talk.id] == "now" and slot.now is None:
            slot.now = talk
        elif states[talk.id] == "next" and slot.next is None:
            slot.next = talk
    return [by_room[r] for r in sorted(by_room)]


async def build_event_page(
    session: AsyncSession, event: Event, filters: Filters | None = None, *, per_talk: int = 5, feed_size: int = 50
) -> EventPage:
    assert event.id is not None
    filters = filters or Filters()
    now = utcnow()
    all_talks = [talk_read(t) for t in await talk_store.list_for_event(session, event.id)]
    states = _states(all_talks, now)
    talk_map = {t.id: t for t in all_talks}
    views = await _views(session, event)
    known = {v.id: v for v in views}
    digests = {d.talk_id: digest_read(d) for d in await digest_store.list_for_event(session, event.id)}
    budget = [MAX_FETCHED_CITATIONS]
    shown = [v for v in views if filters.admits_post(v, talk_map)]
    talks = [t for t in all_talks if filters.admits_talk(t)]
    by_talk: dict[int, list[PostRead]] = {}
    for view in views:
        if view.talk_id is not None:
            by_talk.setdefault(view.talk_id, []).append(view)
    order = {"now": 0, "next": 1, "past": 2, "later": 3}
    cards: list[TalkCard] = []
    ended = _schedule_ended(all_talks, now)
    # Now and next first, then the most recent past talks (their takeaways are what followers catch up on);
    # once the schedule is over, in the program's order: the closing ceremony led a reader back through it.
    for talk in sorted(
        talks,
        key=lambda t: (
            order[states[t.id]],
            -t.start.timestamp() if states[t.id] == "past" and not ended else t.start.timestamp(),
            t.room or "",
        ),
    ):
        digest = digests.get(talk.id)
        if talk.cancelled and digest is None and talk.id not in by_talk and not talk.start <= now < talk.end:
            # nothing was said about it and its slot is not now: a schedule import cancels every talk its
            # file lacks, and hundreds of such cards buried the event's own
            continue
        card = TalkCard(talk=talk, state=states[talk.id], digest_version=digest.version if digest else 0)
        card.posts = [v for v in by_talk.get(talk.id, []) if v.kind != "answer" and filters.admits_post(v, talk_map)][
            :per_talk
        ]
        if digest and filters.kind != "question":
            card.topics = await _topic_groups(session, digest, known, event, budget, kind=filters.kind)
        activity = digest.activity if digest and digest.activity else _activity_from_posts(by_talk.get(talk.id, []))
        card.timeline = build_timeline(talk, activity, digest)
        cards.append(card)
    trending = _trending(digests.values(), talk_map, {c.talk.id for c in cards})
    hallway_digest = digests.get(None)
    hallway = []
    if hallway_digest and not (filters.room or filters.track) and filters.kind != "question":
        hallway = await _topic_groups(session, hallway_digest, known, event, budget, kind=filters.kind)
    repeated = await _repeated_now(session, event, digests.values(), (v.id for v in views))
    listed = _question_list(shown, views, repeated, 30)
    languages = sorted(
        {v.language.split("-")[0].lower() for v in views if v.language}
        | {t.language.split("-")[0].lower() for t in all_talks if t.language}
    )
    feed = shown[:feed_size]
    return EventPage(
        event=event,
        zone=ZoneInfo(event.time_zone),
        now=now,
        cards=cards,
        feed=feed,
        replied=await _replied(session, feed, known, event, budget),
        questions=listed.questions,
        answers=listed.answers,
        asked=listed.asked,
        answered=listed.answered,
        rooms=_rooms(all_talks, states),
        trending=trending[:12],
        hallway=hallway,
        filters=filters,
        options=Options(
            rooms=sorted({t.room for t in all_talks if t.room}),
            tracks=sorted({t.track for t in all_talks if t.track}),
            languages=languages,
        ),
        talks=talk_map,
        schedule_ended=ended,
    )


async def build_talk_page(session: AsyncSession, event: Event, talk_id: int) -> TalkPage | None:
    """Everything about one talk; None when the event has no such talk."""
    assert event.id is not None
    row = await talk_store.get(session, event.id, talk_id)
    if row is None:
        return None
    now = utcnow()
    talk = talk_read(row)
    siblings = [talk_read(t) for t in await talk_store.list_for_event(session, event.id)]
    state = _states(siblings, now).get(talk.id, "later")
    views = await _views(session, event, talk_id=talk.id)
    known = {v.id: v for v in views}
    stored = await digest_store.get(session, event.id, talk.id)
    digest = digest_read(stored) if stored else None
    budget = [MAX_FETCHED_CITATIONS]  # the takeaways' citations and the feed's questions look up posts from it
    card = TalkCard(talk=talk, state=state, digest_version=digest.version if digest else 0)
    card.posts = [v for v in views if v.kind != "answer"][:5]
    if digest:
        card.topics = await _topic_groups(session, digest, known, event, budget)
    card.timeline = build_timeline(
        talk, digest.activity if digest and digest.activity else _activity_from_posts(views), digest
    )
    repeated = await _repeated_now(session, event, [digest] if digest else [], (v.id for v in views))
    listed = _question_list(views, views, repeated, 50)
    return TalkPage(
        event=event,
        zone=ZoneInfo(event.time_zone),
        now=now,
        card=card,
        topics=sorted(digest.topics, key=lambda t: -t.size) if digest else [],
        questions=listed.questions,
        answers=listed.answers,
        asked=listed.asked,
        answered=listed.answered,
        feed=views[:100],
        replied=await _replied(session, views[:100], known, event, budget),
    )


@dataclass(slots=True)
class QuestionBoard:
    """An organizer's questions: each asked question once with its copies, open ones first, then most voted."""

    listed: QuestionList
    talk_titles: dict[int, str]
    reasons: dict[int, str | None]  # post id -> why moderation held it once (shown beside the post)


MAX_BOARD_POSTS = 2_000  # newest questions, and newest answers, read for the board


async def build_question_board(session: AsyncSession, event: Event, *, limit: int = 100) -> QuestionBoard:
    """The questions as the event page lists them (copies the clustering stage found folded into one, votes
    summed, answered when answered or marked), with their handles shown: an organizer blocks by handle."""
    assert event.id is not None
    rows = await post_store.list_posts(session, event.id, kind="question", limit=MAX_BOARD_POSTS)
    rows += await post_store.list_posts(session, event.id, kind="answer", limit=MAX_BOARD_POSTS)
    rows.sort(key=lambda p: -(p.id or 0))  # newest first, as ``_answers`` expects
    authors = await post_store.authors_by_id(session, [p.author_id for p in rows if p.author_id])
    views = [
        post_read(p, authors.get(p.author_id) if p.author_id else None, event.slug, reveal_handle=True) for p in rows
    ]
    digests = [digest_read(d) for d in await digest_store.list_for_event(session, event.id)]
    repeated = await _repeated_now(session, event, digests, (v.id for v in views))
    listed = _question_list(views, views, repeated, limit)
    talks = {t.id: t.title for t in await talk_store.list_for_event(session, event.id) if t.id is not None}
    return QuestionBoard(listed, talks, {p.id: p.moderation_reason for p in rows if p.id is not None})
