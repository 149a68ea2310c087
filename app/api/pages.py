"""Server-rendered pages: useful without JavaScript, then kept live by web/static/js."""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from app.api.deps import UoW
from app.api.events import Slug
from app.api.posts import PostId
from app.errors import BackchannelError
from app.services import events as event_service
from app.services import posts as post_service
from app.services.pages import build_event_page
from app.services.tokens import client_key, hash_token, new_token
from app.store import events as event_store
from ingest.sources.notes import note_item

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))

router = APIRouter(include_in_schema=False)


def _local(value: datetime, zone: object) -> str:
    return value.astimezone(zone).strftime("%H:%M")  # type: ignore[arg-type]


templates.env.filters["local_time"] = _local


def _client_cookie(request: Request, response: Response) -> str:
    raw = request.cookies.get("bc_client")
    if not raw:
        raw = secrets.token_urlsafe(16)
        response.set_cookie("bc_client", raw, max_age=365 * 86400, httponly=False, samesite="lax")
    return raw


@router.get("/", response_class=HTMLResponse)
async def index(request: Request, uow: UoW) -> Response:
    events = await event_store.list_all(uow.session)
    if len(events) == 1:
        return RedirectResponse(f"/e/{events[0].slug}", status_code=307)
    return templates.TemplateResponse(request, "index.html", {"events": events})


@router.get("/e/{slug}", response_class=HTMLResponse)
async def event_page(request: Request, slug: Slug, uow: UoW, error: str | None = None) -> Response:
    event = await event_service.get_event(uow.session, slug)
    page = await build_event_page(uow.session, event)
    response = templates.TemplateResponse(
        request, "event.html", {"page": page, "error": (error or "")[:200]}, headers={"Cache-Control": "no-store"}
    )
    _client_cookie(request, response)
    return response


@router.post("/e/{slug}/posts")
async def post_form(
    request: Request,
    slug: Slug,
    uow: UoW,
    text: Annotated[str, Form(max_length=5000)] = "",
    kind: Annotated[str, Form(max_length=20)] = "note",
    talk_id: Annotated[str, Form(max_length=20)] = "",
    display_name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """The no-JavaScript path of the posting form: post, then back to the page."""
    event = await event_service.get_event(uow.session, slug)
    target = f"/e/{event.slug}"
    text = text.strip()
    if not text or len(text) > 1000:
        return RedirectResponse(f"{target}?error=Write+between+1+and+1000+characters#post", status_code=303)
    talk_ref = talk_id if talk_id.isdigit() and await post_service.resolve_talk(uow, event, talk_id) else None
    response = RedirectResponse(f"{target}#feed", status_code=303)
    client = client_key(_client_cookie(request, response))
    item = note_item(
        text,
        client_handle=f"anon-{client[:12]}",
        display_name=display_name.strip()[:60] or None,
        talk_ref=talk_ref,
        question=kind == "question",
    )
    await post_service.apply_item(uow, event, item, delete_token_hash=hash_token(new_token()))
    await uow.commit()
    return response


@router.post("/e/{slug}/posts/{post_id}/upvote")
async def upvote_form(request: Request, slug: Slug, post_id: PostId, uow: UoW) -> Response:
    event = await event_service.get_event(uow.session, slug)
    response = RedirectResponse(f"/e/{event.slug}#post-{post_id}", status_code=303)
    client = client_key(_client_cookie(request, response))
    post = await post_service.get_post(uow, event, post_id)
    try:
        await post_service.upvote(uow, event, post, client)
        await uow.commit()
    except BackchannelError:
        pass  # already voted: the page simply shows the count
    return response
