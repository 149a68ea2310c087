"""A talk summary in, its cited posts numbered in reading order (takeaways, then questions) out."""

from __future__ import annotations

from dataclasses import dataclass

from app.export.summary import Citation, TalkSummary


@dataclass(frozen=True, slots=True)
class References:
    """Citation numbers: the same post cited twice keeps its first number."""

    numbers: dict[int, int]
    ordered: tuple[Citation, ...]

    def number(self, citation: Citation) -> int:
        return self.numbers[citation.post_id]


def number_citations(talk: TalkSummary) -> References:
    numbers: dict[int, int] = {}
    ordered: list[Citation] = []

    def add(citation: Citation) -> None:
        if citation.post_id not in numbers:
            numbers[citation.post_id] = len(ordered) + 1
            ordered.append(citation)

    for topic in talk.topics:
        for takeaway in topic.takeaways:
            if takeaway.in_reply_to is not None:  # shown above the answer, so read first
                add(takeaway.in_reply_to)
            for citation in takeaway.citations:
                add(citation)
    for question in talk.questions:
        add(question.question)
        for copy in question.asked_again:
            add(copy)
        for answer in question.answers:
            add(answer)
    return References(numbers=numbers, ordered=tuple(ordered))
