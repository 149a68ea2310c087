"""Consent rules shared by the sources: a status or record in, a reason to skip it (or None) out."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

DEFAULT_OPT_OUT_TAG = "nobackchannel"

# A hash sign at the start or after anything but a word character, "/", "#" or "&", then a word. The
# lookbehind comes after the hash (it sees the character before it and the hash): a pattern that starts
# with the hash lets the regex engine jump from hash to hash instead of trying every position (~6x faster).
_HASHTAG = re.compile(r"[#＃](?<![\w/#&][#＃])(\w+)")


def normalise_tag(tag: str) -> str:
    """``"#PyCon"`` and ``"pycon"`` name the same hashtag."""
    return tag.strip().lstrip("#＃").casefold()


def hashtags_in_text(text: str) -> list[str]:
    """Hashtags written in plain text, normalised, each once in the order written (a post's stored tags keep
    one order from run to run); a ``#`` inside a URL or word does not count."""
    # ``normalise_tag`` of a word (no space, no hash sign to strip) is its casefold.
    return list(dict.fromkeys(match.casefold() for match in _HASHTAG.findall(text)))


def carries_opt_out(tags: Iterable[str], text: str, opt_out_tag: str) -> bool:
    """True when the poster marked this post as not for Backchannel, by tag or by writing the tag."""
    wanted = normalise_tag(opt_out_tag)
    if not wanted:
        return False
    return wanted in {normalise_tag(tag) for tag in tags} or wanted in hashtags_in_text(text)


def mastodon_skip_reason(
    status: Mapping[str, Any], text: str, *, opt_out_tag: str, respect_indexable: bool = True
) -> str | None:
    """Why a Mastodon status must not be collected, or None when it may be.

    Only ``public`` statuses; accounts that set ``noindex`` (opted out of search engines) or
    ``indexable: false`` (opted out of search, Mastodon 4.2+) where the server exposes them;
    statuses carrying the opt-out tag.
    """
    if status.get("visibility") != "public":
        return "not_public"
    account = status.get("account")
    if isinstance(account, Mapping):
        if account.get("noindex") is True:
            return "noindex"
        if respect_indexable and account.get("indexable") is False:
            return "not_indexable"
    tags = [tag.get("name", "") for tag in status.get("tags") or () if isinstance(tag, Mapping)]
    if carries_opt_out(tags, text, opt_out_tag):
        return "opted_out"
    return None
