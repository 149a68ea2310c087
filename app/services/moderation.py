"""Moderation: automatic rules applied to arriving posts, organizer actions on posts and authors, the audit log.

Automatic rules, in order (the first that applies decides):

* a blocked author (source + handle) → ``hidden``;
* a keyword filter (whole words or phrases, case-insensitive, Unicode-aware) → ``held``;
* a regex filter (each search bounded by a timeout) → ``held``;
* more hashtags than the cap → ``held``; more posts by one author in a minute than the cap → ``held``;
* pre-moderation on → ``held`` (the demo source is exempt).

Held posts wait in the queue until an organizer approves (→ visible) or hides them. Every
organizer action is written to the audit log in the same transaction.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol

import regex
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, InvalidInput, NotFound
from app.services import audit
from app.services.payloads import frame_data, post_read
from app.services.tokens import hash_token, new_token
from app.services.unit_of_work import UnitOfWork
from app.store import moderation as moderation_store
from app.store import posts as post_store
from app.store import talks as talk_store
from app.store.tables import BlockedAuthor, Event, ModerationPolicy, Post
from app.store.types import utcnow

logger = logging.getLogger(__name__)

REGEX_TIMEOUT = 0.05  # seconds per pattern per post: a catastrophic pattern cannot stall ingest
MAX_KEYWORDS = 500
MAX_PATTERNS = 50
MAX_PATTERN_LENGTH = 300
# Probes run when a pattern is saved: patterns that backtrack catastrophically on these are refused.
_PROBES = ("a" * 3000 + "!", " " * 3000 + "!", "ab" * 1500 + "\n", "#" * 2000 + "x")
_HASHTAG = regex.compile(r"(?<![\w#])#(\w+)")
_FLAGS = regex.IGNORECASE | regex.FULLCASE | regex.UNICODE | regex.V1


@dataclass(frozen=True, slots=True)
class Verdict:
    status: str  # visible | hidden | held
    reason: str | None = None


def _fold(text: str) -> str:
    # NFKC so full-width or ligature look-alikes match the plain keyword.
    return unicodedata.normalize("NFKC", text)


def clean_keywords(keywords: list[str]) -> list[str]:
    """Trimmed, de-duplicated keywords; InvalidInput naming the bad entry."""
    if len(keywords) > MAX_KEYWORDS:
        raise InvalidInput(f"at most {MAX_KEYWORDS} keywords", field="keywords")
    cleaned: list[str] = []
    for index, raw in enumerate(keywords):
        word = " ".join(_fold(raw).split())
        if not word or len(word) > 100:
            raise InvalidInput("a keyword must have 1 to 100 characters", field=f"keywords[{index}]")
        if not any(ch.isalnum() for ch in word):
            raise InvalidInput("a keyword needs at least one letter or digit", field=f"keywords[{index}]")
        if word.casefold() not in (w.casefold() for w in cleaned):
            cleaned.append(word)
    return cleaned


@lru_cache(maxsize=256)
def _keyword_matcher(keywords: tuple[str, ...]) -> regex.Pattern[str] | None:
    if not keywords:
        return None
    # Word boundaries by Unicode letters/digits on both sides: "ass" never matches inside "class",
    # "Scunthorpe" or "Maßnahme", while "ASS!" and "ass." still do. Spaces inside a phrase match any run.
    alternatives = "|".join(r"\s+".join(regex.escape(part) for part in word.split()) for word in keywords)
    return regex.compile(rf"(?<![\w])(?:{alternatives})(?![\w])", _FLAGS)


def keyword_match(keywords: list[str], text: str) -> str | None:
    """The keyword found in ``text`` as a whole word or phrase, or None."""
    matcher = _keyword_matcher(tuple(keywords))
    if matcher is None:
        return None
    found = matcher.search(_fold(text))
    return found.group(0) if found else None


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> regex.Pattern[str]:
    return regex.compile(pattern, regex.IGNORECASE | regex.UNICODE)


def clean_patterns(patterns: list[str]) -> list[str]:
    """Patterns that compile and do not backtrack catastrophically; InvalidInput naming the bad one."""
    if len(patterns) > MAX_PATTERNS:
        raise InvalidInput(f"at most {MAX_PATTERNS} patterns", field="patterns")
    cleaned: list[str] = []
    for index, pattern in enumerate(patterns):
        field = f"patterns[{index}]"
        if not pattern or len(pattern) > MAX_PATTERN_LENGTH:
            raise InvalidInput(f"a pattern must have 1 to {MAX_PATTERN_LENGTH} characters", field=field)
        try:
            compiled = _compiled(pattern)
        except (regex.error, ValueError, OverflowError, RecursionError) as exc:
            raise InvalidInput(f"not a valid regular expression: {exc}", field=field) from None
        try:
            for probe in _PROBES:
                compiled.search(probe, timeout=REGEX_TIMEOUT)
        except TimeoutError:
            raise InvalidInput(
                "this pattern is too slow (catastrophic backtracking); simplify it", field=field
            ) from None
        if compiled.search("", timeout=REGEX_TIMEOUT) is not None:
            raise InvalidInput("this pattern matches empty text, so it would hold every post", field=field)
        if pattern not in cleaned:
            cleaned.append(pattern)
    return cleaned


def pattern_match(patterns: list[str], text: str) -> str | None:
    """The first pattern that matches ``text``; a pattern that times out counts as no match (and is logged)."""
    folded = _fold(text)
    for pattern in patterns:
        try:
            if _compiled(pattern).search(folded, timeout=REGEX_TIMEOUT) is not None:
                return pattern
        except TimeoutError:
            logger.warning("moderation.regex_timeout", extra={"pattern": pattern[:100]})
        except regex.error:
            logger.warning("moderation.regex_invalid", extra={"pattern": pattern[:100]})
    return None


def count_hashtags(text: str, tags: list[str] | tuple[str, ...]) -> int:
    in_text = {tag.casefold() for tag in _HASHTAG.findall(text)}
    return len(in_text | {tag.casefold().lstrip("#") for tag in tags})


@dataclass(frozen=True, slots=True)
class _Rules:
    blocked: set[tuple[str, str]]
    policy: ModerationPolicy | None


def _rules_key(event_id: int) -> tuple[str, int]:
    return ("moderation.rules", event_id)


async def _rules(session: AsyncSession, event_id: int) -> _Rules:
    # Loaded once per session (one ingest batch, one request), not once per post.
    key = _rules_key(event_id)
    rules = session.info.get(key)
    if rules is None:
        blocked = await moderation_store.blocked_handles(session, event_id)
        rules = _Rules(blocked, await moderation_store.get_policy(session, event_id))
        session.info[key] = rules
    return rules  # type: ignore[no-any-return]


def _forget_rules(session: AsyncSession, event_id: int) -> None:
    session.info.pop(_rules_key(event_id), None)


async def caps_author_rate(session: AsyncSession, event_id: int) -> bool:
    """Whether the rules count an author's posts of the last minute (so earlier posts must be stored first)."""
    policy = (await _rules(session, event_id)).policy
    return policy is not None and policy.max_posts_per_minute is not None


async def admits_all(session: AsyncSession, event: Event) -> bool:
    """Whether ``judge`` lets every arriving post through as visible: no blocked author, no keyword, pattern,
    hashtag or rate rule, no pre-moderation. A batch then skips judging its posts one by one."""
    assert event.id is not None
    rules = await _rules(session, event.id)
    policy = rules.policy
    return (
        not rules.blocked
        and not event.premoderation
        and (
            policy is None
            or (
                not policy.keywords
                and not policy.patterns
                and policy.max_hashtags is None
                and policy.max_posts_per_minute is None
            )
        )
    )


class ArrivingPost(Protocol):
    """What the rules read of an arriving post (a ``Post``, or the row an ingest batch is about to insert)."""

    source: str
    text: str
    tags: list[str]
    author_id: int | None
    created_at: datetime


async def judge(uow: UnitOfWork, event: Event, post: ArrivingPost, *, author_handle: str | None) -> Verdict:
    """The status a newly arriving post gets under the event's rules (``post`` is not yet flushed)."""
    session = uow.session
    assert event.id is not None
    rules = await _rules(session, event.id)
    if author_handle and (post.source, author_handle) in rules.blocked:
        return Verdict("hidden", "blocked author")
    policy = rules.policy
    if policy is not None:
        found = keyword_match(policy.keywords, post.text)
        if found is not None:
            return Verdict("held", f"keyword: {found}"[:200])
        pattern = pattern_match(policy.patterns, post.text)
        if pattern is not None:
            return Verdict("held", f"pattern: {pattern}"[:200])
        if policy.max_hashtags is not None:
            tags = count_hashtags(post.text, post.tags)
            if tags > policy.max_hashtags:
                return Verdict("held", f"{tags} hashtags (cap {policy.max_hashtags})")
        if policy.max_posts_per_minute is not None and post.author_id is not None:
            recent = await moderation_store.count_author_posts_between(
                session, event.id, post.author_id, post.created_at - timedelta(minutes=1), post.created_at
            )
            if recent >= policy.max_posts_per_minute:
                return Verdict("held", f"over {policy.max_posts_per_minute} posts a minute")
    if event.premoderation and post.source != "demo":
        return Verdict("held", "pre-moderation")
    return Verdict("visible")


# ----------------------------------------------------------------------------- visibility changes


async def set_status(uow: UnitOfWork, event: Event, post: Post, status: str, reason: str | None = None) -> bool:
    """Change a post's visibility and tell live followers; False when nothing changed."""
    if post.status == status:
        return False
    was_visible = post.status == "visible"
    await post_store.bump(uow.session, post, status=status, moderation_reason=reason if status != "visible" else None)
    if was_visible:
        await uow.emit(event, "post.hidden", {"id": post.id, "version": post.version, "talk_id": post.talk_id})
    elif status == "visible":
        author = await post_store.get_author(uow.session, post.author_id)
        await uow.emit(event, "post.created", frame_data(post_read(post, author, event.slug)))
    return True


async def moderated_post(uow: UnitOfWork, event: Event, post_id: int) -> Post:
    """A post of this event in any state but deleted (moderators see hidden and held ones)."""
    post = await post_store.get(uow.session, post_id)
    if post is None or post.event_id != event.id or post.status == "deleted":
        raise NotFound(f"no post {post_id}", field="post_id")
    return post


async def hide_post(uow: UnitOfWork, event: Event, post_id: int, reason: str | None) -> Post:
    post = await moderated_post(uow, event, post_id)
    before = post.status
    if await set_status(uow, event, post, "hidden", reason or "hidden by organizer"):
        await audit.record(uow, event, "post.hide", f"post:{post_id}", reason=reason, previous=before)
    return post


async def unhide_post(uow: UnitOfWork, event: Event, post_id: int) -> Post:
    post = await moderated_post(uow, event, post_id)
    if post.status == "held":
        raise Conflict("this post is held for review; approve it instead", field="post_id")
    if await set_status(uow, event, post, "visible"):
        await audit.record(uow, event, "post.unhide", f"post:{post_id}")
    return post


async def approve_post(uow: UnitOfWork, event: Event, post_id: int) -> Post:
    post = await moderated_post(uow, event, post_id)
    if post.status != "held":
        raise Conflict(f"this post is {post.status}, not held for review", field="post_id")
    reason = post.moderation_reason
    await set_status(uow, event, post, "visible")
    await audit.record(uow, event, "post.approve", f"post:{post_id}", held_because=reason)
    return post


async def _updated(uow: UnitOfWork, event: Event, post: Post, frame: str = "post.updated", **shown: Any) -> None:
    """A post's shown state changes (pinned, marked answered, its talk): a new version, and the post as stored
    sent to followers if visible."""
    await post_store.bump(uow.session, post, **shown)
    if post.status == "visible":
        author = await post_store.get_author(uow.session, post.author_id)
        await uow.emit(event, frame, frame_data(post_read(post, author, event.slug)))


async def pin_post(uow: UnitOfWork, event: Event, post_id: int, pinned: bool) -> Post:
    post = await moderated_post(uow, event, post_id)
    if post.pinned == pinned:
        return post
    await _updated(uow, event, post, pinned=pinned)
    await audit.record(uow, event, "post.pin" if pinned else "post.unpin", f"post:{post_id}")
    return post


async def mark_answered(uow: UnitOfWork, event: Event, post_id: int, answered: bool) -> Post:
    """Mark a question answered (on stage, in the room: no answer was posted) or take the mark back.

    Followers' Q&A panels show it as answered (a ``post.updated`` frame), and the exports count it as
    answered (``QuestionEntry.marked_answered``). Only a question can be marked; taking the mark back
    from a post that is no longer a question (the clustering stage changed its kind) is allowed.
    """
    post = await moderated_post(uow, event, post_id)
    if post.marked_answered == answered:
        return post
    if answered and post.kind != "question":
        raise Conflict(f"post {post_id} is not a question (it is {post.kind})", field="post_id")
    await _updated(uow, event, post, marked_answered=answered)
    await audit.record(uow, event, "question.answered" if answered else "question.unanswered", f"post:{post_id}")
    return post


async def file_post(uow: UnitOfWork, event: Event, post_id: int, talk_id: int | None) -> tuple[Post, int]:
    """Put a post the clustering stage attributed wrongly (or not at all) on the talk it is about, or in the
    hallway (``talk_id`` None) when it is about no talk; a question takes along the answers that sat where it
    was (an answer belongs where its question is: it went there with it). The post and how many answers
    went along.

    Followers see each move (a ``post.filed`` frame: the post as stored), and the clustering stage takes it
    in again as filed there, as if its poster had chosen the talk, so no later step moves it back. In the
    hallway it is stored with no talk at confidence 1.0, what the stage stores for a post surely about none.
    """
    assert event.id is not None
    post = await moderated_post(uow, event, post_id)
    if talk_id is not None and await talk_store.get(uow.session, event.id, talk_id) is None:
        raise NotFound(f"no talk {talk_id} in this event", field="talk_id")
    if post.talk_id == talk_id and post.talk_confidence == 1.0:
        return post, 0
    before = post.talk_id
    await _updated(uow, event, post, "post.filed", talk_id=talk_id, talk_confidence=1.0)
    answers = 0
    if post.kind == "question":
        for reply in await moderation_store.replies_to(uow.session, event.id, post_id):
            if reply.talk_id == before and reply.talk_id != talk_id:
                await _updated(uow, event, reply, "post.filed", talk_id=talk_id, talk_confidence=1.0)
                answers += 1
    await audit.record(
        uow, event, "post.file", f"post:{post_id}", talk_id=talk_id, previous_talk_id=before, answers_moved=answers
    )
    return post, answers


async def held_queue(uow: UnitOfWork, event: Event, limit: int) -> list[Post]:
    assert event.id is not None
    return await moderation_store.held_posts(uow.session, event.id, limit)


async def hidden_list(uow: UnitOfWork, event: Event, limit: int) -> list[Post]:
    assert event.id is not None
    return await moderation_store.hidden_posts(uow.session, event.id, limit)


# ----------------------------------------------------------------------------- authors


async def block_author(uow: UnitOfWork, event: Event, source: str, handle: str) -> tuple[BlockedAuthor, int]:
    """Block an author in this event: their existing posts are hidden now, their future posts arrive hidden."""
    assert event.id is not None
    block = await moderation_store.get_block(uow.session, event.id, source, handle)
    if block is None:
        block = BlockedAuthor(event_id=event.id, source=source, handle=handle)
        uow.session.add(block)
        await uow.session.flush()
        _forget_rules(uow.session, event.id)
    hidden = 0
    author = await moderation_store.find_author(uow.session, source, handle)
    if author is not None and author.id is not None:
        for post in await moderation_store.author_posts(uow.session, event.id, author.id, ("visible", "held")):
            if await set_status(uow, event, post, "hidden", "blocked author"):
                hidden += 1
    await audit.record(uow, event, "author.block", f"{source}:{handle}", posts_hidden=hidden)
    return block, hidden


async def unblock_author(uow: UnitOfWork, event: Event, source: str, handle: str) -> None:
    """Future posts arrive normally again; posts hidden by the block stay hidden until unhidden one by one."""
    assert event.id is not None
    block = await moderation_store.get_block(uow.session, event.id, source, handle)
    if block is None:
        raise NotFound(f"{source}:{handle} is not blocked", field="handle")
    await uow.session.delete(block)
    _forget_rules(uow.session, event.id)
    await audit.record(uow, event, "author.unblock", f"{source}:{handle}")


async def list_blocks(uow: UnitOfWork, event: Event) -> list[BlockedAuthor]:
    assert event.id is not None
    return await moderation_store.list_blocks(uow.session, event.id)


# ----------------------------------------------------------------------------- policy and token


async def get_policy(uow: UnitOfWork, event: Event) -> ModerationPolicy:
    assert event.id is not None
    policy = await moderation_store.get_policy(uow.session, event.id)
    return policy if policy is not None else ModerationPolicy(event_id=event.id)


async def update_policy(uow: UnitOfWork, event: Event, changes: dict[str, Any]) -> ModerationPolicy:
    """Apply the given fields (keywords, patterns, max_hashtags, max_posts_per_minute, premoderation,
    retention_days); null leaves keywords, patterns and premoderation as they are and clears a cap.

    Rules apply to posts arriving from now on; use hide or block for what is already shown.
    """
    assert event.id is not None
    changes = {k: v for k, v in changes.items() if v is not None or k not in ("keywords", "patterns", "premoderation")}
    if "retention_days" in changes:
        event.retention_days = changes.pop("retention_days")
        uow.session.add(event)
        await audit.record(uow, event, "retention.update", "retention", days=event.retention_days)
    if not changes:
        return await get_policy(uow, event)
    policy = await moderation_store.get_policy(uow.session, event.id)
    if policy is None:
        policy = ModerationPolicy(event_id=event.id)
    if "keywords" in changes:
        policy.keywords = clean_keywords(list(changes["keywords"]))
    if "patterns" in changes:
        policy.patterns = clean_patterns(list(changes["patterns"]))
    for key in ("max_hashtags", "max_posts_per_minute"):
        if key in changes:
            setattr(policy, key, changes[key])
    if "premoderation" in changes:
        event.premoderation = bool(changes["premoderation"])
        uow.session.add(event)
    policy.updated_at = utcnow()
    uow.session.add(policy)
    _forget_rules(uow.session, event.id)
    await audit.record(uow, event, "policy.update", "policy", **_jsonable(changes))
    return policy


async def rotate_token(uow: UnitOfWork, event: Event) -> str:
    """A new organizer token; the old one stops working when this commits."""
    token = new_token()
    event.organizer_token_hash = hash_token(token)
    uow.session.add(event)
    await audit.record(uow, event, "token.rotate", "organizer token")
    return token


def _jsonable(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple | list) else v) for k, v in changes.items()}
