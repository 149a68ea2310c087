"""Talk and event summaries in, CommonMark/GFM Markdown out, with user text unable to add markup."""

from __future__ import annotations

import re
from collections.abc import Mapping

from app.export.references import References, number_citations
from app.export.summary import Citation, EventSummary, QuestionEntry, TalkSummary, distinct_authors
from app.export.text import clean_line, counted, handle_text, http_url, truncate
from app.export.times import format_clock, format_days, format_minutes, format_moment, format_span

# Every ASCII punctuation character that starts or ends markup somewhere (emphasis, code, links,
# images, raw HTML, entities, tables, strikethrough, math). CommonMark lets any of them be
# backslash-escaped, and an escaped character is always literal.
_MARKUP = re.compile(r"([\\`*_\[\]<>&|~$!])")
# At the start of a line these open a heading, list, quote, block or setext underline.
_LINE_START = re.compile(r"^([#>+=\-]|\d+[.)])")
EXCERPT_LIMIT = 220


def escape(text: str) -> str:
    """User text as literal inline Markdown on one line: no links, HTML, headings or table breaks."""
    text = _MARKUP.sub(r"\\\1", clean_line(text))
    return _LINE_START.sub(lambda m: m.group(0)[:-1] + "\\" + m.group(0)[-1], text)


def link(label: str, url: str | None) -> str:
    """``[label](url)`` for an http(s) URL, else the bare escaped label."""
    target = http_url(url)
    if target is None:
        return escape(label)
    return f"[{escape(label)}](<{target}>)"


def _author(citation: Citation) -> str:
    """``Name (@handle)``."""
    name = escape(citation.author_name) or "anonymous"
    handle = handle_text(citation.author_handle)
    return f"{name} ({escape(handle)})" if handle else name


def _refs(citations: tuple[Citation, ...] | list[Citation], refs: References) -> str:
    return " ".join(f"\\[{refs.number(c)}\\]" for c in citations)


def _counts(counts: Mapping[str, int]) -> str:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{escape(name)} {count}" for name, count in ordered)


def _question(entry: QuestionEntry, refs: References) -> list[str]:
    votes = f" · {entry.votes} vote{'s' if entry.votes != 1 else ''}" if entry.votes else ""
    asked = f" · asked {len(entry.asked_again) + 1}×" if entry.asked_again else ""
    cited = _refs([entry.question, *entry.asked_again], refs)
    lines = [f"- **{escape(entry.question.text)}** — {_author(entry.question)}{asked}{votes} {cited}"]
    for group in entry.answer_groups:
        said_by = ", ".join(_author(a) for a in distinct_authors(group))
        lines.append(f"  - {escape(group[0].text)} — {said_by} {_refs(group, refs)}")
    if entry.marked_answered and not entry.answers:
        lines.append("  - *Answered during the talk.*")
    return lines


def talk_markdown_lines(talk: TalkSummary, *, level: int = 1) -> list[str]:
    """The talk's section, its title at heading ``level`` (2 when inside an event document)."""
    h = "#" * level
    refs = number_citations(talk)
    lines = [f"{h} {escape(talk.title) or 'Untitled talk'}", ""]
    meta: list[str] = []
    if talk.speakers:
        meta.append(f"**Speakers:** {', '.join(escape(s) for s in talk.speakers)}")
    when = format_span(talk.start, talk.end, talk.time_zone)
    if when:
        meta.append(f"**When:** {when} ({escape(talk.time_zone)})")
    if talk.room:
        meta.append(f"**Room:** {escape(talk.room)}")
    if talk.track:
        meta.append(f"**Track:** {escape(talk.track)}")
    if target := http_url(talk.url):
        meta.append(f"**Talk page:** <{target}>")
    if target := http_url(talk.feedback_url):
        meta.append(f"**Feedback:** <{target}>")
    meta.append(f"**Event:** {escape(talk.event_name)}")
    meta.append(
        f"**Activity:** {counted(talk.post_count, 'post')} · {counted(talk.takeaway_count, 'takeaway')} · "
        f"{len(talk.answered_questions)} answered and {counted(len(talk.open_questions), 'open question')}"
    )
    lines += [line + "  " for line in meta[:-1]] + [meta[-1], ""]

    lines += [f"{h}# Takeaways", ""]
    if not talk.topics:
        lines += ["*No takeaways yet.*", ""]
    for topic in talk.topics:
        lines += [f"{h}## {escape(topic.label) or 'Untitled topic'}", ""]
        if topic.keyphrases:
            lines += [f"*Keyphrases:* {', '.join(escape(k) for k in topic.keyphrases)}", ""]
        for number, takeaway in enumerate(topic.takeaways, start=1):
            extra = []
            if takeaway.count > 1:
                extra.append(f"merged from {takeaway.count} posts")
            if takeaway.votes:
                extra.append(f"{takeaway.votes} vote{'s' if takeaway.votes != 1 else ''}")
            suffix = f" *({', '.join(extra)})*" if extra else ""
            asked = "**Asked:** " if takeaway.kind == "question" else ""
            if (question := takeaway.in_reply_to) is not None:
                quoted = escape(truncate(clean_line(question.text), EXCERPT_LIMIT))
                lines.append(f"{number}. *In reply to {_author(question)}: “{quoted}”* {_refs([question], refs)}  ")
                lead = " " * (len(str(number)) + 2)  # the answer on the item's next line
            else:
                lead = f"{number}. "
            lines.append(f"{lead}{asked}{escape(takeaway.text)}{suffix} {_refs(takeaway.citations, refs)}".rstrip())
        lines.append("")

    lines += [f"{h}# Questions", ""]
    if not talk.questions:
        lines += ["*No questions were asked.*", ""]
    else:
        lines += [f"{h}## Answered ({len(talk.answered_questions)})", ""]
        for entry in talk.answered_questions:
            lines += _question(entry, refs)
        if not talk.answered_questions:
            lines.append("*None yet.*")
        lines += ["", f"{h}## Still open ({len(talk.open_questions)})", ""]
        for entry in talk.open_questions:
            lines += _question(entry, refs)
        if not talk.open_questions:
            lines.append("*None: every question was answered.*")
        lines.append("")

    lines += [f"{h}# Activity", ""]
    if talk.activity:
        peak = max(talk.activity, key=lambda p: p.count)
        lines.append(f"Busiest minute: {format_clock(peak.minute, talk.time_zone)} with {peak.count} posts.  ")
    if talk.bursts:
        lines.append("Bursts:")
        lines.append("")
        for burst in talk.bursts:
            lines.append(
                f"- {format_minutes(burst.start, burst.end, talk.time_zone)}: "
                f"{escape(burst.label)} (peak {burst.peak}/min)"
            )
        lines.append("")
    if talk.counts_by_source:
        lines.append(f"**By source:** {_counts(talk.counts_by_source)}  ")
    if talk.counts_by_language:
        lines.append(f"**By language:** {_counts(talk.counts_by_language)}")
    if not (talk.activity or talk.counts_by_source):
        lines.append("*No posts yet.*")
    lines.append("")
    if talk.top_contributors:
        lines += [f"{h}# Top contributors", "", "| Contributor | Handle | Posts |", "| --- | --- | ---: |"]
        for person in talk.top_contributors:
            lines.append(f"| {escape(person.name)} | {escape(handle_text(person.handle))} | {person.count} |")
        lines.append("")

    if refs.ordered:
        lines += [f"{h}# Sources", ""]
        for number, citation in enumerate(refs.ordered, start=1):
            when = format_moment(citation.created_at, talk.time_zone)
            excerpt = escape(truncate(clean_line(citation.text), EXCERPT_LIMIT))
            post = link("post", citation.url) if http_url(citation.url) else "no link"
            lines.append(f"{number}. {_author(citation)} · {escape(citation.source)} · {when} — “{excerpt}” — {post}")
        lines.append("")
    return lines


def render_talk_markdown(talk: TalkSummary) -> str:
    return "\n".join(talk_markdown_lines(talk)).rstrip() + "\n"


def _index_lines(event: EventSummary, talk_links: Mapping[str, str] | None) -> list[str]:
    lines = [f"# {escape(event.name)}", ""]
    days = format_days(event.start_date, event.end_date)
    total = sum(t.post_count for t in event.all_talks)
    meta = [f"**Dates:** {days}" if days else "", f"**Time zone:** {escape(event.time_zone)}",
            f"**Generated:** {format_moment(event.generated_at, event.time_zone)}",
            f"**Talks:** {len(event.talks)} · **Posts:** {total}"]  # fmt: skip
    meta = [m for m in meta if m]
    lines += [line + "  " for line in meta[:-1]] + [meta[-1], ""]
    lines += ["## Talks", "", "| When | Room | Talk | Posts | Takeaways | Questions (open) |",
              "| --- | --- | --- | ---: | ---: | ---: |"]  # fmt: skip
    for talk in event.all_talks:
        title = escape(talk.title) or "Untitled talk"
        target = (talk_links or {}).get(talk.guid)
        if target is not None:
            # Our own relative file name from the archive, never user text: safe as a link target.
            title = f"[{title}](<{target}>)"
        when = format_moment(talk.start, talk.time_zone) if talk.start else ""
        lines.append(
            f"| {when} | {escape(talk.room or '')} | {title} | {talk.post_count} | {talk.takeaway_count} "
            f"| {len(talk.questions)} ({len(talk.open_questions)}) |"
        )
    lines.append("")
    return lines


def render_event_index_markdown(event: EventSummary, *, talk_links: Mapping[str, str] | None = None) -> str:
    """The event's index only; ``talk_links`` maps a talk guid to a relative file name to link to."""
    return "\n".join(_index_lines(event, talk_links)).rstrip() + "\n"


def render_event_markdown(event: EventSummary) -> str:
    """One document: the index, then every talk's summary (and the hallway's) as a section."""
    lines = _index_lines(event, None)
    for talk in event.all_talks:
        lines += ["---", ""] + talk_markdown_lines(talk, level=2)
    return "\n".join(lines).rstrip() + "\n"
