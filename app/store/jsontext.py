"""JSON text for the log's frames and the JSON columns: msgspec's, the standard library's where msgspec refuses.

Every post is encoded several times on its way (its row's JSON columns, its ``post.created`` frame, its
``post.updated`` frame once attributed) and read back by the clustering stage: msgspec writes and reads the
same JSON in about a third of the time, on the cores ingest and clustering share. It writes text as UTF-8,
not escaped. A lone surrogate (which UTF-8 cannot carry) and anything else it refuses go through ``json``,
escaped as before; text ``json`` wrote earlier (``NaN``, spaces after separators) reads back the same.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

_STDLIB = json.JSONEncoder(separators=(",", ":"), default=str)
_ENCODER = msgspec.json.Encoder(enc_hook=str)
_DECODER = msgspec.json.Decoder()
_REFUSED = (UnicodeEncodeError, msgspec.EncodeError, TypeError, OverflowError)


def dumps(value: Any) -> str:
    """``value`` as compact JSON text."""
    try:
        return _ENCODER.encode(value).decode()
    except _REFUSED:
        return _STDLIB.encode(value)


def loads(text: str | bytes) -> Any:
    try:
        return _DECODER.decode(text)
    except msgspec.DecodeError:
        return json.loads(text)  # NaN and Infinity, which json writes and msgspec does not read
