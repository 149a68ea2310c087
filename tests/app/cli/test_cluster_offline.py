"""`backchannel cluster --posts … --out …`: the offline contract, one output line per input post."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from tests.conftest import SHARED_DATA


def write(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_offline_clustering_writes_one_line_per_post(tmp_path: Path) -> None:
    posts = write(
        tmp_path / "posts.jsonl",
        [
            {"id": "a", "text": "Build indexes concurrently", "created_at": "2026-05-04T10:10:00+02:00"},
            {"id": "b", "text": "How do I pick a lock timeout?"},
            {"id": "c", "text": "Two seconds, then retry", "reply_to": "b"},
        ],
    )
    out = tmp_path / "out.jsonl"
    schedule = SHARED_DATA / "fixtures" / "pretalx_schedule_democon.json"
    assert main(["cluster", "--posts", str(posts), "--schedule", str(schedule), "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "b", "c"]
    assert all(set(r) == {"id", "talk", "topic", "kind", "confidence"} for r in rows)
    assert rows[1]["kind"] == "question" and rows[2]["kind"] == "answer"
    assert all(0.0 <= r["confidence"] <= 1.0 for r in rows)


def test_a_broken_line_is_named_and_the_command_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    posts = write(tmp_path / "posts.jsonl", [{"id": "a", "text": "fine"}, "{not json"])
    assert main(["cluster", "--posts", str(posts), "--out", str(tmp_path / "o.jsonl")]) == 1
    assert "line 2" in capsys.readouterr().err


def test_a_missing_posts_file_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cluster", "--posts", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o.jsonl")]) == 1
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize(
    ("out", "said"),
    [
        ("missing/out.jsonl", "no such directory"),
        (".", "is a directory"),
        ("posts.jsonl", "is the --posts file"),
    ],
)
def test_an_output_that_cannot_be_written_is_refused_before_clustering_and_the_posts_are_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], out: str, said: str
) -> None:
    posts = write(tmp_path / "posts.jsonl", [{"id": "a", "text": "Build indexes concurrently"}])
    before = posts.read_bytes()
    assert main(["cluster", "--posts", str(posts), "--out", str(tmp_path / out)]) == 1
    err = capsys.readouterr().err
    assert said in err and err.startswith("backchannel: --out ") and err.count("\n") == 1
    assert posts.read_bytes() == before
