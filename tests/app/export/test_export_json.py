"""The JSON export: valid against its published schema, with the talks, takeaways and questions."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from app.export.json_export import SCHEMA_VERSION, load_schema, render_event_json, render_talk_json
from app.export.summary import EventSummary, TalkSummary
from tests.app.export.examples import ANSWER_TEXT, ANSWERED_QUESTION, OPEN_QUESTION, TAKEAWAY_TEXT, TALK_TITLE


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def talk_doc(talk: TalkSummary) -> dict[str, Any]:
    return json.loads(render_talk_json(talk))


def test_schema_is_draft_2020_12() -> None:
    assert load_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_talk_export_validates(validator: jsonschema.Draft202012Validator, talk: TalkSummary) -> None:
    validator.validate(json.loads(render_talk_json(talk)))


def test_event_export_validates(validator: jsonschema.Draft202012Validator, event: EventSummary) -> None:
    validator.validate(json.loads(render_event_json(event)))


def test_empty_talk_export_validates(validator: jsonschema.Draft202012Validator, empty_talk: TalkSummary) -> None:
    validator.validate(json.loads(render_talk_json(empty_talk)))


def test_schema_rejects_a_document_without_a_version(
    validator: jsonschema.Draft202012Validator, talk_doc: dict[str, Any]
) -> None:
    broken = {key: value for key, value in talk_doc.items() if key != "schema_version"}
    assert not validator.is_valid(broken)


def test_documents_carry_the_schema_version(talk_doc: dict[str, Any]) -> None:
    assert talk_doc["schema_version"] == SCHEMA_VERSION
    assert talk_doc["kind"] == "talk"


def test_talk_has_its_title_and_times_in_utc(talk_doc: dict[str, Any]) -> None:
    assert talk_doc["talk"]["title"] == TALK_TITLE
    assert talk_doc["talk"]["start"] == "2026-05-14T08:00:00Z"
    assert talk_doc["talk"]["time_zone"] == "Europe/Berlin"


def test_takeaways_keep_their_citations(talk_doc: dict[str, Any]) -> None:
    takeaway = talk_doc["talk"]["topics"][0]["takeaways"][0]
    assert takeaway["text"] == TAKEAWAY_TEXT
    assert (takeaway["count"], takeaway["votes"]) == (3, 7)
    assert [c["post_id"] for c in takeaway["citations"]] == [101, 102, 103]
    assert takeaway["citations"][0]["url"] == "https://social.example/@ada@social.example/101"


def test_questions_split_into_answered_with_answers_and_open(talk_doc: dict[str, Any]) -> None:
    questions = talk_doc["talk"]["questions"]
    assert questions["asked"] == 3
    [answered] = questions["answered"]
    assert answered["question"]["text"] == ANSWERED_QUESTION
    assert [a["text"] for a in answered["answers"]] == [ANSWER_TEXT]
    assert [q["question"]["text"] for q in questions["open"]][0] == OPEN_QUESTION


def test_unsafe_urls_become_null(talk_doc: dict[str, Any]) -> None:
    mallory = talk_doc["talk"]["topics"][0]["takeaways"][0]["citations"][2]
    assert mallory["url"] is None
    assert talk_doc["talk"]["feedback_url"] is None


def test_invisible_characters_are_removed(talk_doc: dict[str, Any]) -> None:
    text = json.dumps(talk_doc, ensure_ascii=False)
    assert "\u202e" not in text
    assert "\u200b" not in text


def test_event_export_has_every_talk_and_the_hallway(event: EventSummary) -> None:
    document = json.loads(render_event_json(event))
    assert [t["guid"] for t in document["talks"]] == [t.guid for t in event.talks]
    assert document["hallway"]["guid"] == "hallway"
    assert document["event"]["start_date"] == "2026-05-14"
