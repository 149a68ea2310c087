"""Post kinds from text: question, takeaway, answer, feedback or other."""

# LEAD NOTE TO THE CLUSTERING HELPER (delete this comment when you first edit this file):
# before anything else read /tmp/common.md: working rules (commit only your own paths with
# `git commit -m ... -- <paths>`, use /work/main/.venv, hard deadline 21:00 UTC for your final report).

from __future__ import annotations

import re
from enum import StrEnum


class PostKind(StrEnum):
    QUESTION = "question"
    TAKEAWAY = "takeaway"
    ANSWER = "answer"
    FEEDBACK = "feedback"
    OTHER = "other"


_QUESTION_START = re.compile(
    r"^(who|what|when|where|why|how|which|whom|whose|is|are|was|were|do|does|did|can|could|should|would|"
    r"will|shall|may|might|has|have|had|any(one|body)?|anyone know)\b",
    re.IGNORECASE,
)


def looks_like_question(text: str) -> bool:
    """A cheap rule: a question mark, or a sentence opening like a question."""
    stripped = text.strip()
    if not stripped:
        return False
    if "?" in stripped:
        return True
    return any(_QUESTION_START.match(s.strip()) for s in re.split(r"[.!\n]+", stripped) if s.strip())


def classify_kind(text: str, *, reply_to_kind: str | None = None, hint: str | None = None) -> PostKind:
    """Decide a post's kind. A reply to a question is an answer unless it asks again."""
    if hint == PostKind.QUESTION:
        return PostKind.QUESTION
    asks = looks_like_question(text)
    if reply_to_kind == PostKind.QUESTION and not asks:
        return PostKind.ANSWER
    if asks:
        return PostKind.QUESTION
    return PostKind.OTHER
