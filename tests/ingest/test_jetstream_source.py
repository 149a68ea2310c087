"""Bluesky via Jetstream: posts under the hashtags arrive once, across drops, restarts and hostile frames."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from ingest.runner import SourceRunner
from ingest.sources.bluesky import JetstreamDecoder, JetstreamSource
from tests.fakes import FakeClock, JsonFileCursorStore, ListSink
from tests.ingest.runs import DEADLINE, killed_at_exit, running, settle
from tests.servers.cassettes import JETSTREAM_CAPTURE, JETSTREAM_GOLDEN
from tests.servers.jetstream import JetstreamServer

pytestmark = pytest.mark.anyio

KEY = "bluesky:jetstream#pycon"


def make_runner(
    server: JetstreamServer, sink: ListSink, tmp_path: Path, clock: FakeClock, *hashtags: str, **options: object
) -> SourceRunner:
    source = JetstreamSource(server.url, hashtags or ("pycon",), **options)  # type: ignore[arg-type]
    return SourceRunner(
        source,
        sink,
        JsonFileCursorStore(tmp_path / "cursors.json"),
        source_key=KEY,
        batch_interval=0.02,
        clock=clock.time,
        sleep=clock.sleep,
    )


async def converge(sink: ListSink, server: JetstreamServer, hashtag: str = "pycon") -> None:
    await settle(sink, lambda s: {k: v for k, v in s.texts("bluesky").items()} == server.live_posts(hashtag))


async def test_recorded_posts_with_tag_facets_are_found_in_the_replayed_firehose(tmp_path: Path) -> None:
    async with JetstreamServer(replay=True) as server:
        sink, clock = ListSink(), FakeClock()
        runner = make_runner(
            server,
            sink,
            tmp_path,
            clock,
            "IndieRebellion",
            "#balanwonderworldoc",
            backfill_from=datetime(2026, 1, 1, tzinfo=UTC),
        )
        async with running(runner):
            await settle(sink, lambda s: len(s.posts) == 2)
        assert "cursor=" in server.subscriptions[0]
        assert "wantedCollections=app.bsky.feed.post" in server.subscriptions[0]
    posts = {post.native_id: post for post in sink.posts.values()}
    indie = posts["at://did:plc:tn3hni2jpphsgl6amfbb7ja6/app.bsky.feed.post/3mptbypfywk2v"]
    assert indie.language == "de"
    assert indie.author_handle == "did:plc:tn3hni2jpphsgl6amfbb7ja6"
    assert indie.html is not None
    assert '<a href="https://bsky.app/hashtag/IndieRebellion"' in indie.html
    assert ">#IndieRebellion</a> 😂" in indie.html
    wonder = posts["at://did:plc:ynfp6wddjqpl44gordpsqkuw/app.bsky.feed.post/3mptbyo7tas2u"]
    assert wonder.language == "es"
    assert wonder.tags == ("talesatwonderworld", "balanwonderworldoc")


def test_hashtag_facets_are_read_by_utf8_byte_offsets_in_multibyte_text() -> None:
    decoder = JetstreamDecoder(["pycon"])
    text = "Ünïcödé 🎤🎤 talk — très bien #PyCon et #autre"
    start = len(text[: text.index("#PyCon")].encode())
    other = len(text[: text.index("#autre")].encode())
    assert start != text.index("#PyCon")  # byte and character offsets differ here
    record = {
        "$type": "app.bsky.feed.post",
        "text": text,
        "createdAt": "2026-07-04T14:38:07.323Z",
        "facets": [
            {
                "index": {"byteStart": start, "byteEnd": start + 6},
                "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "PyCon"}],
            },
            {
                "index": {"byteStart": other, "byteEnd": other + 6},
                "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "autre"}],
            },
        ],
    }
    frame = {
        "did": "did:plc:x",
        "time_us": 1,
        "kind": "commit",
        "commit": {"operation": "create", "collection": "app.bsky.feed.post", "rkey": "3k", "record": record},
    }
    _, item = decoder.decode(json.dumps(frame))
    assert item is not None
    assert item.post is not None
    assert '<a href="https://bsky.app/hashtag/PyCon" rel="nofollow noopener noreferrer">#PyCon</a>' in item.post.html  # type: ignore[operator]
    assert '">#autre</a>' in item.post.html  # type: ignore[operator]
    assert item.post.tags == ("pycon", "autre")


def test_record_tags_alone_put_a_post_under_the_hashtag() -> None:
    decoder = JetstreamDecoder(["pycon"])
    frame = {
        "did": "did:plc:x",
        "time_us": 1,
        "kind": "commit",
        "commit": {
            "operation": "create",
            "collection": "app.bsky.feed.post",
            "rkey": "3k",
            "record": {"text": "no visible tag", "tags": ["PyCon"], "createdAt": "2026-07-04T14:38:07Z"},
        },
    }
    _, item = decoder.decode(json.dumps(frame))
    assert item is not None


def test_no_recorded_post_is_under_an_unrelated_hashtag() -> None:
    decoder = JetstreamDecoder(["pycon"])
    lines = JETSTREAM_GOLDEN.read_text().splitlines() + JETSTREAM_CAPTURE.read_text().splitlines()
    items = [decoder.decode(line)[1] for line in lines if line.strip()]
    assert [item.action.value for item in items if item is not None] == ["delete"]  # deletes are always passed on


async def test_posts_replies_edits_and_deletes_arrive_as_published(tmp_path: Path) -> None:
    async with JetstreamServer() as server:
        sink, clock = ListSink(), FakeClock()
        async with running(make_runner(server, sink, tmp_path, clock)):
            await server.wait_for_connections()
            question = server.publish_post("Where are the slides? #pycon", did="did:plc:q")
            answer = server.publish_post("On the wiki #pycon", did="did:plc:a", reply_to=question)
            server.publish_post("Unrelated #rust")
            doomed = server.publish_post("Oops #pycon")
            server.edit_post(question, "Where are the keynote slides? #pycon")
            server.delete_post(doomed)
            await converge(sink, server)
        assert sink.posts[("bluesky", answer)].reply_to == question
        assert sink.posts[("bluesky", question)].edited_at is not None


async def test_an_edit_that_removes_the_hashtag_withdraws_the_post(tmp_path: Path) -> None:
    async with JetstreamServer() as server:
        sink, clock = ListSink(), FakeClock()
        async with running(make_runner(server, sink, tmp_path, clock)):
            await server.wait_for_connections()
            uri = server.publish_post("Tagged #pycon")
            await converge(sink, server)
            server.edit_post(uri, "Not about the conference after all")
            await settle(sink, lambda s: not s.posts)


async def test_opt_out_tag_keeps_a_post_out(tmp_path: Path) -> None:
    async with JetstreamServer() as server:
        sink, clock = ListSink(), FakeClock()
        runner = make_runner(server, sink, tmp_path, clock)
        async with running(runner):
            await server.wait_for_connections()
            server.publish_post("Private thought #pycon #nobackchannel")
            kept = server.publish_post("Public thought #pycon")
            await settle(sink, lambda s: len(s.posts) == 1)
        assert list(sink.texts("bluesky")) == [kept]
        assert runner.status.skipped == 1


async def test_a_dropped_connection_resumes_from_the_rewound_cursor_without_doubles(tmp_path: Path) -> None:
    async with JetstreamServer() as server:
        sink, clock = ListSink(), FakeClock()
        runner = make_runner(server, sink, tmp_path, clock)
        async with running(runner):
            await server.wait_for_connections()
            for n in range(5):
                server.publish_post(f"Before {n} #pycon")
            await converge(sink, server)
            clock.hold()
            server.drop_connections()
            await clock.sleeping()
            for n in range(5):
                server.publish_post(f"During {n} #pycon")
            clock.release()
            await converge(sink, server)
        assert "cursor=" in server.subscriptions[1]
        upserts = [item.native_id for batch in sink.batches for item in batch]
        assert len(upserts) == len(set(upserts)) == 10  # the rewound replay was recognised as seen


async def test_garbage_and_five_megabyte_frames_are_skipped_without_reconnecting(tmp_path: Path) -> None:
    async with JetstreamServer() as server:
        sink, clock = ListSink(), FakeClock()
        runner = make_runner(server, sink, tmp_path, clock)
        async with running(runner):
            await server.wait_for_connections()
            server.send_raw("{not json")
            commit = {"collection": "app.bsky.feed.post", "rkey": 5}  # an rkey must be a string
            server.send_raw(json.dumps({"did": "did:plc:x", "time_us": 1, "kind": "commit", "commit": commit}))
            server.send_raw(b'{"text": "' + b"x" * 5_000_000 + b'"}')
            server.publish_post("Still here #pycon")
            await converge(sink, server)
        assert runner.status.malformed == 2 + 1
        assert runner.status.reconnects == 0


async def test_a_frame_whose_time_is_no_time_is_skipped_and_does_not_become_the_cursor(tmp_path: Path) -> None:
    async with JetstreamServer() as server:
        sink, clock = ListSink(), FakeClock()
        runner = make_runner(server, sink, tmp_path, clock)
        async with running(runner):
            await server.wait_for_connections()
            for n, time_us in enumerate((10**30, 2**62, -5)):
                record = {"$type": "app.bsky.feed.post", "text": "Hostile #pycon", "createdAt": "2026-11-27T10:00:00Z"}
                commit = {"operation": "create", "collection": "app.bsky.feed.post", "rkey": f"r{n}", "record": record}
                post = {"did": "did:plc:x", "time_us": time_us, "kind": "commit", "commit": commit}
                identity = {"did": "did:plc:y", "time_us": time_us, "kind": "identity", "identity": {}}
                server.send_raw(json.dumps(post))
                server.send_raw(json.dumps(identity))
            server.publish_post("Still here #pycon")
            await converge(sink, server)
        assert runner.status.malformed == 6
        assert runner.status.reconnects == 0
        cursor = await JsonFileCursorStore(tmp_path / "cursors.json").load(KEY)
        assert cursor is not None and int(cursor) < 2**62


def test_a_post_dated_where_utc_cannot_hold_it_keeps_the_relays_time() -> None:
    decoder = JetstreamDecoder(("pycon",))
    for n, created in enumerate(("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "not a time")):
        record = {"$type": "app.bsky.feed.post", "text": "Dated oddly #pycon", "createdAt": created}
        commit = {"operation": "create", "collection": "app.bsky.feed.post", "rkey": f"r{n}", "record": record}
        frame = json.dumps({"did": "did:plc:x", "time_us": 1_764_237_600_000_000, "kind": "commit", "commit": commit})
        _, item = decoder.decode(frame)
        assert item is not None and item.post is not None
        assert item.post.created_at == datetime(2025, 11, 27, 10, 0, tzinfo=UTC)  # what time_us says


async def test_a_worker_killed_mid_stream_and_restarted_loses_and_doubles_nothing(tmp_path: Path) -> None:
    async with JetstreamServer() as server:
        sink, clock = ListSink(), FakeClock()
        count = 0

        async def publish(n: int) -> None:
            nonlocal count
            for _ in range(n):
                server.publish_post(f"Steady {count} #pycon", did=f"did:plc:{count % 3}")
                count += 1
                await anyio.sleep(0)

        async with killed_at_exit(make_runner(server, sink, tmp_path, clock)):
            await server.wait_for_connections()
            await publish(30)
            await settle(sink, lambda s: len(s.posts) >= 5)
        await publish(10)
        assert await JsonFileCursorStore(tmp_path / "cursors.json").load(KEY) is not None
        async with running(make_runner(server, sink, tmp_path, clock)):
            await publish(10)
            await converge(sink, server)
        assert len(sink.posts) == 50


async def test_a_quiet_hashtag_still_moves_the_cursor_past_the_firehose(tmp_path: Path) -> None:
    async with JetstreamServer() as server:
        sink, clock = ListSink(), FakeClock()
        cursors = JsonFileCursorStore(tmp_path / "cursors.json")
        async with running(make_runner(server, sink, tmp_path, clock)):
            await server.wait_for_connections()
            for n in range(20):
                server.publish_post(f"Other conversation {n} #rust")
            last = server.publish_event({"did": "did:plc:z", "kind": "identity", "identity": {}})
            with anyio.fail_after(DEADLINE):
                while await cursors.load(KEY) != str(last["time_us"]):
                    await anyio.sleep(0.01)
        assert not sink.posts


async def test_a_post_bridged_from_mastodon_names_its_original(tmp_path: Path) -> None:
    async with JetstreamServer() as server:
        sink, clock = ListSink(), FakeClock()
        async with running(make_runner(server, sink, tmp_path, clock)):
            await server.wait_for_connections()
            uri = server.publish_post(
                "Hello from the fediverse #pycon",
                extra={"bridgyOriginalUrl": "https://mastodon.example/@alice/1234"},
            )
            await converge(sink, server)
        assert sink.posts[("bluesky", uri)].extra["bridged_from"] == "https://mastodon.example/@alice/1234"
