"""Organizer routes: token rotation, moderation (hide, pin, approve, block, rules, audit log) and privacy actions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from app.api.deps import BearerToken, UoW
from app.api.events import Slug
from app.api.schemas import Strict
from app.services import audit
from app.services import events as event_service
from app.services import moderation as moderation_service
from app.services import pages as page_service
from app.services import privacy as privacy_service
from app.services.payloads import PostRead, post_read
from app.services.posts import decode_cursor, encode_cursor
from app.services.unit_of_work import UnitOfWork
from app.store import posts as post_store
from app.store.tables import AuditEntry, Event, ModerationPolicy, Post

router = APIRouter(prefix="/api/events/{slug}", tags=["organizer"])

PostId = Annotated[int, Path(ge=1, le=2**53)]
SourceName = Literal["mastodon", "bluesky", "notes", "demo"]
Handle = Annotated[str, Field(min_length=1, max_length=300)]


class TokenRotated(BaseModel):
    organizer_token: str = Field(description="Shown once; the previous token stops working now.")


class ModeratedPost(PostRead):
    moderation_reason: str | None


class FiledPost(ModeratedPost):
    answers_moved: int = Field(description="A question's answers that went along (those that sat where it was).")


class ModeratedPostList(BaseModel):
    items: list[ModeratedPost]


class BoardQuestion(BaseModel):
    question: ModeratedPost = Field(description="The copy that stands for the question (the one the page lists).")
    copies: list[ModeratedPost] = Field(
        description="The same question asked again (in other words, from other networks), each its own post."
    )
    asked: int = Field(description="Times asked, this copy included.")
    votes: int = Field(description="Upvotes of every copy.")
    answered: bool = Field(description="Answered by a reply, or marked answered by an organizer.")
    answers: int = Field(description="Answer posts to any copy.")
    talk_title: str | None = Field(description="The talk it was asked in; null in the hallway.")


class QuestionBoardRead(BaseModel):
    items: list[BoardQuestion]


class FileRequest(Strict):
    talk_id: int | None = Field(
        ge=1, le=2**53, description="The talk of this event the post is about; null: the hallway (about no talk)."
    )


class HideRequest(Strict):
    reason: str | None = Field(default=None, max_length=200)


class AuthorRef(Strict):
    source: SourceName
    handle: Handle


class BlockRead(BaseModel):
    source: str
    handle: str
    created_at: datetime
    posts_hidden: int | None = None


class BlockList(BaseModel):
    items: list[BlockRead]


class PolicyUpdate(Strict):
    keywords: list[Annotated[str, Field(max_length=100)]] | None = Field(default=None, max_length=500)
    patterns: list[Annotated[str, Field(max_length=300)]] | None = Field(default=None, max_length=50)
    max_hashtags: int | None = Field(default=None, ge=0, le=1000)
    max_posts_per_minute: int | None = Field(default=None, ge=1, le=10_000)
    premoderation: bool | None = None
    retention_days: int | None = Field(default=None, ge=1, le=36_500)


class PolicyRead(BaseModel):
    keywords: list[str]
    patterns: list[str]
    max_hashtags: int | None
    max_posts_per_minute: int | None
    premoderation: bool
    retention_days: int | None


class AuditRead(BaseModel):
    id: int
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    created_at: datetime


class AuditPage(BaseModel):
    items: list[AuditRead]
    next_cursor: str | None


class EraseResult(BaseModel):
    posts_erased: int


class PurgeResult(BaseModel):
    posts_purged: int
    retention_days: int | None


async def _organizer_event(uow: UnitOfWork, slug: str, token: str | None) -> Event:
    event = await event_service.get_event(uow.session, slug)
    event_service.require_organizer(event, token)
    return event


async def _moderated(uow: UnitOfWork, event: Event, posts: list[Post]) -> list[ModeratedPost]:
    authors = await post_store.authors_by_id(uow.session, [p.author_id for p in posts if p.author_id])
    # organizers see an in-app note's handle: it is what they block or erase by
    return [
        ModeratedPost(
            **post_read(p, authors.get(p.author_id), event.slug, reveal_handle=True).model_dump(),
            moderation_reason=p.moderation_reason,
        )
        for p in posts
    ]


def _policy_read(policy: ModerationPolicy, event: Event) -> PolicyRead:
    return PolicyRead(
        keywords=list(policy.keywords),
        patterns=list(policy.patterns),
        max_hashtags=policy.max_hashtags,
        max_posts_per_minute=policy.max_posts_per_minute,
        premoderation=event.premoderation,
        retention_days=event.retention_days,
    )


@router.post("/token/rotate", response_model=TokenRotated)
async def rotate_token(slug: Slug, uow: UoW, token: BearerToken) -> TokenRotated:
    """Replace the organizer token (organizer); the old one stops working."""
    event = await _organizer_event(uow, slug, token)
    new = await moderation_service.rotate_token(uow, event)
    await uow.commit()
    return TokenRotated(organizer_token=new)


@router.get("/moderation/queue", response_model=ModeratedPostList)
async def held_queue(
    slug: Slug, uow: UoW, token: BearerToken, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> ModeratedPostList:
    """Posts held for review, oldest first (organizer)."""
    event = await _organizer_event(uow, slug, token)
    return ModeratedPostList(items=await _moderated(uow, event, await moderation_service.held_queue(uow, event, limit)))


@router.get("/moderation/hidden", response_model=ModeratedPostList)
async def hidden_posts(
    slug: Slug, uow: UoW, token: BearerToken, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> ModeratedPostList:
    """Hidden posts, newest first (organizer)."""
    event = await _organizer_event(uow, slug, token)
    posts = await moderation_service.hidden_list(uow, event, limit)
    return ModeratedPostList(items=await _moderated(uow, event, posts))


@router.get("/moderation/questions", response_model=QuestionBoardRead)
async def question_board(
    slug: Slug, uow: UoW, token: BearerToken, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> QuestionBoardRead:
    """Visible questions, each once with the copies asked again, open ones first, then most voted (organizer)."""
    event = await _organizer_event(uow, slug, token)
    board = await page_service.build_question_board(uow.session, event, limit=limit)
    listed = board.listed

    def moderated(view: PostRead) -> ModeratedPost:
        return ModeratedPost(**view.model_dump(), moderation_reason=board.reasons.get(view.id))

    items = []
    for question in listed.questions:
        again = listed.asked.get(question.id)
        items.append(
            BoardQuestion(
                question=moderated(question),
                copies=[moderated(c) for c in again.others] if again else [],
                asked=again.count if again else 1,
                votes=again.votes if again else question.upvotes,
                answered=question.id in listed.answered,
                answers=len(listed.answers.get(question.id, [])),
                talk_title=board.talk_titles.get(question.talk_id) if question.talk_id is not None else None,
            )
        )
    return QuestionBoardRead(items=items)


async def _one(uow: UnitOfWork, event: Event, post: Post) -> ModeratedPost:
    await uow.commit()
    return (await _moderated(uow, event, [post]))[0]


@router.post("/moderation/posts/{post_id}/hide", response_model=ModeratedPost)
async def hide_post(
    slug: Slug, post_id: PostId, uow: UoW, token: BearerToken, body: HideRequest | None = None
) -> ModeratedPost:
    """Hide a post (or reject a held one) everywhere: live page, wall, exports (organizer)."""
    event = await _organizer_event(uow, slug, token)
    post = await moderation_service.hide_post(uow, event, post_id, body.reason if body else None)
    return await _one(uow, event, post)


@router.post("/moderation/posts/{post_id}/unhide", response_model=ModeratedPost)
async def unhide_post(slug: Slug, post_id: PostId, uow: UoW, token: BearerToken) -> ModeratedPost:
    """Show a hidden post again (organizer)."""
    event = await _organizer_event(uow, slug, token)
    return await _one(uow, event, await moderation_service.unhide_post(uow, event, post_id))


@router.post("/moderation/posts/{post_id}/approve", response_model=ModeratedPost)
async def approve_post(slug: Slug, post_id: PostId, uow: UoW, token: BearerToken) -> ModeratedPost:
    """Approve a held post: it becomes visible (organizer)."""
    event = await _organizer_event(uow, slug, token)
    return await _one(uow, event, await moderation_service.approve_post(uow, event, post_id))


@router.post("/moderation/posts/{post_id}/pin", response_model=ModeratedPost)
async def pin_post(slug: Slug, post_id: PostId, uow: UoW, token: BearerToken) -> ModeratedPost:
    """Pin a post (organizer)."""
    event = await _organizer_event(uow, slug, token)
    return await _one(uow, event, await moderation_service.pin_post(uow, event, post_id, True))


@router.post("/moderation/posts/{post_id}/unpin", response_model=ModeratedPost)
async def unpin_post(slug: Slug, post_id: PostId, uow: UoW, token: BearerToken) -> ModeratedPost:
    """Unpin a post (organizer)."""
    event = await _organizer_event(uow, slug, token)
    return await _one(uow, event, await moderation_service.pin_post(uow, event, post_id, False))


@router.post("/moderation/posts/{post_id}/mark-answered", response_model=ModeratedPost)
async def mark_answered(slug: Slug, post_id: PostId, uow: UoW, token: BearerToken) -> ModeratedPost:
    """Mark a question answered, e.g. on stage with no answer posted: followers see it answered, exports
    count it answered (organizer). 409 when the post is not a question."""
    event = await _organizer_event(uow, slug, token)
    return await _one(uow, event, await moderation_service.mark_answered(uow, event, post_id, True))


@router.post("/moderation/posts/{post_id}/unmark-answered", response_model=ModeratedPost)
async def unmark_answered(slug: Slug, post_id: PostId, uow: UoW, token: BearerToken) -> ModeratedPost:
    """Take back a question's answered mark (organizer); answers posted under it still count."""
    event = await _organizer_event(uow, slug, token)
    return await _one(uow, event, await moderation_service.mark_answered(uow, event, post_id, False))


@router.post("/moderation/posts/{post_id}/talk", response_model=FiledPost)
async def file_post(slug: Slug, post_id: PostId, body: FileRequest, uow: UoW, token: BearerToken) -> FiledPost:
    """Put a post on the talk it is about, or in the hallway (``talk_id`` null) when it is about none (organizer):
    followers see it move, and the clustering stage keeps it there as if its poster had chosen so. A question
    takes along its answers that sat where it was."""
    event = await _organizer_event(uow, slug, token)
    post, answers = await moderation_service.file_post(uow, event, post_id, body.talk_id)
    await uow.commit()
    moved = await _one(uow, event, post)
    return FiledPost(**moved.model_dump(), answers_moved=answers)


@router.get("/moderation/blocks", response_model=BlockList)
async def list_blocks(slug: Slug, uow: UoW, token: BearerToken) -> BlockList:
    """Blocked authors (organizer)."""
    event = await _organizer_event(uow, slug, token)
    blocks = await moderation_service.list_blocks(uow, event)
    return BlockList(items=[BlockRead(source=b.source, handle=b.handle, created_at=b.created_at) for b in blocks])


@router.post("/moderation/blocks", status_code=201, response_model=BlockRead)
async def block_author(slug: Slug, body: AuthorRef, uow: UoW, token: BearerToken) -> BlockRead:
    """Block an author: their posts are hidden now and when they arrive (organizer)."""
    event = await _organizer_event(uow, slug, token)
    block, hidden = await moderation_service.block_author(uow, event, body.source, body.handle)
    await uow.commit()
    return BlockRead(source=block.source, handle=block.handle, created_at=block.created_at, posts_hidden=hidden)


@router.delete("/moderation/blocks", status_code=204, response_class=Response)
async def unblock_author(
    slug: Slug,
    uow: UoW,
    token: BearerToken,
    source: Annotated[SourceName, Query()],
    handle: Annotated[str, Query(min_length=1, max_length=300)],
) -> Response:
    """Unblock an author; their hidden posts stay hidden until unhidden (organizer)."""
    event = await _organizer_event(uow, slug, token)
    await moderation_service.unblock_author(uow, event, source, handle)
    await uow.commit()
    return Response(status_code=204)


@router.get("/moderation/policy", response_model=PolicyRead)
async def read_policy(slug: Slug, uow: UoW, token: BearerToken) -> PolicyRead:
    """The automatic moderation rules (organizer)."""
    event = await _organizer_event(uow, slug, token)
    return _policy_read(await moderation_service.get_policy(uow, event), event)


@router.patch("/moderation/policy", response_model=PolicyRead)
async def update_policy(slug: Slug, body: PolicyUpdate, uow: UoW, token: BearerToken) -> PolicyRead:
    """Change the rules; only the fields sent change, null clears a cap (organizer)."""
    event = await _organizer_event(uow, slug, token)
    policy = await moderation_service.update_policy(uow, event, body.model_dump(exclude_unset=True))
    await uow.commit()
    return _policy_read(policy, event)


@router.get("/moderation/audit", response_model=AuditPage)
async def audit_log(
    slug: Slug,
    uow: UoW,
    token: BearerToken,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    """Every moderator action, newest first (organizer)."""
    event = await _organizer_event(uow, slug, token)
    before = decode_cursor(cursor) if cursor else None
    rows: list[AuditEntry] = await audit.entries(uow, event, before_id=before, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        AuditRead(id=r.id, actor=r.actor, action=r.action, target=r.target, details=r.details, created_at=r.created_at)
        for r in rows
        if r.id is not None
    ]
    return AuditPage(items=items, next_cursor=encode_cursor(items[-1].id) if more and items else None)


@router.post("/privacy/erase", response_model=EraseResult)
async def erase_author(slug: Slug, body: AuthorRef, uow: UoW, token: BearerToken) -> EraseResult:
    """Erase everything by a handle in this event and anonymise the author (organizer)."""
    event = await _organizer_event(uow, slug, token)
    erased = await privacy_service.erase_author(uow, event, body.source, body.handle)
    await uow.commit()
    return EraseResult(posts_erased=erased)


@router.post("/privacy/opt-out", status_code=204, response_class=Response)
async def opt_out(slug: Slug, body: AuthorRef, uow: UoW, token: BearerToken) -> Response:
    """Never name this author among top contributors (organizer, on the author's request)."""
    event = await _organizer_event(uow, slug, token)
    await privacy_service.opt_out(uow, event, body.source, body.handle)
    await uow.commit()
    return Response(status_code=204)


@router.post("/privacy/purge", response_model=PurgeResult)
async def purge(slug: Slug, uow: UoW, token: BearerToken) -> PurgeResult:
    """Erase posts older than the event's retention now (organizer); workers also do this on their own."""
    event = await _organizer_event(uow, slug, token)
    purged = await privacy_service.purge_expired(uow, event)
    await uow.commit()
    return PurgeResult(posts_purged=purged, retention_days=event.retention_days)
