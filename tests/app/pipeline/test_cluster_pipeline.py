"""Posts are attributed to talks and topics as they arrive, and each talk's digest fills itself."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from app.main import create_app
from app.settings import Settings
from tests.app.api.test_talks import auth
from tests.clustering.conftest import make_stream
from tests.conftest import create_event
from tests.live import Follower


@pytest.fixture
def live_client(settings: Settings) -> Iterator[TestClient]:
    running = settings.model_copy(update={"pipeline_in_process": True})
    with TestClient(create_app(running)) as client:
        yield client


def wait_for(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def post_of(client: TestClient, post_id: int) -> dict[str, Any]:
    """The post as the API lists it now."""
    return {p["id"]: p for p in client.get("/api/events/testcon/posts").json()["items"]}[post_id]


def add_talk(client: TestClient, event: dict[str, Any], guid: str, title: str, room: str, abstract: str) -> int:
    now = datetime.now(UTC)
    body = {
        "guid": guid,
        "title": title,
        "room": room,
        "abstract": abstract,
        "start": (now - timedelta(minutes=20)).isoformat(),
        "end": (now + timedelta(minutes=20)).isoformat(),
        "speakers": ["Ana Ruiz" if guid == "pg" else "Ben Okafor"],
    }
    response = client.post("/api/events/testcon/talks", json=body, headers=auth(event))
    assert response.status_code == 201
    return int(response.json()["id"])


def add_two_talks(client: TestClient, event: dict[str, Any]) -> tuple[int, int]:
    """A PostgreSQL talk and an async Rust talk, running now in two rooms: (pg, rust)."""
    pg = add_talk(
        client, event, "pg", "Zero-downtime schema migrations in PostgreSQL", "Main hall",
        "Expand, migrate, contract: indexes built concurrently, lock timeouts, batched backfills.",
    )  # fmt: skip
    rust = add_talk(
        client, event, "rust", "Async Rust without tears", "Room B",
        "Futures, executors, tokio tasks and cancellation in async Rust.",
    )  # fmt: skip
    return pg, rust


def test_posts_land_on_the_talk_they_are_about_and_its_digest_cites_them(live_client: TestClient) -> None:
    event = create_event(live_client)
    pg, rust = add_two_talks(live_client, event)
    notes = [
        "Create indexes concurrently in PostgreSQL or you block every writer",
        "Set a lock timeout so a schema migration fails fast",
        "Backfill in small batches to keep replication lag low during the migration",
        "A Rust future does nothing until the executor polls it",
        "Never hold a mutex guard across an await in async Rust",
        "tokio JoinSet keeps spawned tasks from leaking",
    ]
    with live_client.websocket_connect("/ws/events/testcon") as ws:
        ids = [live_client.post("/api/events/testcon/posts", json={"text": t}).json()["post"]["id"] for t in notes]
        frames = Follower(ws).frames_until(lambda f: f["type"] == "digest.updated")
        assert any(f["type"] == "post.created" for f in frames)

    def attributed() -> list[dict[str, Any]] | None:
        items = live_client.get("/api/events/testcon/posts", params={"limit": 50}).json()["items"]
        return items if all(p["topic_id"] is not None for p in items) else None

    posts = {p["id"]: p for p in wait_for(attributed)}
    assert [posts[i]["talk_id"] for i in ids[:3]] == [pg, pg, pg]
    assert [posts[i]["talk_id"] for i in ids[3:]] == [rust, rust, rust]
    assert all(0 < posts[i]["talk_confidence"] <= 1 for i in ids)

    digest = wait_for(
        lambda: (d := live_client.get(f"/api/events/testcon/talks/{pg}/digest").json())["takeaways"] and d
    )
    cited = {i for t in digest["takeaways"] for i in t["post_ids"]}
    assert cited and cited <= set(ids[:3])
    assert digest["topics"] and all(t["label"] for t in digest["topics"])


def test_a_deleted_post_leaves_the_digest(live_client: TestClient) -> None:
    event = create_event(live_client)
    talk = add_talk(live_client, event, "pg", "PostgreSQL migrations", "Main hall", "Indexes and lock timeouts.")
    kept = live_client.post(
        "/api/events/testcon/posts", json={"text": "Lock timeouts make migrations safe", "talk_id": talk}
    ).json()
    gone = live_client.post(
        "/api/events/testcon/posts", json={"text": "Build indexes concurrently always", "talk_id": talk}
    ).json()

    def cited() -> set[int]:
        digest = live_client.get(f"/api/events/testcon/talks/{talk}/digest").json()
        return {i for t in digest["takeaways"] for i in t["post_ids"]}

    wait_for(lambda: gone["post"]["id"] in cited())
    live_client.delete(
        f"/api/events/testcon/posts/{gone['post']['id']}", headers={"X-Delete-Token": gone["delete_token"]}
    )
    wait_for(lambda: gone["post"]["id"] not in cited() and kept["post"]["id"] in cited())


def test_a_question_asked_again_is_one_question_in_the_digest_with_its_votes_summed(live_client: TestClient) -> None:
    event = create_event(live_client)
    talk = add_talk(live_client, event, "pg", "PostgreSQL migrations", "Main hall", "Indexes and lock timeouts.")
    asked = [
        "What lock timeout do you set for a schema migration?",
        "Also: how do you monitor replication lag during the backfill?",
        "what lock timeout do you set for a schema migration??",
    ]
    ids = [
        live_client.post("/api/events/testcon/posts", json={"text": t, "talk_id": talk, "kind": "question"}).json()[
            "post"
        ]["id"]
        for t in asked
    ]
    live_client.post(f"/api/events/testcon/posts/{ids[2]}/upvote", headers={"X-Client-Id": "c" * 32})

    def repeated() -> list[dict[str, Any]]:
        questions = live_client.get(f"/api/events/testcon/talks/{talk}/digest").json()["questions"]
        return questions if questions and questions[0]["votes"] == 1 else []

    (question,) = wait_for(repeated)
    assert question == {"post_ids": [ids[2], ids[0]], "count": 2, "votes": 1}  # the upvoted copy speaks for it


def test_the_model_resumes_after_a_restart_without_observing_posts_twice(settings: Settings) -> None:
    running = settings.model_copy(update={"pipeline_in_process": True})
    with TestClient(create_app(running)) as client:
        event = create_event(client)
        talk = add_talk(client, event, "pg", "PostgreSQL migrations", "Main hall", "Indexes and lock timeouts.")
        client.post("/api/events/testcon/posts", json={"text": "Lock timeouts make migrations safe", "talk_id": talk})
        wait_for(lambda: client.get(f"/api/events/testcon/talks/{talk}/digest").json()["takeaways"])
        before = client.get(f"/api/events/testcon/talks/{talk}/digest").json()
    with TestClient(create_app(running)) as client:
        client.post("/api/events/testcon/posts", json={"text": "Build indexes concurrently", "talk_id": talk})

        def grown() -> dict[str, Any] | None:
            digest = client.get(f"/api/events/testcon/talks/{talk}/digest").json()
            return digest if sum(t["size"] for t in digest["topics"]) == 2 else None

        after = wait_for(grown)
        assert after["version"] > before["version"]


def test_a_backlog_is_taken_in_ever_larger_steps_and_steps_are_small_again_once_caught_up(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # each step also reads and writes the changed talks' digests whatever its size: a burst that piled up
    # (a keynote, a restart) is cleared in fewer steps; caught up, what arrives is taken in as soon as before
    from app.pipeline import cluster as pipeline_module
    from app.pipeline.cluster import ClusterPipeline
    from app.store import clustering as cluster_store

    monkeypatch.setattr(pipeline_module, "BATCH", 2)
    monkeypatch.setattr(pipeline_module, "MAX_BATCH", 8)
    with TestClient(create_app(settings)) as client:
        create_event(client)

        def post(n: int) -> None:
            for i in range(n):
                text = f"Lock timeouts make migration {i} safe"
                assert client.post("/api/events/testcon/posts", json={"text": text}).status_code == 201

        maker, broker = client.app.state.sessionmaker, client.app.state.broker  # type: ignore[attr-defined]
        pipeline = ClusterPipeline(maker, broker)

        async def open_cursor() -> Any:
            async with maker() as session:
                (event_id,) = await cluster_store.event_ids(session)
                return int(event_id), await pipeline._open(session, int(event_id))

        async def steps(event_id: int, cursor: Any) -> list[int]:
            sizes = []
            while True:
                before = pipeline.processed
                if not await pipeline.step(event_id, cursor):
                    return sizes
                sizes.append(pipeline.processed - before)

        post(20)
        event_id, cursor = client.portal.call(open_cursor)
        assert client.portal.call(steps, event_id, cursor) == [2, 4, 8, 6]
        post(3)
        assert client.portal.call(steps, event_id, cursor) == [2, 1]
        posts = client.get("/api/events/testcon/posts", params={"limit": 100}).json()["items"]
        assert len(posts) == 23 and all(p["topic_id"] is not None for p in posts)


def test_a_takeover_resumes_from_the_checkpoint_and_takes_each_post_in_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the model is checkpointed every few batches: a worker that dies between checkpoints leaves batches
    # the next one reads again from the checkpoint, with the same outcome and no post taken in twice
    from app.pipeline import cluster as pipeline_module
    from app.pipeline.cluster import ClusterPipeline, EventCursor
    from app.store import clustering as cluster_store
    from app.store.tables import Post

    monkeypatch.setattr(pipeline_module, "BATCH", 2)
    monkeypatch.setattr(pipeline_module, "MAX_BATCH", 2)  # behind, steps stay this size
    monkeypatch.setattr(pipeline_module, "CHECKPOINT_BATCHES", 3)
    monkeypatch.setattr(pipeline_module, "CHECKPOINT_SECONDS", 3600.0)
    monkeypatch.setattr(pipeline_module, "CHECKPOINT_IDLE_SECONDS", 0.0)  # caught up: checkpoint at once
    with TestClient(create_app(settings)) as client:
        event = create_event(client)
        talk = add_talk(client, event, "pg", "PostgreSQL migrations", "Main hall", "Indexes and lock timeouts.")
        texts = ["Lock timeouts make migrations safe", "Build indexes concurrently", "Vacuum after a bulk load"]
        for i in range(7):
            response = client.post("/api/events/testcon/posts", json={"text": texts[i % 3], "talk_id": talk})
            assert response.status_code == 201
        maker, broker = client.app.state.sessionmaker, client.app.state.broker  # type: ignore[attr-defined]

        async def only_event() -> int:
            async with maker() as session:
                (found,) = await cluster_store.event_ids(session)
                return int(found)

        event_id = client.portal.call(only_event)

        async def run(steps: int | None) -> None:
            pipeline = ClusterPipeline(maker, broker)
            async with maker() as session:
                cursor = await pipeline._open(session, event_id)
            done = 0
            while (steps is None or done < steps) and await pipeline.step(event_id, cursor):
                done += 1

        async def stored() -> tuple[EventCursor, dict[int, tuple[int | None, int | None]]]:
            async with maker() as session:
                saved = await cluster_store.load_state(session, event_id)
                assert saved is not None
                posts = (await session.exec(select(Post).where(Post.event_id == event_id))).all()
                return EventCursor.loads(saved.state), {p.id: (p.talk_id, p.topic_id) for p in posts if p.id}

        client.portal.call(run, 4)  # 4 batches of 2: checkpoint after the third, then the worker dies
        cursor, first = client.portal.call(stored)
        assert cursor.model._clusterer.t_ == 6 and cursor.last_post_id == sorted(first)[5]
        client.portal.call(run, None)  # another worker takes over and runs until caught up
        cursor, second = client.portal.call(stored)
        assert cursor.model._clusterer.t_ == 7, "each post taken in once"
        assert cursor.last_post_id == max(second)
        assert second == first and all(talk_id == talk for talk_id, _ in second.values())


def test_a_post_whose_transaction_commits_after_a_newer_one_is_still_clustered(
    settings: Settings, database_url: str
) -> None:
    # PostgreSQL hands out post ids when a row is inserted, not when it commits: a slow transaction (a
    # 500-post ingest batch) can commit its smaller ids after a note with a larger id was clustered
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time, so its post ids always commit in order")
    from app.pipeline.cluster import ClusterPipeline
    from app.services.payloads import frame_data, post_read
    from app.services.unit_of_work import UnitOfWork
    from app.store import clustering as cluster_store
    from app.store.tables import Event, Post

    with TestClient(create_app(settings)) as client:
        event = create_event(client)
        talk = add_talk(client, event, "pg", "PostgreSQL migrations", "Main hall", "Indexes and lock timeouts.")
        maker, broker = client.app.state.sessionmaker, client.app.state.broker  # type: ignore[attr-defined]

        async def insert(session: Any, native_id: str, text: str) -> Post:
            (row,) = (await session.exec(select(Event))).all()
            post = Post(
                event_id=row.id,
                source="notes",
                native_id=native_id,
                text=text,
                talk_id=talk,
                talk_confidence=1.0,
                created_at=datetime.now(UTC),
            )
            session.add(post)
            await session.flush()  # the id is taken now; the commit comes later
            return post

        async def announce(session: Any, post: Post) -> None:
            (row,) = (await session.exec(select(Event))).all()
            uow = UnitOfWork(session, broker)
            await uow.emit(row, "post.created", frame_data(post_read(post, None, row.slug)))
            await uow.commit()

        async def scenario() -> tuple[int, int, dict[int, int | None]]:
            pipeline = ClusterPipeline(maker, broker)
            async with maker() as slow:
                late = await insert(slow, "late", "Lock timeouts make migrations safe")
                async with maker() as fast:
                    early = await insert(fast, "early", "Build indexes concurrently")
                    await announce(fast, early)
                async with maker() as session:
                    event_id = (await cluster_store.event_ids(session))[0]
                    cursor = await pipeline._open(session, event_id)
                while await pipeline.step(event_id, cursor):
                    pass  # the worker catches up while the slow batch is still open
                await announce(slow, late)
            while await pipeline.step(event_id, cursor):
                pass
            async with maker() as session:
                posts = await cluster_store.cluster_posts(session, event_id, [late.id, early.id], "testcon")  # type: ignore[list-item]
            assert late.id is not None and early.id is not None and late.id < early.id
            return cursor.model._clusterer.t_, pipeline.processed, {p.id: p.topic_id for p in posts if p.id}

        taken_in, processed, topics = client.portal.call(scenario)
        assert taken_in == processed == 2, "both posts taken in once"
        assert all(topic is not None for topic in topics.values()), f"every post has a topic: {topics}"


def test_the_worker_reads_past_its_own_output(settings: Settings) -> None:
    # about every post gets a post.updated frame from the worker: reading those back would double its reads
    from app.pipeline.cluster import ClusterPipeline
    from app.store import clustering as cluster_store

    with TestClient(create_app(settings)) as client:
        event = create_event(client)
        talk = add_talk(client, event, "pg", "PostgreSQL migrations", "Main hall", "Indexes and lock timeouts.")
        for text in ["Lock timeouts make migrations safe", "Build indexes concurrently", "Vacuum after a bulk load"]:
            assert client.post("/api/events/testcon/posts", json={"text": text, "talk_id": talk}).status_code == 201
        maker, broker = client.app.state.sessionmaker, client.app.state.broker  # type: ignore[attr-defined]

        async def scenario() -> tuple[list[bool], list[str], list[str]]:
            pipeline = ClusterPipeline(maker, broker)
            async with maker() as session:
                event_id = (await cluster_store.event_ids(session))[0]
                cursor = await pipeline._open(session, event_id)
            busy = [await pipeline.step(event_id, cursor) for _ in range(3)]
            created = await pipeline.log.frames_after(event_id, 0, 100, types={"post.created"})
            everything = await pipeline.log.frames_after(event_id, 0, 100)
            return busy, [json.loads(f.text)["type"] for f in created], [json.loads(f.text)["type"] for f in everything]

        busy, created, everything = client.portal.call(scenario)
        assert busy == [True, False, False], "one batch, then nothing new: its own frames are not read back"
        assert created == ["post.created"] * 3
        assert {"post.updated", "digest.updated"} <= set(everything), "an unfiltered read (the hub's) has them all"


def test_a_step_that_took_in_posts_says_so_once_it_has_committed(settings: Settings) -> None:
    # the clustering child reports its progress to the server (/metrics) then, not at its next poll
    from app.pipeline.cluster import ClusterPipeline
    from app.store import clustering as cluster_store

    with TestClient(create_app(settings)) as client:
        create_event(client)
        for text in ["Lock timeouts make migrations safe", "Build indexes concurrently"]:
            assert client.post("/api/events/testcon/posts", json={"text": text}).status_code == 201
        maker, broker = client.app.state.sessionmaker, client.app.state.broker  # type: ignore[attr-defined]

        async def scenario() -> list[tuple[bool, list[int]]]:
            pipeline = ClusterPipeline(maker, broker)
            heard: list[int] = []
            pipeline.stepped = lambda: heard.append(pipeline.processed)
            async with maker() as session:
                event_id = (await cluster_store.event_ids(session))[0]
                cursor = await pipeline._open(session, event_id)
            return [(await pipeline.step(event_id, cursor), list(heard)) for _ in range(2)]

        assert client.portal.call(scenario) == [(True, [2]), (False, [2])], "told once, both posts committed"


def test_a_step_writes_the_topics_it_changed_and_leaves_the_others_alone(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a talk holds many topics and a step changes a few: the others' rows are not written again, and
    # every row still says what the model says (a fresh cursor, as after a takeover, writes all once)
    from app.pipeline import cluster as pipeline_module
    from app.pipeline.cluster import ClusterPipeline
    from app.store import clustering as cluster_store
    from app.store.tables import Topic

    monkeypatch.setattr(pipeline_module, "BATCH", 50)
    unlimited = settings.model_copy(
        update={"rate_limit_posts": "100000/minute", "rate_limit_posts_per_address": "100000/minute"}
    )
    with TestClient(create_app(unlimited)) as client:
        create_event(client)
        maker, broker = client.app.state.sessionmaker, client.app.state.broker  # type: ignore[attr-defined]

        def post(texts: list[str]) -> None:
            for text in texts:
                assert client.post("/api/events/testcon/posts", json={"text": text}).status_code == 201

        async def only_event() -> int:
            async with maker() as session:
                (found,) = await cluster_store.event_ids(session)
                return int(found)

        event_id = client.portal.call(only_event)
        pipeline = ClusterPipeline(maker, broker)

        async def open_cursor() -> Any:
            async with maker() as session:
                return await pipeline._open(session, event_id)

        async def run(cursor: Any) -> None:
            while await pipeline.step(event_id, cursor):
                pass

        async def rows() -> dict[int, tuple[Any, ...]]:
            async with maker() as session:
                found = (await session.exec(select(Topic).where(Topic.event_id == event_id))).all()
                return {t.model_id: (t.label, t.size, t.updated_at) for t in found}

        texts, labels = make_stream(200)
        rust = [t for t, label in zip(texts, labels, strict=True) if label == "rust"][::-1]
        cursor = client.portal.call(open_cursor)
        post(texts)
        client.portal.call(run, cursor)
        before = client.portal.call(rows)
        model = {t.id: (t.label, t.size) for t in cursor.model.topics(None)}
        assert len(before) == len(model) >= 2 and {k: v[:2] for k, v in before.items()} == model
        post(rust[:4])
        client.portal.call(run, cursor)
        after = client.portal.call(rows)
        model = {t.id: (t.label, t.size) for t in cursor.model.topics(None)}
        assert {k: v[:2] for k, v in after.items()} == model
        grown = [k for k in after if after[k][1] != before.get(k, (None, None, None))[1]]
        assert grown and len(grown) < len(after), "the step changed some topics, not all"
        assert all(after[k] == before[k] for k in before if k not in grown), "the others were not written"
        # a cursor that remembers nothing writes every topic once more, to the same values
        cursor.topics_written.clear()
        post(rust[4:8])
        client.portal.call(run, cursor)
        final = client.portal.call(rows)
        assert {k: v[:2] for k, v in final.items()} == {t.id: (t.label, t.size) for t in cursor.model.topics(None)}
        assert all(final[k][2] > after[k][2] for k in after if k in final)


@pytest.mark.anyio
async def test_an_attributed_posts_live_frame_shows_it_exactly_as_the_api_does(store: tuple[Any, Any]) -> None:
    # the worker builds its post.updated frames from the values it read, not through the API's model
    from app.pipeline.cluster import ClusterPipeline
    from app.services.payloads import frame_data, post_read
    from app.store import clustering as cluster_store
    from app.store.tables import Author, Event, LiveEvent, Post
    from ingest.items import IncomingPost, ItemAction, SourceItem
    from tests.app.pipeline.test_ingest_batches import RecordingBroker, ingest

    _, maker = store
    berlin = timezone(timedelta(hours=2))
    rich = IncomingPost(
        source="bluesky", native_id="rich", text="Slides are up for the PostgreSQL migrations talk (spoilers!)",
        created_at=datetime(2026, 5, 1, 12, 0, 1, 250, tzinfo=berlin),
        edited_at=datetime(2026, 5, 1, 12, 5, tzinfo=berlin),
        url="https://bsky.app/rich", author_handle="bo.example", author_name="Bo",
        author_url="https://bsky.app/profile/bo.example", sensitive=True, spoiler_text="keynote spoilers",
        media_descriptions=("a slide", "the speaker"), boosts=3,
    )  # fmt: skip
    plain = IncomingPost(source="bluesky", native_id="anon", text="Nobody's post", created_at=datetime.now(UTC))
    broker = RecordingBroker()
    await ingest(maker, broker, [SourceItem(ItemAction.UPSERT, "bluesky", p.native_id, post=p) for p in (rich, plain)])
    async with maker() as session:
        event_id = (await cluster_store.event_ids(session))[0]
    pipeline = ClusterPipeline(maker, broker)  # type: ignore[arg-type]
    async with maker() as session:
        cursor = await pipeline._open(session, event_id)
    while await pipeline.step(event_id, cursor):
        pass
    async with maker() as session:
        slug = (await session.get(Event, event_id)).slug  # type: ignore[union-attr]
        frames = (await session.exec(select(LiveEvent).where(LiveEvent.type == "post.updated"))).all()
        updated = {f.data["id"]: f.data for f in frames}
        posts = (await session.exec(select(Post))).all()
        assert {p.id for p in posts} == set(updated), "each post attributed once"
        for post in posts:
            author = await session.get(Author, post.author_id) if post.author_id is not None else None
            assert json.dumps(updated[post.id]) == json.dumps(frame_data(post_read(post, author, slug))), post.native_id


@pytest.mark.anyio
async def test_a_follower_gets_a_steps_digests_hallway_first_then_by_talk(store: tuple[Any, Any]) -> None:
    # a step that changes several talks sends their digest.updated frames in one order, whatever the hash seed
    from app.pipeline.cluster import ClusterPipeline
    from app.store import clustering as cluster_store
    from app.store.tables import Talk
    from ingest.items import IncomingPost, ItemAction, SourceItem
    from tests.app.pipeline.test_ingest_batches import RecordingBroker, ingest

    _, maker = store
    yesterday = datetime.now(UTC) - timedelta(days=1)
    async with maker() as session:
        event_id = (await cluster_store.event_ids(session))[0]
        for n in range(6):
            end = yesterday + timedelta(hours=1)
            session.add(Talk(event_id=event_id, guid=f"talk-{n}", title=f"Talk {n}", start=yesterday, end=end))
        await session.commit()
    texts, _ = make_stream(48)
    posts = [
        IncomingPost(
            source="bluesky", native_id=f"p{n}", text=text, created_at=datetime.now(UTC),
            talk_ref=f"talk-{n % 8}" if n % 8 < 6 else None,  # a quarter of them about no talk: the hallway
        )
        for n, text in enumerate(texts)
    ]  # fmt: skip
    broker = RecordingBroker()
    await ingest(maker, broker, [SourceItem(ItemAction.UPSERT, "bluesky", p.native_id, post=p) for p in posts])
    pipeline = ClusterPipeline(maker, broker)  # type: ignore[arg-type]
    async with maker() as session:
        cursor = await pipeline._open(session, event_id)
    broker.published.clear()
    assert await pipeline.step(event_id, cursor)
    frames = [json.loads(m.message) for m in broker.published]
    talks = [f["data"]["talk_id"] for f in frames if f["type"] == "digest.updated"]
    talk_ids = sorted(cursor.talk_ids.values())
    assert talks == [None, *talk_ids], "the hallway first, then every talk by id"


@pytest.mark.anyio
async def test_the_kinds_the_stage_shows_are_those_it_gives_when_it_classifies_every_post_itself(
    store: tuple[Any, Any],
) -> None:
    # The stage hands the model the kind ingest stored, for posts that ingest classified from the text they
    # still have and with no parent: the model then does not classify them again. Replies, a reply that came
    # before its parent, a post edited before the stage saw it and a note marked as a question included.
    from dataclasses import replace

    from app.pipeline.cluster import ClusterPipeline
    from app.store import clustering as cluster_store
    from app.store.tables import Event, Post
    from clustering.model import EventModel
    from ingest.sources.notes import note_item
    from tests.app.pipeline.test_ingest_batches import RecordingBroker, ingest, upsert

    _, maker = store
    texts, _ = make_stream(40)
    items = [upsert(f"s{n}", text, author=f"a{n % 7}", n=n) for n, text in enumerate(texts)]
    items += [
        upsert("q", "Where is room B?", n=41),
        upsert("a", "It is next to the stairs", reply_to="q", n=42),
        upsert("again", "Which stairs do you mean?", reply_to="q", n=43),
        upsert("early", "yes, hall 2", reply_to="late", n=44),  # its parent arrives after it
        upsert("late", "Is the keynote in hall 2?", n=45),
        upsert("edited", "On my way to hall 1", n=46),
        upsert("t", "Key takeaway: restore your backups, do not just take them", n=47),
        upsert("f", "Great talk, thank you!", n=48),
        note_item("the slides, please", client_handle="c1", question=True, native_id="note-q"),
        note_item("Learned that DNS is hard", client_handle="c2", native_id="note"),
    ]
    broker = RecordingBroker()
    await ingest(maker, broker, items[:-6])
    await ingest(maker, broker, items[-6:])
    await ingest(maker, broker, [upsert("edited", "Wait, where is hall 1?", n=46)])
    pipeline = ClusterPipeline(maker, broker)  # type: ignore[arg-type]
    async with maker() as session:
        event_id = (await cluster_store.event_ids(session))[0]
        slug = (await session.get(Event, event_id)).slug  # type: ignore[union-attr]
        cursor = await pipeline._open(session, event_id)
        native = {p.id: p.native_id for p in (await session.exec(select(Post).order_by(col(Post.id)))).all()}
        posts = await cluster_store.cluster_posts(session, event_id, list(native), slug)  # type: ignore[arg-type]
    docs = [pipeline._doc(p, cursor) for p in posts]
    handed = {native[int(d.id)] for d in docs if d.kind is not None}
    assert handed and len(handed) < len(docs), "some kinds handed on"
    assert {"a", "again", "early", "edited"}.isdisjoint(handed), "not those of replies or edited posts"
    itself = EventModel().observe([replace(d, kind=None) for d in docs])
    assert EventModel().observe(docs) == itself

    while await pipeline.step(event_id, cursor):
        pass
    async with maker() as session:
        shown = {p.id: p.kind for p in (await session.exec(select(Post))).all()}
    stored = {p.id: p.kind for p in posts}
    # the stage's rule: a question or answer ingest found stays, otherwise the model's kind
    expected = {int(r.id): stored[int(r.id)] if stored[int(r.id)] in ("question", "answer") else r.kind for r in itself}
    assert shown == expected
    assert {shown[p.id] for p in posts if native[p.id] in ("q", "a", "note-q", "t", "f")} == {
        "question",
        "answer",
        "takeaway",
        "feedback",
    }


def test_a_post_an_organizer_moved_to_the_hallway_stays_there_and_leaves_the_talks_digest(
    live_client: TestClient,
) -> None:
    event = create_event(live_client)
    pg, _ = add_two_talks(live_client, event)
    # in PostgreSQL's words, during its talk, but about the venue's own database of badges
    stray = live_client.post(
        "/api/events/testcon/posts", json={"text": "Create indexes concurrently in PostgreSQL for the badge printer"}
    ).json()["post"]["id"]

    def post() -> dict[str, Any]:
        return post_of(live_client, stray)

    wait_for(lambda: post()["talk_id"] == pg)
    moved = live_client.post(
        f"/api/events/testcon/moderation/posts/{stray}/talk", json={"talk_id": None}, headers=auth(event)
    )
    assert moved.status_code == 200, moved.text
    later = [
        "Create indexes concurrently in PostgreSQL or you block every writer",
        "Set a lock timeout so a schema migration fails fast",
        "Backfill in small batches to keep replication lag low during the migration",
    ]
    ids = [live_client.post("/api/events/testcon/posts", json={"text": t}).json()["post"]["id"] for t in later]

    def pg_digest_cites_the_later_posts() -> dict[str, Any] | None:
        digest = live_client.get(f"/api/events/testcon/talks/{pg}/digest").json()
        cited = {i for t in digest["takeaways"] for i in t["post_ids"]}
        return digest if set(ids) <= cited else None

    digest = wait_for(pg_digest_cites_the_later_posts)  # the stage took them in, and its joint steps ran
    assert all(stray not in t["post_ids"] for t in digest["takeaways"])
    assert (post()["talk_id"], post()["talk_confidence"]) == (None, 1.0)
    assert post()["topic_id"] is not None  # a hallway topic


def test_a_post_an_organizer_filed_under_a_talk_stays_there_and_joins_its_digest(live_client: TestClient) -> None:
    event = create_event(live_client)
    pg, rust = add_two_talks(live_client, event)
    # about the Rust talk, in words that point at the PostgreSQL one
    stray = live_client.post(
        "/api/events/testcon/posts", json={"text": "Schema migrations of our task queue tables were the hard part"}
    ).json()["post"]["id"]

    def on_talk() -> int | None:
        post = post_of(live_client, stray)
        return post["talk_id"] if post["topic_id"] is not None else None

    wait_for(on_talk)
    filed = live_client.post(
        f"/api/events/testcon/moderation/posts/{stray}/talk", json={"talk_id": rust}, headers=auth(event)
    )
    assert filed.status_code == 200, filed.text
    for text in (  # later posts about PostgreSQL: the joint step sees them, and must leave the filed post be
        "Create indexes concurrently in PostgreSQL or you block every writer",
        "Set a lock timeout so a schema migration fails fast",
        "Backfill in small batches to keep replication lag low during the migration",
    ):
        live_client.post("/api/events/testcon/posts", json={"text": text})

    def cited_by_rust() -> bool:
        digest = live_client.get(f"/api/events/testcon/talks/{rust}/digest").json()
        return any(stray in t["post_ids"] for t in digest["takeaways"])

    wait_for(cited_by_rust)
    post = post_of(live_client, stray)
    assert post["talk_id"] == rust and post["talk_confidence"] == 1.0
    pg_digest = live_client.get(f"/api/events/testcon/talks/{pg}/digest").json()
    assert all(stray not in t["post_ids"] for t in pg_digest["takeaways"])


def test_a_post_left_in_the_hallway_for_want_of_a_talk_finds_its_talk_after_the_saved_state_is_lost(
    settings: Settings,
) -> None:
    """Only an organizer's choice is sure (confidence 1.0): the stage's own "no talk was running" is not,
    so a stage that lost its saved state and reads the posts again attributes it once the talk is there."""
    import asyncio

    from app.store.db import create_engine, sessionmaker
    from app.store.tables import ModelState

    running = settings.model_copy(update={"pipeline_in_process": True})
    with TestClient(create_app(running)) as client:
        event = create_event(client)
        note = {"text": "Create indexes concurrently in PostgreSQL or you block every writer"}
        early = client.post("/api/events/testcon/posts", json=note).json()["post"]["id"]

        def clustered() -> dict[str, Any] | None:
            post = post_of(client, early)
            return post if post["topic_id"] is not None else None

        post = wait_for(clustered)
        assert post["talk_id"] is None and post["talk_confidence"] < 1.0
    with TestClient(create_app(settings)) as client:  # the schedule comes late, the stage is down
        pg, _ = add_two_talks(client, event)

    async def lose_the_saved_state() -> None:
        engine = create_engine(settings)
        try:
            async with sessionmaker(engine)() as session:
                for state in (await session.exec(select(ModelState))).all():
                    await session.delete(state)
                await session.commit()
        finally:
            await engine.dispose()

    asyncio.run(lose_the_saved_state())
    with TestClient(create_app(running)) as client:

        def on_its_talk() -> bool:
            post = post_of(client, early)
            return post["talk_id"] == pg

        wait_for(on_its_talk)
