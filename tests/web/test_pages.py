"""What the server-rendered pages show without JavaScript: takeaways, filters, the talk page, wall, embed, console."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from app.services.pages import TIMELINE_WIDTH, build_timeline
from tests.web.digests import put_digest, sample_digest

SLUG = "testcon"
AREAS = {"Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific"}


def _talk(client: TestClient, token: str, title: str, room: str, track: str, start: int, end: int) -> dict[str, Any]:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    body = {
        "title": title,
        "room": room,
        "track": track,
        "start": (now + timedelta(minutes=start)).isoformat(),
        "end": (now + timedelta(minutes=end)).isoformat(),
        "url": "https://example.org/talks/1",
        "feedback_url": "https://example.org/feedback/1",
    }
    response = client.post(f"/api/events/{SLUG}/talks", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _note(client: TestClient, text: str, **fields: Any) -> dict[str, Any]:
    response = client.post(f"/api/events/{SLUG}/posts", json={"text": text, **fields})
    assert response.status_code == 201, response.text
    return response.json()["post"]  # type: ignore[no-any-return]


@pytest.fixture
def schedule(client: TestClient, event: dict[str, Any]) -> list[dict[str, Any]]:
    token = event["organizer_token"]
    return [
        _talk(client, token, "Observability on a budget", "Main hall", "Operations", -10, 30),
        _talk(client, token, "Shipping small models", "Room B", "Machine learning", -10, 30),
        _talk(client, token, "Threat modelling", "Main hall", "Security", 40, 80),
    ]


def _digest(client: TestClient, talk_id: int | None, post_ids: list[int]) -> None:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    client.portal.call(put_digest, client.app.state.sessionmaker, SLUG, talk_id, sample_digest(post_ids, start))  # type: ignore[attr-defined]


def test_the_event_page_shows_takeaways_by_topic_with_their_source_posts(
    client: TestClient, schedule: list[dict[str, Any]]
) -> None:
    talk = schedule[0]["id"]
    post = _note(client, "Burn-rate alerts beat raw thresholds", talk_id=talk)
    _digest(client, talk, [post["id"]])
    html = client.get(f"/e/{SLUG}").text
    assert "Alert thresholds" in html and "p99 latency" in html
    assert "Alert on the error budget burn rate, not on raw p99 latency." in html
    sources = html.split('class="sources"')[1].split("</details>")[0]
    assert "Burn-rate alerts beat raw thresholds" in sources


def test_a_question_many_asked_stands_among_the_takeaways_marked_as_asked(
    client: TestClient, schedule: list[dict[str, Any]]
) -> None:
    talk = schedule[0]["id"]
    ids = [_note(client, "How long do you keep logs?", kind="question", talk_id=talk)["id"] for _ in range(3)]
    digest = sample_digest(ids, datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5))
    digest["takeaways"][1].update(text="How long do you keep logs?", kind="question", count=3)
    client.portal.call(put_digest, client.app.state.sessionmaker, SLUG, talk, digest)  # type: ignore[attr-defined]
    html = client.get(f"/e/{SLUG}/talks/{talk}").text
    asked = html.split('class="takeaway kind-question"')[1].split("</p>")[0]
    assert '<span class="asked">Asked 3×</span> How long do you keep logs?' in asked
    plain = html.split('class="takeaway kind-takeaway"')[1].split("</p>")[0]
    assert "Asked" not in plain


def test_an_answer_listed_apart_from_its_question_says_what_it_answers(
    client: TestClient, event: dict[str, Any], schedule: list[dict[str, Any]]
) -> None:
    """Where nobody files posts an answer can end on another talk than its question: "Around two seconds,
    then back off." alone tells a follower nothing, on the page or in the talk's summary."""
    talk, other = schedule[0]["id"], schedule[1]["id"]
    asked = "How long should a client wait before it retries?"
    question = _note(client, asked, kind="question", talk_id=talk, display_name="Li")
    body = {"text": "Around two seconds, then back off.", "reply_to": question["id"], "display_name": "Sasha"}
    answered = client.post(f"/api/events/{SLUG}/posts", json=body, headers={"X-Client-Id": "phone-of-sasha"})
    answer = answered.json()["post"]
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)

    apart = sample_digest([answer["id"]], start)
    apart["takeaways"][0].update(text=answer["text"], kind="answer")
    client.portal.call(put_digest, client.app.state.sessionmaker, SLUG, other, apart)  # type: ignore[attr-defined]
    for html in (client.get(f"/e/{SLUG}/talks/{other}").text, client.get(f"/e/{SLUG}").text):
        item = html.split('class="takeaway kind-answer"')[1].split('class="takeaway-text"')[0]
        assert (
            f'<p class="in-reply" data-question-id="{question["id"]}">In reply to Li: <q dir="auto">{asked}</q></p>'
            in item
        )
    summary = client.get(f"/api/events/{SLUG}/talks/{other}/export?format=md").text
    quoted = f"1. *In reply to Li: “{asked}”* \\[1\\]  \n"
    assert quoted + "   Around two seconds, then back off. *(2 votes)* \\[2\\]" in summary
    exported = client.get(f"/api/events/{SLUG}/talks/{other}/export?format=json").json()
    first = exported["talk"]["topics"][0]["takeaways"][0]
    assert (first["in_reply_to"]["text"], first["in_reply_to"]["author_name"]) == (asked, "Li")
    html = client.get(f"/api/events/{SLUG}/talks/{other}/export?format=html").text
    assert f'In reply to <span class="who" dir="auto">Li</span>: <span dir="auto">“{asked}”</span>' in html

    # listed right after its question, the answer needs no reminder of it
    together = sample_digest([question["id"]], start)
    together["takeaways"][0].update(text=asked, kind="question")
    together["takeaways"].insert(
        1,
        {
            **together["takeaways"][0],
            "text": answer["text"],
            "kind": "answer",
            "post_ids": [answer["id"]],
            "score": 0.8,
        },
    )
    client.portal.call(put_digest, client.app.state.sessionmaker, SLUG, talk, together)  # type: ignore[attr-defined]
    takeaways = client.get(f"/e/{SLUG}/talks/{talk}").text.split('class="digest')[1].split('id="feed-list"')[0]
    assert "Around two seconds" in takeaways and 'class="in-reply' not in takeaways
    summary = client.get(f"/api/events/{SLUG}/talks/{talk}/export?format=md").text
    assert "In reply to" not in summary and "2. Around two seconds, then back off." in summary

    # a question a moderator hid is not quoted
    organizer = {"Authorization": f"Bearer {event['organizer_token']}"}
    hidden = client.post(f"/api/events/{SLUG}/moderation/posts/{question['id']}/hide", headers=organizer)
    assert hidden.status_code == 200, hidden.text
    assert asked not in client.get(f"/e/{SLUG}/talks/{other}").text
    assert asked not in client.get(f"/api/events/{SLUG}/talks/{other}/export?format=md").text


def test_an_answer_in_the_newest_first_feed_says_what_it_answers(
    client: TestClient, event: dict[str, Any], schedule: list[dict[str, Any]]
) -> None:
    talk, other = schedule[0]["id"], schedule[1]["id"]
    asked = "Which collector do you run at the edge?"
    question = _note(client, asked, kind="question", talk_id=talk, display_name="Li")
    body = {"text": "The OpenTelemetry one, with tail sampling.", "reply_to": question["id"], "display_name": "Sasha"}
    answer = client.post(f"/api/events/{SLUG}/posts", json=body, headers={"X-Client-Id": "phone-of-sasha"})
    answer_id = answer.json()["post"]["id"]
    line = f'<p class="in-reply" data-question-id="{question["id"]}">In reply to Li: <q dir="auto">{asked}</q></p>'
    page = client.get(f"/e/{SLUG}").text
    feed = page.split('id="feed-list"')[1]
    assert line in feed.split(f'data-post-id="{answer_id}"')[1].split("</li>")[0]
    questions = page.split('id="questions"')[1].split("</ol>")[0]
    assert "in-reply" not in questions  # under its question it needs no reminder
    # put on another talk, that talk's page says what it answers too
    organizer = {"Authorization": f"Bearer {event['organizer_token']}"}
    moved = client.post(
        f"/api/events/{SLUG}/moderation/posts/{answer_id}/talk", json={"talk_id": other}, headers=organizer
    )
    assert moved.status_code == 200, moved.text
    feed = client.get(f"/e/{SLUG}/talks/{other}").text.split(f'data-post-id="{answer_id}"')[1].split("</li>")[0]
    assert line in feed


def test_a_topics_takeaways_read_in_the_same_order_on_the_page_and_in_the_summary(
    client: TestClient, schedule: list[dict[str, Any]]
) -> None:
    """The stage picks a topic's first takeaway by relevance and the next for what they add (MMR): a pick that
    adds something comes before a more relevant one that repeats the first, on the page as in the summary."""
    talk = schedule[0]["id"]
    texts = [
        "Alert on the error budget burn rate, not on raw p99 latency.",
        "Page a human only when the budget burns fast.",
        "Alert on burn rate instead of raw latency thresholds.",
    ]
    ids = [_note(client, text, talk_id=talk)["id"] for text in texts]
    digest = sample_digest(ids[:1], datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5))
    first = digest["takeaways"][0]
    digest["takeaways"][1:] = [
        {**first, "text": texts[1], "post_ids": ids[1:2], "score": 0.4},
        {**first, "text": texts[2], "post_ids": ids[2:3], "score": 0.8},
    ]
    client.portal.call(put_digest, client.app.state.sessionmaker, SLUG, talk, digest)  # type: ignore[attr-defined]
    page = client.get(f"/e/{SLUG}/talks/{talk}").text.split('class="digest')[1]
    summary = client.get(f"/api/events/{SLUG}/talks/{talk}/export?format=md").text
    for text in (page, summary):
        assert 0 < text.index(texts[0]) < text.index(texts[1]) < text.index(texts[2])


def test_a_topic_of_praise_for_the_speaker_comes_after_what_the_talk_taught(
    client: TestClient, schedule: list[dict[str, Any]]
) -> None:
    """In the clustering stage's order, on the page and in the summary, though it is the bigger topic."""
    talk = schedule[0]["id"]
    ids = [_note(client, "Best talk of the day, thanks Dev!", talk_id=talk)["id"] for _ in range(2)]
    digest = sample_digest(ids, datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5))
    digest["topics"][1].update(label="Thanks Dev", size=40)
    digest["topics"].reverse()  # the stage lists its topics biggest first
    digest["takeaways"][1].update(text="Best talk of the day, thanks Dev!", kind="feedback", label="Thanks Dev")
    client.portal.call(put_digest, client.app.state.sessionmaker, SLUG, talk, digest)  # type: ignore[attr-defined]
    for html in (client.get(f"/e/{SLUG}").text, client.get(f"/e/{SLUG}/talks/{talk}").text):
        assert 0 < html.index("Alert thresholds") < html.index("Thanks Dev")
    summary = client.get(f"/api/events/{SLUG}/talks/{talk}/export?format=md").text
    assert 0 < summary.index("Alert thresholds") < summary.index("Thanks Dev")


def test_without_a_schedule_the_streams_own_topics_take_the_place_of_the_sessions(
    client: TestClient, event: dict[str, Any]
) -> None:
    assert "No schedule yet: topics and their takeaways appear here" in client.get(f"/e/{SLUG}").text
    post = _note(client, "Burn-rate alerts beat raw thresholds")
    _digest(client, None, [post["id"]])
    html = client.get(f"/e/{SLUG}").text
    main, side = html.split('<aside class="side"')
    assert '<h2 id="talks-h">Topics</h2>' in main and "Sessions" not in main
    assert "Alert thresholds" in main and "Alert on the error budget burn rate" in main
    assert html.count('id="digest-hallway"') == 1  # the live script swaps it by id: one place only
    assert "In the hallway</h3>" not in side


def test_the_event_page_says_what_is_on_now_and_next_in_each_room(
    client: TestClient, schedule: list[dict[str, Any]]
) -> None:
    html = client.get(f"/e/{SLUG}").text
    rooms = html.split('id="rooms"')[1].split("</section>")[0]
    main_hall = rooms.split('data-room="Main hall"')[1].split("</li>")[0]
    assert "Observability on a budget" in main_hall.split("slot-next")[0]
    assert "Threat modelling" in main_hall.split("slot-next")[1]


def test_after_the_last_session_the_page_says_the_schedule_ended_instead_of_every_room_being_empty(
    client: TestClient, event: dict[str, Any]
) -> None:
    token = event["organizer_token"]
    _talk(client, token, "Opening", "Main hall", "Keynotes", -300, -240)
    _talk(client, token, "Closing", "Main hall", "Keynotes", -120, -60)
    _talk(client, token, "Lightning talks", "Room B", "Community", -180, -150)
    rooms = client.get(f"/e/{SLUG}").text.split('id="rooms"')[1].split("</section>")[0]
    assert "Nothing on now" not in rooms and "data-room=" not in rooms
    ended = (datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=60)).astimezone(
        ZoneInfo("Europe/Berlin")
    )
    assert "The last session ended <time" in rooms
    assert f"{ended:%H:%M}</time>" in rooms
    sessions = client.get(f"/e/{SLUG}").text.split('id="talks"')[1]
    # read after the event, the program runs from its start, not back from the closing
    assert sessions.index("Opening") < sessions.index("Lightning talks") < sessions.index("Closing")


def test_the_activity_timeline_marks_bursts(client: TestClient, schedule: list[dict[str, Any]]) -> None:
    talk = schedule[0]["id"]
    _digest(client, talk, [_note(client, "Burst!", talk_id=talk)["id"]])
    html = client.get(f"/e/{SLUG}/talks/{talk}").text
    timeline = html.split(f'id="timeline-{talk}"')[1].split("</figure>")[0]
    assert timeline.count('class="bar"') == 5
    assert 'class="burst"' in timeline and "error budget" in timeline
    assert "<span>19 posts · 1 burst</span>" in timeline


def test_a_timeline_of_one_post_says_one_post(client: TestClient, schedule: list[dict[str, Any]]) -> None:
    talk = schedule[1]["id"]
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    digest = {**sample_digest([_note(client, "First!", talk_id=talk)["id"]], start), "bursts": []}
    digest["activity"] = [[start.isoformat(), 1]]
    client.portal.call(put_digest, client.app.state.sessionmaker, SLUG, talk, digest)  # type: ignore[attr-defined]
    timeline = client.get(f"/e/{SLUG}/talks/{talk}").text.split(f'id="timeline-{talk}"')[1].split("</figure>")[0]
    assert "Activity: 1 post, at most 1 a minute" in timeline and "<span>1 post</span>" in timeline


def test_filters_keep_one_room_and_only_questions(client: TestClient, schedule: list[dict[str, Any]]) -> None:
    _note(client, "What about cardinality?", kind="question", talk_id=schedule[0]["id"])
    _note(client, "Distillation is underrated", talk_id=schedule[1]["id"])
    _note(client, "Which registry do you use?", kind="question", talk_id=schedule[1]["id"])
    html = client.get(f"/e/{SLUG}", params={"room": "Main hall", "kind": "question"}).text
    talks = html.split('id="talks"')[1].split("</section>")[0]
    assert "Observability on a budget" in talks and "Shipping small models" not in talks
    feed = html.split('id="feed-list"')[1].split("</ol>")[0]
    assert "What about cardinality?" in feed
    assert "Distillation is underrated" not in feed and "Which registry do you use?" not in feed


def test_nonsense_filters_and_unknown_talks_never_fail(client: TestClient, schedule: list[dict[str, Any]]) -> None:
    assert client.get(f"/e/{SLUG}", params={"kind": "<script>", "room": "x" * 200, "lang": "zz"}).status_code == 200
    assert client.get(f"/e/{SLUG}/talks/999999").status_code == 404
    assert client.get(f"/e/{SLUG}/talks/0").status_code == 422
    assert client.get(f"/embed/{SLUG}/talks/999999").status_code == 404
    assert client.get(f"/e/{SLUG}/parts/talks/{schedule[0]['id']}", params={"limit": 10_000}).status_code == 422


def test_the_talk_page_links_to_the_talk_and_its_feedback_form(
    client: TestClient, schedule: list[dict[str, Any]]
) -> None:
    html = client.get(f"/e/{SLUG}/talks/{schedule[0]['id']}").text
    assert 'href="https://example.org/talks/1"' in html
    assert 'href="https://example.org/feedback/1"' in html


def test_a_follower_downloads_the_sessions_summary_from_the_talk_page(
    client: TestClient, schedule: list[dict[str, Any]]
) -> None:
    talk = schedule[0]["id"]
    html = client.get(f"/e/{SLUG}/talks/{talk}").text
    links = re.findall(r'href="(/api/events/[^"]+/export\?format=(\w+))" download>', html)
    assert [fmt for _, fmt in links] == ["md", "html", "pdf", "json", "csv"]
    for url, fmt in links:
        if fmt != "pdf":  # (the PDF renders in its own tests)
            response = client.get(url)
            assert response.status_code == 200, (fmt, response.text[:200])
            assert "Observability on a budget" in response.text or fmt == "csv"


def test_answers_sit_under_their_question(client: TestClient, schedule: list[dict[str, Any]]) -> None:
    question = _note(client, "How long do you keep logs?", kind="question", talk_id=schedule[0]["id"])
    response = client.post(f"/api/events/{SLUG}/posts", json={"text": "Thirty days hot.", "reply_to": question["id"]})
    if response.status_code != 201 or response.json()["post"]["kind"] != "answer":
        pytest.skip("this build does not mark replies to questions as answers")
    html = client.get(f"/e/{SLUG}").text
    questions = html.split('id="questions"')[1].split("</ol>")[0]
    assert questions.index("How long do you keep logs?") < questions.index("Thirty days hot.")


def test_open_questions_come_first_and_answered_ones_say_so(client: TestClient, schedule: list[dict[str, Any]]) -> None:
    answered = _note(client, "Is the workshop recorded?", kind="question")
    for voter in ("a", "b", "c"):  # the most voted, but answered
        client.post(f"/api/events/{SLUG}/posts/{answered['id']}/upvote", headers={"X-Client-Id": voter})
    _note(client, "Yes, videos go up tonight.", reply_to=answered["id"])
    _note(client, "Where are the slides?", kind="question")
    questions = client.get(f"/e/{SLUG}").text.split('id="questions"')[1].split("</ol>")[0]
    assert questions.index("Where are the slides?") < questions.index("Is the workshop recorded?")
    entries = questions.split('<li class="post')
    (recorded,) = [e for e in entries if "Is the workshop recorded?" in e]
    (slides,) = [e for e in entries if "Where are the slides?" in e]
    assert "badge answered" in recorded and "badge answered" not in slides


def test_user_text_is_escaped_in_the_first_paint(client: TestClient, schedule: list[dict[str, Any]]) -> None:
    _note(client, '<img src=x onerror=alert(1)> "quoted" <script>alert(1)</script>')
    html = client.get(f"/e/{SLUG}").text
    assert "<img src=x" not in html and "<script>alert" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_the_wall_has_one_column_per_room_on_request(client: TestClient, schedule: list[dict[str, Any]]) -> None:
    html = client.get(f"/e/{SLUG}/wall", params={"layout": "rooms"}).text
    assert "layout-rooms" in html
    assert html.count('class="card wall-panel') == 2
    assert "<button" not in html and "<form" not in html  # nothing to operate on a projector


def test_the_wall_says_where_to_post_at_the_sites_public_address(
    client: TestClient, schedule: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def told(**headers: str) -> str:
        found = re.search(
            r'class="wall-how">Post at <strong>(.*?)</strong>', client.get(f"/e/{SLUG}/wall", headers=headers).text
        )
        assert found
        return found.group(1)

    assert told(host="bc.example.org") == f"bc.example.org/e/{SLUG}"
    settings = client.app.state.settings  # type: ignore[attr-defined]
    public = settings.model_copy(update={"public_base_url": "https://backchannel.example.org/"})
    monkeypatch.setattr(client.app.state, "settings", public)  # type: ignore[attr-defined]
    assert told(host="10.0.0.7:8000") == f"backchannel.example.org/e/{SLUG}"  # the proxy's inside address was shown


def test_with_no_talk_on_the_wall_shows_the_hallways_topics(client: TestClient, event: dict[str, Any]) -> None:
    assert "Nothing on right now" in client.get(f"/e/{SLUG}/wall").text
    post = _note(client, "Burn-rate alerts beat raw thresholds")
    _digest(client, None, [post["id"]])
    html = client.get(f"/e/{SLUG}/wall").text
    assert "In the hallway" in html and "Alert thresholds" in html and "Nothing on right now" not in html
    assert html.count('id="digest-hallway"') == 1


def test_after_the_last_session_the_walls_hallway_is_not_between_sessions(
    client: TestClient, event: dict[str, Any]
) -> None:
    _talk(client, event["organizer_token"], "Closing", "Main hall", "Keynotes", -120, -60)
    _digest(client, None, [_note(client, "Burn-rate alerts beat raw thresholds")["id"]])
    html = client.get(f"/e/{SLUG}/wall").text
    assert '<p class="wall-room">After the last session</p>' in html and "Between sessions" not in html


def test_only_the_embed_may_be_framed_by_other_sites(client: TestClient, schedule: list[dict[str, Any]]) -> None:
    talk = schedule[0]["id"]
    page = client.get(f"/e/{SLUG}/talks/{talk}")
    embed = client.get(f"/embed/{SLUG}/talks/{talk}")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors *" in embed.headers["content-security-policy"]
    assert "x-frame-options" not in embed.headers
    for response in (page, embed):
        assert "unsafe-inline" not in response.headers["content-security-policy"]


def test_the_console_page_holds_no_secret(client: TestClient, event: dict[str, Any]) -> None:
    html = client.get(f"/e/{SLUG}/organize").text
    assert event["organizer_token"] not in html
    assert 'id="token-input"' in html


def test_posting_without_javascript_returns_to_the_feed(client: TestClient, schedule: list[dict[str, Any]]) -> None:
    response = client.post(
        f"/e/{SLUG}/posts",
        data={"text": "Posted from a plain form", "talk_id": str(schedule[0]["id"])},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"].endswith("#feed")
    assert "Posted from a plain form" in client.get(f"/e/{SLUG}").text


def test_an_empty_post_without_javascript_explains_itself(client: TestClient, schedule: list[dict[str, Any]]) -> None:
    response = client.post(f"/e/{SLUG}/posts", data={"text": "   "})
    assert response.status_code == 200
    assert "Write between 1 and 1000 characters" in response.text


def test_a_post_of_only_invisible_characters_without_javascript_explains_itself(
    client: TestClient, schedule: list[dict[str, Any]]
) -> None:
    response = client.post(f"/e/{SLUG}/posts", data={"text": "\u200b\u0007\u202e"}, follow_redirects=False)
    assert response.status_code == 303 and "error=Write+between" in response.headers["location"]
    assert client.get(f"/api/events/{SLUG}/posts").json()["items"] == []


def _preselected_talk(html: str) -> str | None:
    about = html.split('id="post-talk"')[1].split("</select>")[0]
    chosen = re.search(r'<option value="(\d*)"[^>]*\bselected\b', about)
    return chosen.group(1) if chosen else None


def test_with_two_talks_on_the_posting_form_guesses_neither(client: TestClient, schedule: list[dict[str, Any]]) -> None:
    """Two rooms are busy: a guess would file a note from Room B under the main hall's talk, and the stage trusts a
    chosen talk. The note goes as "No particular talk" unless its writer picks a room or a talk."""
    assert _preselected_talk(client.get(f"/e/{SLUG}").text) is None


def test_in_a_single_track_event_the_posting_form_has_the_talk_on_now_chosen(
    client: TestClient, event: dict[str, Any]
) -> None:
    talk = _talk(client, event["organizer_token"], "The talk now", "Main hall", "Operations", -10, 30)
    _talk(client, event["organizer_token"], "The talk after", "Main hall", "Security", 40, 80)
    assert _preselected_talk(client.get(f"/e/{SLUG}").text) == str(talk["id"])


def test_with_two_talks_on_and_no_rooms_named_the_posting_form_guesses_neither(
    client: TestClient, event: dict[str, Any]
) -> None:
    for title in ("One of two talks now", "The other talk now"):
        _talk(client, event["organizer_token"], title, "", "Operations", -10, 30)
    assert _preselected_talk(client.get(f"/e/{SLUG}").text) is None


def test_with_one_room_busy_and_another_in_a_break_the_posting_form_guesses_neither(
    client: TestClient, event: dict[str, Any]
) -> None:
    """A note from Room B's break is as likely about its talk just over as about the main hall's."""
    _talk(client, event["organizer_token"], "The only talk now", "Main hall", "Operations", -10, 30)
    _talk(client, event["organizer_token"], "Just over in Room B", "Room B", "Security", -60, -5)
    assert _preselected_talk(client.get(f"/e/{SLUG}").text) is None


def test_a_plain_form_post_keeps_the_talk_it_was_written_for(
    client: TestClient, schedule: list[dict[str, Any]]
) -> None:
    talk = schedule[1]["id"]
    client.post(f"/e/{SLUG}/posts", data={"text": "For the second talk", "talk_id": str(talk)}, follow_redirects=False)
    post = client.get(f"/api/events/{SLUG}/posts").json()["items"][0]
    assert (post["text"], post["talk_id"]) == ("For the second talk", talk)


def test_without_javascript_anyone_can_answer_an_open_question_under_it(
    client: TestClient, schedule: list[dict[str, Any]]
) -> None:
    question = _note(client, "Which exporter do you use?", kind="question", talk_id=schedule[0]["id"])
    page = client.get(f"/e/{SLUG}").text
    form = f'<input type="hidden" name="reply_to" value="{question["id"]}">'
    assert page.count(form) == 1  # under the question in the open questions, not in the feed or the card
    answered = client.post(
        f"/e/{SLUG}/posts",
        data={"text": "The OpenTelemetry collector", "reply_to": str(question["id"])},
        follow_redirects=False,
    )
    assert answered.status_code == 303 and answered.headers["location"].endswith("#questions")
    answer = next(p for p in client.get(f"/api/events/{SLUG}/posts").json()["items"] if p["reply_to_id"])
    assert (answer["text"], answer["reply_to_id"], answer["talk_id"]) == (
        "The OpenTelemetry collector",
        question["id"],
        schedule[0]["id"],  # an answer belongs where its question is
    )
    questions = client.get(f"/e/{SLUG}").text.split('id="questions"')[1].split("</ol>")[0]
    assert questions.index("Which exporter do you use?") < questions.index("The OpenTelemetry collector")

    gone = client.post(f"/e/{SLUG}/posts", data={"text": "Too late", "reply_to": "999999"}, follow_redirects=False)
    assert gone.status_code == 303 and "no+longer+there" in gone.headers["location"]
    assert all(p["text"] != "Too late" for p in client.get(f"/api/events/{SLUG}/posts").json()["items"])


def test_an_answer_given_again_in_the_same_words_is_folded_by_the_server_too(
    client: TestClient, schedule: list[dict[str, Any]]
) -> None:
    """Without scripts (and before they run: no page that jumps as it loads) the same answer reads once,
    naming who else gave it; the others are in the page, hidden."""

    def answer(text: str, name: str) -> int:
        body = {"text": text, "reply_to": qid, "display_name": name}
        response = client.post(f"/api/events/{SLUG}/posts", json=body, headers={"X-Client-Id": f"phone-of-{name}"})
        assert response.status_code == 201, response.text
        return int(response.json()["post"]["id"])

    qid = _note(client, "Is the workshop room the one upstairs?", kind="question")["id"]
    first = answer("Yes, second floor, next to the lifts.", "Sasha")
    echoes = [
        answer("yes,  second floor, next to the lifts", "Tom"),
        answer("Yes, second floor, next to the lifts!", "Ivy"),
        answer("Yes, second floor, next to the lifts.", "Tom"),
    ]
    other = answer("Take the stairs, the lifts are slow.", "Li")
    questions = client.get(f"/e/{SLUG}").text.split('id="questions"')[1].split("</ol>")[0]
    items = {int(m[1]): m[0] for m in re.findall(r'(<li class="post[^>]*data-post-id="(\d+)"[^>]*>)', questions)}
    assert " hidden" not in items[first] and " hidden" not in items[other]
    assert all(items[e].endswith(" hidden>") for e in echoes)
    assert questions.count('class="echoes"') == 1
    lead = questions.split(f'data-post-id="{first}"')[1]
    assert '<p class="echoes">Also said by Tom, Ivy: 4 times in all.</p>' in lead


def test_without_javascript_i_can_delete_what_i_posted_and_nobody_else_can(
    client: TestClient, schedule: list[dict[str, Any]]
) -> None:
    client.post(f"/e/{SLUG}/posts", data={"text": "Posted from my phone, no scripts"}, follow_redirects=False)
    mine = next(p for p in client.get(f"/api/events/{SLUG}/posts").json()["items"] if "no scripts" in p["text"])
    delete_form = f'action="/e/{SLUG}/posts/{mine["id"]}/delete"'
    assert delete_form in client.get(f"/e/{SLUG}").text

    stranger = TestClient(client.app)  # another browser: its own cookie jar,
    stranger.portal = client.portal  # on the running app's event loop (its PostgreSQL pool lives there)
    assert delete_form not in stranger.get(f"/e/{SLUG}").text
    refused = stranger.post(f"/e/{SLUG}/posts/{mine['id']}/delete", follow_redirects=False)
    assert refused.status_code == 303 and "error=" in refused.headers["location"]
    assert "Posted from my phone, no scripts" in client.get(f"/e/{SLUG}").text

    deleted = client.post(f"/e/{SLUG}/posts/{mine['id']}/delete", follow_redirects=False)
    assert deleted.status_code == 303 and deleted.headers["location"].endswith("#feed")
    assert "Posted from my phone, no scripts" not in client.get(f"/e/{SLUG}").text
    again = client.post(f"/e/{SLUG}/posts/{mine['id']}/delete", follow_redirects=False)
    assert again.status_code == 303 and "error=" not in again.headers["location"]  # already gone is fine


async def _cancel(maker: Any, talk_ids: list[int]) -> None:
    from app.store.tables import Talk

    async with maker() as session:
        for talk_id in talk_ids:
            talk = await session.get(Talk, talk_id)
            talk.cancelled = True
            session.add(talk)
        await session.commit()


def test_cancelled_talks_nobody_wrote_about_stay_off_the_page(client: TestClient, event: dict[str, Any]) -> None:
    token = event["organizer_token"]
    _talk(client, token, "Observability on a budget", "Main hall", "Operations", -10, 30)
    on_now = _talk(client, token, "Dropped keynote", "Room Z", "Operations", -10, 30)
    later = _talk(client, token, "Dropped workshop", "Room Y", "Operations", 60, 90)
    written_about = _talk(client, token, "Dropped panel", "Room X", "Operations", 60, 90)
    _note(client, "Looking forward to the panel", talk_id=written_about["id"])
    client.portal.call(_cancel, client.app.state.sessionmaker, [on_now["id"], later["id"], written_about["id"]])  # type: ignore[attr-defined]
    html = client.get(f"/e/{SLUG}").text
    rooms = html.split('id="rooms"')[1].split("</section>")[0]
    assert 'data-room="Main hall"' in rooms
    assert not any(f'data-room="{room}"' in rooms for room in ("Room X", "Room Y", "Room Z"))
    assert "Dropped workshop" not in html
    assert "Dropped panel" in html  # people wrote about it
    assert "Dropped keynote" in html  # its slot is now: followers learn it is off


def _offered_zones(client: TestClient, path: str) -> list[str]:
    """The time zones a page's form suggests, in order."""
    html = client.get(path).text
    datalist = re.search(r'<datalist id="[^"]*zones">(.*?)</datalist>', html, re.S)
    assert datalist, html
    return re.findall(r'<option value="([^"]+)">', datalist.group(1))


@pytest.mark.parametrize("path", ["/new", f"/e/{SLUG}/organize"])
def test_the_time_zone_suggestions_are_iana_area_location_names_and_utc(
    client: TestClient, event: dict[str, Any], path: str
) -> None:
    # the list offered "localtime", "Factory", "posixrules", "EST5EDT", "US/Eastern" and "Etc/GMT+1" (which is UTC-1)
    zones = _offered_zones(client, path)
    assert zones[0] == "UTC"
    assert "Europe/Berlin" in zones and "America/Argentina/Buenos_Aires" in zones and "Pacific/Auckland" in zones
    odd = [z for z in zones[1:] if z.split("/")[0] not in AREAS or "/" not in z]
    assert not odd
    assert len(zones) > 300


@pytest.mark.parametrize("path", ["/new", f"/e/{SLUG}/organize"])
def test_the_time_zone_suggestions_offer_the_current_name_of_a_renamed_zone_not_the_old_one(
    client: TestClient, event: dict[str, Any], path: str
) -> None:
    # the list offered Europe/Kiev next to Europe/Kyiv, Asia/Calcutta next to Asia/Kolkata
    zones = set(_offered_zones(client, path))
    for old, current in [
        ("Europe/Kiev", "Europe/Kyiv"),
        ("Asia/Calcutta", "Asia/Kolkata"),
        ("Asia/Saigon", "Asia/Ho_Chi_Minh"),
        ("America/Buenos_Aires", "America/Argentina/Buenos_Aires"),
        ("Asia/Katmandu", "Asia/Kathmandu"),
        ("Pacific/Enderbury", "Pacific/Kanton"),
    ]:
        assert current in zones and old not in zones, (old, current)
    assert {"Europe/Amsterdam", "Europe/Oslo", "Asia/Tokyo", "America/New_York"} <= zones  # every country's own


def test_an_old_zone_name_typed_in_is_still_accepted(client: TestClient, event: dict[str, Any]) -> None:
    token = {"Authorization": f"Bearer {event['organizer_token']}"}
    changed = client.patch(f"/api/events/{SLUG}", json={"time_zone": "Europe/Kiev"}, headers=token)
    assert changed.status_code == 200 and changed.json()["time_zone"] == "Europe/Kiev"
    created = client.post("/new", data={"name": "Kyiv Summit", "slug": "kyiv-summit", "time_zone": "Europe/Kiev"})
    assert created.status_code == 201, created.text


def test_the_embed_snippet_is_an_absolute_address_that_works_on_another_site(
    client: TestClient, schedule: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # it was <iframe src="/embed/…">, which pasted into a blog points at the blog's own server
    talk = schedule[0]["id"]

    def snippet(**headers: str) -> str:
        html = client.get(f"/e/{SLUG}/talks/{talk}", headers=headers).text
        found = re.search(r'<p class="embed-link">.*?<code>(.*?)</code>', html, re.S)
        assert found, html
        return found.group(1)

    src = f'src="http://bc.example.org/embed/{SLUG}/talks/{talk}"'
    assert (
        snippet(host="bc.example.org")
        == f'&lt;iframe {src} title="Live takeaways" width="400" height="600"&gt;&lt;/iframe&gt;'
    )
    settings = client.app.state.settings  # type: ignore[attr-defined]
    public = settings.model_copy(update={"public_base_url": "https://backchannel.example.org/"})
    monkeypatch.setattr(client.app.state, "settings", public)  # type: ignore[attr-defined]
    assert f'src="https://backchannel.example.org/embed/{SLUG}/talks/{talk}"' in snippet(host="10.0.0.7:8000")


def test_topic_labels_are_headings_one_level_below_the_section_they_sit_in(
    client: TestClient, schedule: list[dict[str, Any]]
) -> None:
    # a topic label was an h4 straight under an h2 on the talk page and the wall, and under the h1 in the embed
    talk = schedule[0]["id"]
    post = _note(client, "Burn-rate alerts beat raw thresholds", talk_id=talk)
    _digest(client, talk, [post["id"]])
    for path, level in (
        (f"/e/{SLUG}", 4),  # h2 Sessions > h3 the talk > its topics
        (f"/e/{SLUG}/talks/{talk}", 3),  # h2 Takeaways by topic
        (f"/e/{SLUG}/wall", 3),  # h2 the talk
        (f"/embed/{SLUG}/talks/{talk}", 2),  # h1 the talk
    ):
        html = client.get(path).text
        digest = html.split(f'id="digest-{talk}"')[1].split("</div>")[0]
        assert f'data-level="{level}"' in digest, path
        assert re.findall(r'<h(\d) class="topic-label">', digest) == [str(level)] * 2, path


def test_a_talks_live_parts_come_at_the_heading_level_asked(client: TestClient, schedule: list[dict[str, Any]]) -> None:
    talk = schedule[0]["id"]
    post = _note(client, "Burn-rate alerts beat raw thresholds", talk_id=talk)
    _digest(client, talk, [post["id"]])
    parts = f"/e/{SLUG}/parts/talks/{talk}"
    assert '<h4 class="topic-label">' in client.get(parts).text  # the event page's cards, as before
    assert '<h3 class="topic-label">' in client.get(parts, params={"level": 3}).text
    assert '<h4 class="topic-label">' not in client.get(parts, params={"level": 3}).text
    assert client.get(parts, params={"level": 7}).status_code == 422


def _asked_again(client: TestClient, talk_id: int, post_ids: list[int], votes: int = 0) -> None:
    """The clustering stage names ``post_ids`` one question asked again, the first saying it best."""
    digest = sample_digest(post_ids, datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5))
    digest["questions"] = [{"post_ids": post_ids, "count": len(post_ids), "votes": votes}]
    client.portal.call(put_digest, client.app.state.sessionmaker, SLUG, talk_id, digest)  # type: ignore[attr-defined]


def _questions_panel(client: TestClient) -> str:
    return client.get(f"/e/{SLUG}").text.split('id="questions"')[1].split("</ol>")[0]


def test_my_question_listed_under_another_copy_says_i_asked_it_too_and_i_can_delete_it_there(
    client: TestClient, schedule: list[dict[str, Any]]
) -> None:
    talk = schedule[0]["id"]
    theirs = client.post(
        f"/api/events/{SLUG}/posts",
        json={"text": "Is the code on GitHub?", "kind": "question", "talk_id": talk},
        headers={"X-Client-Id": "someone-else"},
    ).json()["post"]
    client.post(f"/api/events/{SLUG}/posts/{theirs['id']}/upvote", headers={"X-Client-Id": "voter"})
    client.post(
        f"/e/{SLUG}/posts",
        data={"text": "is the code on github??", "kind": "question", "talk_id": str(talk)},
        follow_redirects=False,
    )
    mine = next(p for p in client.get(f"/api/events/{SLUG}/posts").json()["items"] if p["text"].endswith("??"))
    client.post(f"/api/events/{SLUG}/posts/{mine['id']}/upvote", headers={"X-Client-Id": "voter"})
    _asked_again(client, talk, [theirs["id"], mine["id"]], votes=2)

    panel = _questions_panel(client)
    (entry,) = [e for e in panel.split('<li class="post')[1:] if "Is the code on GitHub?" in e]
    assert "Asked 2× · 2 votes in all" in entry
    assert "You asked this too: <q" in entry and "is the code on github??" in entry
    assert f'action="/e/{SLUG}/posts/{mine["id"]}/delete"' in entry and "Delete my question" in entry
    assert f'data-post-id="{mine["id"]}" data-version' not in panel  # listed once, under their words

    stranger = TestClient(client.app)  # another browser sees one question asked twice, nothing of mine
    stranger.portal = client.portal
    other_panel = stranger.get(f"/e/{SLUG}").text.split('id="questions"')[1].split("</ol>")[0]
    assert "Asked 2×" in other_panel and "You asked this too" not in other_panel

    deleted = client.post(f"/e/{SLUG}/posts/{mine['id']}/delete", follow_redirects=False)
    assert deleted.status_code == 303
    # the page it lands on counts the question once, with its own vote, before the clustering stage counts again
    (entry,) = [e for e in _questions_panel(client).split('<li class="post')[1:] if "Is the code on GitHub?" in e]
    assert "Asked" not in entry and "You asked this too" not in entry and "is the code on github??" not in entry


def test_a_question_i_asked_twice_in_other_words_is_not_said_to_be_asked_by_me_twice(
    client: TestClient, schedule: list[dict[str, Any]]
) -> None:
    # the listed copy is mine too: it carries its own delete button; the line names only the folded copy
    talk = schedule[0]["id"]
    for text in ("Where do I find the slides?", "where are the slides??"):
        client.post(
            f"/e/{SLUG}/posts", data={"text": text, "kind": "question", "talk_id": str(talk)}, follow_redirects=False
        )
    ids = {p["text"]: p["id"] for p in client.get(f"/api/events/{SLUG}/posts").json()["items"]}
    first, again = ids["Where do I find the slides?"], ids["where are the slides??"]
    _asked_again(client, talk, [first, again])
    (entry,) = _questions_panel(client).split('<li class="post')[1:]
    assert entry.count("You asked this too") == 1 and f'action="/e/{SLUG}/posts/{first}/delete"' in entry
    assert f'action="/e/{SLUG}/posts/{again}/delete"' in entry


def test_a_one_minute_burst_covers_its_minute_on_the_timeline() -> None:
    """A burst ends at the start of its last minute: its box spans that minute's bar, like the PDF's chart,
    instead of shrinking to a hairline."""
    start = datetime(2026, 5, 14, 10, 0, tzinfo=UTC)
    talk = SimpleNamespace(start=start, end=start + timedelta(minutes=40))
    minute = start + timedelta(minutes=12)
    digest = SimpleNamespace(bursts=[SimpleNamespace(start=minute, end=minute, label="live demo", peak=9)])
    timeline = build_timeline(talk, [(minute, 9)], digest)  # type: ignore[arg-type]
    [box] = timeline.bursts
    [bar] = timeline.bars
    assert box.x == bar.x
    assert box.width == pytest.approx(TIMELINE_WIDTH / 40, abs=0.01)


def test_a_talk_on_another_day_says_which_day(client: TestClient, event: dict[str, Any]) -> None:
    """On a three-day schedule "Later 14:00–14:30" does not say when: a talk not on today's date shows its day,
    on its card and as a room's next talk."""
    talk = _talk(client, event["organizer_token"], "Day three keynote", "Room C", "Keynotes", 3 * 1440, 3 * 1440 + 45)
    starts = datetime.fromisoformat(talk["start"]).astimezone(ZoneInfo("Europe/Berlin"))
    day = f"{starts:%a %d %b}, {starts:%H:%M}"
    html = client.get(f"/e/{SLUG}").text
    card = html.split('id="talks"')[1].split("Day three keynote")[0]
    assert f">{day}</time>–<time" in card
    room = html.split('id="rooms"')[1].split('data-room="Room C"')[1].split("</li>")[0]
    assert '<span class="state">Next</span>' in room
    assert f">{day}</time>" in room.split("slot-next")[1]
