"""What people see in a real browser: live posts, reconnects, hostile text, keyboard use, layouts, accessibility."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.conftest import SHARED_DATA
from tests.web.conftest import ARTIFACTS, LiveServer

pytestmark = pytest.mark.browser

FEED = "#feed-list > .post"
ON_MY_UPVOTE = (
    "document.activeElement.matches('.upvote') && "
    "document.activeElement.closest('#feed-list .post')?.textContent.includes('Typed with the keyboard only')"
)


def _open_event(page: Any, live: LiveServer) -> None:
    page.goto(f"{live.url}/e/{live.slug}")
    page.wait_for_selector("#conn.live", timeout=5000)


def _ask_from_the_page(page: Any, question: str) -> Any:
    """Ask ``question`` with the page's form; its entry in the questions list, marked as mine."""
    page.fill("#post-text", question)
    page.check("input[name=kind][value=question]")
    page.click("#post-form button[type=submit]")
    mine = page.locator("#questions > .post.mine", has_text=question)
    mine.wait_for(timeout=2000)
    return mine


def _feed_texts(page: Any) -> list[str]:
    # textContent, not innerText: feed items far off screen skip rendering (content-visibility) but are there
    return [t.strip() for t in page.locator(f"{FEED} .text").all_text_contents()]


def test_the_room_i_say_i_am_in_chooses_its_talk_and_is_remembered(page: Any, live_server: LiveServer) -> None:
    _open_event(page, live_server)
    room_b = str(live_server.talks[1]["id"])
    assert page.input_value("#post-talk") == ""  # two rooms are busy: the page does not guess which I am in
    page.select_option("#post-room", "Room B")
    assert page.input_value("#post-talk") == room_b
    page.reload()
    page.wait_for_selector("#conn.live", timeout=5000)
    assert (page.input_value("#post-room"), page.input_value("#post-talk")) == ("Room B", room_b)
    page.fill("#post-text", "Notes from Room B")
    page.click("#post-form button[type=submit]")
    page.wait_for_selector(f"{FEED}.mine >> text=Notes from Room B", timeout=2000)
    posts = live_server.call("GET", f"/api/events/{live_server.slug}/posts")["items"]
    assert [p["talk_id"] for p in posts if p["text"] == "Notes from Room B"] == [int(room_b)]


def test_when_the_next_talk_begins_the_posting_form_follows_the_room_but_keeps_a_talk_picked_by_hand(
    browser: Any, live_server: LiveServer
) -> None:
    slug, token = live_server.own_event()
    now = datetime.now(UTC)
    made, auth = {}, {"Authorization": f"Bearer {token}"}
    for title, room, start, end in [
        ("Ending in a moment", "Room C", now - timedelta(minutes=30), now + timedelta(seconds=4)),
        ("Beginning in a moment", "Room C", now + timedelta(seconds=4), now + timedelta(minutes=60)),
        ("All afternoon", "Room D", now - timedelta(minutes=30), now + timedelta(minutes=60)),
        ("Just over", "Room E", now - timedelta(minutes=60), now - timedelta(minutes=5)),
        ("After the break", "Room E", now + timedelta(minutes=10), now + timedelta(minutes=60)),
    ]:
        body = {"title": title, "room": room, "start": start.isoformat(), "end": end.isoformat()}
        made[title] = str(live_server.call("POST", f"/api/events/{slug}/talks", body, auth)["id"])
    context = browser.new_context()
    try:
        by_room, by_hand = context.new_page(), context.new_page()
        for page in (by_room, by_hand):
            page.clock.install()  # the page checks for a talk's end every 30 s; the test moves its clock on
            page.goto(f"{live_server.url}/e/{slug}")
            page.wait_for_selector("#conn.live", timeout=5000)
        by_room.select_option("#post-room", "Room E")
        assert by_room.input_value("#post-talk") == ""  # a break: about the talk just over, or the next? no guess
        by_room.select_option("#post-room", "Room C")
        by_hand.select_option("#post-talk", made["Ending in a moment"])
        assert by_room.input_value("#post-talk") == made["Ending in a moment"]
        while datetime.now(UTC) < now + timedelta(seconds=5):
            time.sleep(0.2)
        for page in (by_room, by_hand):
            page.clock.run_for(31_000)
            expect(page.locator(f"#talk-{made['Beginning in a moment']}.state-now")).to_have_count(1)
        expect(by_room.locator("#post-talk")).to_have_value(made["Beginning in a moment"])
        expect(by_hand.locator("#post-talk")).to_have_value(made["Ending in a moment"])
    finally:
        context.close()


def test_a_post_from_another_browser_appears_within_two_seconds(
    page: Any, browser: Any, live_server: LiveServer
) -> None:
    _open_event(page, live_server)
    other = browser.new_context()
    try:
        poster = other.new_page()
        poster.goto(f"{live_server.url}/e/{live_server.slug}")
        poster.fill("#post-text", "Hello from the second browser")
        poster.click("#post-form button[type=submit]")
        poster.wait_for_selector(f"{FEED}.mine >> text=Hello from the second browser", timeout=2000)
    finally:
        other.close()
    page.wait_for_selector(f"{FEED} >> text=Hello from the second browser", timeout=2000)


def test_after_a_dropped_connection_missed_posts_appear_exactly_once(page: Any, live_server: LiveServer) -> None:
    _open_event(page, live_server)
    page.evaluate("window.backchannel.dropConnection()")
    page.wait_for_selector("#conn.down", timeout=2000)
    live_server.post_note("Missed while offline: one")
    live_server.post_note("Missed while offline: two")
    page.wait_for_selector("#conn.live", timeout=5000)
    page.wait_for_selector(f"{FEED} >> text=Missed while offline: two", timeout=3000)
    texts = _feed_texts(page)
    assert texts.count("Missed while offline: one") == 1
    assert texts.count("Missed while offline: two") == 1
    assert texts.index("Missed while offline: two") < texts.index("Missed while offline: one")  # newest first


def test_hostile_posts_show_as_text_and_never_run(page: Any, live_server: LiveServer) -> None:
    _open_event(page, live_server)
    payloads = ["<img src=x onerror=alert(1)>", "<script>alert(1)</script>"]
    page.fill("#post-text", payloads[0])
    page.click("#post-form button[type=submit]")
    live_server.post_note(payloads[1])
    page.wait_for_selector(f"{FEED} >> text=<script>alert(1)</script>", timeout=2000)
    page.reload()  # the server-rendered first paint escapes them too
    page.wait_for_selector("#conn.live", timeout=5000)
    texts = _feed_texts(page)
    assert payloads[0] in texts and payloads[1] in texts
    assert page.locator("#feed-list img, #feed-list script").count() == 0


def test_keyboard_alone_can_post_and_upvote(page: Any, live_server: LiveServer) -> None:
    _open_event(page, live_server)
    page.keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "post-text":
            break
    else:
        pytest.fail("Tab never reached the note field")
    page.keyboard.type("Typed with the keyboard only")
    for _ in range(15):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.matches('#post-form button[type=submit]')"):
            break
    page.keyboard.press("Enter")
    mine = page.locator(f"{FEED}.mine", has_text="Typed with the keyboard only")
    mine.wait_for(timeout=2000)
    for _ in range(200):
        page.keyboard.press("Tab")
        if page.evaluate(ON_MY_UPVOTE):
            break
    else:
        pytest.fail("Tab never reached the upvote button of the new post")
    page.keyboard.press("Enter")
    upvote = mine.locator(".upvote")
    expect(upvote).to_have_attribute("aria-pressed", "true", timeout=2000)
    expect(upvote.locator(".count")).to_have_text("1")
    page.keyboard.press("Enter")  # a second vote from the same browser does not count
    page.wait_for_timeout(300)
    assert upvote.locator(".count").inner_text() == "1"


def test_takeaways_cite_their_source_posts_one_click_away(page: Any, live_server: LiveServer) -> None:
    talk = live_server.talks[0]
    page.goto(f"{live_server.url}/e/{live_server.slug}")
    card = page.locator(f"#talk-{talk['id']}")
    takeaway = card.locator(".takeaway", has_text="Alert on the error budget burn rate")
    assert takeaway.locator(".cited").is_hidden()
    takeaway.locator("summary").click()
    assert takeaway.locator(".cited li").count() == 3
    assert "Seed note 0 about error budgets" in takeaway.locator(".cited").inner_text()


def test_a_digest_update_shows_the_new_takeaways_without_a_reload(page: Any, live_server: LiveServer) -> None:
    talk = live_server.talks[1]
    _open_event(page, live_server)
    card = page.locator(f"#talk-{talk['id']}")
    assert "No takeaways yet" in card.inner_text()
    note = live_server.post_note("Small models win on latency", talk_id=talk["id"])
    live_server.put_digest(talk["id"], [note["id"]])
    card.locator(".takeaway", has_text="Alert on the error budget burn rate").wait_for(timeout=4000)
    card.locator(".timeline rect.burst").first.wait_for(state="attached", timeout=1000)


def test_a_digest_update_on_the_talk_page_keeps_its_heading_levels(page: Any, live_server: LiveServer) -> None:
    talk = live_server.talks[1]
    page.goto(f"{live_server.url}/e/{live_server.slug}/talks/{talk['id']}")
    page.wait_for_selector("#conn.live", timeout=5000)
    note = live_server.post_note("Quantise after distilling", talk_id=talk["id"])
    live_server.put_digest(talk["id"], [note["id"]], version=50)
    digest = page.locator(f"#digest-{talk['id']}[data-version='50']")  # the swapped-in parts
    digest.locator(".takeaway").first.wait_for(timeout=5000)
    assert digest.get_attribute("data-level") == "3"
    assert digest.locator("h3.topic-label").count() > 0 and digest.locator("h4").count() == 0


def test_a_resync_reloads_the_live_parts(page: Any, live_server: LiveServer) -> None:
    talk = live_server.talks[2]
    _open_event(page, live_server)
    note = live_server.post_note("Threat models start with a data flow diagram", talk_id=talk["id"])
    live_server.put_digest(talk["id"], [note["id"]], announce=False)  # written without a frame: only a reload shows it
    page.evaluate("window.backchannel.refresh()")
    page.locator(f"#talk-{talk['id']} .takeaway", has_text="Alert on the error budget burn rate").wait_for(timeout=3000)


def test_no_request_leaves_the_test_server(page: Any, live_server: LiveServer) -> None:
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    talk = live_server.talks[0]["id"]
    for path in (
        f"/e/{live_server.slug}",
        f"/e/{live_server.slug}/talks/{talk}",
        f"/e/{live_server.slug}/wall",
        f"/e/{live_server.slug}/organize",
        f"/embed/{live_server.slug}/talks/{talk}",
    ):
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
    assert hosts == {urlsplit(live_server.url).netloc}


@pytest.mark.parametrize(("name", "width", "height"), [("phone", 360, 780), ("projector", 1920, 1080)])
def test_pages_fit_a_phone_and_a_projector(
    browser: Any, live_server: LiveServer, name: str, width: int, height: int
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        tab = context.new_page()
        talk = live_server.talks[0]["id"]
        for label, path in (
            ("event", f"/e/{live_server.slug}"),
            ("talk", f"/e/{live_server.slug}/talks/{talk}"),
            ("wall", f"/e/{live_server.slug}/wall"),
            ("wall-rooms", f"/e/{live_server.slug}/wall?layout=rooms"),
            ("organize", f"/e/{live_server.slug}/organize"),
            ("embed", f"/embed/{live_server.slug}/talks/{talk}"),
        ):
            tab.goto(live_server.url + path)
            if label == "organize":
                tab.fill("#token-input", live_server.token)
                tab.click("#token-form button[type=submit]")
                tab.locator("#console").wait_for()
            tab.wait_for_load_state("networkidle")
            tab.screenshot(path=str(ARTIFACTS / f"{label}-{name}.png"), full_page=label != "wall")
            overflow = tab.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{label} scrolls sideways by {overflow}px at {width}px"
    finally:
        context.close()


# Moderate in axe's scale, but a screen reader's outline of the page: a topic label was an h4 right under an h2
OUTLINE_RULES = {"heading-order", "page-has-heading-one", "landmark-one-main", "region"}


@pytest.mark.parametrize(
    "view", ["event", "event-dark", "talk", "wall", "wall-rooms", "organize", "embed", "new-event", "not-found"]
)
def test_accessibility_audit_finds_nothing_serious(
    browser: Any, live_server: LiveServer, axe_script: Any, view: str
) -> None:
    talk = live_server.talks[0]["id"]
    path = {
        "event": f"/e/{live_server.slug}",
        "event-dark": f"/e/{live_server.slug}",
        "talk": f"/e/{live_server.slug}/talks/{talk}",
        "wall": f"/e/{live_server.slug}/wall",
        "wall-rooms": f"/e/{live_server.slug}/wall?layout=rooms",
        "organize": f"/e/{live_server.slug}/organize",
        "embed": f"/embed/{live_server.slug}/talks/{talk}",
        "new-event": "/new",
        "not-found": f"/e/{live_server.slug}/talks/999999",
    }[view]
    # axe is injected as an inline script, which the page's own CSP (rightly) forbids: only this audit bypasses it
    scheme = "dark" if view.endswith("-dark") else "light"
    context = browser.new_context(bypass_csp=True, color_scheme=scheme, viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(live_server.url + path)
        if view == "organize":  # audit the unlocked console, not just the token form
            page.fill("#token-input", live_server.token)
            page.click("#token-form button[type=submit]")
            page.locator("#console").wait_for()
        page.wait_for_load_state("networkidle")
        page.add_script_tag(path=str(axe_script))
        result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    finally:
        context.close()
    serious = [
        f"{v['id']}: {v['help']} ({', '.join(n['target'][0] for n in v['nodes'][:3])})"
        for v in result
        if v["impact"] in ("serious", "critical") or v["id"] in OUTLINE_RULES
    ]
    assert not serious, serious


def test_the_embed_snippet_pasted_into_another_page_shows_the_takeaways(page: Any, live_server: LiveServer) -> None:
    talk = live_server.talks[0]
    page.goto(f"{live_server.url}/e/{live_server.slug}/talks/{talk['id']}")
    snippet = page.locator(".embed-link code").inner_text()
    assert f'src="{live_server.url}/embed/{live_server.slug}/talks/{talk["id"]}"' in snippet
    page.set_content(f"<!doctype html><title>Someone's blog</title><main>{snippet}</main>")  # about:blank: no base URL
    widget = page.frame_locator("iframe")
    expect(widget.locator("h1")).to_have_text(talk["title"])
    expect(widget.locator(".takeaway").first).to_be_visible()


def test_the_page_sends_a_strict_content_security_policy(page: Any, live_server: LiveServer) -> None:
    response = page.goto(f"{live_server.url}/e/{live_server.slug}")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert re.search(r"frame-ancestors 'none'", policy)


def _unlock_console(page: Any, live: LiveServer, token: str, slug: str | None = None) -> None:
    page.goto(f"{live.url}/e/{slug or live.slug}/organize")
    page.fill("#token-input", token)
    page.click("#token-form button[type=submit]")


@contextmanager
def _console_tab(browser: Any, live: LiveServer, tab: str, *, clock: bool = False) -> Iterator[Any]:
    """The organizer's console in a browser of its own, unlocked, on the moderation queue's ``tab``; with
    ``clock``, its timers wait for the test to move the page's clock on."""
    organizer = browser.new_context()
    try:
        console = organizer.new_page()
        if clock:
            console.clock.install()
        _unlock_console(console, live, live.token)
        console.click(f"button[data-queue={tab}]")
        yield console
    finally:
        organizer.close()


def test_a_name_typed_before_the_page_has_its_script_still_gets_its_address(page: Any, live_server: LiveServer) -> None:
    held: list[Any] = []
    page.route("**/static/js/new_event.js", lambda route: held.append(route))  # a slow phone network
    page.goto(f"{live_server.url}/new", wait_until="commit")
    page.fill("#name", "Café Conf 2026")
    while not held:
        page.wait_for_timeout(20)
    held[0].continue_()
    expect(page.locator("#slug")).to_have_value("cafe-conf-2026")
    expect(page.locator("#slug-preview")).to_have_text("cafe-conf-2026")


def test_an_organizer_creates_an_event_and_imports_its_schedule_from_the_browser(
    page: Any, live_server: LiveServer
) -> None:
    page.goto(f"{live_server.url}/")
    page.click("text=Create an event")
    page.fill("#name", "Café Conf 2026")
    expect(page.locator("#slug")).to_have_value("cafe-conf-2026")  # the address follows the name
    page.fill("#slug", "")
    page.fill("#slug", "Not A Slug")
    page.fill("#hashtags", "#cafeconf")
    page.fill("#time_zone", "Europe/Berlin")
    page.click("#new-event-form button[type=submit]")
    expect(page.locator("#slug-error")).to_contain_text("Only lower-case letters, digits and dashes")
    expect(page.locator("#name")).to_have_value("Café Conf 2026")  # nothing typed is lost
    page.fill("#slug", f"cafe-{uuid.uuid4().hex[:8]}")
    page.click("#new-event-form button[type=submit]")
    expect(page.locator("h1")).to_have_text("Café Conf 2026 is ready")
    token = page.input_value("#organizer-token")
    assert len(token) >= 32
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.click("#copy-token")  # shown once: one press puts it where it can be pasted
    expect(page.locator("#copy-status")).to_have_text("Copied: paste it somewhere safe.")
    assert page.evaluate("navigator.clipboard.readText()") == token
    page.click("#open-console")  # the console opens unlocked: the token came along in this tab
    expect(page.locator("#console")).to_be_visible()
    page.set_input_files("#schedule-file", str(SHARED_DATA / "fixtures" / "pretalx_schedule_democon.json"))
    page.click("#schedule-form button[type=submit]")
    expect(page.locator("#schedule-report")).to_contain_text("new, 0 updated")
    talks = int(re.search(r"Imported (\d+) talks", page.inner_text("#schedule-report")).group(1))  # type: ignore[union-attr]
    assert talks > 10
    page.click("text=Event page")
    expect(page.locator("h1, .event-name").first).to_contain_text("Café Conf 2026")


def test_an_organizer_corrects_the_event_and_replaces_a_leaked_token_in_the_console(
    browser: Any, live_server: LiveServer
) -> None:
    context = browser.new_context()
    try:
        _correct_and_rotate(context.new_page(), live_server)
    finally:
        context.close()


def _correct_and_rotate(page: Any, live_server: LiveServer) -> None:
    # replacing the token asks first: this page (unlike the XSS-watching fixture's) answers that one dialog
    asked: list[str] = []
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    slug = f"fix-{uuid.uuid4().hex[:8]}"
    created = live_server.call("POST", "/api/events", {"slug": slug, "name": "Tpyo Conf", "hashtags": ["tpyo"]})
    old = created["organizer_token"]
    _unlock_console(page, live_server, old, slug)
    expect(page.locator("#details-name")).to_have_value("Tpyo Conf")
    page.fill("#details-name", "Typo Conf")
    page.fill("#details-hashtags", "#typoconf, typo26")
    page.fill("#details-starts", "2026-05-06")
    page.fill("#details-ends", "2026-05-04")
    page.click("#details-form button[type=submit]")
    expect(page.locator("#details-error")).to_contain_text("The last day must not be before the first day")
    page.fill("#details-ends", "2026-05-07")
    page.click("#details-form button[type=submit]")
    expect(page.locator("header .event-name")).to_have_text("Typo Conf")
    read = live_server.call("GET", f"/api/events/{slug}")
    assert (read["name"], read["hashtags"], read["ends_on"]) == ("Typo Conf", ["typoconf", "typo26"], "2026-05-07")

    page.click("#token-rotate")
    expect(page.locator("#token-new")).to_be_visible()
    assert asked == ["Replace the organizer token? The current one stops working everywhere at once."]
    new = page.input_value("#token-new-value")
    assert new and new != old
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.click("#token-new-copy")
    expect(page.locator("#token-new-copied")).to_have_text("Copied: paste it somewhere safe.")
    assert page.evaluate("navigator.clipboard.readText()") == new
    with pytest.raises(HTTPError) as refused:
        live_server.call("GET", f"/api/events/{slug}/moderation/policy", headers={"Authorization": f"Bearer {old}"})
    assert refused.value.code == 403
    refused.value.close()  # its response's socket: left to the garbage collector, it failed the run now and then
    page.click("button[data-queue=recent]")  # the console goes on working with the new token
    expect(page.locator("#queue-notice")).not_to_contain_text("token")
    page.reload()
    expect(page.locator("#console")).to_be_visible()  # this tab kept the new one


def test_an_organizer_connects_a_source_sees_its_health_and_removes_it(browser: Any, live_server: LiveServer) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())  # "Remove this source?"
        slug = f"src-{uuid.uuid4().hex[:8]}"
        token = live_server.call("POST", "/api/events", {"slug": slug, "name": "Source Conf"})["organizer_token"]
        _unlock_console(page, live_server, token, slug)
        expect(page.locator("#sources-body")).to_contain_text("No sources yet")
        page.click("#sources summary")
        page.fill("#source-url", "https://mastodon.example")
        page.fill("#source-tag", "#sourceconf")
        page.click("#source-form button[type=submit]")
        row = page.locator("#sources-body tbody tr")
        expect(row).to_contain_text("https://mastodon.example #sourceconf")
        expect(row).to_contain_text("waiting to start")  # this test server runs no ingest worker
        page.click("#sources-body button[data-action=remove-source]")
        expect(page.locator("#sources-body")).to_contain_text("No sources yet")
        assert (
            live_server.call("GET", f"/api/events/{slug}/sources", headers={"Authorization": f"Bearer {token}"})[
                "items"
            ]
            == []
        )
    finally:
        context.close()


def test_the_console_refuses_a_wrong_token(page: Any, live_server: LiveServer) -> None:
    _unlock_console(page, live_server, "not-the-token")
    expect(page.locator("#token-error")).to_contain_text("not this event's organizer token")
    assert page.locator("#console").is_hidden()


def test_an_organizer_hides_a_post_and_followers_stop_seeing_it(
    page: Any, browser: Any, live_server: LiveServer
) -> None:
    unwanted = live_server.post_note("Buy cheap watches at spam.example")
    follower = browser.new_context()
    try:
        reader = follower.new_page()
        _open_event(reader, live_server)
        expect(reader.locator(FEED, has_text="Buy cheap watches")).to_have_count(1)
        _unlock_console(page, live_server, live_server.token)
        page.click("button[data-queue=recent]")
        item = page.locator(f".queue-item[data-post-id='{unwanted['id']}']")
        item.locator("button[data-action=hide]").click()
        expect(reader.locator(FEED, has_text="Buy cheap watches")).to_have_count(0, timeout=3000)
        page.click("button[data-queue=hidden]")
        expect(page.locator(f".queue-item[data-post-id='{unwanted['id']}']")).to_be_visible()
    finally:
        follower.close()


def test_what_did_i_miss_lists_new_takeaways_since_the_last_visit(browser: Any, live_server: LiveServer) -> None:
    context = browser.new_context()
    try:
        # a visit long ago, before any post: every takeaway since is news
        visit = '{"at": "2020-01-01T10:00:00Z", "post": 1}'
        context.add_init_script(f"localStorage.setItem('bc_visit:{live_server.slug}', '{visit}')")
        tab = context.new_page()
        tab.goto(f"{live_server.url}/e/{live_server.slug}")
        missed = tab.locator("#missed")
        expect(missed).to_be_visible(timeout=3000)
        expect(missed).to_contain_text("Observability on a budget")
        expect(missed).to_contain_text("Alert on the error budget burn rate")
        tab.click("#missed-done")
        expect(missed).to_be_hidden()
    finally:
        context.close()


def test_a_burst_of_posts_keeps_the_feed_capped_and_current(page: Any, live_server: LiveServer) -> None:
    _open_event(page, live_server)
    with ThreadPoolExecutor(8) as attendees:  # many attendees at once, as in a keynote
        list(attendees.map(lambda n: live_server.post_note(f"Burst note {n}"), range(209)))
    live_server.post_note("Burst note 209")
    page.locator(FEED, has_text="Burst note 209").wait_for(timeout=5000)
    assert page.locator(FEED).count() == 200  # capped: the page does not grow without bound
    assert _feed_texts(page)[0] == "Burst note 209"


def _post_until_refused(live: LiveServer, client: str) -> int:
    for n in range(100):
        try:
            live.post_note(f"Rapid note {n}", client=client)
        except HTTPError as refused:
            return refused.code
    return 201


def test_posting_too_fast_says_when_to_try_again(page: Any, live_server: LiveServer) -> None:
    _open_event(page, live_server)
    me = page.evaluate("localStorage.getItem('bc_client')")
    assert _post_until_refused(live_server, me) == 429
    page.fill("#post-text", "One more")
    page.click("#post-form button[type=submit]")
    expect(page.locator("#post-error")).to_contain_text(re.compile(r"posting too fast\. Try again in \d+ seconds"))


def test_voting_too_fast_says_when_to_try_again_beside_the_post(page: Any, live_server: LiveServer) -> None:
    first = live_server.post_note("A note upvoted over and over")
    live_server.post_note("A note I want to upvote next")
    _open_event(page, live_server)
    me = page.evaluate("localStorage.getItem('bc_client')")
    for _ in range(200):  # every attempt counts against the limit, the second and later ones refused as repeats
        try:
            live_server.call(
                "POST", f"/api/events/{live_server.slug}/posts/{first['id']}/upvote", {}, {"X-Client-Id": me}
            )
        except HTTPError as refused:
            if refused.code == 429:
                break
    else:
        pytest.fail("the vote limit never refused")
    post = page.locator(FEED, has_text="A note I want to upvote next")
    post.locator(".upvote").click()
    expect(post.locator(".post-problem")).to_have_text(re.compile(r"voting too fast\. Try again in \d+ seconds"))
    expect(post.locator(".upvote .count")).to_have_text("0")


def test_an_answer_to_my_question_is_highlighted_and_i_can_delete_my_post(page: Any, live_server: LiveServer) -> None:
    _open_event(page, live_server)
    mine = _ask_from_the_page(page, "Does sampling hide outliers?")
    question_id = int(mine.get_attribute("data-post-id") or 0)
    live_server.post_note("Tail-based sampling keeps them.", reply_to=question_id)
    expect(page.locator("#questions > .post.answer-to-mine")).to_contain_text("Tail-based sampling", timeout=2000)
    page.locator(f"{FEED}.mine", has_text="Does sampling hide outliers?").locator("button.delete").click()
    expect(page.locator(".post", has_text="Does sampling hide outliers?")).to_have_count(0, timeout=2000)


def test_a_reply_to_my_question_is_announced_wherever_i_am_on_the_page(browser: Any, live_server: LiveServer) -> None:
    """On a phone the questions are a few screens down: a reply says so at the bottom of the screen, and
    "Show the reply" takes me to it. Replies to other people's questions and my own answer say nothing."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        _open_event(page, live_server)
        question_id = int(_ask_from_the_page(page, "Does sampling hide outliers?").get_attribute("data-post-id") or 0)
        other = live_server.post_note("Which collector do you run?", kind="question")
        page.evaluate("window.scrollTo(0, 0)")
        notice = page.locator("#reply-notice")
        live_server.post_note("The OpenTelemetry one.", reply_to=other["id"])
        expect(page.locator("#questions > .post", has_text="The OpenTelemetry one.")).to_have_count(1, timeout=2000)
        mine = page.locator("#questions > .post.mine", has_text="Does sampling hide outliers?")
        mine.locator("details.answer summary").click()
        mine.locator("textarea").fill("Asking for a friend.")
        mine.locator(".answer-form button[type=submit]").click()
        expect(page.locator("#questions > .post.mine", has_text="Asking for a friend.")).to_have_count(1, timeout=2000)
        expect(notice).to_be_hidden()

        live_server.post_note("Tail-based sampling keeps them.", reply_to=question_id, display_name="Mira")
        expect(notice).to_be_visible(timeout=2000)
        expect(notice).to_contain_text("Mira replied to your question: “Tail-based sampling keeps them.”")
        assert notice.bounding_box()["y"] < 844  # on screen, though the page is at its top
        live_server.post_note("And head sampling loses them.", reply_to=question_id)
        expect(notice).to_contain_text("(2 replies so far)", timeout=2000)
        page.locator("#reply-show").click()
        expect(notice).to_be_hidden()
        reply = page.locator("#questions > .post", has_text="And head sampling loses them.")
        expect(reply).to_be_focused()
        expect(reply).to_be_in_viewport()
        live_server.post_note("Anyone else?", reply_to=question_id, display_name="Tom")
        expect(notice).to_contain_text("Tom replied", timeout=2000)
        page.locator("#reply-done").click()
        expect(notice).to_be_hidden()
    finally:
        context.close()


def test_a_follower_answers_a_question_and_the_asker_sees_it_under_the_question(
    page: Any, browser: Any, live_server: LiveServer
) -> None:
    question = live_server.post_note("Is the workshop recorded?", kind="question")
    asker = browser.new_context()
    try:
        asking = asker.new_page()
        _open_event(asking, live_server)
        _open_event(page, live_server)
        item = page.locator(f"#questions > .post[data-post-id='{question['id']}']")
        item.locator("summary", has_text="Answer").click()
        item.locator("textarea").fill("Yes, the videos go up tonight")
        # the question changes while the answer is being written (an organizer pins it): nothing typed is lost
        headers = {"Authorization": f"Bearer {live_server.token}"}
        live_server.call(
            "POST", f"/api/events/{live_server.slug}/moderation/posts/{question['id']}/pin", headers=headers
        )
        expect(item.locator(".badge.pin")).to_be_visible(timeout=2000)
        expect(item.locator("textarea")).to_have_value("Yes, the videos go up tonight")
        item.locator("button[type=submit]", has_text="Post the answer").click()
        expect(item.locator("textarea")).to_have_value("")
        answer = asking.locator(f"#questions > .post[data-post-id='{question['id']}'] + .post")
        expect(answer).to_contain_text("Yes, the videos go up tonight", timeout=2000)
        expect(answer.locator(".badge")).to_have_text("answer")
        expect(asking.locator(f"#questions > .post[data-post-id='{question['id']}'] .badge.answered")).to_have_count(1)
        expect(page.locator("#questions > .post.mine", has_text="Yes, the videos go up tonight")).to_have_count(1)
        # in the newest-first feed, far from its question, the answer says what it answers: live as on reload
        in_feed = asking.locator("#feed-list > .post", has_text="Yes, the videos go up tonight").locator(".in-reply")
        expect(in_feed).to_have_text("In reply to Anonymous: Is the workshop recorded?")
        asking.reload()
        expect(in_feed).to_have_text("In reply to Anonymous: Is the workshop recorded?")
        expect(asking.locator("#questions .in-reply")).to_have_count(0)
    finally:
        asker.close()


def test_the_wall_rotates_without_motion_for_those_who_ask(browser: Any, live_server: LiveServer) -> None:
    context = browser.new_context(reduced_motion="reduce", viewport={"width": 1920, "height": 1080})
    try:
        wall = context.new_page()
        wall.clock.install()
        wall.goto(f"{live_server.url}/e/{live_server.slug}/wall")
        panels = wall.locator(".wall-panel")
        assert panels.count() == 2
        expect(panels.nth(1)).to_be_hidden()  # one talk at a time, in turn
        wall.clock.run_for(16_000)
        expect(panels.nth(1)).to_be_visible()
        expect(panels.nth(0)).to_be_hidden()
        animation = wall.evaluate("getComputedStyle(document.querySelector('.wall-panel:not([hidden])')).animationName")
        assert animation == "none"
    finally:
        context.close()


def test_with_pre_moderation_a_post_waits_for_the_organizer(page: Any, browser: Any, live_server: LiveServer) -> None:
    auth = {"Authorization": f"Bearer {live_server.token}"}
    _unlock_console(page, live_server, live_server.token)
    page.locator("#policy-form[data-loaded]").wait_for()  # edit the saved rules, not the blank form
    page.check("#policy-premod")
    page.click("#policy-form button[type=submit]")
    expect(page.locator("#console-status")).to_have_text("Rules saved.")
    attendee = browser.new_context()
    try:
        tab = attendee.new_page()
        _open_event(tab, live_server)
        tab.fill("#post-text", "Please approve me")
        tab.click("#post-form button[type=submit]")
        expect(tab.locator("#post-error")).to_contain_text("once an organizer approves it")
        expect(tab.locator(FEED, has_text="Please approve me")).to_have_count(0)
        page.click("#queue-refresh")
        held = page.locator(".queue-item", has_text="Please approve me")
        held.locator("button[data-action=approve]").click()
        expect(tab.locator(FEED, has_text="Please approve me")).to_have_count(1, timeout=3000)
    finally:
        attendee.close()
        live_server.call("PATCH", f"/api/events/{live_server.slug}/moderation/policy", {"premoderation": False}, auth)


def test_without_javascript_a_phone_can_post_and_delete_its_own_note(browser: Any, live_server: LiveServer) -> None:
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    try:
        phone = context.new_page()
        phone.goto(f"{live_server.url}/e/{live_server.slug}")
        phone.fill("#post-text", "Written with scripts off")
        phone.click("#post-form button[type=submit]")
        mine = phone.locator(FEED, has_text="Written with scripts off")
        expect(mine).to_have_count(1)
        others = phone.locator(FEED, has_text="Seed note 0")
        expect(others.locator("button.delete")).to_have_count(0)  # only my own notes offer it
        mine.locator("button.delete").click()
        expect(phone.locator(".post", has_text="Written with scripts off")).to_have_count(0)
    finally:
        context.close()


def test_a_question_asked_again_is_listed_once_with_every_answer_under_it(page: Any, live_server: LiveServer) -> None:
    first = live_server.post_note("Will this workshop be recorded?", kind="question")
    answer = live_server.post_note("Yes, with slides", reply_to=first["id"])
    _open_event(page, live_server)
    questions = page.locator("#questions > .post[data-kind='question']")
    again = live_server.post_note("will this workshop be recorded??", kind="question")
    copy = page.locator(f"#questions > .post[data-post-id='{again['id']}']")
    expect(copy).to_have_count(1, timeout=3000)  # listed on its own until the clustering stage names it a copy

    live_server.call(
        "POST", f"/api/events/{live_server.slug}/posts/{again['id']}/upvote", headers={"X-Client-Id": "v1"}
    )
    asked = [{"post_ids": [first["id"], again["id"]], "count": 2, "votes": 1}]
    live_server.put_digest(None, [first["id"]], version=1, questions=asked)
    entry = page.locator(f"#questions > .post[data-post-id='{first['id']}']")
    expect(copy).to_have_count(0, timeout=3000)
    expect(entry.locator(".asked")).to_have_text("Asked 2× · 1 vote in all")
    late = live_server.post_note("Recordings go up tonight", reply_to=again["id"])
    for reply in (answer, late):  # an answer to either copy shows under the one entry
        expect(
            page.locator(f"#questions > .post[data-post-id='{first['id']}'] ~ .post[data-post-id='{reply['id']}']")
        ).to_have_count(1)
    assert questions.filter(has_text="this workshop be recorded").count() == 1
    below = page.locator(f"#questions > .post[data-post-id='{first['id']}'] + .post + .post")
    expect(below).to_have_attribute("data-post-id", str(late["id"]))  # answers oldest first, as after a reload

    page.reload()  # the server lists it folded too, with both answers
    page.wait_for_selector("#conn.live", timeout=5000)
    expect(copy).to_have_count(0)
    expect(entry.locator(".asked")).to_have_text("Asked 2× · 1 vote in all")
    for reply in (answer, late):
        expect(page.locator(f"#questions > .post[data-post-id='{reply['id']}']")).to_have_count(1)
    live_server.put_digest(
        live_server.talks[1]["id"], [first["id"]], version=5
    )  # another talk's news changes nothing here
    page.wait_for_timeout(500)
    expect(entry.locator(".asked")).to_have_text("Asked 2× · 1 vote in all")
    expect(copy).to_have_count(0)

    live_server.put_digest(None, [first["id"]], version=2, questions=[])  # no longer one question: both listed
    expect(copy).to_have_count(1, timeout=3000)
    expect(entry.locator(".asked")).to_have_count(0)


def test_the_keyboard_focus_stays_where_the_writing_is(page: Any, live_server: LiveServer) -> None:
    _open_event(page, live_server)
    page.fill("#post-text", "   ")
    page.click("#post-form button[type=submit]")  # nothing but spaces
    expect(page.locator("#post-error")).to_have_text("Write something first: the note is empty.")
    page.fill("#post-text", "")
    page.locator("#post-text").press_sequentially("Focus stays")  # typing clears the stale message
    expect(page.locator("#post-error")).to_have_text("")
    page.locator("#post-text").press_sequentially(" in the note field")
    page.locator("#post-form button[type=submit]").press("Enter")
    mine = page.locator(f"{FEED}.mine", has_text="Focus stays in the note field")
    mine.wait_for(timeout=2000)
    expect(page.locator("#post-text")).to_be_focused()  # ready for the next note, not the top of the page

    question = live_server.post_note("Where do the slides live?", kind="question")
    entry = page.locator(f"#questions > .post[data-post-id='{question['id']}']")
    entry.locator("summary", has_text="Answer").click()
    entry.locator("textarea").fill("On the talk page")
    entry.locator("button[type=submit]", has_text="Post the answer").press("Enter")
    expect(entry.locator("summary", has_text="Answer")).to_be_focused(timeout=2000)

    mine.locator("button.delete").focus()
    neighbour = mine.locator("xpath=following-sibling::li[1]")
    neighbour_id = neighbour.get_attribute("data-post-id")
    page.keyboard.press("Enter")
    expect(mine).to_have_count(0, timeout=2000)
    expect(page.locator(f"{FEED}[data-post-id='{neighbour_id}'] .upvote")).to_be_focused()


def _my_question_folded_under_theirs(
    page: Any, live: LiveServer, theirs_text: str, mine_text: str, version: int
) -> tuple[dict[str, Any], Any, int, list[dict[str, Any]]]:
    """Someone asks ``theirs_text``; I open the page and ask ``mine_text``; the clustering stage announces
    them as one question asked twice. Their post, my entry, my post's id and the questions announced."""
    theirs = live.post_note(theirs_text, kind="question")
    _open_event(page, live)
    mine = _ask_from_the_page(page, mine_text)
    my_id = int(mine.get_attribute("data-post-id") or 0)
    asked = [{"post_ids": [theirs["id"], my_id], "count": 2, "votes": 0}]
    live.put_digest(None, [theirs["id"]], version=version, questions=asked)
    return theirs, mine, my_id, asked


def test_an_answer_to_the_copy_listed_for_my_question_is_highlighted_as_mine(
    page: Any, live_server: LiveServer
) -> None:
    theirs, mine, my_id, asked = _my_question_folded_under_theirs(
        page, live_server, "Is the keynote streamed anywhere?", "is the keynote streamed anywhere??", version=10
    )
    expect(mine).to_have_count(0, timeout=3000)  # mine is folded under theirs
    answer = live_server.post_note("Yes, on the event website", reply_to=theirs["id"])
    listed = page.locator(f"#questions > .post[data-post-id='{answer['id']}']")
    expect(listed).to_have_class(re.compile(r"\banswer-to-mine\b"), timeout=3000)
    live_server.put_digest(None, [theirs["id"]], version=11, questions=[])


def test_when_the_copy_that_speaks_for_a_question_is_not_on_the_page_the_first_listed_copy_stands_in(
    page: Any, live_server: LiveServer
) -> None:
    older = 10**9  # the copy the clustering stage chose is older than the page's posts
    first = live_server.post_note("Can we get the lab notebooks afterwards?", kind="question")
    _open_event(page, live_server)
    asked = [{"post_ids": [older, first["id"]], "count": 4, "votes": 2}]
    live_server.put_digest(None, [first["id"]], version=20, questions=asked)
    entry = page.locator(f"#questions > .post[data-post-id='{first['id']}']")
    expect(entry.locator(".asked")).to_have_text("Asked 4× · 2 votes in all", timeout=3000)
    later = live_server.post_note("can we get the lab notebooks afterwards??", kind="question")
    asked = [{"post_ids": [older, first["id"], later["id"]], "count": 5, "votes": 2}]
    live_server.put_digest(None, [first["id"]], version=21, questions=asked)
    copy = page.locator(f"#questions > .post[data-post-id='{later['id']}']")
    expect(copy).to_have_count(0, timeout=3000)  # folded under the first listed copy
    expect(entry.locator(".asked")).to_have_text("Asked 5× · 2 votes in all")
    page.reload()
    page.wait_for_selector("#conn.live", timeout=5000)
    expect(copy).to_have_count(0)
    expect(entry.locator(".asked")).to_have_text("Asked 5× · 2 votes in all")
    live_server.put_digest(None, [first["id"]], version=22, questions=[])


def test_my_question_folded_under_another_copy_says_so_and_i_delete_it_from_there(
    page: Any, live_server: LiveServer
) -> None:
    # folded under another copy, my question lost its "mine" mark and its delete button in the Q&A list
    theirs = live_server.post_note("Are the workshop notebooks online?", kind="question")
    other = live_server.post_note("workshop notebooks: online somewhere?", kind="question")
    for copy in (theirs, other):
        live_server.call("POST", f"/api/events/{live_server.slug}/posts/{copy['id']}/upvote", {}, {"X-Client-Id": "v1"})
    _open_event(page, live_server)
    mine = _ask_from_the_page(page, "are the workshop notebooks online??")
    my_id = int(mine.get_attribute("data-post-id") or 0)
    page.locator(f"{FEED}.mine[data-post-id='{my_id}'] .upvote").click()
    expect(page.locator(f"{FEED}[data-post-id='{my_id}'] .upvote .count")).to_have_text("1")
    asked = [{"post_ids": [theirs["id"], other["id"], my_id], "count": 3, "votes": 3}]
    live_server.put_digest(None, [theirs["id"]], version=30, questions=asked)

    entry = page.locator(f"#questions > .post[data-post-id='{theirs['id']}']")
    expect(mine).to_have_count(0, timeout=3000)  # listed once, under their words
    expect(entry.locator(".asked")).to_have_text("Asked 3× · 3 votes in all")
    line = entry.locator(".asked-mine")
    expect(line.locator("p")).to_have_text("You asked this too: are the workshop notebooks online??")
    expect(page.locator(f"{FEED}.mine[data-post-id='{my_id}'] button.delete")).to_have_count(1)  # the feed keeps it

    page.reload()  # the server says the same on the first paint
    page.wait_for_selector("#conn.live", timeout=5000)
    expect(line).to_have_count(1)
    expect(line).to_contain_text("are the workshop notebooks online??")
    line.get_by_role("button", name="Delete my question").click()
    expect(line).to_have_count(0, timeout=2000)
    expect(entry.locator(".asked")).to_have_text("Asked 2× · 2 votes in all")  # counted out without a reload
    expect(page.locator(f".post[data-post-id='{my_id}']")).to_have_count(0)
    expect(entry.locator(".upvote")).to_be_focused()  # the keyboard stays on the question
    live_server.put_digest(None, [theirs["id"]], version=31, questions=[])


def test_my_question_folded_live_under_another_copy_keeps_a_way_to_delete_it(
    page: Any, live_server: LiveServer
) -> None:
    theirs, mine, my_id, asked = _my_question_folded_under_theirs(
        page, live_server, "Is there a discount for students?", "any student discount?", version=40
    )  # folded while I watch
    entry = page.locator(f"#questions > .post[data-post-id='{theirs['id']}']")
    line = entry.locator(".asked-mine")
    expect(line.locator("p")).to_have_text("You asked this too: any student discount?", timeout=3000)
    line.get_by_role("button", name="Delete my question").click()
    expect(line).to_have_count(0, timeout=2000)
    expect(entry.locator(".asked")).to_have_count(0)  # asked once now
    expect(page.locator(".post", has_text="any student discount?")).to_have_count(0)
    live_server.put_digest(None, [theirs["id"]], version=41, questions=[])


def test_my_folded_question_deleted_while_the_clustering_stage_keeps_announcing_it_stays_gone(
    page: Any, live_server: LiveServer
) -> None:
    # a live event re-renders the questions list many times a minute: a click on "Delete my question" lands
    # among those updates, and an update computed before the delete still names the question
    theirs, mine, my_id, asked = _my_question_folded_under_theirs(
        page, live_server, "Will the workshop be recorded?", "will the workshop be recorded??", version=50
    )
    entry = page.locator(f"#questions > .post[data-post-id='{theirs['id']}']")
    line = entry.locator(".asked-mine")
    expect(line).to_have_count(1, timeout=3000)
    gone = page.locator(f".post[data-post-id='{my_id}'], .asked-mine[data-post-id='{my_id}']")

    stop, versions = threading.Event(), iter(range(51, 10_000))

    def keep_announcing() -> None:
        while not stop.is_set():
            live_server.put_digest(None, [theirs["id"]], version=next(versions), questions=asked)
            live_server.post_note("Room B is full, overflow in C")  # each from another phone: no rate limit

    announcer = threading.Thread(target=keep_announcing)
    announcer.start()
    try:
        page.wait_for_timeout(300)
        line.get_by_role("button", name="Delete my question").click()
        expect(gone).to_have_count(0, timeout=3000)
        page.wait_for_timeout(500)  # updates naming it keep coming: it does not come back
        expect(gone).to_have_count(0)
    finally:
        stop.set()
        announcer.join()
    listed = live_server.call("GET", f"/api/events/{live_server.slug}/posts?limit=200")["items"]
    assert my_id not in {p["id"] for p in listed}
    page.reload()
    page.wait_for_selector("#conn.live", timeout=5000)
    expect(gone).to_have_count(0)
    live_server.put_digest(None, [theirs["id"]], version=next(versions), questions=[])


def test_an_organizer_marks_a_question_answered_on_stage_and_followers_see_it_at_once(
    page: Any, browser: Any, live_server: LiveServer
) -> None:
    question = live_server.post_note("Will the keynote slides be shared?", kind="question")
    _open_event(page, live_server)
    entry = page.locator(f"#questions > .post[data-post-id='{question['id']}']")
    expect(entry.locator(".badge.answered")).to_have_count(0)
    with _console_tab(browser, live_server, "questions") as console:
        item = console.locator(f".queue-item[data-post-id='{question['id']}']")
        item.get_by_role("button", name="Mark answered").click()
        expect(console.locator("#console-status")).to_have_text("Question marked answered.")
        expect(item.locator(".badge.answered")).to_have_text("marked answered")
        expect(item.get_by_role("button", name="Mark not answered")).to_be_focused()  # undo is one key away

        expect(entry.locator(".badge.answered")).to_have_text("answered", timeout=3000)  # no reload
        page.reload()
        page.wait_for_selector("#conn.live", timeout=5000)
        expect(entry.locator(".badge.answered")).to_have_count(1)

        item.get_by_role("button", name="Mark not answered").click()  # a mistake: taken back
        expect(console.locator("#console-status")).to_have_text("Question no longer marked answered.")
        expect(entry.locator(".badge.answered")).to_have_count(0, timeout=3000)


def test_a_copy_marked_answered_answers_the_entry_it_is_folded_under(page: Any, live_server: LiveServer) -> None:
    first = live_server.post_note("Where is the speakers' lounge?", kind="question")
    again = live_server.post_note("where's the speaker lounge??", kind="question")
    asked = [{"post_ids": [first["id"], again["id"]], "count": 2, "votes": 0}]
    live_server.put_digest(None, [first["id"]], version=50, questions=asked)
    _open_event(page, live_server)
    entry = page.locator(f"#questions > .post[data-post-id='{first['id']}']")
    expect(entry.locator(".asked")).to_have_text("Asked 2×")
    headers = {"Authorization": f"Bearer {live_server.token}"}
    base = f"/api/events/{live_server.slug}/moderation/posts/{again['id']}"
    live_server.call("POST", f"{base}/mark-answered", headers=headers)
    expect(entry.locator(".badge.answered")).to_have_count(1, timeout=3000)
    live_server.call("POST", f"{base}/unmark-answered", headers=headers)
    expect(entry.locator(".badge.answered")).to_have_count(0, timeout=3000)
    live_server.put_digest(None, [first["id"]], version=51, questions=[])


def test_the_console_lists_a_question_asked_again_once_and_a_copy_can_be_hidden_alone(
    page: Any, live_server: LiveServer
) -> None:
    first = live_server.post_note("Is there a recording of the keynote?", kind="question")
    again = live_server.post_note("keynote recording anywhere??", kind="question")
    other = live_server.post_note("Where do I get my badge?", kind="question")
    asked = [{"post_ids": [first["id"], again["id"]], "count": 2, "votes": 0}]
    live_server.put_digest(None, [first["id"]], version=60, questions=asked)
    _unlock_console(page, live_server, live_server.token)
    page.click("button[data-queue=questions]")
    entry = page.locator(f"#queue-list > .queue-item[data-post-id='{first['id']}']")
    expect(entry).to_have_count(1)
    expect(page.locator(f"#queue-list > .queue-item[data-post-id='{again['id']}']")).to_have_count(0)
    expect(entry.locator(".question-facts")).to_have_text("Asked 2× · 0 votes · open · in the hallway")
    expect(page.locator(f"#queue-list > .queue-item[data-post-id='{other['id']}'] .question-facts")).to_have_text(
        "0 votes · open · in the hallway"
    )
    copies = entry.locator("details.copies")
    expect(copies.locator("summary")).to_have_text("1 other copy of this question")
    copies.locator("summary").click()
    copy = copies.locator(f".queue-item[data-post-id='{again['id']}']")
    expect(copy.locator(".text")).to_have_text("keynote recording anywhere??")
    copy.get_by_role("button", name="Hide").click()  # a copy hidden, its question stays listed
    expect(page.locator("#console-status")).to_have_text("Post hidden.")
    expect(entry.locator("details.copies")).to_have_count(0)
    expect(entry.locator(".question-facts")).to_have_text("0 votes · open · in the hallway")
    expect(page.locator(f".queue-item[data-post-id='{again['id']}']")).to_have_count(0)
    live_server.put_digest(None, [first["id"]], version=61, questions=[])


def test_working_down_the_questions_by_keyboard_the_refresh_keeps_my_place_and_the_copies_i_opened(
    browser: Any, live_server: LiveServer
) -> None:
    first = live_server.post_note("Is the workshop room reachable by lift?", kind="question")
    again = live_server.post_note("workshop room lift access??", kind="question")
    asked = [{"post_ids": [first["id"], again["id"]], "count": 2, "votes": 0}]
    live_server.put_digest(None, [first["id"]], version=62, questions=asked)
    with _console_tab(browser, live_server, "questions", clock=True) as console:
        entry = console.locator(f"#queue-list > .queue-item[data-post-id='{first['id']}']")
        summary = entry.locator("details.copies > summary")
        summary.focus()
        console.keyboard.press("Enter")  # the copies unfolded
        entry.get_by_role("button", name="Pin").first.focus()
        live_server.post_note("Will the slides be online?", kind="question")  # something new to draw
        with _drawn_again(console, first["id"]):
            console.clock.run_for("00:21")  # the console's own 20 s refresh
        expect(entry.get_by_role("button", name="Pin").first).to_be_focused()
        expect(entry.locator("details.copies")).to_have_attribute("open", "")
        expect(console.locator("#queue-notice")).to_have_text("")
    live_server.put_digest(None, [first["id"]], version=63, questions=[])


def test_an_answer_the_room_gives_again_and_again_reads_once_with_who_else_said_it(
    page: Any, live_server: LiveServer
) -> None:
    question = live_server.post_note("Is the workshop room the one upstairs?", kind="question")
    qid = question["id"]
    said = "Yes, second floor, next to the lifts."
    first = live_server.post_note(said, reply_to=qid, display_name="Sasha")
    live_server.post_note("yes, second floor, next to the lifts", reply_to=qid, display_name="Tom")
    other = live_server.post_note("Take the stairs, the lifts are slow.", reply_to=qid, display_name="Li")
    _open_event(page, live_server)
    answers = page.locator(f"#questions > .post[data-kind='answer'][data-reply-to='{qid}']")
    shown = answers.locator("visible=true")
    expect(shown).to_have_count(2)  # the same words once, the other answer on its own
    lead = page.locator(f"#questions > .post[data-post-id='{first['id']}']")
    expect(lead.locator(".echoes")).to_have_text("Also said by Tom: 2 times in all.")
    expect(answers.locator(".badge.answered")).to_have_count(0)  # an answer is not itself "answered"

    live_server.post_note("Yes, second floor, next to the lifts!", reply_to=qid, display_name="Ivy")  # live
    expect(lead.locator(".echoes")).to_have_text("Also said by Tom, Ivy: 3 times in all.", timeout=3000)
    expect(shown).to_have_count(2)

    headers = {"Authorization": f"Bearer {live_server.token}"}
    live_server.call("POST", f"/api/events/{live_server.slug}/moderation/posts/{first['id']}/hide", {}, headers)
    expect(lead).to_have_count(0, timeout=3000)  # hidden: the next one who said it shows it now
    expect(shown).to_have_count(2)
    expect(shown.first.locator(".echoes")).to_have_text("Also said by Ivy: 2 times in all.")
    expect(page.locator(f"#questions > .post[data-post-id='{other['id']}']")).to_be_visible()

    page.reload()  # the server's list, folded the same way by the page
    page.wait_for_selector("#conn.live", timeout=5000)
    expect(shown).to_have_count(2)
    expect(shown.first.locator(".echoes")).to_have_text("Also said by Ivy: 2 times in all.")


def test_an_organizer_moves_a_post_to_the_talk_it_is_about_and_followers_see_it_move(
    page: Any, browser: Any, live_server: LiveServer
) -> None:
    talk = live_server.talks[1]
    note = live_server.post_note("The executor example finally made pinning click for me")
    _open_event(page, live_server)
    card = page.locator(f".card[data-talk-id='{talk['id']}']")
    expect(card.locator(f".post[data-post-id='{note['id']}']")).to_have_count(0)
    with _console_tab(browser, live_server, "recent") as console:
        item = console.locator(f".queue-item[data-post-id='{note['id']}']")
        expect(item.get_by_label("Talk")).to_have_value("hallway")  # in the hallway
        running = item.locator("optgroup[label='Running then'] option")
        expect(running).to_have_count(2)  # the talks on when it was posted come first; the later one after
        expect(item.locator("optgroup[label='Other talks'] option")).to_contain_text([live_server.talks[2]["title"]])
        item.get_by_label("Talk").select_option(str(talk["id"]))
        item.get_by_role("button", name="Move").click()
        expect(console.locator("#console-status")).to_have_text(re.compile(r"Post moved to “.+”\."))
        expect(item.get_by_label("Talk")).to_have_value(str(talk["id"]))
        expect(card.locator(f".post[data-post-id='{note['id']}']")).to_have_count(1, timeout=3000)  # no reload
        # it was about the venue after all: back to the hallway, and off the talk's card
        item.get_by_label("Talk").select_option(label="The hallway (about no talk)")
        item.get_by_role("button", name="Move").click()
        expect(console.locator("#console-status")).to_have_text("Post moved to the hallway.")
        expect(item.get_by_label("Talk")).to_have_value("hallway")
    expect(card.locator(f".post[data-post-id='{note['id']}']")).to_have_count(0, timeout=3000)


def test_an_organizer_moves_a_question_and_its_answer_goes_along_for_followers(
    page: Any, browser: Any, live_server: LiveServer
) -> None:
    wrong, right = live_server.talks[0], live_server.talks[1]
    question = live_server.post_note("How do you cancel a future that is stuck?", kind="question", talk_id=wrong["id"])
    answer = live_server.post_note("Drop it: every await point is a cancellation point.", reply_to=question["id"])
    with _console_tab(browser, live_server, "recent") as console:
        item = console.locator(f".queue-item[data-post-id='{question['id']}']")
        item.get_by_label("Talk").select_option(str(right["id"]))
        item.get_by_role("button", name="Move").click()
        expect(console.locator("#console-status")).to_have_text(
            f"Question moved to “{right['title']} (Room B)” with its answer."
        )
        moved = console.locator(f".queue-item[data-post-id='{answer['id']}']").get_by_label("Talk")
        expect(moved).to_have_value(str(right["id"]))
    page.goto(f"{live_server.url}/e/{live_server.slug}/talks/{right['id']}")
    thread = page.locator("#questions")
    expect(thread.locator(f".post[data-post-id='{question['id']}']")).to_be_visible()
    expect(thread.locator(f".post[data-post-id='{answer['id']}']")).to_contain_text("every await point")
    page.goto(f"{live_server.url}/e/{live_server.slug}/talks/{wrong['id']}")
    expect(page.locator(f"#questions .post[data-post-id='{answer['id']}']")).to_have_count(0)


@contextmanager
def _drawn_again(console: Any, post_id: int) -> Iterator[None]:
    """What the block does makes the console draw its list afresh: on leaving, the post's row is a new one."""
    row = f".queue-item[data-post-id='{post_id}']"
    console.locator(row).evaluate("li => { li.dataset.stale = '1'; }")
    yield
    console.locator(f"{row}:not([data-stale])").wait_for()


def test_a_talk_the_organizer_picks_stays_picked_while_the_list_is_drawn_again(
    browser: Any, live_server: LiveServer
) -> None:
    talk = live_server.talks[1]
    note = live_server.post_note("Pinning finally clicked for me at the executor example")
    with _console_tab(browser, live_server, "recent") as console:
        item = console.locator(f".queue-item[data-post-id='{note['id']}']")
        picker = item.get_by_label("Talk")
        expect(picker).to_have_value("hallway")
        # picked, not yet moved, when new posts redraw the list: the pick is still there
        picker.select_option(str(talk["id"]))
        live_server.post_note("Another note, so the list has something new to draw")
        with _drawn_again(console, note["id"]):
            console.click("#queue-refresh")
        expect(picker).to_have_value(str(talk["id"]))
        # moved; on a slow network the list is drawn again only after the organizer picks the hallway instead
        held: list[Any] = []
        redraw = re.compile(r"/posts\?limit=50$")
        console.route(redraw, lambda route: held.append(route))
        item.get_by_role("button", name="Move").click()
        expect(console.locator("#console-status")).to_have_text(re.compile(r"Post moved to “.+”\."))
        while not held:
            console.wait_for_timeout(20)
        picker.select_option("hallway")
        with _drawn_again(console, note["id"]):
            held[0].continue_()
        console.unroute(redraw)
        expect(picker).to_have_value("hallway")
        item.get_by_role("button", name="Move").click()
        expect(console.locator("#console-status")).to_have_text("Post moved to the hallway.")
    posts = live_server.call("GET", f"/api/events/{live_server.slug}/posts?limit=50")["items"]
    assert [p["talk_id"] for p in posts if p["id"] == note["id"]] == [None]


@contextmanager
def _event_page_on_its_clock(browser: Any, live: LiveServer) -> Iterator[Any]:
    """The event page, live, in a browser of its own whose timers wait for the test to move its clock on."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.clock.install()
        _open_event(page, live)
        yield page
    finally:
        context.close()


def _parts_fetched_again(page: Any, live: LiveServer, part: str, post_ids: list[int], version: int) -> None:
    """The hallway's topics change (a digest naming ``post_ids``): the page, its clock installed, fetches its live
    parts again; returns once ``part`` is a new drawing."""
    page.locator(part).evaluate("part => { part.dataset.stale = '1'; }")
    live.put_digest(None, post_ids, version=version)
    for _ in range(60):  # the frame comes over the socket in real time; the page's timers run on its clock
        page.clock.run_for(1000)
        if page.locator(f"{part}:not([data-stale])").count():
            break
    expect(page.locator(f"{part}:not([data-stale])")).to_have_count(1)


def test_an_answer_being_written_survives_the_questions_being_drawn_again_with_the_cursor_in_place(
    browser: Any, live_server: LiveServer
) -> None:
    question = live_server.post_note("Where do the slides go after the talk?", kind="question")
    with _event_page_on_its_clock(browser, live_server) as page:
        item = page.locator(f"#questions > .post[data-post-id='{question['id']}']")
        item.locator("summary", has_text="Answer").click()
        box = item.locator("textarea")
        box.fill("On the talk page")
        box.evaluate("t => t.setSelectionRange(3, 3)")  # going back to add a word
        _parts_fetched_again(page, live_server, "#questions", [question["id"]], version=70)
        expect(item.locator("details.answer")).to_have_attribute("open", "")
        expect(box).to_have_value("On the talk page")
        expect(box).to_be_focused()
        page.keyboard.type("new ")
        expect(box).to_have_value("On new the talk page")


def test_the_keyboard_stays_on_the_upvote_it_was_on_when_the_feed_is_drawn_again(
    browser: Any, live_server: LiveServer
) -> None:
    note = live_server.post_note("Pairing the demo with the slides helped a lot")
    with _event_page_on_its_clock(browser, live_server) as page:
        upvote = page.locator(f"#feed-list > .post[data-post-id='{note['id']}'] .upvote")
        upvote.focus()
        _parts_fetched_again(page, live_server, "#feed-list", [note["id"]], version=71)
        expect(upvote).to_be_focused()
        page.keyboard.press("Enter")
        expect(upvote.locator(".count")).to_have_text("1")
