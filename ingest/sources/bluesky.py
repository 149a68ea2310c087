"""Bluesky Jetstream frames (JSON over WebSocket) in, SourceItems for posts under the event hashtags out.

- Subscribes with ``wantedCollections=app.bsky.feed.post``; hashtags are filtered here, from
  ``app.bsky.richtext.facet#tag`` facets, ``record.tags`` and ``#words`` in the text.
- ``native_id`` is ``at://{did}/app.bsky.feed.post/{rkey}``; ``source`` is ``"bluesky"``.
- The cursor is Jetstream's ``time_us`` (the highest seen). Reconnects rewind it a few seconds,
  because events are not strictly ordered by ``time_us`` and the server replays inclusively;
  replayed events already seen are dropped by a bounded ``(time_us, did, rkey)`` set.
- Jetstream carries no handles: ``author_handle`` is the DID (the app may resolve it later).
- Account events: an account deleted or taken down yields ``ERASE_AUTHOR`` (all its posts vanish);
  deactivated or suspended accounts change nothing (reversible; see ``ERASING_STATUSES``).
- Bridged posts: Bridgy Fed writes ``bridgyOriginalUrl`` into records it bridges from the
  fediverse; it is kept as ``extra["bridged_from"]`` (the original status URL) so the app can
  count a post bridged to both networks once (match it against a Mastodon post's url or uri).
"""

from __future__ import annotations

import json
import logging
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import msgspec
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from ingest.errors import MalformedItem, SourceRejected, SourceUnavailable, network_reason
from ingest.items import IncomingPost, ItemAction, SourceItem, erase_author_item
from ingest.source import SourceStats
from ingest.sources.consent import DEFAULT_OPT_OUT_TAG, hashtags_in_text, normalise_tag
from ingest.sources.facets import facet_tags, render_html
from ingest.sources.websocket import FrameReceiver, close_websocket
from ingest.text import normalise_text
from ingest.times import utc_time

logger = logging.getLogger(__name__)

SOURCE = "bluesky"
POST_COLLECTION = "app.bsky.feed.post"
# Microseconds since the epoch that datetime can hold (before year 10000): a later or negative time_us is no time.
MAX_TIME_US = int((datetime(9999, 12, 31, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 1_000_000
_HARD_FRAME_CAP_FACTOR = 16


def post_uri(did: str, rkey: str) -> str:
    return f"at://{did}/{POST_COLLECTION}/{rkey}"


# ``#account`` events (Jetstream sends them to every subscriber, whatever ``wantedCollections`` says) report
# an account's hosting status: ``active: false`` means the host no longer serves the repository, and
# ``status`` says why. Only these two are the end of what the person wrote, so their posts are erased:
# "deleted" (the person deleted the account: "delete what I wrote" for all of it) and "takendown" (the
# host or moderation removed it; the network no longer shows the posts, neither do we). "deactivated" (the
# person's own pause, undone by logging in again), "suspended" (temporary) and "desynchronized"/"throttled"
# (host-side states) are reversible and say nothing about the posts: they change nothing here, since an
# erase is a tombstone that a later reactivation could not undo. A missing status claims nothing either.
ERASING_STATUSES = frozenset({"deleted", "takendown"})


def account_prefix(did: str) -> str:
    """What every post uri of the account starts with (the sink erases by it: exact, DIDs hold no "/")."""
    return f"at://{did}/"


def _account_item(did: str, account: object) -> SourceItem | None:
    """ERASE_AUTHOR for an account deleted or taken down, None for any other account event."""
    if not isinstance(account, dict) or account.get("active") is not False:
        return None
    status = account.get("status")
    if not isinstance(status, str) or status not in ERASING_STATUSES or not did or "/" in did:
        return None
    return erase_author_item(SOURCE, account_prefix(did), did)


# Non-ASCII characters whose casefold is all ASCII (U+00DF "ß" folds to "ss", U+212A KELVIN SIGN to "k", the
# "ﬁ"-style ligatures…): the only way text that is not ASCII can spell an ASCII hashtag. A test checks the list
# against the running Python's Unicode database.
FOLDS_TO_ASCII = "\u00df\u017f\u1e9e\u212a\ufb00\ufb01\ufb02\ufb03\ufb04\ufb05\ufb06"
# Characters JSON writes escaped (or may): a hashtag holding one is not found verbatim in the frame's bytes.
_JSON_ESCAPED = re.compile(r'["\\/\x00-\x1f\x7f\u2028\u2029]')
# Go's encoding/json (so Jetstream) writes "<", ">" and "&" as these; a frame whose only \u escapes they
# are still holds every other character verbatim.
_HTML_ESCAPES = (b"\\u0026", b"\\u003c", b"\\u003e")


class HashtagPrefilter:
    """From a frame's bytes alone: could the frame name one of the hashtags? Never no when the answer is yes.

    Every tag the decoder reads (``#tag`` facets, ``record.tags``, ``#words`` in the text) is, after
    ``normalise_tag`` (strip, drop leading ``#``, casefold), equal to a hashtag only if a run of the frame's
    text casefolds to that hashtag, and ``str.casefold`` maps each character on its own, so the casefolded
    frame contains the hashtag. Without ``\\u`` escapes a JSON string's characters stand in the frame as
    their UTF-8 bytes (the other escapes, and Go's ``\\u0026``-style ones for ``<>&``, stand for
    characters no hashtag here holds), so that holds of the raw frame too. For ASCII hashtags and a frame
    free of the few non-ASCII characters that fold to part of them, ``bytes.lower`` is that casefold.
    """

    def __init__(self, hashtags: frozenset[str]) -> None:
        self.enabled = all(not _JSON_ESCAPED.search(tag) for tag in hashtags)
        self._html_escapes_harmless = not any(char in tag for tag in hashtags for char in "<>&")
        self._ascii = tuple(tag.encode() for tag in hashtags if tag.isascii())
        self._other = tuple(tag for tag in hashtags if not tag.isascii())
        # Only folding characters whose fold is part of an ASCII hashtag can spell it ("ß" matters to
        # "#strasse", nothing does to "#pycon").
        self._folds = tuple(
            char.encode() for char in FOLDS_TO_ASCII if any(char.casefold() in tag for tag in hashtags if tag.isascii())
        )

    def may_name(self, data: bytes) -> bool:
        if not self.enabled:
            return True
        # Most frames hold no backslash at all: a one-byte search (memchr) rules out escapes at once.
        escaped = b"\\" in data and b"\\u" in data
        if escaped and not (
            self._html_escapes_harmless and data.count(b"\\u") == sum(data.count(escape) for escape in _HTML_ESCAPES)
        ):
            return True
        if self._other:
            try:
                folded = data.decode("utf-8", "surrogatepass").casefold()
            except UnicodeDecodeError:
                return True
            for tag in self._other:
                if tag in folded:
                    return True
        if not self._ascii:
            return False
        if self._folds and not data.isascii():
            for char in self._folds:
                if char in data:
                    return True
        lowered = data.lower()
        for tag in self._ascii:
            if tag in lowered:
                return True
        return False


class _RecordText(msgspec.Struct):
    text: str


class _Commit(msgspec.Struct):
    collection: str | None = None
    operation: str | None = None
    rkey: str | None = None
    record: _RecordText | None = None


class _Account(msgspec.Struct):
    active: bool | None = None
    status: str | None = None


class _Envelope(msgspec.Struct):
    """The fields a frame that names none of the hashtags is still read for: cursor, deletes, edits, accounts."""

    did: str
    time_us: int
    kind: str | None = None
    commit: _Commit | None = None
    account: _Account | None = None


_ENVELOPE = msgspec.json.Decoder(_Envelope)


class JetstreamDecoder:
    """Pure frame decoding, separate from the connection (and measured alone by the benchmark).

    ``decode`` returns an item, or None for frames that are not posts under the hashtags;
    it raises MalformedItem for frames it cannot understand.

    A firehose frame almost never concerns the event, so ``decode`` first asks ``HashtagPrefilter``:
    a frame that cannot name a hashtag is read only for its envelope (typed, skipping the record's
    other fields); anything else, and any frame the envelope does not fit, takes ``decode_exact``.
    Both give the same answer for every frame (tests compare them over recorded, generated and
    hostile frames).
    """

    def __init__(self, hashtags: Iterable[str], *, opt_out_tag: str = DEFAULT_OPT_OUT_TAG) -> None:
        self.hashtags = frozenset(normalise_tag(tag) for tag in hashtags if normalise_tag(tag))
        self.opt_out_tag = opt_out_tag
        self._opt_out = normalise_tag(opt_out_tag)
        self.opted_out = 0  # posts under the hashtags that carried the opt-out tag
        self.prefilter = HashtagPrefilter(self.hashtags)

    def decode(self, frame: bytes | str) -> tuple[int, SourceItem | None]:
        """``(time_us, item or None)`` for one frame."""
        if isinstance(frame, str) or self.prefilter.may_name(frame):
            return self.decode_exact(frame)
        if not frame.isascii():
            try:  # json.loads refuses these bytes; the typed decoder may not look at them all
                frame.decode("utf-8", "surrogatepass")
            except UnicodeDecodeError:
                return self.decode_exact(frame)
        try:
            event = _ENVELOPE.decode(frame)
        except (ValueError, RecursionError):  # msgspec.DecodeError is a ValueError
            return self.decode_exact(frame)  # the exact path decides: malformed, or not a post
        if not 0 <= event.time_us < MAX_TIME_US:
            return self.decode_exact(frame)
        if event.kind == "account":
            account = event.account
            if account is None or account.active is not False or account.status not in ERASING_STATUSES:
                return event.time_us, None
            return self.decode_exact(frame)  # rare: the exact path builds the item (one place decides)
        commit = event.commit
        if event.kind != "commit" or commit is None or commit.collection != POST_COLLECTION:
            return event.time_us, None
        operation, rkey = commit.operation, commit.rkey
        if not rkey or operation not in ("create", "update", "delete"):
            return self.decode_exact(frame)
        if operation == "delete":
            return event.time_us, SourceItem(ItemAction.DELETE, SOURCE, post_uri(event.did, rkey))
        if commit.record is None:
            return self.decode_exact(frame)
        if operation == "update":  # an edit may have removed the hashtag: withdraw it
            return event.time_us, SourceItem(ItemAction.DELETE, SOURCE, post_uri(event.did, rkey))
        return event.time_us, None

    def decode_exact(self, frame: bytes | str) -> tuple[int, SourceItem | None]:
        """``decode`` reading the whole frame, for frames that may name a hashtag or look unusual."""
        try:
            event = msgspec.json.decode(frame)
        except (ValueError, RecursionError):
            event = None  # json.loads has the last word on what is JSON (NaN, surrogates, a BOM…)
        if event is None:
            try:
                event = json.loads(frame)
            except (ValueError, RecursionError) as exc:  # nesting too deep to parse is malformed, not a crash
                raise MalformedItem("frame is not JSON") from exc
        if not isinstance(event, dict):
            raise MalformedItem("frame is not an object")
        time_us = event.get("time_us")
        did = event.get("did")
        if not isinstance(time_us, int) or not isinstance(did, str):
            raise MalformedItem("frame without time_us or did")
        if not 0 <= time_us < MAX_TIME_US:
            # it would become the cursor (and a post's time): one such frame must not stop the source
            raise MalformedItem(f"time_us {time_us} is not a time")
        if event.get("kind") == "account":
            return time_us, _account_item(did, event.get("account"))
        commit = event.get("commit")
        if event.get("kind") != "commit" or not isinstance(commit, dict):
            return time_us, None  # identity events
        if commit.get("collection") != POST_COLLECTION:
            return time_us, None
        rkey, operation = commit.get("rkey"), commit.get("operation")
        if not isinstance(rkey, str) or not rkey:
            raise MalformedItem("commit without rkey")
        uri = post_uri(did, rkey)
        if operation == "delete":
            # Whether the deleted post was under the hashtag is unknowable now; the sink ignores
            # deletes of posts it never stored, and a delete must never be missed.
            return time_us, SourceItem(ItemAction.DELETE, SOURCE, uri)
        if operation not in ("create", "update"):
            raise MalformedItem(f"unknown operation {operation!r}")
        record = commit.get("record")
        if not isinstance(record, dict):
            raise MalformedItem("post commit without record")
        text = record.get("text")
        if not isinstance(text, str):
            raise MalformedItem("post without text")
        tags, text_tags = self._tags(record, text)
        if self.hashtags.isdisjoint(tags):
            if operation == "update":  # an edit may have removed the hashtag: withdraw it
                return time_us, SourceItem(ItemAction.DELETE, SOURCE, uri)
            return time_us, None
        if self._opts_out(tags, text_tags):
            self.opted_out += 1
            return time_us, SourceItem(ItemAction.DELETE, SOURCE, uri) if operation == "update" else None
        post = self._to_post(did, rkey, uri, record, text, tags, time_us, edited=operation == "update")
        return time_us, SourceItem(ItemAction.UPSERT, SOURCE, uri, post=post)

    @staticmethod
    def _tags(record: dict[str, Any], text: str) -> tuple[list[str], list[str]]:
        """Every tag of the post, normalised, and (also among them) those written as ``#words`` in the text."""
        tags = facet_tags(text, record.get("facets"))
        extra_tags = record.get("tags")
        if isinstance(extra_tags, list):
            tags.extend(normalise_tag(tag) for tag in extra_tags if isinstance(tag, str))
        # hashtags_in_text finds nothing without one of its two hash signs: skip the regex pass.
        text_tags = hashtags_in_text(text) if "#" in text or "＃" in text else []
        tags.extend(text_tags)
        return tags, text_tags

    def _opts_out(self, tags: list[str], text_tags: list[str]) -> bool:
        """``carries_opt_out(tags, text, opt_out_tag)``, reusing the text's hashtags already found."""
        wanted = self._opt_out
        return bool(wanted) and (wanted in {normalise_tag(tag) for tag in tags} or wanted in text_tags)

    @staticmethod
    def _to_post(
        did: str,
        rkey: str,
        uri: str,
        record: dict[str, Any],
        text: str,
        tags: list[str],
        time_us: int,
        *,
        edited: bool,
    ) -> IncomingPost:
        seen_at = datetime.fromtimestamp(time_us / 1_000_000, UTC)
        # the poster's own clock; the relay's when it wrote none, garbage or a time UTC cannot hold
        created_at = (utc_time(raw) if isinstance(raw := record.get("createdAt"), str) else None) or seen_at
        langs = record.get("langs")
        reply = record.get("reply")
        parent = reply.get("parent") if isinstance(reply, dict) else None
        reply_to = parent.get("uri") if isinstance(parent, dict) else None
        extra: dict[str, str] = {"did": did}
        if isinstance(original := record.get("bridgyOriginalUrl"), str) and original:
            extra["bridged_from"] = original
        return IncomingPost(
            source=SOURCE,
            native_id=uri,
            text=normalise_text(text),
            created_at=created_at,
            html=render_html(text, record.get("facets")),
            url=f"https://bsky.app/profile/{did}/post/{rkey}",
            language=langs[0] if isinstance(langs, list) and langs and isinstance(langs[0], str) else None,
            author_handle=did,
            author_url=f"https://bsky.app/profile/{did}",
            reply_to=reply_to if isinstance(reply_to, str) else None,
            sensitive=_has_self_label(record),
            media_descriptions=_alt_texts(record.get("embed")),
            tags=tuple(dict.fromkeys(tags)),
            edited_at=seen_at if edited else None,
            extra=extra,
        )


def _has_self_label(record: dict[str, Any]) -> bool:
    labels = record.get("labels")
    values = labels.get("values") if isinstance(labels, dict) else None
    return isinstance(values, list) and any(isinstance(v, dict) and v.get("val") for v in values)


def _alt_texts(embed: object) -> tuple[str, ...]:
    if not isinstance(embed, dict):
        return ()
    if isinstance(media := embed.get("media"), dict):  # recordWithMedia
        return _alt_texts(media)
    images = embed.get("images")
    if not isinstance(images, list):
        return ()
    return tuple(
        alt.strip()
        for image in images
        if isinstance(image, dict) and isinstance(alt := image.get("alt"), str) and alt.strip()
    )


class JetstreamSource:
    """Posts under any of ``hashtags`` from a Jetstream instance (``wss://…/subscribe``)."""

    def __init__(
        self,
        url: str,
        hashtags: Iterable[str],
        *,
        rewind: float = 5.0,
        opt_out_tag: str = DEFAULT_OPT_OUT_TAG,
        backfill_from: datetime | None = None,
        max_frame_bytes: int = 1_000_000,
        recv_timeout: float = 60.0,
        open_timeout: float = 20.0,
        dedupe_size: int = 50_000,
    ) -> None:
        parts = urlsplit(url)
        self.url = parts._replace(path=parts.path.rstrip("/") or "/subscribe", query="").geturl()
        self.decoder = JetstreamDecoder(hashtags, opt_out_tag=opt_out_tag)
        self.name = f"bluesky:{parts.netloc}#{'+'.join(sorted(self.decoder.hashtags))}"
        self.stats = SourceStats()
        self.connected = False
        self._progress: int | None = None
        self.rewind = rewind
        self.backfill_from = backfill_from
        self.max_frame_bytes = max_frame_bytes
        self.recv_timeout = recv_timeout
        self.open_timeout = open_timeout
        self._seen: OrderedDict[tuple[int, str, str], None] = OrderedDict()
        self._dedupe_size = dedupe_size

    def items(self, since: str | None) -> AsyncIterator[SourceItem]:
        self._progress = None
        return self._items(since)

    def subscribe_url(self, since: str | None) -> str:
        params = {"wantedCollections": POST_COLLECTION}
        start: int | None = None
        if since is not None and since.isdigit():
            start = max(0, int(since) - int(self.rewind * 1_000_000))
        elif since is None and self.backfill_from is not None:
            start = int(self.backfill_from.timestamp() * 1_000_000)
        if start is not None:
            params["cursor"] = str(start)
        return f"{self.url}?{urlencode(params)}"

    @property
    def progress(self) -> str | None:
        """The cursor covering every frame read so far (a string only when asked: it moves with every frame)."""
        return None if self._progress is None else str(self._progress)

    async def _items(self, since: str | None) -> AsyncIterator[SourceItem]:
        high_water = int(since) if since is not None and since.isdigit() else None
        try:
            ws = await connect(
                self.subscribe_url(since),
                max_size=self.max_frame_bytes * _HARD_FRAME_CAP_FACTOR,
                open_timeout=self.open_timeout,
                max_queue=256,
                user_agent_header="Backchannel",
                # Jetstream never accepts permessage-deflate (its own compression is opt-in zstd with a
                # dictionary); offering it only made relays that do accept it (uvicorn, a local replay)
                # deflate every frame on their side and inflate it here.
                compression=None,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (400, 401, 403, 404):
                raise SourceRejected(f"{self.name}: subscribe refused (HTTP {status})") from exc
            raise SourceUnavailable(f"{self.name}: subscribe HTTP {status}") from exc
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise SourceUnavailable(f"{self.name}: connect failed: {network_reason(exc)}") from exc
        self.connected = True
        decode, stats = self.decoder.decode, self.stats
        try:
            with FrameReceiver(ws, name=self.name, timeout=self.recv_timeout, max_bytes=self.max_frame_bytes) as inbox:
                while True:
                    frame = await inbox.recv()
                    if frame is None:
                        stats.malformed += 1
                        logger.warning("jetstream.frame_oversized", extra={"source_name": self.name})
                        continue
                    opted_out = self.decoder.opted_out
                    try:
                        time_us, item = decode(frame)
                    except MalformedItem as exc:
                        stats.malformed += 1
                        logger.debug("jetstream.malformed", extra={"source_name": self.name, "error": str(exc)})
                        continue
                    stats.skipped += self.decoder.opted_out - opted_out
                    if high_water is None or time_us > high_water:
                        high_water = time_us
                    if item is not None and not self._already_seen(time_us, item):
                        yield SourceItem(
                            item.action,
                            item.source,
                            item.native_id,
                            item.post,
                            cursor=str(high_water),
                            author_handle=item.author_handle,
                        )
                    self._progress = high_water
        finally:
            self.connected = False
            await close_websocket(ws)

    def _already_seen(self, time_us: int, item: SourceItem) -> bool:
        key = (time_us, item.native_id, item.action.value)
        if key in self._seen:
            return True
        self._seen[key] = None
        if len(self._seen) > self._dedupe_size:
            self._seen.popitem(last=False)
        return False
