"""Post use cases: apply source items (the one write path for every source), vote, delete, list."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.services import moderation
from app.services.payloads import PostRead, frame_data, post_read
from app.services.tokens import token_matches
from app.services.unit_of_work import UnitOfWork
from app.store import posts as post_store
from app.store import talks as talk_store
from app.store.tables import Author, Event, Post, PostAlias, Vote
from app.store.types import utcnow
from clustering.kinds import classify_kind
from ingest.items import IncomingPost, ItemAction, SourceItem
from ingest.language import detect_language
from ingest.source import AcceptResult
from ingest.text import normalise_text

logger = logging.getLogger(__name__)

MAX_TEXT = 10_000  # posts from other networks can be longer than in-app notes; cap what we keep


@dataclass(slots=True)
class BatchLookups:
    """What a batch looked up once instead of once per item: stored posts, authors, awaited parents."""

    posts: dict[tuple[str, str], Post] = field(default_factory=dict)
    authors: dict[tuple[str, str], Author] = field(default_factory=dict)
    awaited_parents: set[tuple[str, str]] = field(default_factory=set)


@dataclass(slots=True)
class Applied:
    post: Post
    created: bool


async def resolve_talk(uow: UnitOfWork, event: Event, ref: str | None) -> int | None:
    """A talk named by guid or id; None when it does not exist."""
    if not ref:
        return None
    assert event.id is not None
    talk = await talk_store.get_by_guid(uow.session, event.id, ref)
    if talk is None and ref.isdigit():
        talk = await talk_store.get(uow.session, event.id, int(ref))
    return talk.id if talk else None


async def publish_post(uow: UnitOfWork, event: Event, post: Post, type_: str) -> PostRead:
    author = await post_store.get_author(uow.session, post.author_id)
    view = post_read(post, author, event.slug)
    if post.status == "visible":
        await uow.emit(event, type_, frame_data(view))
    return view


async def _create(
    uow: UnitOfWork,
    event: Event,
    incoming: IncomingPost,
    delete_token_hash: str | None,
    parent: Post | None,
    lookups: BatchLookups | None = None,
) -> Post | None:
    """The new post, or None when a concurrent batch stored the same (source, native_id) first."""
    session = uow.session
    assert event.id is not None
    text = normalise_text(incoming.text)[:MAX_TEXT]
    author_id = None
    if incoming.author_handle:
        author_key = (incoming.source, incoming.author_handle)
        author = lookups.authors.get(author_key) if lookups else None
        if author is None:
            author = await post_store.upsert_author(
                session, incoming.source, incoming.author_handle, incoming.author_name, incoming.author_url
            )
            if lookups is not None:
                lookups.authors[author_key] = author
        author_id = author.id
    if parent is None and incoming.reply_to:
        parent = lookups.posts.get((incoming.source, incoming.reply_to)) if lookups else None
        if parent is None:
            parent = await post_store.get_by_native(session, incoming.source, incoming.reply_to)
    talk_id = await resolve_talk(uow, event, incoming.talk_ref)
    if talk_id is None and parent is not None:
        talk_id = parent.talk_id  # an answer belongs where its question is
    kind = classify_kind(text, reply_to_kind=parent.kind if parent else None, hint=incoming.kind_hint)
    post = Post(
        event_id=event.id,
        source=incoming.source,
        native_id=incoming.native_id,
        author_id=author_id,
        text=text,
        html=incoming.html,
        url=incoming.url,
        language=incoming.language or detect_language(text),
        kind=kind.value,
        talk_id=talk_id,
        talk_confidence=1.0 if talk_id is not None and incoming.talk_ref else None,
        reply_to_native=incoming.reply_to,
        reply_to_id=parent.id if parent else None,
        boosts=incoming.boosts,
        likes=incoming.likes,
        replies=incoming.replies,
        sensitive=incoming.sensitive,
        spoiler_text=incoming.spoiler_text,
        media_descriptions=list(incoming.media_descriptions),
        tags=list(incoming.tags),
        delete_token_hash=delete_token_hash,
        created_at=incoming.created_at,
        edited_at=incoming.edited_at,
    )
    verdict = await moderation.judge(uow, event, post, author_handle=incoming.author_handle)
    post.status, post.moderation_reason = verdict.status, verdict.reason
    if not await post_store.insert_unique(session, post):
        return None
    if lookups is not None:
        lookups.posts[(post.source, post.native_id)] = post
        if (post.source, post.native_id) not in lookups.awaited_parents:
            return post  # no stored reply is waiting for this post
    for child_id in await post_store.link_orphan_replies(session, post):
        child = await post_store.get(session, child_id)
        if child is not None:
            await session.refresh(child)
            await publish_post(uow, event, child, "post.updated")
    return post


def _update(post: Post, incoming: IncomingPost) -> bool:
    text = normalise_text(incoming.text)[:MAX_TEXT]
    changes = {
        "text": text,
        "html": incoming.html,
        "edited_at": incoming.edited_at or post.edited_at,
        "boosts": max(post.boosts, incoming.boosts),
        "likes": max(post.likes, incoming.likes),
        "replies": max(post.replies, incoming.replies),
        "sensitive": incoming.sensitive,
        "spoiler_text": incoming.spoiler_text,
        "media_descriptions": list(incoming.media_descriptions),
    }
    changed = False
    for key, value in changes.items():
        if getattr(post, key) != value:
            setattr(post, key, value)
            changed = True
    if changed:
        post.version += 1
    return changed


async def remove_post(uow: UnitOfWork, event: Event, post: Post) -> None:
    """Gone everywhere: the text is erased, a tombstone keeps re-deliveries from resurrecting it."""
    was_visible = post.status == "visible"
    post.status = "deleted"
    post.text = ""
    post.html = None
    post.media_descriptions = []
    post.version += 1
    uow.session.add(post)
    if was_visible:
        await uow.emit(event, "post.deleted", {"id": post.id, "version": post.version, "talk_id": post.talk_id})


def _local_ref(incoming: IncomingPost) -> str | None:
    # Mastodon reports deletes of statuses it cannot map to a uri by instance + local id.
    instance, local_id = incoming.extra.get("instance"), incoming.extra.get("local_id")
    return f"mastodon-local:{instance}/{local_id}" if instance and local_id else None


async def _remember_alias(uow: UnitOfWork, post: Post, incoming: IncomingPost) -> None:
    alias = _local_ref(incoming)
    if alias and post.id is not None and await uow.session.get(PostAlias, (post.source, alias)) is None:
        uow.session.add(PostAlias(source=post.source, alias=alias, post_id=post.id))


async def apply_item(
    uow: UnitOfWork,
    event: Event,
    item: SourceItem,
    *,
    delete_token_hash: str | None = None,
    parent: Post | None = None,
    lookups: BatchLookups | None = None,
) -> Applied | None:
    """Apply one source item idempotently: the same item twice changes nothing the second time."""
    if lookups is not None:
        existing = lookups.posts.get((item.source, item.native_id))
    else:
        existing = await post_store.get_by_native(uow.session, item.source, item.native_id)
    if existing is None and item.native_id.startswith("mastodon-local:"):
        alias = await uow.session.get(PostAlias, (item.source, item.native_id))
        existing = await post_store.get(uow.session, alias.post_id) if alias is not None else None
    if item.action == ItemAction.DELETE:
        if existing is not None and existing.status != "deleted":
            await remove_post(uow, event, existing)
            return Applied(existing, False)
        return None
    incoming = item.post
    if incoming is None or not normalise_text(incoming.text):
        return None
    if existing is None:
        post = await _create(uow, event, incoming, delete_token_hash, parent, lookups)
        if post is not None:
            await _remember_alias(uow, post, incoming)
            await publish_post(uow, event, post, "post.created")
            return Applied(post, True)
        # Lost the race to a concurrent batch: theirs is stored; apply ours to it as an update.
        existing = await post_store.get_by_native(uow.session, item.source, item.native_id)
        if existing is None:
            return None
    if existing.status == "deleted" or existing.event_id != event.id:
        return None
    await _remember_alias(uow, existing, incoming)
    if _update(existing, incoming):
        uow.session.add(existing)
        await publish_post(uow, event, existing, "post.updated")
        return Applied(existing, False)
    return None


async def apply_items(uow: UnitOfWork, event: Event, items: Sequence[SourceItem]) -> AcceptResult:
    created = updated = deleted = ignored = 0
    keys = [(item.source, item.native_id) for item in items]
    lookups = BatchLookups(
        posts=await post_store.by_native_ids(uow.session, keys),
        awaited_parents=await post_store.awaited_parents(uow.session, keys),
    )
    # A reply earlier in this batch may be waiting for a parent later in it.
    lookups.awaited_parents.update(
        (item.source, item.post.reply_to) for item in items if item.post is not None and item.post.reply_to
    )
    for item in items:
        applied = await apply_item(uow, event, item, lookups=lookups)
        if applied is None:
            ignored += 1
        elif item.action == ItemAction.DELETE:
            deleted += 1
        elif applied.created:
            created += 1
        else:
            updated += 1
    return AcceptResult(created=created, updated=updated, deleted=deleted, ignored=ignored)


async def get_post(uow: UnitOfWork, event: Event | None, post_id: int) -> Post:
    post = await post_store.get(uow.session, post_id)
    if post is None or post.status == "deleted" or (event is not None and post.event_id != event.id):
        raise NotFound(f"no post {post_id}", field="post_id")
    return post


async def upvote(uow: UnitOfWork, event: Event, post: Post, client_key: str) -> Post:
    """Count one vote per client; a second vote from the same client is refused with 409."""
    assert post.id is not None
    if post.status != "visible":
        raise NotFound(f"no post {post.id}", field="post_id")
    if await post_store.has_vote(uow.session, post.id, client_key):
        raise Conflict("you already upvoted this post", field="post_id")
    # A concurrent duplicate still fails on the unique key at commit; the route maps that to 409.
    uow.session.add(Vote(post_id=post.id, client_key=client_key))
    post.upvotes += 1
    post.version += 1
    uow.session.add(post)
    await uow.emit(
        event,
        "post.upvoted",
        {"id": post.id, "version": post.version, "upvotes": post.upvotes, "talk_id": post.talk_id},
    )
    return post


async def delete_own(uow: UnitOfWork, event: Event, post: Post, token: str | None) -> None:
    if not token:
        raise Forbidden("a delete token is required (X-Delete-Token header)", field="X-Delete-Token")
    if not token_matches(token, post.delete_token_hash):
        raise Forbidden("this delete token does not match the post", field="X-Delete-Token")
    await remove_post(uow, event, post)


def encode_cursor(post_id: int) -> str:
    return base64.urlsafe_b64encode(f"p{post_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("p"):
            raise ValueError(raw)
        value = int(raw[1:])
        if not 0 <= value <= 2**53:
            raise ValueError(raw)
        return value
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not one this server issued", field="cursor") from exc


async def list_posts(
    uow: UnitOfWork,
    event: Event,
    *,
    talk_id: int | None,
    hallway: bool,
    kind: str | None,
    since: datetime | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[PostRead], str | None]:
    assert event.id is not None
    before = decode_cursor(cursor) if cursor else None
    rows = await post_store.list_posts(
        uow.session,
        event.id,
        talk_id=talk_id,
        hallway=hallway,
        kind=kind,
        since=since,
        before_id=before,
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    authors = await post_store.authors_by_id(uow.session, [p.author_id for p in rows if p.author_id])
    views = [post_read(p, authors.get(p.author_id) if p.author_id else None, event.slug) for p in rows]
    next_cursor = encode_cursor(rows[-1].id) if more and rows and rows[-1].id is not None else None
    return views, next_cursor


def now() -> datetime:
    return utcnow()
