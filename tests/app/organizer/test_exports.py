"""Session summaries exported during the event: every format, only visible content, opted-out authors unnamed."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from app.store.tables import TalkDigest
from tests.app.organizer.conftest import auth, post_note
from tests.conftest import create_event

BASE = "/api/events/testcon"


def add_talk(client: TestClient, event: dict[str, Any], guid: str, title: str, hour: int) -> dict[str, Any]:
    body = {
        "guid": guid,
        "title": title,
        "start": f"2026-05-04T{hour:02d}:00:00+02:00",
        "end": f"2026-05-04T{hour:02d}:45:00+02:00",
        "room": "Saal 1",
        "speakers": ["Ada Lovelace"],
        "code": guid,
    }
    response = client.post(f"{BASE}/talks", json=body, headers=auth(event))
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def add_digest(
    client: TestClient, talk_id: int, takeaways: list[dict[str, Any]], questions: list[dict[str, Any]] | None = None
) -> None:
    async def insert() -> None:
        async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            session.add(
                TalkDigest(
                    event_id=1,
                    talk_id=talk_id,
                    talk_key=talk_id,
                    topics=[
                        {
                            "id": 7,
                            "talk_id": talk_id,
                            "label": "Streaming",
                            "keyphrases": ["online learning"],
                            "size": 3,
                        }
                    ],
                    takeaways=takeaways,
                    activity=[["2026-05-04T08:05:00Z", 2], ["2026-05-04T08:06:00Z", 5]],
                    bursts=[
                        {"start": "2026-05-04T08:06:00Z", "end": "2026-05-04T08:07:00Z", "peak": 5, "label": "demo"}
                    ],
                    questions=questions or [],
                )
            )
            await session.commit()

    client.portal.call(insert)  # type: ignore[union-attr]


@pytest.fixture
def demo(client: TestClient, event: dict[str, Any]) -> dict[str, Any]:
    """Two talks; the first has takeaways, an answered and an open question, and a post later hidden."""
    talk = add_talk(client, event, "streaming-models", "Streaming topic models", 10)
    add_talk(client, event, "quiet-talk", "A quiet talk", 11)
    good = post_note(
        client, "Online clustering needs bounded state", client_id="ana", display_name="Ana", talk_id=talk["id"]
    )
    spam = post_note(client, "Buy followers now", client_id="spammer", display_name="Spam", talk_id=talk["id"])
    question = post_note(
        client, "How do topic ids stay stable?", client_id="bo", display_name="Bo", kind="question", talk_id=talk["id"]
    )
    post_note(client, "They are never reused", client_id="ana", display_name="Ana", reply_to=question["id"])
    open_q = post_note(
        client, "Is there a paper?", client_id="cy", display_name="Cy", kind="question", talk_id=talk["id"]
    )
    client.post(f"{BASE}/moderation/posts/{spam['id']}/hide", headers=auth(event))
    add_digest(
        client,
        talk["id"],
        [
            {
                "topic_id": 7,
                "label": "Streaming",
                "keyphrases": [],
                "text": good["text"],
                "kind": "takeaway",
                "count": 1,
                "votes": 0,
                "score": 1.0,
                "post_ids": [good["id"], spam["id"]],
            },
            {
                "topic_id": 7,
                "label": "Streaming",
                "keyphrases": [],
                "text": spam["text"],
                "kind": "takeaway",
                "count": 1,
                "votes": 0,
                "score": 0.5,
                "post_ids": [spam["id"]],
            },
        ],  # fmt: skip
    )
    return {"talk": talk, "good": good, "spam": spam, "question": question, "open": open_q}


def test_the_talk_json_has_takeaways_with_citations_and_questions(client: TestClient, demo: dict[str, Any]) -> None:
    response = client.get(f"{BASE}/talks/{demo['talk']['id']}/export", params={"format": "json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"] == 'attachment; filename="testcon-streaming-models.json"'
    document = json.loads(response.content)
    text = json.dumps(document)
    assert "Online clustering needs bounded state" in text
    assert "How do topic ids stay stable?" in text and "They are never reused" in text
    assert "Is there a paper?" in text


def test_a_question_asked_again_is_exported_once_with_its_copies_votes_and_answers(
    client: TestClient, event: dict[str, Any]
) -> None:
    talk = add_talk(client, event, "alerts", "Alerting on what users feel", 10)
    asked = [
        post_note(client, text, client_id=who, display_name=who, kind="question", talk_id=talk["id"])
        for text, who in (("What is a sane alert threshold?", "Ana"), ("what's a sane alert threshold??", "Bo"))
    ]
    for voter in ("v1", "v2"):
        client.post(f"{BASE}/posts/{asked[1]['id']}/upvote", headers={"X-Client-Id": voter})
    client.post(f"{BASE}/posts/{asked[0]['id']}/upvote", headers={"X-Client-Id": "v3"})
    post_note(client, "Start from your SLO", client_id="cy", display_name="Cy", reply_to=asked[0]["id"])
    post_note(client, "Page on burn rate", client_id="di", display_name="Di", reply_to=asked[1]["id"])
    add_digest(
        client, talk["id"], [], questions=[{"post_ids": [asked[1]["id"], asked[0]["id"]], "count": 2, "votes": 3}]
    )
    url = f"{BASE}/talks/{talk['id']}/export"

    document = json.loads(client.get(url, params={"format": "json"}).content)
    (question,) = document["talk"]["questions"]["answered"]
    assert question["question"]["text"] == "what's a sane alert threshold??"
    assert [c["text"] for c in question["asked_again"]] == ["What is a sane alert threshold?"]
    assert question["votes"] == 3
    assert [a["text"] for a in question["answers"]] == ["Start from your SLO", "Page on burn rate"]

    markdown = client.get(url, params={"format": "md"}).text
    listed = markdown.split("## Questions")[1].split("## Activity")[0]
    assert [line for line in listed.splitlines() if line.startswith("- ")] == [
        "- **what's a sane alert threshold??** — Bo · asked 2× · 3 votes \\[1\\] \\[2\\]"
    ]
    html = client.get(url, params={"format": "html"}).text
    assert "asked 2× · 3 votes" in html


def test_hidden_posts_are_in_no_export(client: TestClient, demo: dict[str, Any]) -> None:
    for fmt in ("md", "html", "json", "csv"):
        body = client.get(f"{BASE}/export", params={"format": fmt}).content.decode()
        assert "Buy followers" not in body, fmt
        assert "Spam" not in body, fmt
    markdown = client.get(f"{BASE}/export", params={"format": "md"}).text
    assert "Online clustering needs bounded state" in markdown
    assert "Streaming topic models" in markdown and "A quiet talk" in markdown


def test_a_post_deleted_by_its_author_disappears_from_later_exports(client: TestClient, event: dict[str, Any]) -> None:
    response = client.post(f"{BASE}/posts", json={"text": "I regret this note"}, headers={"X-Client-Id": "x"})
    created = response.json()
    assert "I regret this note" in client.get(f"{BASE}/export", params={"format": "csv"}).text
    client.delete(f"{BASE}/posts/{created['post']['id']}", headers={"X-Delete-Token": created["delete_token"]})
    assert "I regret this note" not in client.get(f"{BASE}/export", params={"format": "csv"}).text


def test_notes_posted_without_a_name_are_anonymous_in_every_export(client: TestClient, demo: dict[str, Any]) -> None:
    # the in-app handle is derived from the browser: shown, it would link every note of one phone
    question = post_note(client, "Where are the slides?", client_id="phone-1", kind="question")
    post_note(client, "Slides are on the talk page", client_id="phone-1", reply_to=question["id"])
    for fmt in ("md", "html", "json", "csv"):
        body = client.get(f"{BASE}/export", params={"format": fmt}).content.decode()
        assert "Where are the slides?" in body, fmt
        assert "anon-" not in body, fmt
    rows = list(csv.DictReader(io.StringIO(client.get(f"{BASE}/export", params={"format": "csv"}).text)))
    mine = [r for r in rows if r["text"] == "Where are the slides?"]
    assert [(r["author"], r["handle"]) for r in mine] == [("Anonymous", "")]
    named = [r for r in rows if r["text"] == "They are never reused"]
    assert [r["author"] for r in named] == ["Ana"]


def test_the_csv_parses_with_one_row_per_visible_post(client: TestClient, demo: dict[str, Any]) -> None:
    response = client.get(f"{BASE}/export", params={"format": "csv"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == 4
    assert all(row["text"] != "Buy followers now" for row in rows)
    # an answer's row names the question it answers, so a spreadsheet can put the two together
    by_text = {row["text"]: row for row in rows}
    assert by_text["They are never reused"]["reply_to"] == by_text["How do topic ids stay stable?"]["id"]
    assert by_text["How do topic ids stay stable?"]["reply_to"] == ""
    exported = client.get(f"{BASE}/export", params={"format": "json"}).json()
    posts = {p["text"]: p for t in exported["talks"] for p in t["posts"]}
    assert posts["They are never reused"]["reply_to"] == posts["How do topic ids stay stable?"]["id"]


def test_the_event_zip_has_every_talk_and_an_index(client: TestClient, demo: dict[str, Any]) -> None:
    response = client.get(f"{BASE}/export", params={"format": "zip"})
    assert response.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert "index.md" in names and "posts.csv" in names
    assert "talks/streaming-models.md" in names and "talks/quiet-talk.json" in names


def test_the_talk_pdf_is_a_pdf(client: TestClient, demo: dict[str, Any]) -> None:
    response = client.get(f"{BASE}/talks/{demo['talk']['id']}/export", params={"format": "pdf"})
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")


def test_top_contributors_leave_out_authors_who_opted_out(
    client: TestClient, demo: dict[str, Any], event: dict[str, Any]
) -> None:
    def contributors() -> list[str]:
        document = client.get(f"{BASE}/talks/{demo['talk']['id']}/export", params={"format": "json"}).json()
        talk = document.get("talk", document)
        return [c["name"] for c in talk["top_contributors"]]

    assert "Ana" in contributors()
    ana = {"source": "notes", "handle": demo["good"]["author"]["handle"]}
    assert client.post(f"{BASE}/privacy/opt-out", json=ana, headers=auth(event)).status_code == 204
    assert "Ana" not in contributors()


def test_bad_export_requests_are_refused(client: TestClient, demo: dict[str, Any]) -> None:
    assert client.get(f"{BASE}/export", params={"format": "docx"}).json()["error"]["field"] == "format"
    zip_talk = client.get(f"{BASE}/talks/{demo['talk']['id']}/export", params={"format": "zip"})
    assert zip_talk.status_code == 422
    assert client.get(f"{BASE}/talks/999/export").status_code == 404
    assert client.get("/api/events/nocon/export").status_code == 404


def test_a_parameter_an_export_does_not_take_is_refused_not_ignored(client: TestClient, demo: dict[str, Any]) -> None:
    """``?talk=`` on the event's export would download the whole event as if it were that talk's summary."""
    one_talk = client.get(f"{BASE}/export", params={"format": "md", "talk": demo["talk"]["id"]})
    assert one_talk.status_code == 422
    error = one_talk.json()["error"]
    assert error == {"message": "unknown query parameter 'talk': it takes format, pdf", "field": "talk"}
    typo = client.get(f"{BASE}/talks/{demo['talk']['id']}/export", params={"fromat": "pdf"})
    assert typo.status_code == 422 and typo.json()["error"]["field"] == "fromat"
    assert client.get(f"{BASE}/export", params={"format": "zip", "pdf": "true"}).status_code == 200


def test_exports_can_be_organizer_only(settings: Settings) -> None:
    private = settings.model_copy(update={"exports_public": False})
    with TestClient(create_app(private)) as client:
        event = create_event(client)
        assert client.get(f"{BASE}/export").status_code == 401
        assert client.get(f"{BASE}/export", headers=auth(event)).status_code == 200
        talk = add_talk(client, event, "private-talk", "A private summary", 10)
        assert "/export?format=" not in client.get(f"/e/testcon/talks/{talk['id']}").text  # no links that answer 401
