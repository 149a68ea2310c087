"""Privacy: erase everything by a handle (or by an account gone at its source), opt out of credits, purge old posts.

Erased and purged posts become tombstones (status ``deleted``, text erased) so a re-delivery from
the source cannot bring them back; their live frames are redacted so a resuming follower never
replays the text. Exports only ever read visible posts, so all of this vanishes from later exports.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from app.errors import NotFound
from app.services import audit
from app.services.posts import remove_post
from app.services.redaction import redact_frames
from app.services.unit_of_work import UnitOfWork
from app.store import moderation as moderation_store
from app.store.tables import Author, Event, Post
from app.store.types import utcnow

logger = logging.getLogger(__name__)

PURGE_BATCH = 500


def _anonymous_handle(source: str, handle: str) -> str:
    return "erased-" + hashlib.sha256(f"{source}:{handle}".encode()).hexdigest()[:16]


async def erase_author(uow: UnitOfWork, event: Event, source: str, handle: str) -> int:
    """Erase every post by ``source:handle`` in this event and anonymise the author; returns posts erased."""
    assert event.id is not None
    author = await moderation_store.find_author(uow.session, source, handle)
    if author is None or author.id is None:
        raise NotFound(f"no author {source}:{handle}", field="handle")
    posts = await moderation_store.author_posts(uow.session, event.id, author.id, ("visible", "hidden", "held"))
    _anonymise(author)
    uow.session.add(author)
    return await _erase_posts(uow, event, posts, "privacy.erase", source, handle)


async def _erase_posts(uow: UnitOfWork, event: Event, posts: list[Post], action: str, source: str, handle: str) -> int:
    """Tombstone ``posts`` (followers get ``post.deleted``), redact their frames, audit the erase by a hash."""
    for post in posts:
        await remove_post(uow, event, post)
    await redact_frames(uow, event, posts)
    # The audit entry names a hash, not the handle: the log must not undo the erase.
    await audit.record(uow, event, action, _anonymous_handle(source, handle), posts_erased=len(posts))
    logger.info(action, extra={"event": event.slug, "posts": len(posts)})
    return len(posts)


async def erase_account(uow: UnitOfWork, event: Event, source: str, handle: str, native_prefix: str) -> int:
    """Erase every post in this event of an account gone at its source; returns posts erased (0 on a replay).

    The posts are those of ``source`` whose ``native_id`` starts with ``native_prefix`` (Bluesky: ``at://{did}/``,
    exact whatever the author row is called now). They become tombstones like a source delete (followers
    get ``post.deleted``, the live log is redacted); the author row is left as it is, since it carries
    nothing the posts did not (Bluesky authors are their DID) and other events may still look it up.
    """
    assert event.id is not None
    # Account events arrive for the whole network; almost none are by someone who posted here. The author
    # rows (under the handle, or the name a privacy erase gave them) answer that from a unique index.
    if not await moderation_store.any_author(uow.session, source, (handle, _anonymous_handle(source, handle))):
        return 0
    posts = await moderation_store.posts_by_native_prefix(uow.session, event.id, source, native_prefix)
    if not posts:  # a replayed account event: nothing more to erase, nothing to audit
        return 0
    return await _erase_posts(uow, event, posts, "privacy.account_erased", source, handle)


def _anonymise(author: Author) -> None:
    author.handle = _anonymous_handle(author.source, author.handle)
    author.display_name = None
    author.url = None
    author.opted_out = True


async def opt_out(uow: UnitOfWork, event: Event, source: str, handle: str, opted_out: bool = True) -> Author:
    """Keep (or stop keeping) an author out of the top contributors of every summary."""
    author = await moderation_store.find_author(uow.session, source, handle)
    if author is None:
        raise NotFound(f"no author {source}:{handle}", field="handle")
    author.opted_out = opted_out
    uow.session.add(author)
    await audit.record(uow, event, "privacy.opt_out" if opted_out else "privacy.opt_in", f"{source}:{handle}")
    return author


async def purge_expired(uow: UnitOfWork, event: Event) -> int:
    """Erase posts older than the event's ``retention_days``; returns how many (0 when no retention is set)."""
    assert event.id is not None
    if event.retention_days is None:
        return 0
    cutoff = utcnow() - timedelta(days=event.retention_days)
    erased: list[Post] = []
    while batch := await moderation_store.posts_created_before(uow.session, event.id, cutoff, PURGE_BATCH):
        for post in batch:
            await remove_post(uow, event, post)
        await uow.session.flush()
        erased.extend(batch)
    await redact_frames(uow, event, erased)
    purged = len(erased)
    if purged:
        await audit.record(
            uow, event, "privacy.purge", "retention", retention_days=event.retention_days, posts_purged=purged
        )
    logger.info("privacy.purged", extra={"event": event.slug, "posts": purged})
    return purged


async def events_with_retention(uow: UnitOfWork) -> list[Event]:
    return await moderation_store.events_with_retention(uow.session)
