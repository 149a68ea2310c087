"""What the server-rendered pages show: talks on now and next, recent posts, open questions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from app.services.payloads import PostRead, TalkRead, post_read, talk_read
from app.store import posts as post_store
from app.store import talks as talk_store
from app.store.tables import Event
from app.store.types import utcnow


@dataclass(slots=True)
class TalkCard:
    talk: TalkRead
    state: str  # "now" | "next" | "later" | "past"
    posts: list[PostRead] = field(default_factory=list)


@dataclass(slots=True)
class EventPage:
    event: Event
    zone: ZoneInfo
    now: datetime
    cards: list[TalkCard]
    feed: list[PostRead]
    questions: list[PostRead]
    answers: dict[int, list[PostRead]]
    rooms: list[str]


def _state(talk: TalkRead, now: datetime, next_start: dict[str | None, datetime]) -> str:
    if talk.cancelled:
        return "past" if talk.end <= now else "later"
    if talk.start <= now < talk.end:
        return "now"
    if talk.end <= now:
        return "past"
    return "next" if next_start.get(talk.room) == talk.start else "later"


async def build_event_page(session: AsyncSession, event: Event, *, per_talk: int = 5, feed_size: int = 50) -> EventPage:
    assert event.id is not None
    now = utcnow()
    talks = [talk_read(t) for t in await talk_store.list_for_event(session, event.id)]
    next_start: dict[str | None, datetime] = {}
    for talk in talks:
        if talk.start > now and not talk.cancelled and talk.room not in next_start:
            next_start[talk.room] = talk.start
    posts = await post_store.list_posts(session, event.id, limit=500)
    authors = await post_store.authors_by_id(session, [p.author_id for p in posts if p.author_id])
    views = [post_read(p, authors.get(p.author_id) if p.author_id else None, event.slug) for p in posts]
    cards = {t.id: TalkCard(talk=t, state=_state(t, now, next_start)) for t in talks}
    for view in views:
        card = cards.get(view.talk_id) if view.talk_id is not None else None
        if card is not None and len(card.posts) < per_talk and view.kind != "answer":
            card.posts.append(view)
    answers: dict[int, list[PostRead]] = {}
    for view in reversed(views):
        if view.kind == "answer" and view.reply_to_id is not None:
            answers.setdefault(view.reply_to_id, []).append(view)
    questions = sorted((v for v in views if v.kind == "question"), key=lambda v: (-v.upvotes, -v.id))[:30]
    order = {"now": 0, "next": 1, "later": 2, "past": 3}
    ordered = sorted(cards.values(), key=lambda c: (order[c.state], c.talk.start, c.talk.room or ""))
    rooms = sorted({t.room for t in talks if t.room})
    return EventPage(
        event=event,
        zone=ZoneInfo(event.time_zone),
        now=now,
        cards=ordered,
        feed=views[:feed_size],
        questions=questions,
        answers=answers,
        rooms=rooms,
    )
