"""Mastodon under faults: after each one the stored posts equal exactly what the instances published."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from ingest.html import html_to_text
from ingest.runner import SourceRunner
from ingest.sources.mastodon import MastodonSource, Streaming
from tests.fakes import FakeClock, JsonFileCursorStore, ListSink
from tests.ingest.runs import eventually, killed_at_exit, running, settle
from tests.servers.mastodon import MastodonServer

pytestmark = pytest.mark.anyio

TRANSPORTS = pytest.mark.parametrize("streaming", ["websocket", "sse"])


def make_runner(
    server: MastodonServer,
    sink: ListSink,
    tmp_path: Path,
    clock: FakeClock,
    *,
    streaming: Streaming = "websocket",
    **source_options: object,
) -> SourceRunner:
    source = MastodonSource(server.url, "pycon", streaming=streaming, poll_interval=0.05, **source_options)  # type: ignore[arg-type]
    return SourceRunner(
        source,
        sink,
        JsonFileCursorStore(tmp_path / "cursors.json"),
        source_key=f"mastodon:{server.domain}#pycon",
        batch_interval=0.02,
        clock=clock.time,
        sleep=clock.sleep,
    )


def published(*servers: MastodonServer) -> dict[str, str]:
    """uri -> plain text of every live status on the servers (the ones under test are all public)."""
    return {status["uri"]: status["content"] for server in servers for status in server.live_statuses()}


def texts_of(*servers: MastodonServer) -> dict[str, str]:
    return {uri: html_to_text(content) for uri, content in published(*servers).items()}


async def converge(sink: ListSink, *servers: MastodonServer) -> None:
    await settle(sink, lambda s: s.texts("mastodon") == texts_of(*servers))


@TRANSPORTS
async def test_a_stream_dropped_mid_way_loses_nothing_published_while_disconnected(
    tmp_path: Path, streaming: Streaming
) -> None:
    async with MastodonServer() as server:
        sink, clock = ListSink(), FakeClock()
        async with running(make_runner(server, sink, tmp_path, clock, streaming=streaming)):
            await server.wait_for_streams()
            for n in range(3):
                server.publish(f"Before the drop {n} #pycon")
            await converge(sink, server)
            clock.hold()
            server.drop_streams(partial=streaming == "sse")
            await clock.sleeping()
            for n in range(3):
                server.publish(f"While disconnected {n} #pycon")
            clock.release()
            await converge(sink, server)
            await server.wait_for_streams()
            server.publish("After reconnecting #pycon")
            await converge(sink, server)
        assert len(sink.posts) == 7


async def test_rate_limiting_waits_at_least_retry_after_then_catches_up(tmp_path: Path) -> None:
    async with MastodonServer() as server:
        for n in range(4):
            server.publish(f"Backlog {n} #pycon")
        server.fail_next("429", retry_after=42)
        sink, clock = ListSink(), FakeClock()
        async with running(make_runner(server, sink, tmp_path, clock)):
            await converge(sink, server)
        assert clock.sleeps[0] >= 42


async def test_a_spent_rate_limit_window_pauses_until_its_reset(tmp_path: Path) -> None:
    async with MastodonServer(rate_limit=2) as server:
        for n in range(6):
            server.publish(f"Backlog {n} #pycon")
        sink, clock = ListSink(), FakeClock()
        # No rewind: with a window this small, re-reading the last minute would never finish.
        runner = make_runner(server, sink, tmp_path, clock, page_limit=2, catch_up_rewind=0)
        async with running(runner):
            await eventually(lambda: len(clock.sleeps) >= 1)
            server.rate_remaining = server.rate_limit  # the window resets
            await converge(sink, server)
        assert clock.sleeps[0] > 200  # X-RateLimit-Reset is five minutes away
        assert "rate limit" in (runner.status.last_error or "")


@pytest.mark.parametrize("fault", ["500", "garbage"])
async def test_server_errors_and_garbage_pages_are_retried_until_everything_arrives(tmp_path: Path, fault: str) -> None:
    async with MastodonServer() as server:
        for n in range(3):
            server.publish(f"Backlog {n} #pycon")
        server.fail_next(fault, times=2)  # type: ignore[arg-type]
        sink, clock = ListSink(), FakeClock()
        runner = make_runner(server, sink, tmp_path, clock)
        async with running(runner):
            await converge(sink, server)
        assert runner.status.reconnects == 2
        assert runner.status.malformed == (2 if fault == "garbage" else 0)


@TRANSPORTS
async def test_garbage_and_five_megabyte_frames_are_skipped_and_counted(tmp_path: Path, streaming: Streaming) -> None:
    async with MastodonServer() as server:
        sink, clock = ListSink(), FakeClock()
        runner = make_runner(server, sink, tmp_path, clock, streaming=streaming)
        async with running(runner):
            await server.wait_for_streams()
            server.send_raw("{not json")
            server.send_raw('{"id": "5", "content": ' + '"' + "x" * 5_000_000 + '"}')
            # Only the stream reader counts frames, so once both are counted the catch-up is over and
            # the next status can only arrive over the same stream, after the bad frames.
            await eventually(lambda: runner.status.malformed == 2)
            server.publish("Still flowing #pycon")
            await converge(sink, server)
        assert runner.status.malformed == 2
        assert runner.status.reconnects == 0


async def test_the_same_status_seen_on_two_instances_is_stored_once_and_edits_and_deletes_reach_it(
    tmp_path: Path,
) -> None:
    async with MastodonServer() as home, MastodonServer() as other:
        home.federate_to(other)
        sink, clock = ListSink(), FakeClock()
        home_runner = make_runner(home, sink, tmp_path, clock)
        other_runner = make_runner(other, sink, tmp_path, clock, streaming="sse")
        async with running(home_runner, other_runner):
            await home.wait_for_streams()
            await other.wait_for_streams()
            statuses = [home.publish(f"Federated {n} #pycon") for n in range(3)]
            await converge(sink, home)
            await eventually(lambda: other_runner.status.accepted >= 3)
            assert len(sink.posts) == 3
            home.edit(statuses[0], "Federated 0, corrected #pycon")
            home.delete(statuses[1])
            await converge(sink, home)
            await eventually(lambda: other_runner.status.accepted >= 5)
        assert sink.texts("mastodon") == texts_of(home)
        assert sink.posts[("mastodon", statuses[0]["uri"])].edited_at is not None
        assert sink.posts[("mastodon", statuses[0]["uri"])].author_handle == f"alice@{home.domain}"


@TRANSPORTS
async def test_a_boost_updates_the_original_counts_and_never_adds_a_post(tmp_path: Path, streaming: Streaming) -> None:
    async with MastodonServer() as server:
        sink, clock = ListSink(), FakeClock()
        async with running(make_runner(server, sink, tmp_path, clock, streaming=streaming)):
            await server.wait_for_streams()
            status = server.publish("Boost me #pycon")
            server.boost(status, account="bob")
            server.boost(status, account="carol")
            await settle(sink, lambda s: s.posts.get(("mastodon", status["uri"])) is not None)
            await settle(sink, lambda s: s.posts[("mastodon", status["uri"])].boosts == 2)
        assert list(sink.texts("mastodon")) == [status["uri"]]


async def test_a_delete_of_a_status_seen_before_a_restart_names_its_local_id(tmp_path: Path) -> None:
    async with MastodonServer() as server:
        status = server.publish("Old news #pycon")
        sink, clock = ListSink(), FakeClock()
        async with running(make_runner(server, sink, tmp_path, clock)):
            await converge(sink, server)
        async with running(make_runner(server, sink, tmp_path, clock)):
            await server.wait_for_streams()
            server.delete(status)
            await settle(sink, lambda s: any(key[1].startswith("mastodon-local:") for key in s.deleted))
        post = sink.posts[("mastodon", status["uri"])]
        assert ("mastodon", f"mastodon-local:{server.domain}/{post.extra['local_id']}") in sink.deleted


async def test_refused_streaming_falls_back_to_polling(tmp_path: Path) -> None:
    async with MastodonServer(require_token="secret") as server:
        sink, clock = ListSink(), FakeClock()
        runner = make_runner(server, sink, tmp_path, clock)
        async with running(runner):
            await settle(sink, lambda s: True)
            server.publish("Seen by polling #pycon")
            await converge(sink, server)
            server.publish("Seen by polling too #pycon")
            await converge(sink, server)
        assert runner.source.streaming == "poll"  # type: ignore[attr-defined]
        assert server.open_streams == 0


async def test_a_worker_killed_mid_stream_and_restarted_loses_and_doubles_nothing(tmp_path: Path) -> None:
    async with MastodonServer() as server:
        sink, clock = ListSink(), FakeClock()
        published_count = 0

        async def publish_steadily(count: int) -> None:
            nonlocal published_count
            for _ in range(count):
                server.publish(f"Steady {published_count} #pycon")
                published_count += 1
                await anyio.sleep(0)

        async with killed_at_exit(make_runner(server, sink, tmp_path, clock)):
            await server.wait_for_streams()
            await publish_steadily(20)
            await settle(sink, lambda s: len(s.posts) >= 5)
        # The process is gone; the instance keeps publishing.
        await publish_steadily(10)
        cursors = JsonFileCursorStore(tmp_path / "cursors.json")
        assert await cursors.load(f"mastodon:{server.domain}#pycon") is not None
        async with running(make_runner(server, sink, tmp_path, clock)):
            await publish_steadily(10)
            await converge(sink, server)
        assert len(sink.posts) == 40


async def test_an_unreachable_instance_is_reported_in_words_and_retried(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = MastodonSource(f"http://127.0.0.1:{port}", "pycon", poll_interval=0.05)
    clock = FakeClock()
    runner = SourceRunner(
        source,
        ListSink(),
        JsonFileCursorStore(tmp_path / "c.json"),
        source_key="k",
        clock=clock.time,
        sleep=clock.sleep,
    )
    async with running(runner):
        await eventually(lambda: runner.status.last_error is not None)
        assert (
            runner.status.last_error
            == f"http://127.0.0.1:{port} unreachable: connection refused (nothing listens there)"
        )
        assert runner.status.state in ("backing_off", "connecting")  # it keeps trying
