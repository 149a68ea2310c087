"""Mastodon: statuses under the hashtag arrive once, with their text, authors, warnings and consent respected."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ingest.runner import SourceRunner
from ingest.sources.mastodon import MastodonSource, Streaming
from tests.fakes import FakeClock, JsonFileCursorStore, ListSink
from tests.ingest.runs import running, settle
from tests.servers.mastodon import MastodonServer

pytestmark = pytest.mark.anyio


@pytest.fixture
async def mastodon() -> AsyncIterator[MastodonServer]:
    async with MastodonServer(hashtag="pycon") as server:
        yield server


def make_runner(
    server: MastodonServer,
    sink: ListSink,
    tmp_path: Path,
    *,
    streaming: Streaming = "websocket",
    clock: FakeClock | None = None,
    **source_options: object,
) -> SourceRunner:
    clock = clock or FakeClock()
    source = MastodonSource(server.url, "#PyCon", streaming=streaming, poll_interval=0.05, **source_options)  # type: ignore[arg-type]
    return SourceRunner(
        source,
        sink,
        JsonFileCursorStore(tmp_path / "cursors.json"),
        source_key=f"mastodon:{server.domain}#pycon",
        batch_interval=0.02,
        clock=clock.time,
        sleep=clock.sleep,
    )


def expected(server: MastodonServer) -> dict[str, str]:
    """What a reader should end with: every live public, consenting status under the tag, by uri."""
    return {
        status["uri"]: status["content"]
        for status in server.live_statuses()
        if status["visibility"] == "public" and status["account"].get("indexable", True)
    }


async def test_recorded_statuses_are_backfilled_across_pages_and_indexable_false_accounts_are_left_out(
    tmp_path: Path,
) -> None:
    async with MastodonServer(hashtag="pycon", seed=True) as server:
        for n in range(5):
            server.publish(f"Backlog {n} #pycon")
        sink = ListSink()
        runner = make_runner(server, sink, tmp_path, page_limit=2)
        async with running(runner):
            await settle(sink, lambda s: set(s.texts()) == set(expected(server)))
        texts = sink.texts()
    assert "#hoot (hashtag toot) #pycon" in texts.values()  # the recorded 4.6.4 status
    assert not any("only real" in text for text in texts.values())  # its author set indexable: false
    assert sum(1 for request in server.requests if "min_id" in request) >= 4  # followed Link rel="prev"
    assert runner.status.skipped == 2


async def test_a_published_status_arrives_with_text_html_author_and_warning(
    mastodon: MastodonServer, tmp_path: Path
) -> None:
    sink = ListSink()
    async with running(make_runner(mastodon, sink, tmp_path)):
        await mastodon.wait_for_streams()
        status = mastodon.publish(
            "Slides are up #pycon",
            account="carol",
            language="de",
            sensitive=True,
            spoiler_text="spoilers for the demo",
            media_descriptions=["A slide with a flame graph"],
        )
        await settle(sink, lambda s: len(s.posts) == 1)
    post = sink.posts[("mastodon", status["uri"])]
    assert post.text == "Slides are up #pycon"
    assert post.html is not None
    assert 'href="' in post.html
    assert post.author_handle == f"carol@{mastodon.domain}"
    assert post.author_name == "Carol"
    assert post.url == status["url"]
    assert post.language == "de"
    assert post.sensitive
    assert post.spoiler_text == "spoilers for the demo"
    assert post.media_descriptions == ("A slide with a flame graph",)
    assert "pycon" in post.tags


@pytest.mark.parametrize("streaming", ["websocket", "sse"])
async def test_a_reply_points_at_the_question_it_answers(
    mastodon: MastodonServer, tmp_path: Path, streaming: Streaming
) -> None:
    sink = ListSink()
    async with running(make_runner(mastodon, sink, tmp_path, streaming=streaming)):
        await mastodon.wait_for_streams()
        question = mastodon.publish("How do you profile async code? #pycon", account="dave")
        answer = mastodon.publish("With py-spy #pycon", account="erin", in_reply_to=question)
        await settle(sink, lambda s: len(s.posts) == 2)
    assert sink.posts[("mastodon", answer["uri"])].reply_to == question["uri"]


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"visibility": "unlisted"}, "not public"),
        ({"visibility": "followers"}, "followers only"),
        ({"noindex": True}, "account asked search engines not to index it"),
        ({"indexable": False}, "account opted out of search"),
        ({"tags": ["nobackchannel"]}, "opt-out tag"),
    ],
)
async def test_statuses_without_consent_are_skipped_and_counted(
    mastodon: MastodonServer, tmp_path: Path, options: dict[str, object], reason: str
) -> None:
    sink = ListSink()
    runner = make_runner(mastodon, sink, tmp_path)
    async with running(runner):
        await mastodon.wait_for_streams()
        mastodon.publish("Not for you #pycon", **options)  # type: ignore[arg-type]
        kept = mastodon.publish("For everyone #pycon")
        await settle(sink, lambda s: len(s.posts) == 1)
    assert set(sink.texts()) == {kept["uri"]}, reason
    assert runner.status.skipped == 1


async def test_writing_the_opt_out_tag_in_an_edit_withdraws_the_post(mastodon: MastodonServer, tmp_path: Path) -> None:
    sink = ListSink()
    async with running(make_runner(mastodon, sink, tmp_path)):
        await mastodon.wait_for_streams()
        status = mastodon.publish("Fine to share #pycon")
        await settle(sink, lambda s: len(s.posts) == 1)
        mastodon.edit(status, "Changed my mind #pycon #NoBackchannel")
        await settle(sink, lambda s: not s.posts)


async def test_hostile_html_is_sanitised_and_plain_text_keeps_full_links(
    mastodon: MastodonServer, tmp_path: Path
) -> None:
    hostile = (
        '<p>Look <script>alert("x")</script><img src="x" onerror="alert(1)">'
        '<a href="javascript:alert(2)">here</a> '
        '<a href="https://example.org/slides" onclick="steal()"><span class="invisible">https://</span>'
        '<span class="ellipsis">example.org/sli</span><span class="invisible">des</span></a> #pycon</p>'
    )
    sink = ListSink()
    async with running(make_runner(mastodon, sink, tmp_path)):
        await mastodon.wait_for_streams()
        status = mastodon.publish("ignored #pycon", content_html=hostile)
        await settle(sink, lambda s: len(s.posts) == 1)
    post = sink.posts[("mastodon", status["uri"])]
    assert post.html is not None
    for dangerous in ("<script", "onerror", "javascript:", "onclick", "<img"):
        assert dangerous not in post.html
    assert 'href="https://example.org/slides"' in post.html
    assert post.text == "Look here https://example.org/slides #pycon"


async def test_a_status_bridged_from_bluesky_names_its_original(mastodon: MastodonServer, tmp_path: Path) -> None:
    sink = ListSink()
    async with running(make_runner(mastodon, sink, tmp_path)):
        await mastodon.wait_for_streams()
        status = mastodon.publish("Bridged hello #pycon", account="bsky_user")
        status_copy = dict(status)
        at_uri = "at://did:plc:abc/app.bsky.feed.post/3kxyz"
        status_copy["uri"] = f"https://bsky.brid.gy/convert/ap/{at_uri}"
        mastodon.delete(status)
        mastodon.receive_federated(status_copy, origin=mastodon)
        await settle(sink, lambda s: ("mastodon", status_copy["uri"]) in s.posts)
    assert sink.posts[("mastodon", status_copy["uri"])].extra["bridged_from"] == at_uri
