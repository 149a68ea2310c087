"""Bluesky account events: an account deleted or taken down erases its author; other statuses change nothing."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from ingest.items import ItemAction, SourceItem
from ingest.sources.bluesky import JetstreamDecoder, JetstreamSource
from tests.ingest.test_jetstream_prefilter import assert_same
from tests.servers.cassettes import jetstream_lines
from tests.servers.jetstream import JetstreamServer

HASHTAG_SETS = [["pycon"], ["IndieRebellion"], ["straße"], []]


def recorded_account_frames() -> list[str]:
    """The account events of the recorded captures, as Jetstream sent them (both say ``active: true``)."""
    frames = [line for line in jetstream_lines() if json.loads(line).get("kind") == "account"]
    assert len(frames) >= 2
    return frames


def account_frame(status: str | None, *, did: str | None = None, active: bool = False, time_us: int = 0) -> str:
    """A recorded account event turned inactive with ``status`` (same shape, same field order as captured)."""
    event: dict[str, Any] = json.loads(recorded_account_frames()[0])
    if did is not None:
        event["did"] = event["account"]["did"] = did
    if time_us:
        event["time_us"] = time_us
    account = {key: value for key, value in event["account"].items() if key != "time"}
    account["active"] = active
    if status is not None:
        account["status"] = status
    event["account"] = {**account, "time": event["account"]["time"]}
    return json.dumps(event, separators=(",", ":"))


@pytest.mark.parametrize("status", ["deleted", "takendown"])
def test_an_account_deleted_or_taken_down_erases_every_post_by_its_did(status: str) -> None:
    frame = account_frame(status).encode()
    did = json.loads(frame)["did"]
    decoder = JetstreamDecoder(["pycon"])
    time_us, item = decoder.decode(frame)
    assert time_us == json.loads(frame)["time_us"]
    assert item == SourceItem(ItemAction.ERASE_AUTHOR, "bluesky", f"at://{did}/", author_handle=did)


@pytest.mark.parametrize("status", ["deactivated", "suspended", "desynchronized", "throttled", None, "someday-new"])
def test_reversible_or_unknown_statuses_and_active_accounts_change_nothing(status: str | None) -> None:
    decoder = JetstreamDecoder(["pycon"])
    assert decoder.decode(account_frame(status).encode())[1] is None
    for frame in recorded_account_frames():  # active: true, as recorded
        assert decoder.decode(frame.encode())[1] is None
    assert decoder.decode(account_frame("deleted", active=True).encode())[1] is None


@pytest.mark.parametrize("hashtags", HASHTAG_SETS, ids=lambda tags: "+".join(tags) or "none")
def test_the_prefilter_passes_account_events_and_both_decodes_agree(hashtags: list[str]) -> None:
    frames: list[bytes | str] = [frame.encode() for frame in recorded_account_frames()]
    for status in ("deleted", "takendown", "deactivated", "suspended", None):
        frames.append(account_frame(status).encode())
    hostile = [
        b'{"did":"did:plc:x","time_us":1,"kind":"account","account":{"active":false,"status":["deleted"]}}',
        b'{"did":"did:plc:x","time_us":1,"kind":"account","account":{"active":"false","status":"deleted"}}',
        b'{"did":"did:plc:x","time_us":1,"kind":"account","account":"deleted"}',
        b'{"did":"did:plc:x","time_us":1,"kind":"account"}',
        b'{"did":"","time_us":1,"kind":"account","account":{"active":false,"status":"deleted"}}',
        b'{"did":"did:web:a/b","time_us":1,"kind":"account","account":{"active":false,"status":"deleted"}}',
    ]
    assert_same(hashtags, frames + hostile)
    decoder = JetstreamDecoder(hashtags)
    deleted = account_frame("deleted").encode()
    if decoder.prefilter.enabled:
        assert not decoder.prefilter.may_name(deleted)  # it takes the envelope path, and still erases
    assert decoder.decode(deleted)[1] is not None


@pytest.mark.anyio
async def test_the_source_yields_the_erase_from_the_replayed_firehose_with_its_cursor() -> None:
    gone, paused = "did:plc:gone0000000000000000000", "did:plc:paused00000000000000000"
    async with JetstreamServer() as server:
        server.log_frames(jetstream_lines())
        last = max(json.loads(line)["time_us"] for line in jetstream_lines())
        server.log_frames([account_frame("deactivated", did=paused, time_us=last + 1)])
        server.log_frames([account_frame("deleted", did=gone, time_us=last + 2)])
        source = JetstreamSource(server.url, ["pycon"])
        erases: list[SourceItem] = []
        with anyio.fail_after(20):
            async for item in source.items("0"):
                if item.action == ItemAction.ERASE_AUTHOR:
                    erases.append(item)
                    if item.author_handle == gone:
                        break
    assert [(i.native_id, i.author_handle, i.cursor) for i in erases] == [(f"at://{gone}/", gone, str(last + 2))]
