"""The Jetstream prefilter drops only frames the full decode would also have dropped: same answer for every frame."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.errors import MalformedItem
from ingest.items import SourceItem
from ingest.sources.bluesky import FOLDS_TO_ASCII, JetstreamDecoder
from ingest.sources.consent import carries_opt_out, hashtags_in_text, normalise_tag
from tests.servers.cassettes import jetstream_lines
from tests.servers.jetstream import hashtag_facets

HASHTAG_SETS: list[list[str]] = [
    ["pycon"],
    ["IndieRebellion", "#balanwonderworldoc"],  # two tags of the recorded captures
    ["straße"],  # non-ASCII hashtag: the casefolded-text path
    ["ss", "k"],  # ASCII tags that non-ASCII characters fold to
    ["ss"],
    ["fi"],
    ["kelvin"],
    ["a&b"],  # a character Go writes as \u0026: the escapes stop being harmless
    ["テスト"],
    ["a/b"],  # a character JSON may escape: the prefilter stands aside
    ["talk", "nobackchannel"],
    [],
]

_Outcome = tuple[str, object, object]


def _outcome(decode: object, frame: bytes | str) -> _Outcome:
    """What a decode call gave, comparable across decoders (the post's ``extra`` is outside its equality)."""
    try:
        time_us, item = decode(frame)  # type: ignore[operator]
    except MalformedItem:
        return ("malformed", None, None)
    extra = item.post.extra if isinstance(item, SourceItem) and item.post is not None else None
    return ("ok", (time_us, item), extra)


def assert_same(hashtags: list[str], frames: Iterable[bytes | str]) -> int:
    """Every frame decodes alike through ``decode`` and ``decode_exact``; returns how many the prefilter dropped."""
    fast, exact = JetstreamDecoder(hashtags), JetstreamDecoder(hashtags)
    dropped = 0
    for frame in frames:
        got = _outcome(fast.decode, frame)
        assert got == _outcome(exact.decode_exact, frame), (hashtags, frame)
        if isinstance(frame, bytes) and not fast.prefilter.may_name(frame):
            dropped += 1
    assert fast.opted_out == exact.opted_out
    return dropped


def _event(record: object, *, operation: str = "create", n: int = 0, **fields: object) -> dict[str, object]:
    commit = {"rev": "3m", "operation": operation, "collection": "app.bsky.feed.post", "rkey": f"3k{n}", "cid": "b"}
    if record is not None:
        commit["record"] = record
    return {"did": f"did:plc:{n}", "time_us": 1_790_000_000_000_000 + n, "kind": "commit", "commit": commit} | fields


def _post(text: str, **extra: object) -> dict[str, object]:
    return {"$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-07-04T14:38:07Z", "langs": ["en"]} | extra


def crafted_frames() -> list[bytes | str]:
    """Frames aimed at the prefilter's reasoning: escapes, folding characters, odd shapes, broken JSON."""
    texts = [
        "plain words #PyCon here",
        "PYCON without a hash",
        "fullwidth ＃ＰｙＣｏｎ and ＃pycon",
        "ligature #ﬁsh and Kelvin #\u212a and long s #\u017fs and #STRASSE and #straße and #ss",
        'escaped #py\\con and quotes "#pycon"',
        "#テスト テスト",
        "only #\u017f\u017f here",  # long s twice: "ss"
        "only #\u00df",  # sharp s: "ss"
        "only #\ufb01",  # the fi ligature: "fi"
        "only #\u212aelvin",  # Kelvin sign: "kelvin"
        "a/b #a/b and #a",
        "#talk #nobackchannel",
        "#talk",
        "Q&A <3 #PyCon & more >_<",
        "Q&A <b>no tag</b> py&con p<y>con",
        "#a&b #a<b>",
        "#a&b",
        "tab\tnew\nline #pycon\r\n",
        "emoji 🎤 #pycon🎤 #Pycon_2026",
        "",
    ]
    frames: list[bytes | str] = []
    for n, text in enumerate(texts):
        for operation in ("create", "update", "delete"):
            records = [
                _post(text),
                _post(text, facets=hashtag_facets(text)),
                _post("no tag in the text", tags=[text, "PyCon"]),
                _post(
                    "facet names it",
                    facets=[{"index": {"byteStart": 0, "byteEnd": 5}, "features": [{"$type": "x#tag", "tag": text}]}],
                ),
            ]
            for record in records:
                event = _event(record, operation=operation, n=n)
                frames.append(json.dumps(event, ensure_ascii=False).encode())
                frames.append(json.dumps(event).encode())  # every non-ASCII character as \\u escapes
                frames.append(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode())
                frames.append(json.dumps(event, ensure_ascii=False))  # str frames take the exact path
    odd: list[object] = [
        _event(None),  # a post commit without record
        _event({"text": 5}),
        _event({"no": "text"}),
        _event("not a record"),
        _event(_post("x"), operation="teleport"),
        _event(_post("x")) | {"kind": None},
        _event(_post("x")) | {"kind": 3},
        _event(_post("x")) | {"commit": "text"},
        _event(_post("x")) | {"commit": None},
        _event(_post("x")) | {"time_us": True},
        _event(_post("x")) | {"time_us": 1.5},
        _event(_post("x")) | {"time_us": 10**30},
        _event(_post("x")) | {"did": None},
        {"did": "did:plc:1", "time_us": 1, "kind": "identity", "identity": {"handle": "x"}},
        {"did": "did:plc:1", "time_us": 1, "kind": "account", "account": {"active": False}},
        {"did": "did:plc:1", "time_us": 1, "kind": "commit", "commit": {"collection": "app.bsky.feed.like"}},
        {"did": "did:plc:1", "time_us": 2, "kind": "commit", "commit": {"operation": "delete", "rkey": "r"}},
        {
            "did": "did:plc:1",
            "time_us": 3,
            "kind": "commit",
            "commit": {"operation": "delete", "collection": "app.bsky.feed.post", "rkey": ""},
        },
        [1, 2],
        "a string",
    ]
    # Jetstream's Go encoder writes <, > and & as \u003c, \u003e, \u0026; another may write them upper-case.
    go = [
        f.replace(b"&", b"\\u0026").replace(b"<", b"\\u003c").replace(b">", b"\\u003e")
        for f in frames
        if isinstance(f, bytes)
    ]
    frames += go + [f.replace(b"\\u003c", b"\\u003C") for f in go]
    frames += [json.dumps(event).encode() for event in odd]
    valid = json.dumps(_event(_post("words"))).encode()
    frames += [
        b"",
        b"not json",
        b"\xef\xbb\xbf" + valid,  # a UTF-8 BOM: json.loads takes it
        valid.replace(b'"words"', b'"wo\xffrds"'),  # invalid UTF-8 in the text
        valid.replace(b'"cid": "b"', b'"cid": "\xff"'),  # invalid UTF-8 in a field the envelope skips
        valid.replace(b'"cid": "b"', b'"cid": "\xed\xa0\x80"'),  # a surrogate, as json.loads lets pass
        valid.replace(b'"cid": "b"', b'"cid": NaN'),
        valid.replace(b'"cid": "b"', b'"cid": 1e400'),
        valid.replace(b'"cid": "b"', b'"cid": "\x01"'),  # raw control character
        valid.replace(b'"cid": "b"', b'"cid": "\\ud800"'),
        valid + b" garbage",
        json.dumps(_event(_post("words")), ensure_ascii=False).encode("utf-16"),
        b'{"did":"did:plc:1","time_us":1,"kind":"commit","commit":{"cid":' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
    ]
    return frames


def test_fold_list_is_every_non_ascii_character_whose_casefold_is_ascii() -> None:
    folds = {
        char
        for code in range(0x80, sys.maxunicode + 1)
        if not 0xD800 <= code < 0xE000 and (char := chr(code)).casefold().isascii()
    }
    assert folds == set(FOLDS_TO_ASCII)


@pytest.mark.parametrize("hashtags", HASHTAG_SETS, ids=lambda tags: "+".join(tags) or "none")
def test_recorded_frames_decode_alike_with_and_without_the_prefilter(hashtags: list[str]) -> None:
    frames = [line.encode() for line in jetstream_lines()]
    dropped = assert_same(hashtags, frames)
    if hashtags == ["pycon"]:
        assert dropped == len(frames)  # the recordings never say pycon: none needs the full parse


@pytest.mark.parametrize("hashtags", HASHTAG_SETS, ids=lambda tags: "+".join(tags) or "none")
def test_crafted_frames_decode_alike_with_and_without_the_prefilter(hashtags: list[str]) -> None:
    assert_same(hashtags, crafted_frames())


def test_generated_firehose_decodes_alike_and_mostly_skips_the_full_parse() -> None:
    from bench.ingest_parse import generated_frames

    frames = generated_frames(2_000, match_every=50, delete_every=20)
    dropped = assert_same(["pycon"], frames)
    items = [JetstreamDecoder(["pycon"]).decode_exact(frame)[1] for frame in frames]
    assert sum(1 for item in items if item is not None and item.post is not None) == 40
    assert sum(1 for item in items if item is not None and item.post is None) == 100  # every delete passes
    assert dropped >= len(frames) - 2 * 40


def test_a_frame_nested_too_deep_to_parse_is_malformed_not_a_crash() -> None:
    frame = b"[" * 200_000 + b"]" * 200_000
    with pytest.raises(MalformedItem):
        JetstreamDecoder(["pycon"]).decode(frame)


_CHARS = list("pyconPYCONsfitkelvSFITKELV #＃_-/\\\"'\n\t é🎤テスト") + list(FOLDS_TO_ASCII) + ["\u0130", "\u212b"]
_TEXT = st.text(alphabet=st.sampled_from(_CHARS), max_size=30)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=_TEXT,
    tags=st.lists(_TEXT, max_size=3),
    facet_tag=st.one_of(st.none(), _TEXT),
    operation=st.sampled_from(["create", "update", "delete", "other"]),
    ensure_ascii=st.booleans(),
    hashtags=st.sampled_from(HASHTAG_SETS[:8] + [["py"], ["con"], ["ﬁ"]]),
)
def test_random_posts_decode_alike_with_and_without_the_prefilter(
    text: str, tags: list[str], facet_tag: str | None, operation: str, ensure_ascii: bool, hashtags: list[str]
) -> None:
    record = _post(text, tags=tags)
    if facet_tag is not None:
        feature = {"$type": "app.bsky.richtext.facet#tag", "tag": facet_tag}
        record["facets"] = [{"index": {"byteStart": 0, "byteEnd": 1}, "features": [feature]}]
    frame = json.dumps(_event(record, operation=operation), ensure_ascii=ensure_ascii).encode()
    assert_same(hashtags, [frame])


@settings(max_examples=300, deadline=None)
@given(text=_TEXT, tags=st.lists(_TEXT, max_size=3), opt_out=st.sampled_from(["nobackchannel", "#PyCon", "ss", ""]))
def test_the_decoders_opt_out_check_is_the_shared_consent_rule(text: str, tags: list[str], opt_out: str) -> None:
    decoder = JetstreamDecoder(["pycon"], opt_out_tag=opt_out)
    all_tags, text_tags = decoder._tags({"tags": tags, "text": text}, text)
    assert decoder._opts_out(all_tags, text_tags) == carries_opt_out(all_tags, text, opt_out)
    assert set(all_tags) >= set(hashtags_in_text(text))


# The rule as first written, plainly and slower: a hash at the start, or after anything but a word character,
# "/", "#" or "&", then a word.
_OLD_HASHTAG = re.compile(r"(?:^|(?<=[^\w/#&]))[#＃](\w+)")


@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet=st.sampled_from([*_CHARS, "&", "/", ".", "\u0301", "ß"]), max_size=30))
def test_hashtags_in_text_are_the_words_after_a_hash_that_starts_no_url_or_entity(text: str) -> None:
    # each once, in the order written
    assert hashtags_in_text(text) == list(dict.fromkeys(normalise_tag(m) for m in _OLD_HASHTAG.findall(text)))
