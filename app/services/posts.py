"""Post use cases: apply source items (the one write path for every source), vote, delete, list."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.services import moderation
from app.services.payloads import AuthorView, PostRead, frame_data, new_post_data, post_read
from app.services.redaction import redact_frames
from app.services.tokens import token_matches
from app.services.unit_of_work import UnitOfWork
from app.store import posts as post_store
from app.store import talks as talk_store
from app.store.posts import StoredAuthor
from app.store.tables import Event, Post, PostAlias, Vote
from app.store.types import utcnow
from clustering.kinds import classify_kinds
from ingest.items import IncomingPost, ItemAction, SourceItem
from ingest.language import detect_language
from ingest.source import AcceptResult
from ingest.text import normalise_text

logger = logging.getLogger(__name__)

MAX_TEXT = 10_000  # posts from other networks can be longer than in-app notes; cap what we keep


@dataclass(slots=True)
class Applied:
    post: Post | None  # None: created by a batch that does not load what it creates (``PostBatch(load_created=False)``)
    created: bool
    # Such a post's id and the column values it was inserted with (``PostBatch._stage``'s row; the table's
    # defaults for the rest): what a caller that answers with the new post builds it from (the note writer).
    inserted: Inserted | None = None


async def resolve_talk(uow: UnitOfWork, event: Event, ref: str | None) -> int | None:
    """A talk named by guid or id; None when it does not exist."""
    if not ref:
        return None
    assert event.id is not None
    talk = await talk_store.get_by_guid(uow.session, event.id, ref)
    if talk is None and ref.isdigit():
        talk = await talk_store.get(uow.session, event.id, int(ref))
    return talk.id if talk else None


def _edits(post: Post, incoming: IncomingPost) -> dict[str, Any]:
    """What a re-delivered post changes in the stored one (nothing: an empty dict)."""
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
    return {key: value for key, value in changes.items() if getattr(post, key) != value}


def _erase(post: Post) -> dict[str, Any] | None:
    """Erase the post in place; the post.deleted frame's data when followers were showing it."""
    was_visible = post.status == "visible"
    post.status = "deleted"
    post.text = ""
    post.html = None
    post.media_descriptions = []
    post.version += 1
    return {"id": post.id, "version": post.version, "talk_id": post.talk_id} if was_visible else None


async def remove_post(uow: UnitOfWork, event: Event, post: Post) -> None:
    """Gone everywhere: the text is erased, a tombstone keeps re-deliveries from resurrecting it."""
    data = _erase(post)
    uow.session.add(post)
    if data is not None:
        await uow.emit(event, "post.deleted", data)


def _local_ref(incoming: IncomingPost) -> str | None:
    # Mastodon reports deletes of statuses it cannot map to a uri by instance + local id.
    instance, local_id = incoming.extra.get("instance"), incoming.extra.get("local_id")
    return f"mastodon-local:{instance}/{local_id}" if instance and local_id else None


_FrameData = tuple[str, dict[str, Any]]
_VISIBLE = moderation.Verdict("visible")  # what ``judge`` says of every post when the rules admit all


@dataclass(slots=True)
class _Arriving:
    """A new post as the moderation rules read it, before it has a row."""

    source: str
    text: str
    tags: list[str]
    author_id: int | None
    created_at: datetime


@dataclass(slots=True)
class _Staged:
    """A new post waiting for the batch's next insert."""

    index: int  # the item's position in the batch
    row: dict[str, Any]  # the post's columns (plain values: building a Post per item costs more than storing it)
    incoming: IncomingPost
    parent_kind: str | None
    frames: list[_FrameData]  # its place in the batch's frame order, filled once it is stored


@dataclass(slots=True)
class Inserted:
    """A post this batch inserted and has not loaded: its id and the column values it was inserted with."""

    id: int
    row: dict[str, Any]


@dataclass(slots=True)
class _Parent:
    """What a reply takes from its parent."""

    id: int | None
    talk_id: int | None
    kind: str


class PostBatch:
    """Applies source items in order, with a handful of statements per batch instead of several per item.

    The outcome is the same as applying the items one at a time: what the batch needs is looked up
    once (stored posts and reply parents, authors, awaited parents, aliases); new posts are staged and
    inserted together (multi-row ``INSERT … ON CONFLICT DO NOTHING``) with their kinds classified in
    one call; an item that needs a staged post stored first (its edit, delete or reply, or an author
    cap that counts it) stores the staged ones before it is applied. Frames keep item order and go
    to the live log as one contiguous id range when the batch finishes.

    ``load_created``: whether ``results`` carry the created posts as ``Post`` objects (the notes'
    answers need them). Without, the batch keeps what it inserted (ids and values) and builds their
    frames from those; a later item of the batch that changes one of them reads it first.
    """

    def __init__(self, uow: UnitOfWork, event: Event, *, load_created: bool = True) -> None:
        assert event.id is not None
        self.uow = uow
        self.event = event
        self.load_created = load_created
        self.posts: dict[tuple[str, str], Post] = {}
        self._created: dict[tuple[str, str], Inserted] = {}  # created, not loaded (``load_created`` off)
        self.authors: dict[tuple[str, str], StoredAuthor] = {}
        self.awaited_parents: set[tuple[str, str]] = set()
        self.aliases: set[tuple[str, str]] = set()
        self.results: list[Applied | None] = []
        self._staged: dict[tuple[str, str], _Staged] = {}
        self._staged_authors: set[int] = set()
        self._frames: list[list[_FrameData]] = []
        self._erased: list[Post] = []  # deleted by this batch, to redact from the live log
        self._talks: dict[str, int | None] = {}
        self._authors_by_id: dict[int, StoredAuthor] = {}
        self._caps_author_rate = False
        self._admits_all = False  # the event's rules let every post through (``moderation.admits_all``)

    async def look_up(self, items: Sequence[SourceItem], *, fresh: bool = False) -> None:
        """Everything the items will need from the store, in a few queries for the whole batch.

        ``fresh``: the items' native ids were made just now (in-app notes, a new uuid each), so no
        stored post has them and no stored reply awaits them: the two queries for those are skipped.
        """
        session = self.uow.session
        assert self.event.id is not None
        keys = [(item.source, item.native_id) for item in items]
        parents = [(i.source, i.post.reply_to) for i in items if i.post is not None and i.post.reply_to]
        if fresh:
            self.posts = await post_store.by_native_ids(session, parents) if parents else {}
            self.awaited_parents = set()
        else:
            self.posts = await post_store.by_native_ids(session, keys + parents)
            self.awaited_parents = await post_store.awaited_parents(session, keys)
        # A reply earlier in this batch may be waiting for a parent later in it.
        self.awaited_parents.update(parents)
        new_authors = [
            (i.post.source, i.post.author_handle, i.post.author_name, i.post.author_url)
            for i in items
            if i.post is not None and i.post.author_handle and (i.source, i.native_id) not in self.posts
        ]
        self.authors = await post_store.upsert_authors(session, new_authors)
        local_refs = [(i.source, ref) for i in items if i.post is not None and (ref := _local_ref(i.post))]
        self.aliases = await post_store.known_aliases(session, local_refs)
        self._authors_by_id = {a.id: a for a in self.authors.values()}
        self._caps_author_rate = await moderation.caps_author_rate(session, self.event.id)
        self._admits_all = await moderation.admits_all(session, self.event)

    async def apply(
        self, item: SourceItem, *, delete_token_hash: str | None = None, parent: Post | None = None
    ) -> None:
        """Apply one item (its result lands in ``results`` at the same position)."""
        key = (item.source, item.native_id)
        incoming = item.post
        if self._staged and (
            key in self._staged
            or item.native_id.startswith("mastodon-local:")
            or (incoming is not None and incoming.reply_to and (item.source, incoming.reply_to) in self._staged)
            or (self._caps_author_rate and incoming is not None and self._author_staged(incoming))
        ):
            await self.store_staged()
        existing = self.posts.get(key)
        if existing is None and key in self._created:
            existing = await self._load_created(key)
        if existing is None and item.native_id.startswith("mastodon-local:"):
            alias = await self.uow.session.get(PostAlias, key)
            existing = await post_store.get(self.uow.session, alias.post_id) if alias is not None else None
        frames: list[_FrameData] = []
        self._frames.append(frames)
        if item.action == ItemAction.DELETE:
            applied = None
            if existing is not None and existing.status != "deleted":
                data = _erase(existing)
                self.uow.session.add(existing)
                self._erased.append(existing)
                if data is not None:
                    frames.append(("post.deleted", data))
                applied = Applied(existing, False)
            self.results.append(applied)
            return
        text = normalise_text(incoming.text)[:MAX_TEXT] if incoming is not None else ""
        if incoming is None or not text:
            self.results.append(None)
            return
        if existing is None:
            self.results.append(None)  # filled in once stored
            await self._stage(incoming, text, delete_token_hash, parent, frames)
            return
        self.results.append(await self._apply_to(existing, incoming, frames))

    async def _load_created(self, key: tuple[str, str]) -> Post | None:
        """A post this batch created without loading it, loaded now that an item changes it."""
        post = await post_store.get(self.uow.session, self._created.pop(key).id)
        if post is not None:
            self.posts[key] = post
        return post

    def _reply_parent(self, incoming: IncomingPost) -> _Parent | None:
        key = (incoming.source, incoming.reply_to or "")
        post = self.posts.get(key)
        if post is not None:
            return _Parent(post.id, post.talk_id, post.kind)
        created = self._created.get(key)
        if created is not None:
            return _Parent(created.id, created.row["talk_id"], created.row["kind"])
        return None

    def _author_staged(self, incoming: IncomingPost) -> bool:
        author = self.authors.get((incoming.source, incoming.author_handle or ""))
        return author is not None and author.id in self._staged_authors

    async def talk(self, ref: str | None) -> int | None:
        """The id of the talk named by guid or id (None when there is none), looked up once per batch."""
        if not ref:
            return None
        if ref not in self._talks:
            self._talks[ref] = await resolve_talk(self.uow, self.event, ref)
        return self._talks[ref]

    async def _stage(
        self,
        incoming: IncomingPost,
        text: str,
        delete_token_hash: str | None,
        parent: Post | None,
        frames: list[_FrameData],
    ) -> None:
        assert self.event.id is not None
        author_id = None
        if incoming.author_handle:
            author = self.authors.get((incoming.source, incoming.author_handle))
            if author is None:  # not foreseen by look_up (an item the batch has seen before)
                stored = await post_store.upsert_author(
                    self.uow.session, incoming.source, incoming.author_handle, incoming.author_name, incoming.author_url
                )
                assert stored.id is not None
                author = StoredAuthor(stored.id, stored.source, stored.handle, stored.display_name, stored.url)
                self.authors[(incoming.source, incoming.author_handle)] = author
            author_id = author.id
        reply_to: _Parent | None = None
        if parent is not None:
            reply_to = _Parent(parent.id, parent.talk_id, parent.kind)
        elif incoming.reply_to:
            reply_to = self._reply_parent(incoming)
        talk_id = await self.talk(incoming.talk_ref) if incoming.talk_ref else None
        if talk_id is None and reply_to is not None:
            talk_id = reply_to.talk_id  # an answer belongs where its question is
        tags = list(incoming.tags)
        if self._admits_all:
            verdict = _VISIBLE
        else:
            verdict = await moderation.judge(
                self.uow,
                self.event,
                _Arriving(incoming.source, text, tags, author_id, incoming.created_at),
                author_handle=incoming.author_handle,
            )
        row = {
            "event_id": self.event.id,
            "source": incoming.source,
            "native_id": incoming.native_id,
            "author_id": author_id,
            "text": text,
            "html": incoming.html,
            "url": incoming.url,
            "language": incoming.language or detect_language(text),
            "talk_id": talk_id,
            "talk_confidence": 1.0 if talk_id is not None and incoming.talk_ref else None,
            "reply_to_native": incoming.reply_to,
            "reply_to_id": reply_to.id if reply_to else None,
            "boosts": incoming.boosts,
            "likes": incoming.likes,
            "replies": incoming.replies,
            "sensitive": incoming.sensitive,
            "spoiler_text": incoming.spoiler_text,
            "media_descriptions": list(incoming.media_descriptions),
            "tags": tags,
            "status": verdict.status,
            "moderation_reason": verdict.reason,
            "delete_token_hash": delete_token_hash,
            "created_at": incoming.created_at,
            "edited_at": incoming.edited_at,
            "received_at": utcnow(),
        }
        key = (incoming.source, incoming.native_id)
        self._staged[key] = _Staged(len(self.results) - 1, row, incoming, reply_to.kind if reply_to else None, frames)
        if author_id is not None:
            self._staged_authors.add(author_id)

    async def store_staged(self) -> None:
        """Insert the staged posts (one statement), then link, alias and announce them in item order."""
        if not self._staged:
            return
        staged = list(self._staged.values())
        self._staged.clear()
        self._staged_authors.clear()
        kinds = classify_kinds(
            [s.row["text"] for s in staged],
            reply_to_kinds=[s.parent_kind for s in staged],
            hints=[s.incoming.kind_hint for s in staged],
        )
        for s, kind in zip(staged, kinds, strict=True):
            s.row["kind"] = kind.value
        session = self.uow.session
        rows = [s.row for s in staged]
        loaded: dict[tuple[str, str], Post] = {}
        if self.load_created:
            loaded = await post_store.insert_new(session, rows)
            ids = {key: post.id for key, post in loaded.items() if post.id is not None}
        else:
            ids = await post_store.insert_rows(session, rows)
        for s in staged:
            key = (s.incoming.source, s.incoming.native_id)
            post_id = ids.get(key)
            if post_id is None:
                # Lost the race to a concurrent batch: theirs is stored; apply ours to it as an update.
                existing = await post_store.get_by_native(session, *key)
                if existing is not None:
                    self.posts[key] = existing
                    self.results[s.index] = await self._apply_to(existing, s.incoming, s.frames)
                continue
            post = loaded.get(key)
            if post is not None:
                self.posts[key] = post
            else:
                self._created[key] = Inserted(post_id, s.row)
            self._remember_alias(key[0], post_id, s.incoming)
            relinked: Post | None = None  # the post itself, when it named itself as its parent
            if key in self.awaited_parents:
                for child_id in await post_store.link_orphan_replies(session, key[0], key[1], post_id):
                    child = await post_store.get(session, child_id)
                    if child is not None:
                        await session.refresh(child)
                        await self._announce(child, "post.updated", s.frames)
                        if child_id == post_id:
                            relinked = child
            if relinked is not None:
                await self._announce(relinked, "post.created", s.frames)
            else:
                await self._announce_new(s.row, post_id, s.frames)
            if post is None and relinked is not None:
                self.results[s.index] = Applied(relinked, True)  # it named itself as its parent: changed since
            else:
                self.results[s.index] = Applied(post, True, self._created.get(key) if post is None else None)

    async def _apply_to(self, existing: Post, incoming: IncomingPost, frames: list[_FrameData]) -> Applied | None:
        if existing.status == "deleted" or existing.event_id != self.event.id:
            return None
        if existing.id is not None:
            self._remember_alias(existing.source, existing.id, incoming)
        edits = _edits(existing, incoming)
        if not edits:
            return None
        await post_store.bump(self.uow.session, existing, **edits)
        await self._announce(existing, "post.updated", frames)
        return Applied(existing, False)

    def _remember_alias(self, source: str, post_id: int, incoming: IncomingPost) -> None:
        alias = _local_ref(incoming)
        if alias and (source, alias) not in self.aliases:
            self.uow.session.add(PostAlias(source=source, alias=alias, post_id=post_id))
            self.aliases.add((source, alias))

    async def _author(self, author_id: int | None) -> AuthorView | None:
        author: AuthorView | None = self._authors_by_id.get(author_id) if author_id is not None else None
        if author is None:
            author = await post_store.get_author(self.uow.session, author_id)
        return author

    async def _announce(self, post: Post, type_: str, frames: list[_FrameData]) -> None:
        if post.status == "visible":
            author = await self._author(post.author_id)
            frames.append((type_, frame_data(post_read(post, author, self.event.slug))))

    async def _announce_new(self, row: dict[str, Any], post_id: int, frames: list[_FrameData]) -> None:
        """``_announce`` of a post just inserted from ``row``, from the values (nothing has changed it since)."""
        if row["status"] == "visible":
            author_id = row["author_id"]
            author = self._authors_by_id.get(author_id) if author_id is not None else None
            if author is None and author_id is not None:  # not among the batch's: read it
                author = await self._author(author_id)
            frames.append(("post.created", new_post_data(row, post_id, author, self.event.slug)))

    async def finish(self) -> None:
        """Store what is staged and log the batch's frames, in item order, as one id range."""
        await self.store_staged()
        frames = [frame for item_frames in self._frames for frame in item_frames]
        self._frames.clear()
        if frames:
            await self.uow.emit_many(self.event, frames)
        if self._erased:  # deleted at the source: the text must not replay to a resuming follower either
            await redact_frames(self.uow, self.event, self._erased)
            self._erased.clear()


async def apply_item(
    uow: UnitOfWork,
    event: Event,
    item: SourceItem,
    *,
    delete_token_hash: str | None = None,
    parent: Post | None = None,
) -> Applied | None:
    """Apply one source item idempotently: the same item twice changes nothing the second time."""
    batch = PostBatch(uow, event)
    await batch.look_up([item])
    await batch.apply(item, delete_token_hash=delete_token_hash, parent=parent)
    await batch.finish()
    return batch.results[0]


async def apply_items(uow: UnitOfWork, event: Event, items: Sequence[SourceItem]) -> AcceptResult:
    """Apply a batch of items in order, as ``apply_item`` would one by one."""
    batch = PostBatch(uow, event, load_created=False)  # only counted: the created posts are not loaded
    await batch.look_up(items)
    for item in items:
        await batch.apply(item)
    await batch.finish()
    created = updated = deleted = ignored = 0
    for item, applied in zip(items, batch.results, strict=True):
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
    await post_store.bump(uow.session, post, votes=1)
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
    await redact_frames(uow, event, [post])


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
    reveal_handles: bool = False,
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
    views = [post_read(p, authors.get(p.author_id), event.slug, reveal_handle=reveal_handles) for p in rows]
    next_cursor = encode_cursor(rows[-1].id) if more and rows and rows[-1].id is not None else None
    return views, next_cursor


def now() -> datetime:
    return utcnow()
