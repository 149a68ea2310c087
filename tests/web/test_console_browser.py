"""The organizer console and the new-event form as an organizer meets them: what an action did is seen, errors speak
the form's words, the keyboard stays where the work is, and each session's summary downloads in every format."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.conftest import LiveServer
from tests.web.digests import put_digest, sample_digest

pytestmark = pytest.mark.browser


def _console(page: Any, live: LiveServer, slug: str | None = None, token: str | None = None) -> None:
    page.goto(f"{live.url}/e/{slug or live.slug}/organize")
    page.fill("#token-input", token or live.token)
    page.click("#token-form button[type=submit]")
    expect(page.locator("#console")).to_be_visible()


def test_what_an_action_did_is_shown_where_the_organizer_is_looking(page: Any, live_server: LiveServer) -> None:
    # the confirmation lived in a 1-pixel screen-reader-only line: saving the rules changed nothing anyone could see
    slug, token = live_server.own_event()
    page.set_viewport_size({"width": 390, "height": 844})
    _console(page, live_server, slug, token)
    save = page.locator("#policy-form button[type=submit]")
    expect(save).to_be_enabled()
    page.fill("#policy-keywords", "spam")
    save.click()
    status = page.locator("#console-status")
    expect(status).to_have_text("Rules saved.")
    box = status.bounding_box()
    assert box is not None and box["width"] > 60 and box["height"] > 16, box
    assert 0 <= box["y"] and box["y"] + box["height"] <= 844, box  # in the window, not scrolled away
    page.locator("#export-buttons").scroll_into_view_if_needed()  # far down the page it is still in view
    page.fill("#details-name", "UX Conf 2026")
    page.click("#details-form button[type=submit]")
    expect(status).to_have_text("Details saved.")
    box = status.bounding_box()
    assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= 844, box
    assert status.get_attribute("role") == "status"  # still the one polite live region


def test_console_errors_use_the_forms_words_not_the_apis_field_names(page: Any, live_server: LiveServer) -> None:
    slug, token = live_server.own_event()
    _console(page, live_server, slug, token)
    expect(page.locator("#details-form button[type=submit]")).to_be_enabled()
    page.fill("#details-zone", "Nowhere/City")
    page.click("#details-form button[type=submit]")
    error = page.locator("#details-error")
    expect(error).to_have_text(
        "Not saved: Time zone: unknown time zone 'Nowhere/City'; use an IANA name such as Europe/Berlin"
    )
    page.fill("#details-zone", "Europe/Berlin")
    page.fill("#details-starts", "2026-05-06")
    page.fill("#details-ends", "2026-05-04")
    page.click("#details-form button[type=submit]")
    expect(error).to_have_text("Not saved: The last day must not be before the first day")

    page.click("#sources summary")
    page.select_option("#source-kind", "bluesky")  # a Jetstream address is wss://, and the field now says so
    expect(page.locator("label[for=source-url]")).to_contain_text("Jetstream URL")
    assert page.get_attribute("#source-url", "placeholder", timeout=2000).startswith("wss://")
    page.fill("#source-url", "https://jetstream.example/subscribe")
    page.click("#source-form button[type=submit]")
    expect(page.locator("#source-error")).to_have_text("Not added: The Jetstream URL must start with ws:// or wss://")
    page.select_option("#source-kind", "mastodon")
    expect(page.locator("#source-error")).to_have_text("")  # the other network's complaint does not linger
    page.fill("#source-url", "chaos.social")  # an instance as people name it
    page.click("#source-form button[type=submit]")
    expect(page.locator("#console-status")).to_have_text("Source added.")
    expect(page.locator("#sources-body")).to_contain_text("https://chaos.social")
    page.set_input_files("#schedule-file", {"name": "x.png", "mimeType": "image/png", "buffer": b"\x89PNG garbage"})
    page.click("#schedule-form button[type=submit]")
    expect(page.locator("#schedule-error")).to_contain_text("Not imported: x.png: ")  # a file name is not a sentence
    page.set_input_files("#schedule-file", [])
    page.fill("#schedule-url", "pretalx.invalid/39c3/schedule.json")  # as copied out of an address bar
    page.click("#schedule-form button[type=submit]")  # sent, not held back by the browser as "not a URL"
    expect(page.locator("#schedule-error")).to_contain_text("pretalx.invalid")
    assert page.get_attribute("#source-url", "placeholder") == "mastodon.social"


def test_the_keyboard_stays_in_the_console_after_unlocking_and_moderating(page: Any, live_server: LiveServer) -> None:
    slug, token = live_server.own_event()
    for n in range(3):
        live_server.call("POST", f"/api/events/{slug}/posts", {"text": f"Note {n} to moderate"})
    _console(page, live_server, slug, token)
    # the token form the keyboard was in is gone: focus moves to the console, not back to the page's top
    expect(page.locator("#moderation-h")).to_be_focused()
    page.click("button[data-queue=recent]")
    items = page.locator("#queue-list > .queue-item")
    expect(items).to_have_count(3)
    items.nth(1).locator("button[data-action=hide]").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#console-status")).to_have_text("Post hidden.")
    expect(items).to_have_count(2)  # the list was drawn again without the hidden post
    expect(page.locator("#queue-list button:focus")).to_have_count(1)  # and the keyboard is still in it


def test_an_organizer_downloads_one_sessions_summary_in_every_format(browser: Any, live_server: LiveServer) -> None:
    context = browser.new_context(accept_downloads=True)
    try:
        page = context.new_page()
        _console(page, live_server)
        talk = live_server.talks[0]
        choice = page.locator("#export-talk")
        expect(choice.locator(f"option[value='{talk['id']}']")).to_contain_text(talk["title"])
        choice.select_option(str(talk["id"]))
        expect(page.locator("button[data-export=zip]")).to_be_disabled()  # a ZIP is the whole event's
        expect(page.locator("button[data-export=zip]")).to_have_css("opacity", "0.5")  # and looks it
        names = []
        for fmt in ("md", "html", "pdf", "json", "csv"):
            with page.expect_download() as download:
                page.click(f"button[data-export={fmt}]")
            names.append(download.value.suggested_filename)
            assert download.value.failure() is None
        expect(page.locator("#export-error")).to_have_text("")
        assert all(name.startswith(f"{live_server.slug}-") and "summaries" not in name for name in names), names
        assert [name.rsplit(".", 1)[1] for name in names] == ["md", "html", "pdf", "json", "csv"]
        choice.select_option("")
        expect(page.locator("button[data-export=zip]")).to_be_enabled()
        with page.expect_download() as download:
            page.click("button[data-export=md]")
        assert download.value.suggested_filename == f"{live_server.slug}-summaries.md"
    finally:
        context.close()


def test_while_a_slow_summary_is_prepared_the_console_says_so_and_then_downloads_it(
    browser: Any, live_server: LiveServer
) -> None:
    """A big event's PDF takes seconds to print: a greyed-out button alone looked like nothing happened."""
    context = browser.new_context(accept_downloads=True)
    try:
        page = context.new_page()
        _console(page, live_server)
        held: list[Any] = []
        page.route("**/export?format=pdf", lambda route: held.append(route))  # the server still printing
        page.click("button[data-export=pdf]")
        progress = page.locator("#export-progress")
        expect(progress).to_have_text("Preparing the whole event's summaries as PDF…")
        expect(page.locator("button[data-export=pdf]")).to_be_disabled()
        with page.expect_download() as download:
            held[0].continue_()
        assert download.value.suggested_filename == f"{live_server.slug}-summaries.pdf"
        expect(progress).to_have_text("")
        expect(page.locator("button[data-export=pdf]")).to_be_enabled()
        with page.expect_download():
            page.click("button[data-export=md]")  # a quick one leaves no line behind
        expect(progress).to_have_text("")
    finally:
        context.close()


def test_a_refused_new_event_puts_the_cursor_in_the_first_field_to_fix(page: Any, live_server: LiveServer) -> None:
    page.goto(f"{live_server.url}/new")
    page.fill("#name", "Cursor Conf")
    page.fill("#slug", "Not A Slug")
    page.fill("#time_zone", "Mars/Olympus")
    page.click("#new-event-form button[type=submit]")
    expect(page.locator("#slug-error")).to_be_visible()
    expect(page.locator("#slug")).to_be_focused()  # the first of the two fields to fix, its message read with it
    assert page.get_attribute("#slug", "aria-describedby") == "slug-error"


def test_every_column_of_the_sources_table_is_named(page: Any, live_server: LiveServer) -> None:
    # the buttons' column had an empty header: a screen reader announced the Pause/Remove cells as unnamed
    slug, token = live_server.own_event()
    source = {"kind": "mastodon", "config": {"instance_url": "https://mastodon.example", "hashtag": "uxconf"}}
    live_server.call("POST", f"/api/events/{slug}/sources", source, {"Authorization": f"Bearer {token}"})
    _console(page, live_server, slug, token)
    headers = page.locator("#sources-body th")
    expect(headers).to_have_count(4)
    assert [h.strip() for h in headers.all_text_contents()] == ["Source", "Health", "Posts", "Actions"]


def test_the_sources_refresh_leaves_the_keyboard_on_the_button_it_was_on(page: Any, live_server: LiveServer) -> None:
    slug, token = live_server.own_event()
    source = {"kind": "mastodon", "config": {"instance_url": "https://mastodon.example", "hashtag": "uxconf"}}
    live_server.call("POST", f"/api/events/{slug}/sources", source, {"Authorization": f"Bearer {token}"})
    page.clock.install()
    _console(page, live_server, slug, token)
    remove = page.locator("#sources-body").get_by_role("button", name="Remove")
    remove.focus()
    page.locator("#sources-body table").evaluate("table => { table.dataset.stale = '1'; }")
    page.clock.run_for("00:21")  # the console's own 20 s refresh draws the table again
    page.locator("#sources-body table:not([data-stale])").wait_for()
    expect(remove).to_be_focused()


def test_the_waiting_tab_counts_the_posts_held_for_approval(page: Any, live_server: LiveServer) -> None:
    # held posts waited unseen while the organizer read "Recent posts": nothing said any were there
    slug, token = live_server.own_event()
    organizer = {"Authorization": f"Bearer {token}"}
    live_server.call("PATCH", f"/api/events/{slug}/moderation/policy", {"premoderation": True}, organizer)
    for n in range(2):
        live_server.call("POST", f"/api/events/{slug}/posts", {"text": f"Held note {n}"})
    _console(page, live_server, slug, token)
    waiting = page.locator("button[data-queue=queue]")
    expect(waiting).to_have_text("Waiting for approval (2)")
    page.click("button[data-queue=recent]")
    expect(page.locator("#queue-notice")).to_have_text("No posts yet.")
    expect(waiting).to_have_text("Waiting for approval (2)")
    waiting.click()
    page.locator("#queue-list > .queue-item").first.locator("button[data-action=approve]").click()
    expect(waiting).to_have_text("Waiting for approval (1)")
    page.locator("#queue-list > .queue-item").first.locator("button[data-action=approve]").click()
    expect(waiting).to_have_text("Waiting for approval")


def test_the_event_details_offer_time_zone_names(page: Any, live_server: LiveServer) -> None:
    # the new-event form suggests IANA names; the console's correction field took free text with no help
    slug, token = live_server.own_event()
    _console(page, live_server, slug, token)
    zone = page.locator("#details-zone")
    expect(zone).to_have_value("UTC")
    listed = page.locator(f"#{zone.get_attribute('list')} option")
    expect(listed.first).to_have_attribute("value", "UTC")
    assert listed.count() > 300
    assert page.locator("#details-zones option[value='Europe/Berlin']").count() == 1


def test_blocking_an_author_counts_their_hidden_posts_in_words(page: Any, live_server: LiveServer) -> None:
    slug, token = live_server.own_event()
    live_server.call("POST", f"/api/events/{slug}/posts", {"text": "The one thing I posted"}, {"X-Client-Id": "solo"})
    _console(page, live_server, slug, token)
    page.click("button[data-queue=recent]")
    page.locator("#queue-list > .queue-item").first.locator("button[data-action=block]").click()
    expect(page.locator("#console-status")).to_have_text(re.compile(r"^Blocked anon-\w+; 1 post hidden\.$"))
    expect(page.locator("#blocks-list")).to_contain_text("(notes)")
    page.locator("#blocks-list button[data-action=unblock]").click()
    expect(page.locator("#console-status")).to_contain_text("posts hidden by the block stay in")


def test_one_unbroken_word_never_widens_a_phones_page(browser: Any, live_server: LiveServer) -> None:
    # a 60-letter name and a topic label made of a pasted URL widened the talk page to 9,327 px at 390 px
    slug, token = live_server.own_event()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    talk = {"guid": "long", "title": "Long words", "room": "Hall", "start": (now - timedelta(minutes=10)).isoformat(),
            "end": (now + timedelta(minutes=30)).isoformat()}  # fmt: skip
    talk_id = live_server.call("POST", f"/api/events/{slug}/talks", talk, {"Authorization": f"Bearer {token}"})["id"]
    word = "https://example.org/" + "x/" * 150
    note = {"text": f"See {word}", "talk_id": talk_id, "display_name": "N" * 60}
    post = live_server.call("POST", f"/api/events/{slug}/posts", note, {"X-Client-Id": "long-words"})["post"]
    digest = sample_digest([post["id"]], now - timedelta(minutes=5))
    digest["topics"][0].update(label=word, keyphrases=[word])
    digest["takeaways"][0].update(label=word, keyphrases=[word])
    state = live_server.app.state
    write = put_digest(state.sessionmaker, slug, talk_id, digest, 1, broker=state.broker)
    asyncio.run_coroutine_threadsafe(write, live_server.loop).result(timeout=30)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        for path in (f"/e/{slug}", f"/e/{slug}/talks/{talk_id}", f"/embed/{slug}/talks/{talk_id}", f"/e/{slug}/wall"):
            page.goto(live_server.url + path)
            expect(page.locator("body")).to_contain_text("N" * 60 if "wall" not in path else "Long words")
            sideways = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert sideways <= 0, f"{path} scrolls sideways by {sideways}px"
        _console(page, live_server, slug, token)
        page.click("button[data-queue=recent]")
        expect(page.locator("#queue-list")).to_contain_text("N" * 60)
        sideways = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert sideways <= 0, f"the console scrolls sideways by {sideways}px"
    finally:
        context.close()


def test_a_slow_answer_for_the_tab_just_left_does_not_draw_over_the_chosen_one(
    page: Any, live_server: LiveServer
) -> None:
    slug, token = live_server.own_event()
    live_server.call("POST", f"/api/events/{slug}/posts", {"text": "A recent note"}, {"X-Client-Id": "tabs"})
    slow: list[Any] = []
    page.route("**/moderation/queue*", lambda route: slow.append(route))  # held until the other tab has loaded
    _console(page, live_server, slug, token)
    page.click("button[data-queue=recent]")
    expect(page.locator("#queue-list")).to_contain_text("A recent note")
    assert slow, "the console asked for the waiting queue first"
    for route in slow:
        route.continue_()
    page.wait_for_timeout(500)  # the late answer arrives
    expect(page.locator("#queue-list")).to_contain_text("A recent note")
    expect(page.locator("#queue-notice")).not_to_contain_text("Nothing is waiting")


def test_an_import_that_would_cancel_talks_asks_first(context: Any, live_server: LiveServer) -> None:
    from tests.conftest import SHARED_DATA

    page = context.new_page()  # not the page fixture: that one fails a test on any dialog, and this one asks

    slug, token = live_server.own_event()
    schedule = (SHARED_DATA / "fixtures" / "pretalx_schedule_democon.json").read_bytes()
    headers = {"Authorization": f"Bearer {token}"}
    when = datetime.now(UTC).replace(microsecond=0)
    live_server.call(
        "POST",
        f"/api/events/{slug}/talks",
        {"guid": "own-talk", "title": "The organizer's own talk", "start": when.isoformat(),
         "end": (when + timedelta(minutes=30)).isoformat()},
        headers,
    )  # fmt: skip
    _console(page, live_server, slug, token)
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.set_input_files("#schedule-file", {"name": "democon.json", "mimeType": "application/json", "buffer": schedule})
    page.click("#schedule-form button[type=submit]")
    expect(page.locator("#schedule-report")).to_have_text("Not imported: nothing changed.")
    assert "1 talk of the event" in asked[0] and "The organizer's own talk" in asked[0]
    talks = live_server.call("GET", f"/api/events/{slug}/talks")["items"]
    assert [t["title"] for t in talks] == ["The organizer's own talk"] and not talks[0]["cancelled"]

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#schedule-form button[type=submit]")
    expect(page.locator("#schedule-report")).to_contain_text("1 cancelled")
    talks = live_server.call("GET", f"/api/events/{slug}/talks")["items"]
    assert [t["cancelled"] for t in talks if t["guid"] == "own-talk"] == [True]
