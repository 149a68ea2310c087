"""Post routes: attendees post notes and questions, list, upvote and delete their own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response

from app.api.deps import BearerToken, ClientKey, NotesTally, UoW, Writer
from app.api.events import Slug
from app.api.schemas import NoteCreate, NoteCreated, PostKindFilter, PostPage, VoteRead
from app.api.throttle import PostRateLimit, VoteRateLimit
from app.services import events as event_service
from app.services import posts as post_service
from app.services.note_writer import Note
from app.services.tokens import anon_handle, hash_token, new_token
from ingest.sources.notes import note_item

router = APIRouter(prefix="/api/events/{slug}/posts", tags=["posts"])

PostId = Annotated[int, Path(ge=1, le=2**53)]


@router.post("", status_code=201, response_model=NoteCreated, dependencies=[PostRateLimit])
async def create_note(
    slug: Slug, body: NoteCreate, writer: Writer, client: ClientKey, notes: NotesTally
) -> NoteCreated:
    """Post a note or a question. Returns the post and a delete token (shown once)."""
    item = note_item(
        body.text,
        client_handle=anon_handle(client),
        display_name=body.display_name,
        talk_ref=str(body.talk_id) if body.talk_id is not None else None,
        question=body.kind == "question",
    )
    delete_token = new_token()
    # Stored together with the notes posted at the same moment (one transaction), answered on its own.
    note = Note(item, hash_token(delete_token), talk_id=body.talk_id, reply_to=body.reply_to)
    post = await writer.write(slug, note)
    notes.value += 1
    return NoteCreated(post=post, delete_token=delete_token)


@router.get("", response_model=PostPage)
async def list_posts(
    slug: Slug,
    uow: UoW,
    talk: Annotated[int | None, Query(ge=1, le=2**53, description="Only this talk's posts")] = None,
    hallway: Annotated[bool, Query(description="Only posts tied to no talk")] = False,
    kind: Annotated[PostKindFilter | None, Query()] = None,
    since: Annotated[datetime | None, Query(description="Only posts created at or after this time")] = None,
    cursor: Annotated[str | None, Query(max_length=100, description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    token: BearerToken = None,
) -> PostPage:
    """Visible posts, newest first, with cursor pagination. With the organizer token, in-app notes carry
    their generated author handle too (what the console blocks by); readers never get it."""
    event = await event_service.get_event(uow.session, slug)
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    items, next_cursor = await post_service.list_posts(
        uow,
        event,
        talk_id=talk,
        hallway=hallway,
        kind=kind,
        since=since,
        cursor=cursor,
        limit=limit,
        reveal_handles=event_service.is_organizer(event, token),
    )
    return PostPage(items=items, next_cursor=next_cursor)


@router.post("/{post_id}/upvote", response_model=VoteRead, dependencies=[VoteRateLimit])
async def upvote(slug: Slug, post_id: PostId, uow: UoW, client: ClientKey) -> VoteRead:
    """Upvote a post; each client counts once (409 on a second vote)."""
    event = await event_service.get_event(uow.session, slug)
    post = await post_service.get_post(uow, event, post_id)
    await post_service.upvote(uow, event, post, client)
    await uow.commit()
    assert post.id is not None
    return VoteRead(id=post.id, upvotes=post.upvotes)


@router.delete("/{post_id}", status_code=204, response_class=Response)
async def delete_post(
    slug: Slug,
    post_id: PostId,
    uow: UoW,
    x_delete_token: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """Delete your own post with the delete token you got when posting."""
    event = await event_service.get_event(uow.session, slug)
    post = await post_service.get_post(uow, event, post_id)
    await post_service.delete_own(uow, event, post, x_delete_token)
    await uow.commit()
    return Response(status_code=204)
