"""Talk and event summaries in, JSON documents (schema ``summary.schema.json``) out as UTF-8 bytes.

Text is cleaned of invisible and control characters, and every URL is http(s) or null, so a consumer
that renders the JSON naively cannot be tricked into ``javascript:`` links. Times are ISO 8601 in UTC.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from importlib import resources
from typing import Any

from app.export.summary import Citation, EventSummary, QuestionEntry, TalkSummary
from app.export.text import clean_text, http_url

SCHEMA_VERSION = "1.2"
JsonObject = dict[str, Any]


def load_schema() -> JsonObject:
    """The JSON Schema (draft 2020-12) every export validates against."""
    return json.loads(resources.files("app.export").joinpath("summary.schema.json").read_text("utf-8"))


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _day(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _citation(c: Citation) -> JsonObject:
    return {
        "post_id": c.post_id,
        "author_name": clean_text(c.author_name),
        "author_handle": clean_text(c.author_handle),
        "url": http_url(c.url),
        "source": c.source,
        "text": clean_text(c.text),
        "created_at": _time(c.created_at),
    }


def _question(q: QuestionEntry) -> JsonObject:
    return {
        "question": _citation(q.question),
        "votes": q.votes,
        "answered": q.answered,
        "marked_answered": q.marked_answered,
        "answers": [_citation(a) for a in q.answers],
        "asked_again": [_citation(c) for c in q.asked_again],
    }


def talk_document(talk: TalkSummary) -> JsonObject:
    """The talk as a JSON-ready dict (the ``talk`` definition of the schema)."""
    return {
        "guid": talk.guid,
        "slug": talk.slug,
        "title": clean_text(talk.title),
        "speakers": [clean_text(s) for s in talk.speakers],
        "start": _time(talk.start),
        "end": _time(talk.end),
        "time_zone": talk.time_zone,
        "room": None if talk.room is None else clean_text(talk.room),
        "track": None if talk.track is None else clean_text(talk.track),
        "url": http_url(talk.url),
        "feedback_url": http_url(talk.feedback_url),
        "topics": [
            {
                "id": topic.id,
                "label": clean_text(topic.label),
                "keyphrases": [clean_text(k) for k in topic.keyphrases],
                "takeaways": [
                    {
                        "text": clean_text(t.text),
                        "kind": t.kind,
                        "count": t.count,
                        "votes": t.votes,
                        "citations": [_citation(c) for c in t.citations],
                        "in_reply_to": None if t.in_reply_to is None else _citation(t.in_reply_to),
                    }
                    for t in topic.takeaways
                ],
            }
            for topic in talk.topics
        ],
        "questions": {
            "asked": len(talk.questions),
            "answered": [_question(q) for q in talk.answered_questions],
            "open": [_question(q) for q in talk.open_questions],
        },
        "activity": [{"minute": _time(p.minute), "count": p.count} for p in talk.activity],
        "bursts": [
            {"start": _time(b.start), "end": _time(b.end), "peak": b.peak, "label": clean_text(b.label)}
            for b in talk.bursts
        ],
        "counts_by_source": dict(talk.counts_by_source),
        "counts_by_language": dict(talk.counts_by_language),
        "top_contributors": [
            {"name": clean_text(c.name), "handle": clean_text(c.handle), "count": c.count}
            for c in talk.top_contributors
        ],
        "posts": [
            {
                "id": p.id,
                "created_at": _time(p.created_at),
                "source": p.source,
                "author": clean_text(p.author),
                "handle": clean_text(p.handle),
                "kind": p.kind,
                "talk_guid": p.talk_guid,
                "topic_label": None if p.topic_label is None else clean_text(p.topic_label),
                "upvotes": p.upvotes,
                "boosts": p.boosts,
                "text": clean_text(p.text),
                "url": http_url(p.url),
                "reply_to": p.reply_to_id,
            }
            for p in talk.posts
        ],
    }


def _dump(document: JsonObject) -> bytes:
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def render_talk_json(talk: TalkSummary) -> bytes:
    return _dump(
        {
            "schema_version": SCHEMA_VERSION,
            "kind": "talk",
            "event": {"name": clean_text(talk.event_name), "slug": talk.event_slug},
            "talk": talk_document(talk),
        }
    )


def render_event_json(event: EventSummary) -> bytes:
    return _dump(
        {
            "schema_version": SCHEMA_VERSION,
            "kind": "event",
            "event": {
                "name": clean_text(event.name),
                "slug": event.slug,
                "start_date": _day(event.start_date),
                "end_date": _day(event.end_date),
                "time_zone": event.time_zone,
                "generated_at": _time(event.generated_at),
            },
            "talks": [talk_document(t) for t in event.talks],
            "hallway": None if event.hallway is None else talk_document(event.hallway),
        }
    )
