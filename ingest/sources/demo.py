"""A generated conference for the demo: a schedule anchored at now and a seeded stream of posts about it.

Everything here is the project's own text. The same seed gives the same sequence of posts.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ingest.items import IncomingPost, ItemAction, SourceItem
from ingest.schedules.records import Schedule, ScheduledPerson, ScheduledTalk
from ingest.source import SourceStats

SOURCE = "demo"
BASE_POSTS_PER_MINUTE = 12.0


@dataclass(frozen=True, slots=True)
class TalkScript:
    code: str
    title: str
    track: str
    speaker: str
    abstract: str
    facts: tuple[str, ...]
    questions: tuple[tuple[str, str], ...]  # (question, answer)


TALKS: tuple[TalkScript, ...] = (
    TalkScript("pgmig", "Zero-downtime schema migrations in PostgreSQL", "Databases", "Ana Ruiz",
        "How to change a busy schema without locking writers: expand, migrate, contract.",
        ("adding a column with a volatile default rewrites the whole table",
         "create indexes concurrently or you block every writer",
         "split every migration into expand, backfill and contract steps",
         "set a lock_timeout so a migration fails fast instead of queueing behind a long query",
         "backfill in small batches keyed by primary key to keep replication lag low"),
        (("Does CREATE INDEX CONCURRENTLY work inside a transaction?",
          "No, it has to run outside a transaction block, so your migration tool must allow that."),
         ("How do you roll back the contract step?",
          "You don't: contract only after the new code has been live long enough to be sure."),
         ("What lock_timeout do you use in production?", "Around two seconds, then retry with backoff."))),
    TalkScript("rustasync", "Async Rust without tears", "Languages", "Ben Okafor",
        "Futures, executors and cancellation in async Rust, explained with real bugs.",
        ("a future does nothing until it is polled",
         "dropping a future is how you cancel it, so every await point is a cancellation point",
         "never hold a std mutex guard across an await",
         "spawn_blocking is the escape hatch for CPU-heavy work",
         "structured concurrency with JoinSet keeps tasks from leaking"),
        (("Is tokio the only executor worth using?",
          "It is the default choice, but smol and embassy fit smaller or embedded targets."),
         ("How do you find which task is blocking the executor?", "tokio-console shows busy tasks and their polls."),
         ("Are async closures stable now?", "Yes, async closures are stable since Rust 1.85."))),
    TalkScript("a11y", "Accessibility is a feature, not a checklist", "Web", "Chloé Martin",
        "Screen readers, keyboard users and what automated audits miss.",
        ("automated checkers find only about a third of real accessibility problems",
         "every interactive element must be reachable and usable with the keyboard alone",
         "use native buttons and links before reaching for ARIA",
         "live regions announce updates, but too many of them drown the user",
         "test with a real screen reader at least once per release"),
        (("Which screen reader should developers start with?", "NVDA on Windows or VoiceOver on a Mac, both free."),
         ("Is aria-label enough for icon buttons?", "Yes, as long as the label says what the button does."),
         ("How do you handle focus after a modal closes?", "Return focus to the element that opened it."))),
    TalkScript("obs", "Observability on a budget", "Operations", "Dev Patel",
        "Logs, metrics and traces for small teams that cannot afford a vendor bill.",
        ("structured logs with a request id beat any amount of grep",
         "sample traces at the edge but keep every error trace",
         "four golden signals cover most alerts: latency, traffic, errors, saturation",
         "alert on symptoms users feel, not on every cause",
         "cardinality is what makes metrics expensive, so avoid user ids in labels"),
        (("OpenTelemetry or vendor agents?", "OpenTelemetry, so you can change backends without re-instrumenting."),
         ("How long do you keep logs?", "Fourteen days hot, then compressed object storage for a year."),
         ("What is a sane alert threshold for latency?", "Alert on the p99 against your SLO, not on averages."))),
    TalkScript("mlops", "Shipping small models to production", "Machine learning", "Eva Lindqvist",
        "Why a boring model in production beats a great one in a notebook.",
        ("a logistic regression baseline often gets you most of the value",
         "version your data together with your model, not just the code",
         "monitor input drift, because labels arrive too late",
         "shadow deployments let you compare a new model on live traffic safely",
         "keep the feature code identical between training and serving"),
        (("How do you detect drift without labels?", "Compare feature distributions against training with PSI."),
         ("Do you retrain on a schedule?", "Only when drift crosses a threshold, otherwise it is noise."),
         ("Which model registry do you use?", "MLflow, mostly for lineage."))),
    TalkScript("ws", "WebSockets at scale", "Web", "Farid Haddad",
        "Fan-out to thousands of clients without letting one slow reader hurt the rest.",
        ("one bounded queue per connection keeps a slow client from slowing everyone",
         "encode each message once and send the same bytes to every client",
         "resume with a last-seen id so reconnects miss nothing",
         "heartbeats detect dead connections that TCP would keep for hours",
         "spread reconnects with jitter or a restart becomes a thundering herd"),
        (("What happens when a client's queue is full?", "Cut it off with a resync message; it reloads a snapshot."),
         ("SSE or WebSockets?", "SSE for one-way feeds behind strict proxies, WebSockets when you need both ways."),
         ("How many connections per core?", "Tens of thousands if each message is encoded once."))),
    TalkScript("sec", "Threat modelling for busy teams", "Security", "Grace Kim",
        "A lightweight threat model in one hour, and how to keep it alive.",
        ("draw the data flow first, threats come from the arrows",
         "STRIDE is a checklist for each arrow, not a ceremony",
         "the riskiest input is the one you think is internal",
         "write the threat model next to the code so it changes with it",
         "rate limits are a security control, not just a performance one"),
        (("How often should the model be updated?", "Whenever a new data flow or trust boundary appears."),
         ("Who should attend the session?", "One developer, one operator and someone who knows the business."),
         ("Is STRIDE still relevant?", "Yes, as a prompt; the value is in the conversation."))),
    TalkScript("py", "What's new in Python's typing", "Languages", "Hugo Silva",
        "Protocols, TypeVar defaults and how to type real code without fighting the checker.",
        ("Protocols give you structural typing without inheritance",
         "typing a callback with ParamSpec keeps the signature intact",
         "TypedDict is the right type for JSON you do not control",
         "start strict on new modules and ratchet the old ones",
         "runtime_checkable protocols only check that methods exist"),
        (("mypy or pyright?", "Both are fine; pick one and run it in CI."),
         ("Can I use the new generic syntax on 3.11?", "No, PEP 695 syntax needs Python 3.12."),
         ("Do type hints slow the program?", "No, annotations are not evaluated on the hot path."))),
    TalkScript("green", "Green software in practice", "Operations", "Ines Duarte",
        "Measuring and cutting the energy your services use.",
        ("idle servers still draw most of their peak power",
         "shifting batch jobs to low-carbon hours is the cheapest win",
         "right-size instances before optimising code",
         "measure energy per request, not total consumption",
         "caching is an energy feature as much as a latency one"),
        (("How do you measure energy in the cloud?",
          "Estimate it from CPU utilisation with a model such as Cloud Carbon Footprint."),
         ("Is ARM really more efficient?", "For most web workloads we saw about a fifth less energy per request."),
         ("Does the region matter?", "A lot: grid carbon intensity differs by a factor of ten."))),
    TalkScript("docs", "Docs that people read", "Community", "Jonas Weber",
        "Tutorials, how-tos, reference and explanation, and why mixing them fails.",
        ("separate tutorials, how-to guides, reference and explanation",
         "every page should answer one question a reader actually has",
         "test your code samples in CI like any other code",
         "a good error message is the documentation people read most",
         "put a runnable quickstart on the first page"),
        (("Where should API reference live?", "Generated from the code, next to the hand-written guides."),
         ("How do you keep docs from going stale?", "Docs change in the same pull request as the code."),
         ("Is a wiki good enough?", "For notes yes, for product docs you want review and versions."))),
    TalkScript("edge", "Running code at the edge", "Operations", "Kai Nakamura",
        "What belongs at the edge, what does not, and how to debug it.",
        ("put latency-sensitive reads at the edge, keep writes central",
         "cold starts matter more than raw speed for edge functions",
         "cache keys must include everything that changes the response",
         "consistency at the edge means accepting stale reads on purpose",
         "feature flags at the edge let you roll out per region"),
        (("How do you debug a request at the edge?", "Propagate a trace id and log it at every hop."),
         ("What about state at the edge?", "Keep it in a replicated store and design for stale reads."),
         ("Is WebAssembly ready for edge functions?", "Yes, and it starts faster than containers."))),
    TalkScript("oss", "Sustaining an open-source project", "Community", "Lena Fischer",
        "Funding, governance and saying no without burning out.",
        ("a CONTRIBUTING file cuts repeated questions in half",
         "triage issues weekly or they pile up into guilt",
         "saying no to features is how a project stays maintainable",
         "sponsorship works better tied to concrete milestones",
         "a second maintainer is the best bus-factor insurance"),
        (("How did you find a second maintainer?", "By giving the most active contributor commit rights early."),
         ("Does a code of conduct help?", "Yes, it tells people how disagreements will be handled."),
         ("Should small projects apply for grants?", "Yes, many funds target exactly small critical projects."))),
)  # fmt: skip

ROOMS = ("Main hall", "Room B", "Workshop C")
_TAKEAWAY = (
    "Key takeaway: {fact}.",
    "TIL {fact}.",
    "{speaker} makes a great point: {fact}.",
    "Writing this down: {fact}.",
    "Learning at {code}: {fact}.",
    "So {fact}. Huge if you run this in production.",
    "Note to self from {title}: {fact}.",
)
_FEEDBACK = (
    "Great slides, {speaker}!",
    "Loving this talk, very clear examples.",
    "Could you speak a bit louder, {speaker}? Hard to hear in the back.",
    "The live demo in {title} was excellent.",
    "Thanks {speaker}, this was the best talk of the day for me.",
)
_HALLWAY = (
    "Coffee queue is long but worth it.",
    "Where is the lightning talk signup?",
    "Wifi is much better on the second floor.",
    "Anyone up for lunch near the venue?",
    "The hallway track is the best track.",
)
_PEOPLE = ("mira", "tom", "sasha", "li", "noor", "pablo", "ivy", "omar", "zoe", "raj", "ada", "finn")


def generate_schedule(anchor: datetime, *, slots: int = 8, talk_minutes: int = 40, break_minutes: int = 10) -> Schedule:
    """Three rooms in parallel, starting an hour before ``anchor`` so something is on right away."""
    first = anchor.astimezone(UTC).replace(second=0, microsecond=0) - timedelta(minutes=60)
    first -= timedelta(minutes=first.minute % 10)
    talks: list[ScheduledTalk] = []
    for index in range(min(slots * len(ROOMS), len(TALKS) * 2)):
        slot, room_index = divmod(index, len(ROOMS))
        script = TALKS[index % len(TALKS)]
        start = first + timedelta(minutes=slot * (talk_minutes + break_minutes))
        repeat = index // len(TALKS)
        talks.append(
            ScheduledTalk(
                guid=f"demo-{script.code}" + (f"-{repeat + 1}" if repeat else ""),
                title=script.title + (" (encore)" if repeat else ""),
                start=start,
                end=start + timedelta(minutes=talk_minutes),
                room=ROOMS[room_index],
                track=script.track,
                abstract=script.abstract,
                speakers=(ScheduledPerson(name=script.speaker),),
                code=script.code,
            )
        )
    return Schedule(title="DemoCon", acronym="democon", talks=tuple(talks), time_zone="UTC", rooms=ROOMS)


def _resume_point(since: str | None) -> tuple[int, float | None]:
    """(items already sent, the last one's time) from a cursor: "n@time", or "n" as cursors were before."""
    number, _, when = (since or "").partition("@")
    if not number.isdigit():
        return 0, None
    try:
        return int(number) + 1, float(when) if when else None
    except ValueError:
        return int(number) + 1, None


class DemoSource:
    """Replays a generated stream about the talks that are on at each moment.

    Posts for the half hour before start are backfilled at once at a realistic 12 a minute (so the
    page is full when it opens), then new posts arrive at ``speed`` × 12 a minute. The cursor is the
    index of the last item yielded.
    """

    name = SOURCE

    def __init__(
        self,
        schedule: Schedule,
        *,
        seed: int = 7,
        speed: float = 5.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], object] = asyncio.sleep,
        backfill: timedelta = timedelta(minutes=30),
    ) -> None:
        self.schedule = schedule
        self.seed = seed
        self.speed = speed
        self.clock = clock
        self.sleep = sleep
        self.backfill = backfill
        self.stats = SourceStats()
        self._scripts = {f"demo-{t.code}": t for t in TALKS}

    def _script(self, talk: ScheduledTalk) -> TalkScript:
        return self._scripts[talk.guid.rsplit("-", 1)[0] if talk.guid.count("-") > 1 else talk.guid]

    def scripted(self, start: datetime, count: int) -> Iterator[tuple[IncomingPost, str | None]]:
        """The stream's first ``count`` posts, paced as its backfill is (12 a minute from ``start``), each with
        the talk it was written about (an answer: its question's; None: hallway chatter). The benchmarks
        score talk attribution against it."""
        rng = random.Random(self.seed)
        asked: list[tuple[str, str, str]] = []
        step = timedelta(minutes=1) / BASE_POSTS_PER_MINUTE
        for n in range(count):
            yield self._post(rng, n, start + n * step, asked)

    def _post(
        self, rng: random.Random, n: int, at: datetime, asked: list[tuple[str, str, str]]
    ) -> tuple[IncomingPost, str | None]:
        """The stream's ``n``-th post and the talk it is about."""
        running = [t for t in self.schedule.talks if t.start <= at < t.end + timedelta(minutes=5)]
        person = rng.choice(_PEOPLE)
        native_id = f"demo-{self.seed}-{n}"
        base = {"source": SOURCE, "native_id": native_id, "created_at": at, "author_handle": person,
                "author_name": person.capitalize(), "language": "en"}  # fmt: skip
        if not running or rng.random() < 0.08:
            return IncomingPost(text=rng.choice(_HALLWAY), **base), None  # type: ignore[arg-type]
        talk = rng.choice(running)
        script = self._script(talk)
        # In-app posts name their talk; posts "from other networks" leave it to the clustering stage.
        talk_ref = talk.guid if rng.random() < 0.7 else None
        fields = {"code": f"#{script.code}", "speaker": script.speaker.split()[0], "title": script.title}
        roll = rng.random()
        if roll < 0.22 and asked:
            question_id, answer, guid = asked.pop(rng.randrange(len(asked)))
            return IncomingPost(text=answer, reply_to=question_id, talk_ref=guid, **base), guid  # type: ignore[arg-type]
        if roll < 0.42:
            question, answer = rng.choice(script.questions)
            asked.append((native_id, answer, talk.guid))
            return IncomingPost(text=question, talk_ref=talk_ref, kind_hint="question", **base), talk.guid  # type: ignore[arg-type]
        if roll < 0.52:
            text = rng.choice(_FEEDBACK).format(**fields)
            return IncomingPost(text=text, talk_ref=talk_ref, **base), talk.guid  # type: ignore[arg-type]
        fact = rng.choice(script.facts)
        text = rng.choice(_TAKEAWAY).format(fact=fact, **fields)
        return IncomingPost(text=text[0].upper() + text[1:], talk_ref=talk_ref, **base), talk.guid  # type: ignore[arg-type]

    async def items(self, since: str | None) -> AsyncIterator[SourceItem]:
        rng = random.Random(self.seed)
        asked: list[tuple[str, str, str]] = []
        interval = 60.0 / (BASE_POSTS_PER_MINUTE * self.speed)
        backfill_interval = 60.0 / BASE_POSTS_PER_MINUTE
        backfill_count = int(self.backfill.total_seconds() / backfill_interval)
        started = self.clock()
        done, last_at = _resume_point(since)
        # Items sent before a restart are generated again only to replay the random stream (which talks
        # were on, the questions and the answers to them); they get the times they had, reckoned back from
        # the last one's (in the cursor). Live items of this run are paced from now: paced from the first
        # run's start, a demo restarted after 25 minutes slept through 25 minutes of posts it had sent.
        origin = started
        if done and last_at is not None:
            if done - 1 >= backfill_count:
                origin = last_at - (done - 1 - backfill_count) * interval
            else:
                origin = last_at - (done - 1) * backfill_interval + self.backfill.total_seconds()
        start_at = datetime.fromtimestamp(origin, UTC) - self.backfill
        live_from = max(done, backfill_count)
        n = 0
        while True:
            if n < backfill_count:
                at = start_at + timedelta(seconds=n * backfill_interval)
            elif n < done:
                at = datetime.fromtimestamp(origin + (n - backfill_count) * interval, UTC)
            else:
                due = started + (n - live_from) * interval
                now = self.clock()
                if due > now:
                    await self.sleep(due - now)  # type: ignore[misc]
                at = datetime.fromtimestamp(max(due, self.clock()), UTC)
            post, _ = self._post(rng, n, at, asked)
            if n >= done:
                self.stats.accepted += 1
                yield SourceItem(action=ItemAction.UPSERT, source=SOURCE, native_id=post.native_id, post=post,
                                 cursor=f"{n}@{at.timestamp():.3f}")  # fmt: skip
            n += 1
