"""Frames and JSON columns are written fast and read back whatever wrote them."""

from __future__ import annotations

import json
import math

from app.store import jsontext


def test_text_the_fast_encoder_refuses_is_still_written_escaped() -> None:
    # a lone surrogate cannot be UTF-8: the frame is still written, the character escaped as JSON allows
    written = jsontext.dumps({"text": "a\ud800b", "id": 3})
    assert json.loads(written) == {"text": "a\ud800b", "id": 3}


def test_json_the_standard_library_wrote_earlier_reads_back_the_same() -> None:
    earlier = json.dumps({"tags": ["rust", "café"], "score": float("nan")})  # spaces, escapes and NaN
    back = jsontext.loads(earlier)
    assert back["tags"] == ["rust", "café"]
    assert math.isnan(back["score"])


def test_written_text_is_compact_and_reads_back_equal() -> None:
    value = {"id": 7, "text": "Привет 😀", "talk_id": None, "scores": [0.5, 1e-7], "big": 2**70}
    written = jsontext.dumps(value)
    assert " " not in written.replace("Привет 😀", "")
    assert jsontext.loads(written) == json.loads(written) == value
