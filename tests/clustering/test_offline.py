"""The offline command's contract: JSON Lines in, one JSON line per post out, bad lines named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clustering.offline import run_offline
from tests.clustering.conftest import make_stream

REPO = Path(__file__).resolve().parents[2]
SCHEDULE_39C3 = REPO.parent / "shared" / "data" / "fixtures" / "frab_schedule_39c3.xml"


def write_lines(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def test_contract_without_schedule(tmp_path: Path) -> None:
    texts, _ = make_stream(60)
    rows = [{"id": f"p{i}", "text": t} for i, t in enumerate(texts)]
    rows[3]["created_at"] = "2025-12-27T10:00:00Z"
    rows[4]["author"] = "ana"
    rows[5]["reply_to"] = "p4"
    src = write_lines(tmp_path / "posts.jsonl", rows)
    out = tmp_path / "out.jsonl"
    stats = run_offline(src, out)
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [x["id"] for x in lines] == [r["id"] for r in rows]
    for x in lines:
        assert set(x) == {"id", "talk", "topic", "kind", "confidence"}
        assert x["talk"] is None
        assert isinstance(x["topic"], int)
        assert x["kind"] in {"question", "takeaway", "answer", "feedback", "other"}
        assert 0.0 <= x["confidence"] <= 1.0
    assert stats.posts == 60 and stats.talks == 0 and stats.attributed == 0
    assert 4 <= stats.topics <= 10


@pytest.mark.skipif(not SCHEDULE_39C3.exists(), reason="shared data not present")
def test_contract_with_schedule(tmp_path: Path) -> None:
    rows = [
        {
            "id": "a",
            "text": "OpenAutoLab film processing machine looks great",
            "created_at": "2025-12-27T11:10:00+01:00",
        },
        {"id": "b", "text": "queue at the food court", "created_at": "2025-12-27T11:12:00+01:00"},
    ]
    out = tmp_path / "out.jsonl"
    stats = run_offline(write_lines(tmp_path / "p.jsonl", rows), out, SCHEDULE_39C3)
    got = {x["id"]: x for x in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert stats.talks > 100
    assert got["a"]["talk"] is not None
    assert got["b"]["talk"] is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not valid JSON"),
        ('["a list"]', "line 2: expected a JSON object"),
        ('{"text": "no id"}', "line 2: missing id"),
        ('{"id": "x"}', "line 2: missing text"),
        ('{"id": "x", "text": 5}', "line 2: text must be a string"),
        ('{"id": "x", "text": "t", "created_at": "yesterday"}', "line 2: created_at 'yesterday' is not ISO 8601"),
        ('{"id": "p0", "text": "again"}', "line 2: duplicate id 'p0'"),
    ],
)
def test_bad_line_names_its_number(tmp_path: Path, line: str, message: str) -> None:
    src = write_lines(tmp_path / "posts.jsonl", [{"id": "p0", "text": "fine"}, line])
    out = tmp_path / "out.jsonl"
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")) as exc:
        run_offline(src, out)
    assert "\n" not in str(exc.value)
    assert not out.exists()


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    src = write_lines(tmp_path / "posts.jsonl", [{"id": "p0", "text": "rust cargo"}, "", {"id": "p1", "text": "x"}])
    stats = run_offline(src, tmp_path / "out.jsonl")
    assert stats.posts == 2
