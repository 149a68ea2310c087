"""Server-rendered pages: useful without JavaScript, then kept live by web/static/js."""

from __future__ import annotations

import re
import secrets
import zoneinfo
from datetime import datetime
from functools import cache
from http import HTTPStatus
from importlib import resources
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from app.api.deps import NotesTally, SettingsDep, UoW, Writer
from app.api.events import Slug
from app.api.posts import PostId
from app.api.schemas import EventCreate, event_field_errors
from app.api.talks import TalkId
from app.api.throttle import count_event_creation, enforce
from app.errors import BackchannelError, InvalidInput, NotFound, PageRoute, TooManyRequests
from app.export.text import counted
from app.services import echoes
from app.services import events as event_service
from app.services import posts as post_service
from app.services.note_writer import Note
from app.services.pages import KINDS, Filters, TalkPage, build_event_page, build_talk_page
from app.services.payloads import AuthorRead
from app.services.tokens import anon_handle, browser_delete_token, client_key, hash_token
from app.store import events as event_store
from app.store.tables import Event
from ingest.sources.notes import note_item

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))

# PageRoute: an error on these routes answers as error.html, not the API's JSON (app/errors.py)
router = APIRouter(include_in_schema=False, route_class=PageRoute)


def _local(value: datetime, zone: object) -> str:
    return value.astimezone(zone).strftime("%H:%M")  # type: ignore[arg-type]


def _local_when(value: datetime, page: object, since: datetime | None = None) -> str:
    """``14:00`` on the page's day (or on ``since``'s, for the end of a span), else ``Mon 14 Dec, 14:00``: on
    a three-day schedule, "Earlier 14:00–14:30" did not say which day."""
    zone = page.zone  # type: ignore[attr-defined]
    local = value.astimezone(zone)
    day = (since or getattr(page, "now", None) or value).astimezone(zone).date()
    return f"{local:%H:%M}" if local.date() == day else f"{local:%a %d %b}, {local:%H:%M}"


def _author(author: AuthorRead) -> str:
    # an in-app note without a name has no handle either in a reader's view (see payloads.public_handle)
    return author.name or author.handle or "Anonymous"


templates.env.filters["local_time"] = _local
templates.env.filters["local_when"] = _local_when
templates.env.filters["author"] = _author
templates.env.filters["counted"] = counted
# the questions list folds the answers given again in the same words (``me``: this browser's, never folded)
templates.env.globals["fold_echoes"] = lambda answers, me: echoes.fold(
    answers, mine=lambda post: post.written_by(me), name=lambda post: _author(post.author)
)


def _me(request: Request) -> str:
    """This browser's author handle, so the page can offer to delete its own notes ("" before its first visit)."""
    raw = request.cookies.get("bc_client")
    return anon_handle(client_key(raw)) if raw else ""


def _client_cookie(request: Request, response: Response) -> str:
    raw = request.cookies.get("bc_client")
    if not raw:
        raw = secrets.token_urlsafe(16)
        response.set_cookie("bc_client", raw, max_age=365 * 86400, httponly=False, samesite="lax")
    return raw


ERROR_TITLES = {
    404: "Not found",
    422: "That request is not valid",
    429: "Slow down",
    500: "Something went wrong",
    503: "Please try again in a moment",
}
_FIELD_FIRST = re.compile(r"^[\w.\[\]\"]+: ")  # a validation message opens with the field it is about


def error_page(
    request: Request, status_code: int, message: str, headers: dict[str, str], field: str | None = None
) -> Response:
    """An error on a page route, in the site's look: what went wrong, in the API's words, and the way back:
    to the event when it was something in it that was not found (an old link to a talk), else home."""
    title = ERROR_TITLES.get(status_code) or (HTTPStatus(status_code).phrase if 400 <= status_code < 600 else "Error")
    if not _FIELD_FIRST.match(message):
        message = message[:1].upper() + message[1:]  # "no event 'nope'" opens a sentence here
    slug = request.path_params.get("slug")
    event = f"/e/{slug}" if status_code == 404 and field not in (None, "slug") and isinstance(slug, str) else None
    context = {"title": title, "message": message, "status_code": status_code, "event_url": event}
    return templates.TemplateResponse(
        request, "error.html", context, status_code=status_code, headers={**NO_STORE, **headers}
    )


@router.get("/", response_class=HTMLResponse)
async def index(request: Request, uow: UoW) -> Response:
    events = await event_store.list_all(uow.session)
    if len(events) == 1:
        return RedirectResponse(f"/e/{events[0].slug}", status_code=307)
    return templates.TemplateResponse(request, "index.html", {"events": events})


FilterText = Annotated[str, Query(max_length=200)]
NO_STORE = {"Cache-Control": "no-store"}


@router.get("/e/{slug}", response_class=HTMLResponse)
async def event_page(
    request: Request,
    slug: Slug,
    uow: UoW,
    error: Annotated[str, Query(max_length=500)] = "",
    room: FilterText = "",
    track: FilterText = "",
    kind: FilterText = "",
    lang: FilterText = "",
) -> Response:
    """The follower's page: on now and next, takeaways by topic, questions, trending topics, the feed."""
    event = await event_service.get_event(uow.session, slug)
    filters = Filters(room=room, track=track, kind=kind if kind in KINDS else "", language=lang)
    page = await build_event_page(uow.session, event, filters)
    response = templates.TemplateResponse(
        request, "event.html", {"page": page, "error": error[:200], "me": _me(request)}, headers=NO_STORE
    )
    _client_cookie(request, response)
    return response


async def _talk_page(uow: UoW, event: Event, talk_id: int) -> TalkPage:
    page = await build_talk_page(uow.session, event, talk_id)
    if page is None:
        raise NotFound(f"no talk {talk_id} in event {event.slug!r}", field="talk_id")
    return page


def site_url(request: Request, settings: SettingsDep) -> str:
    """This site's absolute base URL, without a trailing slash, for links that leave it (the embed snippet).

    BACKCHANNEL_PUBLIC_BASE_URL when set; else the request's own, which behind a proxy is the one the
    browser used (uvicorn's proxy_headers apply X-Forwarded-Proto from FORWARDED_ALLOW_IPS; Host passes through).
    """
    return (settings.public_base_url or str(request.base_url)).rstrip("/")


@router.get("/e/{slug}/talks/{talk_id}", response_class=HTMLResponse)
async def talk_page(request: Request, slug: Slug, talk_id: TalkId, uow: UoW, settings: SettingsDep) -> Response:
    """Everything about one talk: takeaways, topics, questions and answers, activity."""
    event = await event_service.get_event(uow.session, slug)
    page = await _talk_page(uow, event, talk_id)
    context = {
        "page": page,
        "me": _me(request),
        "site_url": site_url(request, settings),
        "exports_public": settings.exports_public,  # else summaries are the organizer's (the console has them)
    }
    response = templates.TemplateResponse(request, "talk.html", context, headers=NO_STORE)
    _client_cookie(request, response)
    return response


@router.get("/e/{slug}/parts/talks/{talk_id}", response_class=HTMLResponse)
async def talk_parts(
    request: Request,
    slug: Slug,
    talk_id: TalkId,
    uow: UoW,
    limit: Annotated[int, Query(ge=1, le=50)] = 3,
    sources: Annotated[int, Query(ge=0, le=1)] = 1,
    level: Annotated[int, Query(ge=2, le=6)] = 4,
) -> Response:
    """One talk's takeaways and timeline as HTML fragments; the live script swaps them in.

    ``level``: the topic labels' heading level, the digest's data-level (4 on the event page's cards,
    3 on the talk page and the wall, 2 in the embed).
    """
    event = await event_service.get_event(uow.session, slug)
    page = await _talk_page(uow, event, talk_id)
    context = {"page": page, "limit": limit, "show_sources": bool(sources), "level": level}
    return templates.TemplateResponse(request, "_parts.html", context, headers=NO_STORE)


@router.get("/e/{slug}/wall", response_class=HTMLResponse)
async def wall_page(
    request: Request,
    slug: Slug,
    uow: UoW,
    settings: SettingsDep,
    layout: Annotated[str, Query(max_length=20)] = "single",
) -> Response:
    """The projector view: current talks in large type, one at a time or one column per room."""
    event = await event_service.get_event(uow.session, slug)
    page = await build_event_page(uow.session, event)
    panels = [c for c in page.cards if c.state == "now"] or [c for c in page.cards if c.state == "next"]
    layout = "rooms" if layout == "rooms" else "single"
    if layout == "rooms":
        panels = sorted(panels, key=lambda c: c.talk.room or "")
    context = {
        "page": page,
        "panels": panels,
        "layout": layout,
        "rotate": 1 if layout == "single" and len(panels) > 1 else 0,
        # read off a projector: the address people type, without its scheme (the public one, as the embed's)
        "post_url": f"{site_url(request, settings).split('://', 1)[-1]}/e/{event.slug}",
    }
    return templates.TemplateResponse(request, "wall.html", context, headers=NO_STORE)


# The continents and oceans of IANA's Area/Location names. The system's tz database also holds legacy
# aliases (US/Eastern, Japan, EST5EDT), Etc/GMT+1 with its inverted sign, and files that are no zone at
# all (localtime, Factory, posixrules): still accepted when typed, never suggested.
IANA_AREAS = frozenset(
    ("Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")
)
# The tz database's own lists of the zones it recommends: one line per zone, its name in the third column.
# Renamed zones' old names (Europe/Kiev, Asia/Calcutta, America/Buenos_Aires) are in neither: still accepted
# when typed, never suggested beside the current name.
ZONE_TABLES = ("zone1970.tab", "zone.tab")


def _zone_table_texts() -> list[str]:
    """zone1970.tab and zone.tab from the tz database zoneinfo reads: the system's, else the tzdata package's."""
    texts: list[str] = []
    for directory in zoneinfo.TZPATH:
        for name in ZONE_TABLES:
            try:
                texts.append((Path(directory) / name).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError):
                continue
    if texts:
        return texts
    try:
        package = resources.files("tzdata").joinpath("zoneinfo")
        for name in ZONE_TABLES:
            texts.append(package.joinpath(name).read_text(encoding="utf-8"))
    except (ModuleNotFoundError, OSError, UnicodeDecodeError):
        pass
    return texts


def recommended_zones(texts: list[str]) -> set[str]:
    """The zone names the tables list (comments and blank lines skipped)."""
    names = set()
    for text in texts:
        for line in text.splitlines():
            columns = line.split("\t")
            if not line.startswith("#") and len(columns) >= 3:
                names.add(columns[2].strip())
    return names


@cache
def time_zones() -> list[str]:
    """The zones a form suggests: UTC first, then every Area/Location zone the tz database recommends, sorted
    (without its tables, every Area/Location zone it has)."""
    available = {z for z in zoneinfo.available_timezones() if z.split("/", 1)[0] in IANA_AREAS and "/" in z}
    recommended = recommended_zones(_zone_table_texts()) & available
    return ["UTC", *sorted(recommended or available)]


def _new_event_page(
    request: Request,
    settings: SettingsDep,
    form: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """The form; ``errors`` maps a field to its message, or ``"request"`` to what refused the whole request."""
    context = {"form": form, "errors": errors, "needs_admin": bool(settings.admin_token), "zones": time_zones()}
    return templates.TemplateResponse(
        request, "new_event.html", context, status_code=status_code, headers={**NO_STORE, **(headers or {})}
    )


NEW_EVENT_FIELDS = ("name", "slug", "hashtags", "time_zone", "starts_on", "ends_on", "description")
FormText = Annotated[str, Form(max_length=6000)]


@router.get("/new", response_class=HTMLResponse)
async def new_event_page(request: Request, settings: SettingsDep) -> Response:
    """The form an organizer creates an event with; it works without JavaScript."""
    return _new_event_page(request, settings, {"time_zone": "UTC"}, {})


@router.post("/new", response_class=HTMLResponse)
async def new_event_form(
    request: Request,
    uow: UoW,
    settings: SettingsDep,
    name: FormText = "",
    slug: FormText = "",
    hashtags: FormText = "",
    time_zone: FormText = "UTC",
    starts_on: FormText = "",
    ends_on: FormText = "",
    description: FormText = "",
    admin_token: FormText = "",
) -> Response:
    """Create the event, then show its organizer token once; a bad field comes back marked on the form."""
    form = dict(zip(NEW_EVENT_FIELDS, (name, slug, hashtags, time_zone, starts_on, ends_on, description), strict=True))
    try:
        event_service.require_admin(settings.admin_token, admin_token.strip() or None)
        fields = {key: value.strip() for key, value in form.items() if value.strip()}
        body = EventCreate.model_validate({**fields, "hashtags": hashtags.replace(",", " ").split()})
        await count_event_creation(request, settings)
        event, token = await event_service.create_event(uow.session, **body.model_dump())
        await uow.commit()
    except ValidationError as exc:
        return _new_event_page(request, settings, form, event_field_errors(exc), 422)
    except TooManyRequests as exc:
        return _new_event_page(request, settings, form, {"request": exc.message}, 429, exc.headers)
    except BackchannelError as exc:
        return _new_event_page(request, settings, form, {exc.field or "name": exc.message}, exc.status_code)
    context = {"event": event, "token": token}
    return templates.TemplateResponse(request, "event_created.html", context, status_code=201, headers=NO_STORE)


@router.get("/e/{slug}/organize", response_class=HTMLResponse)
async def organize_page(request: Request, slug: Slug, uow: UoW) -> Response:
    """The organizer console; it holds no secrets: the organizer pastes the token in the browser."""
    event = await event_service.get_event(uow.session, slug)
    context = {"event": event, "zones": time_zones()}
    return templates.TemplateResponse(request, "organize.html", context, headers=NO_STORE)


@router.get("/embed/{slug}/talks/{talk_id}", response_class=HTMLResponse)
async def embed_talk(request: Request, slug: Slug, talk_id: TalkId, uow: UoW) -> Response:
    """A minimal widget of one talk's live takeaways, for other sites to frame."""
    event = await event_service.get_event(uow.session, slug)
    page = await _talk_page(uow, event, talk_id)
    return templates.TemplateResponse(request, "embed.html", {"page": page}, headers=NO_STORE)


def _slow_down(target: str, doing: str, exc: TooManyRequests) -> Response:
    """Back to the page with why nothing happened (the API's 429 is for programs; a browser gets the page)."""
    message = f"You are {doing} faster than this event allows; try again in {exc.retry_after} s."
    return RedirectResponse(f"{target}?{urlencode({'error': message})}#post", status_code=303)


@router.post("/e/{slug}/posts")
async def post_form(
    request: Request,
    slug: Slug,
    uow: UoW,
    notes: NotesTally,
    writer: Writer,
    text: Annotated[str, Form(max_length=5000)] = "",
    kind: Annotated[str, Form(max_length=20)] = "note",
    talk_id: Annotated[str, Form(max_length=20)] = "",
    display_name: Annotated[str, Form(max_length=200)] = "",
    reply_to: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """The no-JavaScript path of the posting form and of answering a question: post, then back to the page."""
    event = await event_service.get_event(uow.session, slug)
    target = f"/e/{event.slug}"
    answering = int(reply_to) if reply_to.isdigit() and 0 < int(reply_to) <= 2**53 else None
    text = text.strip()
    if not text or len(text) > 1000:
        return RedirectResponse(f"{target}?error=Write+between+1+and+1000+characters#post", status_code=303)
    talk = await post_service.resolve_talk(uow, event, talk_id) if talk_id.isdigit() else None
    event_slug = event.slug
    await uow.rollback()  # the writer stores the note in its own transaction: hold no read one open meanwhile
    talk_ref = str(talk) if talk is not None else None
    response = RedirectResponse(f"{target}{'#questions' if answering else '#feed'}", status_code=303)
    raw = _client_cookie(request, response)
    try:
        await enforce(request, "posts", client_key(raw))
    except TooManyRequests as exc:
        return _slow_down(target, "posting", exc)
    item = note_item(
        text,
        client_handle=anon_handle(client_key(raw)),
        display_name=display_name.strip()[:60] or None,
        talk_ref=talk_ref,
        question=kind == "question",
    )
    note = Note(item, hash_token(browser_delete_token(raw)), talk_id=talk, reply_to=answering)
    try:
        await writer.write(event_slug, note)
    except InvalidInput:  # nothing left once control characters are removed
        return RedirectResponse(f"{target}?error=Write+between+1+and+1000+characters#post", status_code=303)
    except NotFound:  # the question was deleted or hidden meanwhile
        message = urlencode({"error": "That question is no longer there, so the answer was not posted."})
        return RedirectResponse(f"{target}?{message}#post", status_code=303)
    notes.value += 1
    return response


@router.post("/e/{slug}/posts/{post_id}/delete")
async def delete_form(request: Request, slug: Slug, post_id: PostId, uow: UoW) -> Response:
    """The no-JavaScript delete: the browser that wrote a post from the plain form may remove it."""
    event = await event_service.get_event(uow.session, slug)
    raw = request.cookies.get("bc_client", "")
    try:
        post = await post_service.get_post(uow, event, post_id)
        await post_service.delete_own(uow, event, post, browser_delete_token(raw) if raw else None)
        await uow.commit()
    except NotFound:
        pass  # already gone: the page no longer shows it
    except BackchannelError:
        message = "Only the browser that wrote a post can delete it."
        return RedirectResponse(f"/e/{event.slug}?{urlencode({'error': message})}#feed", status_code=303)
    return RedirectResponse(f"/e/{event.slug}#feed", status_code=303)


@router.post("/e/{slug}/posts/{post_id}/upvote")
async def upvote_form(request: Request, slug: Slug, post_id: PostId, uow: UoW) -> Response:
    event = await event_service.get_event(uow.session, slug)
    response = RedirectResponse(f"/e/{event.slug}#post-{post_id}", status_code=303)
    client = client_key(_client_cookie(request, response))
    post = await post_service.get_post(uow, event, post_id)
    try:
        await enforce(request, "votes", client)
    except TooManyRequests as exc:
        return _slow_down(f"/e/{event.slug}", "voting", exc)
    try:
        await post_service.upvote(uow, event, post, client)
        await uow.commit()
    except BackchannelError:
        pass  # already voted: the page simply shows the count
    return response
