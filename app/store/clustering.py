"""Queries the clustering arrow needs: posts by id, saved model state, digests, topics (a batch's in one query each)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import bindparam, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.store.tables import Author, Event, ModelState, Post, TalkDigest, Topic
from app.store.types import utcnow


async def event_ids(session: AsyncSession) -> list[int]:
    return [i for i in (await session.exec(select(Event.id))).all() if i is not None]


async def posts_with_authors(session: AsyncSession, event_id: int, ids: list[int]) -> list[tuple[Post, Author | None]]:
    """This event's posts among ``ids``, in the order of ``ids``, each with its author (one query)."""
    if not ids:
        return []
    stmt = (
        select(Post, Author)
        .outerjoin(Author, col(Post.author_id) == col(Author.id))
        .where(Post.event_id == event_id, col(Post.id).in_(ids))
    )
    found = {post.id: (post, author) for post, author in (await session.exec(stmt)).all()}
    return [found[i] for i in ids if i in found]


async def load_state(session: AsyncSession, event_id: int) -> ModelState | None:
    return await session.get(ModelState, event_id)


async def save_state(session: AsyncSession, event_id: int, blob: bytes, last_post_id: int) -> None:
    """Write the event's saved model state over the old one (or insert it) without loading the old blob."""
    stmt = (
        update(ModelState)
        .where(col(ModelState.event_id) == event_id)
        .values(state=blob, last_post_id=last_post_id, updated_at=utcnow())
    )
    if (await session.execute(stmt)).rowcount == 0:  # type: ignore[attr-defined]
        session.add(ModelState(event_id=event_id, state=blob, last_post_id=last_post_id))
        await session.flush()


_ATTRIBUTED = (
    update(Post.__table__)  # type: ignore[arg-type]
    .where(Post.__table__.c.id == bindparam("post_id"))  # type: ignore[attr-defined]
    .values(
        version=bindparam("version"),
        talk_id=bindparam("talk_id"),
        talk_confidence=bindparam("talk_confidence"),
        topic_id=bindparam("topic_id"),
        kind=bindparam("kind"),
    )
)


async def save_attributions(session: AsyncSession, posts: list[Post]) -> None:
    """Write the posts' version, talk, confidence, topic and kind, as they are on the objects, in one
    executemany (the clustering arrow sets them without marking the objects changed)."""
    if posts:
        rows = [
            {
                "post_id": p.id,
                "version": p.version,
                "talk_id": p.talk_id,
                "talk_confidence": p.talk_confidence,
                "topic_id": p.topic_id,
                "kind": p.kind,
            }
            for p in posts
        ]
        await session.execute(_ATTRIBUTED, rows)


async def digests(session: AsyncSession, event_id: int, talk_keys: Collection[int]) -> dict[int, TalkDigest]:
    """This event's stored digests among ``talk_keys`` (a talk's id, 0 for the hallway), by talk key."""
    if not talk_keys:
        return {}
    stmt = select(TalkDigest).where(TalkDigest.event_id == event_id, col(TalkDigest.talk_key).in_(set(talk_keys)))
    return {d.talk_key: d for d in (await session.exec(stmt)).all()}


async def topics(session: AsyncSession, event_id: int, model_ids: Collection[int]) -> dict[int, Topic]:
    """This event's stored topics among ``model_ids``, by model id."""
    if not model_ids:
        return {}
    stmt = select(Topic).where(Topic.event_id == event_id, col(Topic.model_id).in_(set(model_ids)))
    return {t.model_id: t for t in (await session.exec(stmt)).all()}
