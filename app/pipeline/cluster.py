"""The clustering arrow: new posts from the store → the per-event model → attributions and digests, published.

New posts are found through the event's live log, not by post id: frame ids are handed out under the
event row's lock, so they become visible in commit order, while post ids come from a sequence and a
transaction holding a smaller id (a 500-post ingest batch, say) can commit after one holding a larger
id. Reading "posts after id n" would skip such posts forever; reading frames after seq n cannot. A
``post.created`` frame also announces a held or hidden post that a moderator made visible.

Each event's model state is checkpointed together with how far it had read (the live-frame
id), in the same transaction as a batch's post updates and digests: every ``CHECKPOINT_BATCHES``
batches or ``CHECKPOINT_SECONDS``, and when a poll finds nothing new (at most every
``CHECKPOINT_IDLE_SECONDS``). A restart or a takeover by
another worker resumes from the checkpoint: model state and read position belong together, so the
model takes in every post exactly once; the batches after the checkpoint are read again, and their
outputs (post attributions, digests) are upserts, so writing them again changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.broadcast.broker import Broker
from app.services.payloads import POST_FIELDS, DigestRead, frame_data, post_data
from app.services.talks import scheduled_talk
from app.services.unit_of_work import UnitOfWork
from app.store import clustering as cluster_store
from app.store import live as live_store
from app.store import talks as talk_store
from app.store.clustering import ClusterPost
from app.store.live import StoreLiveLog
from app.store.tables import Event
from app.store.types import utcnow
from clustering.model import HALLWAY, Changes, EventModel, PostDoc, warm_compiled_loops

logger = logging.getLogger(__name__)

BATCH = 500  # new posts per step
# Behind (a step found a whole batch waiting), the next one takes twice as many, up to this: each step also
# reads the changed talks' digests, bursts and topics and writes them, whatever its size, and a keynote's burst
# is cleared in fewer, larger steps. Caught up, steps are ``BATCH`` again (what arrives is shown sooner).
MAX_BATCH = 2_000
FRAMES = 5_000  # at most this many frames per step, for one made mostly of votes and deletions
# Pickling a large model costs far more than a batch: checkpoint every so often, not after every batch.
CHECKPOINT_BATCHES = 20
CHECKPOINT_SECONDS = 5.0
# Caught up, the last batches are checkpointed at most this often: a trickle of posts catches up on
# every poll, and pickling a model of 20,000 posts (~0.1 s) twice a second would cost more than the posts.
CHECKPOINT_IDLE_SECONDS = 2.0
_FORGET = {"post.deleted", "post.hidden"}
# a new post, or one an organizer filed under a talk: the model takes it in (again), as stored now
_TAKE_IN = {"post.created", "post.filed"}
# The frames the model needs; the rest of the log (about as many frames as posts) is this arrow's own output.
_READ = frozenset({*_TAKE_IN, *_FORGET, "post.upvoted", "talk.updated"})
_SCHEDULE = -1  # not a post id: the schedule changed
_TOPICS_REMEMBERED = 50_000  # topics whose written row a cursor remembers (the model keeps 5,000)


def _warm_compiled_loops() -> None:
    try:
        warm_compiled_loops()
    except Exception:  # a warm-up that fails only leaves the loading to the first real batch
        logger.exception("cluster.warm_failed")


@dataclass(frozen=True, slots=True)
class DigestParts:
    """What a talk's digest row holds, as the model says it now."""

    talk_id: int | None  # None: the hallway
    topics: list[dict[str, Any]]
    takeaways: list[dict[str, Any]]
    activity: list[list[Any]]
    bursts: list[dict[str, Any]]
    questions: list[dict[str, Any]]


def _topic_row(topic: dict[str, Any]) -> tuple[Any, ...]:
    """What a topic's row holds (but its update time)."""
    return topic["talk_id"], topic["label"], tuple(topic["keyphrases"]), topic["size"]


# A ClusterPost's fields up to ``status`` are a post frame's, in its order (its author an AuthorView).
_frame_values = attrgetter(*POST_FIELDS)


def _post_data(post: ClusterPost) -> dict[str, Any]:
    """The post's frame data, built from its values (a test holds it to the API's view)."""
    return post_data(*_frame_values(post))


@dataclass
class EventCursor:
    """The model of one event and how far it has read."""

    model: EventModel
    last_post_id: int = 0  # the newest post taken in, for operators; the read position is last_seq
    last_seq: int = 0
    talk_ids: dict[str, int] = field(default_factory=dict)  # guid → talk id
    talk_guids: dict[int, str] = field(default_factory=dict)
    unsaved: int = 0  # batches since the last checkpoint
    batch: int = 0  # new posts the next step takes (see MAX_BATCH); 0: ``BATCH``
    topics_written: dict[int, tuple[Any, ...]] = field(default_factory=dict)  # topic id → its row as written
    digests_written: dict[int, int] = field(default_factory=dict)  # talk key → the digest version written
    saved_at: float = field(default_factory=time.monotonic)

    def dumps(self) -> bytes:
        return pickle.dumps(
            {"model": self.model.dumps(), "last_post_id": self.last_post_id, "last_seq": self.last_seq},
            protocol=pickle.HIGHEST_PROTOCOL,
        )

    @classmethod
    def loads(cls, blob: bytes) -> EventCursor:
        # Only ever our own blob, written by this code into our own database.
        data = pickle.loads(blob)
        return cls(EventModel.loads(data["model"]), data["last_post_id"], data["last_seq"])


_STAGE_SURE = 0.999  # the most confidence the stage gives an answer of its own (see ``_attribute``)


class ClusterPipeline:
    def __init__(self, maker: async_sessionmaker[AsyncSession], broker: Broker, *, poll_interval: float = 0.5) -> None:
        self.maker = maker
        self.broker = broker
        self.poll_interval = poll_interval
        self.log = StoreLiveLog(maker)
        self.lag_seconds: dict[int, float] = {}
        self.processed = 0
        # Called after each step that committed posts: the clustering child reports its progress then.
        self.stepped: Callable[[], None] | None = None

    async def events(self) -> list[int]:
        async with self.maker() as session:
            return await cluster_store.event_ids(session)

    async def _open(self, session: AsyncSession, event_id: int) -> EventCursor:
        saved = await cluster_store.load_state(session, event_id)
        cursor = EventCursor.loads(saved.state) if saved else EventCursor(EventModel())
        await self._load_schedule(session, event_id, cursor)
        return cursor

    async def _load_schedule(self, session: AsyncSession, event_id: int, cursor: EventCursor) -> None:
        talks = await talk_store.list_for_event(session, event_id)
        cursor.talk_ids = {t.guid: t.id for t in talks if t.id is not None}
        cursor.talk_guids = {v: k for k, v in cursor.talk_ids.items()}
        cursor.model.set_schedule([scheduled_talk(t) for t in talks])

    async def run_event(self, event_id: int) -> None:
        """Process one event until cancelled."""
        await asyncio.to_thread(_warm_compiled_loops)
        async with self.maker() as session:
            cursor = await self._open(session, event_id)
        while True:
            try:
                busy = await self.step(event_id, cursor)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("cluster.step_failed", extra={"event_id": event_id})
                # Re-read the saved state: the failed batch was rolled back with it.
                await asyncio.sleep(1.0)
                async with self.maker() as session:
                    cursor = await self._open(session, event_id)
                continue
            if not busy:
                await asyncio.sleep(self.poll_interval)

    async def run(self) -> None:
        """Embedded mode: every event in this process, new events picked up as they appear."""
        tasks: dict[int, asyncio.Task[None]] = {}
        try:
            while True:
                for event_id in await self.events():
                    if event_id not in tasks or tasks[event_id].done():
                        tasks[event_id] = asyncio.create_task(self.run_event(event_id), name=f"cluster:{event_id}")
                await asyncio.sleep(2.0)
        finally:
            for task in tasks.values():
                task.cancel()
            for task in tasks.values():
                with contextlib.suppress(BaseException):
                    await task

    async def step(self, event_id: int, cursor: EventCursor) -> bool:
        """One batch in one transaction. Returns whether there was anything to do."""
        async with self.maker() as session:
            # The log first: most polls find nothing, and then the event row is not needed (an event that
            # is gone has no log).
            arrived, read, schedule_changed = await self._read(session, event_id, cursor)
            if not read:
                idle_due = time.monotonic() - cursor.saved_at >= CHECKPOINT_IDLE_SECONDS
                # caught up: checkpoint what the last batches did
                if cursor.unsaved and idle_due and await session.get(Event, event_id) is not None:
                    await self._save(session, event_id, cursor, self._checkpoint(cursor))
                    await session.commit()
                return False
            uow = UnitOfWork(session, self.broker)
            event = await session.get(Event, event_id)
            if event is None:
                return False
            if schedule_changed:
                await self._load_schedule(session, event_id, cursor)
            # The post as it is now: one deleted or hidden since its frame is no longer visible.
            posts = await cluster_store.cluster_posts(session, event_id, list(dict.fromkeys(arrived)), event.slug)
            visible = [p for p in posts if p.status == "visible" and p.text]
            results = cursor.model.observe([self._doc(p, cursor) for p in visible]) if visible else []
            changes = cursor.model.drain_changes()
            if posts:
                cursor.last_post_id = max(cursor.last_post_id, max(p.id for p in posts))
                self.lag_seconds[event_id] = max(0.0, (utcnow() - posts[-1].received_at).total_seconds())
            # Every read comes before the first write: on SQLite that write takes the database's one
            # write lock until the commit, and ingest waits for it meanwhile.
            by_id = {str(p.id): p for p in visible}
            earlier = [int(m.id) for m in changes.moved if m.id not in by_id]  # moved since attributed
            by_id.update(
                (str(p.id), p) for p in await cluster_store.cluster_posts(session, event_id, earlier, event.slug)
            )
            digests = [self._digest(guid, talk_id, cursor) for guid, talk_id in self._changed_talks(changes, cursor)]
            # What this cursor wrote is stored (it is the event's only writer of topics and digests): only
            # rows it has not written yet are looked up, which after its first steps is none of them.
            keys = [d.talk_id or 0 for d in digests]
            stored = {k: cursor.digests_written[k] for k in keys if k in cursor.digests_written}
            stored.update(await cluster_store.digest_versions(session, event_id, [k for k in keys if k not in stored]))
            fresh = [t for d in digests for t in d.topics if cursor.topics_written.get(t["id"]) != _topic_row(t)]
            topics = {t["id"] for t in fresh if t["id"] in cursor.topics_written}
            unknown = [t["id"] for t in fresh if t["id"] not in topics]
            topics |= await cluster_store.stored_topics(session, event_id, unknown)
            cursor.unsaved += 1
            blob = None
            if cursor.unsaved >= CHECKPOINT_BATCHES or time.monotonic() - cursor.saved_at >= CHECKPOINT_SECONDS:
                blob = self._checkpoint(cursor)  # pickled before the first write: not under SQLite's write lock
            changed: dict[str, ClusterPost] = {}  # a post attributed, then moved, is one new version and one frame
            for result in (*results, *changes.moved):
                post = by_id.get(result.id)
                if post is not None and post.status == "visible" and self._attribute(post, result, cursor):
                    if result.id not in changed:
                        post.version += 1
                    changed[result.id] = post
            out = [("post.updated", _post_data(p)) for p in changed.values()]
            topic_rows, digest_rows, digest_frames = self._digest_writes(digests, stored, fresh, cursor)
            # Encoded before the first write: from it to the commit this step holds SQLite's one write lock,
            # and every statement's await lets the loop run other work (ingest) meanwhile.
            frames = live_store.encode_frames(out + digest_frames)
            # The first statements to write (all reads are done): topics and digests, then the changed posts
            # in one executemany.
            await cluster_store.save_topics(session, event_id, topic_rows, topics)
            await cluster_store.save_digests(session, event_id, digest_rows, stored)
            await cluster_store.save_attributions(session, list(changed.values()))
            if await self._as_stored_now(session, event_id, event.slug, changed):
                shown = [p for p in changed.values() if p.status == "visible"]
                frames = live_store.encode_frames([("post.updated", _post_data(p)) for p in shown] + digest_frames)
            await uow.emit_encoded(event, frames)
            if blob is not None:
                await self._save(session, event_id, cursor, blob)
            await uow.commit()
            self.processed += len(visible)
        if self.stepped is not None:
            self.stepped()
        return True

    @staticmethod
    async def _as_stored_now(session: AsyncSession, event_id: int, slug: str, changed: dict[str, ClusterPost]) -> bool:
        """Whether another writer changed some of the posts just attributed since the step read them (hidden,
        pinned, marked, edited); those in ``changed`` become the post as stored now (this step's attribution
        included), or leave it once gone. A frame from the step's read would bring a hidden post back on every
        follower's screen, or take a pin away."""
        meanwhile = await cluster_store.changed_meanwhile(session, {p.id: p.version for p in changed.values()})
        if not meanwhile:
            return False
        now = {p.id: p for p in await cluster_store.cluster_posts(session, event_id, meanwhile, slug)}
        for post_id in meanwhile:
            fresh = now.get(post_id)
            if fresh is None:
                changed.pop(str(post_id), None)
            else:
                changed[str(post_id)] = fresh
        return True

    async def _read(self, session: AsyncSession, event_id: int, cursor: EventCursor) -> tuple[list[int], int, bool]:
        """Read the log up to ``cursor.batch`` new posts, applying the other frames to the model on the way.

        Returns the new posts' ids in the order their ``post.created`` frames committed, how many frames
        were read, and whether the schedule changed. Each read asks for no more frames than posts still
        wanted, so no frame is read twice; ``FRAMES`` bounds a step made mostly of votes and deletions.
        """
        arrived: list[int] = []
        read = 0
        schedule_changed = False
        limit = cursor.batch or BATCH
        while len(arrived) < limit and read < FRAMES:
            wanted = limit - len(arrived)
            frames = await cluster_store.log_after(session, event_id, cursor.last_seq, wanted, _READ)
            for seq, kind, post_id, upvotes in frames:
                created = self._apply_frame(cursor, kind, post_id, upvotes)
                if created == _SCHEDULE:
                    schedule_changed = True
                elif created is not None:
                    arrived.append(created)
                cursor.last_seq = seq
            read += len(frames)
            if len(frames) < wanted:
                break
        cursor.batch = min(limit * 2, MAX_BATCH) if len(arrived) >= limit else BATCH
        return arrived, read, schedule_changed

    def _apply_frame(self, cursor: EventCursor, kind: str, post_id: int | None, upvotes: int | None) -> int | None:
        """Apply what a frame changes in the model; returns a new post's id, or ``_SCHEDULE`` for a talk change."""
        if kind in _TAKE_IN:
            return int(post_id)  # type: ignore[arg-type]  # every post frame names its post
        if kind in _FORGET:
            cursor.model.forget(str(post_id))
        elif kind == "post.upvoted":
            cursor.model.update_engagement(str(post_id), upvotes=int(upvotes), boosts=0, replies=0)  # type: ignore[arg-type]
        elif kind == "talk.updated":
            return _SCHEDULE
        return None

    def _doc(self, post: ClusterPost, cursor: EventCursor) -> PostDoc:
        """The post as the model takes it in.

        A post still at version 1 is as ingest inserted it (every change to a post's text, kind or parent
        counts a version): its kind is ``classify_kinds`` of this text, with the parent's kind only when it
        was a reply (then ``reply_to_id`` is set) and a hint only when it is a question. Such a post's kind
        goes with it (the model need not classify it again, about a sixth of a batch's time).
        """
        explicit = post.talk_id is not None and post.talk_confidence == 1.0
        talk_ref = cursor.talk_guids.get(post.talk_id) if explicit and post.talk_id else None
        if post.talk_id is None and post.talk_confidence == 1.0:
            # no talk, surely: an organizer put it in the hallway (ingest stores no confidence, and a post the
            # model attributed comes back only when filed again)
            talk_ref = HALLWAY
        return PostDoc(
            id=str(post.id),
            text=post.text,
            created_at=post.created_at,
            author=str(post.author_id) if post.author_id else None,
            reply_to=str(post.reply_to_id) if post.reply_to_id else None,
            talk_ref=talk_ref,
            kind_hint="question" if post.kind == "question" and post.source in ("notes", "demo") else None,
            upvotes=post.upvotes,
            boosts=post.boosts,
            replies=post.replies,
            kind=post.kind if post.version == 1 and post.reply_to_id is None else None,
        )

    def _attribute(self, post: ClusterPost, result: Any, cursor: EventCursor) -> bool:
        """Set ``post``'s talk, topic and kind from the model's ``result``; whether anything changed."""
        explicit = post.talk_id is not None and post.talk_confidence == 1.0
        talk_id = post.talk_id if explicit else (cursor.talk_ids.get(result.talk) if result.talk else None)
        # 1.0 is an organizer's (or poster's) choice, a post put in the hallway included (``_doc`` reads it
        # back so); the stage's own answers stay below it, its "no talk was running" too, so that a post read
        # again after a lost checkpoint is attributed afresh
        filed = post.talk_confidence == 1.0 and talk_id == post.talk_id
        confidence = 1.0 if filed else min(round(float(result.confidence), 3), _STAGE_SURE)
        topic_id = int(result.topic) if result.topic >= 0 else None
        kind = post.kind if post.kind in ("question", "answer") else str(result.kind)
        if (post.talk_id, post.talk_confidence, post.topic_id, post.kind) == (talk_id, confidence, topic_id, kind):
            return False
        post.talk_id, post.talk_confidence, post.topic_id, post.kind = talk_id, confidence, topic_id, kind
        return True

    def _changed_talks(self, changes: Changes, cursor: EventCursor) -> list[tuple[str | None, int | None]]:
        """(guid, talk id) of each talk whose topics, takeaways or bursts changed, the hallway ((None, None))
        first, then by talk id: the order followers get their digests in (a set's order is the hash seed's)."""
        talks: list[tuple[str | None, int | None]] = []
        for guid in changes.topics | changes.takeaways | changes.bursts:
            talk_id = cursor.talk_ids.get(guid) if guid else None
            if not guid or talk_id is not None:  # a talk no longer in the schedule has no digest
                talks.append((guid, talk_id))
        return sorted(talks, key=lambda talk: talk[1] or 0)

    def _digest_writes(
        self,
        digests: list[DigestParts],
        stored: dict[int, int],
        changed_topics: list[dict[str, Any]],
        cursor: EventCursor,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[tuple[str, dict[str, Any]]]]:
        """The rows that write the ``changed_topics`` and each talk's digest over the ``stored`` rows (talk key
        → version), and the digest.updated frames; the cursor remembers them as written."""
        now = utcnow()
        out: list[tuple[str, dict[str, Any]]] = []
        # A talk holds hundreds of topics and a step changes a few: only those are written (every topic
        # of every changed talk was, each step). What was written is remembered with the cursor; a
        # cursor reopened after a failed step or by another worker starts empty and writes them all once.
        if len(cursor.topics_written) > _TOPICS_REMEMBERED:
            cursor.topics_written.clear()  # topic ids are never reused: forget, and write each once more
        topic_rows: dict[int, dict[str, Any]] = {}
        for t in changed_topics:
            topic_rows[t["id"]] = {
                "model_id": t["id"], "talk_id": t["talk_id"], "label": t["label"],
                "keyphrases": t["keyphrases"], "size": t["size"], "updated_at": now,
            }  # fmt: skip
            cursor.topics_written[t["id"]] = _topic_row(t)
        digest_rows: list[dict[str, Any]] = []
        for fresh in digests:
            talk_id = fresh.talk_id
            version = stored[talk_id or 0] + 1 if (talk_id or 0) in stored else 1
            cursor.digests_written[talk_id or 0] = version
            digest_rows.append(
                {
                    "talk_id": talk_id,
                    "talk_key": talk_id or 0,
                    "version": version,
                    "topics": fresh.topics,
                    "takeaways": fresh.takeaways,
                    "activity": fresh.activity,
                    "bursts": fresh.bursts,
                    "questions": fresh.questions,
                    "updated_at": now,
                }  # fmt: skip
            )
            data = DigestRead(
                talk_id=talk_id,
                version=version,
                topics=fresh.topics,  # type: ignore[arg-type]
                takeaways=fresh.takeaways,  # type: ignore[arg-type]
                activity=[(a[0], a[1]) for a in fresh.activity],
                bursts=fresh.bursts,  # type: ignore[arg-type]
                questions=fresh.questions,  # type: ignore[arg-type]
                updated_at=now,
            )
            out.append(("digest.updated", frame_data(data)))
        return list(topic_rows.values()), digest_rows, out

    def _digest(self, guid: str | None, talk_id: int | None, cursor: EventCursor) -> DigestParts:
        model = cursor.model
        topics = [
            {"id": t.id, "talk_id": talk_id, "label": t.label, "keyphrases": list(t.keyphrases), "size": t.size}
            for t in model.topics(guid)
        ]
        labels = {t["id"]: t for t in topics}
        takeaways = [
            {
                "topic_id": k.topic,
                "label": labels.get(k.topic, {}).get("label", ""),
                "keyphrases": labels.get(k.topic, {}).get("keyphrases", []),
                "text": k.text,
                "kind": str(k.kind),
                "count": int(k.count),
                "votes": int(k.votes),
                "score": round(float(k.score), 4),
                "post_ids": [int(i) for i in k.post_ids],
            }
            for k in model.takeaways(guid)
        ]
        activity = [[minute.isoformat(), int(count)] for minute, count in model.activity(guid)]
        bursts = [
            {"start": b.start.isoformat(), "end": b.end.isoformat(), "peak": int(b.peak_count), "label": b.label}
            for b in model.bursts(guid)
        ]
        questions = [
            {"post_ids": [int(i) for i in q.post_ids], "count": int(q.count), "votes": int(q.votes)}
            for q in model.repeated_questions(guid)
        ]
        return DigestParts(talk_id, topics, takeaways, activity, bursts, questions)

    @staticmethod
    def _checkpoint(cursor: EventCursor) -> bytes:
        cursor.unsaved, cursor.saved_at = 0, time.monotonic()
        return cursor.dumps()

    async def _save(self, session: AsyncSession, event_id: int, cursor: EventCursor, blob: bytes) -> None:
        # Written over the saved row without reading it: loading the old blob (megabytes) only to
        # replace it cost about as much as pickling the new one.
        await cluster_store.save_state(session, event_id, blob, cursor.last_post_id)
