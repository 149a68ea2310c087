"""The organizer commands: import-schedule, export and purge, judged by exit codes, output and files."""

from __future__ import annotations

import asyncio
import json
import logging
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.cli import main
from app.settings import get_settings
from tests.app.organizer.conftest import auth, post_note
from tests.conftest import SHARED_DATA

SCHEDULE = SHARED_DATA / "fixtures" / "pretalx_schedule_democon.json"


@pytest.fixture(autouse=True)
def cli_settings(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[None]:
    """The CLI reads BACKCHANNEL_* from the environment: point it at the test database."""
    monkeypatch.setenv("BACKCHANNEL_DATABASE_URL", database_url)
    monkeypatch.setenv("BACKCHANNEL_PIPELINE_IN_PROCESS", "false")
    monkeypatch.setenv("BACKCHANNEL_LOG_LEVEL", "WARNING")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
    root.handlers[:], root.level = handlers, level  # main() installs its own stderr handler


def test_import_schedule_reports_counts(
    client: TestClient, event: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import-schedule", "testcon", str(SCHEDULE)]) == 0
    out = capsys.readouterr().out
    talks = client.get("/api/events/testcon/talks").json()["items"]
    assert f"{len(talks)} talks ({len(talks)} created, 0 updated, 0 unchanged, 0 cancelled)" in out
    assert main(["import-schedule", "testcon", str(SCHEDULE)]) == 0
    assert f"0 created, 0 updated, {len(talks)} unchanged" in capsys.readouterr().out


def test_a_dry_run_import_names_what_it_would_cancel_and_changes_nothing(
    client: TestClient, event: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    body = {"guid": "own-talk", "title": "The organizer's own talk", "start": "2026-05-04T10:00:00+02:00",
            "end": "2026-05-04T10:30:00+02:00"}  # fmt: skip
    client.post("/api/events/testcon/talks", json=body, headers={"Authorization": f"Bearer {event['organizer_token']}"})
    assert main(["import-schedule", "testcon", str(SCHEDULE), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "(dry run: nothing changed)" in out and "1 cancelled" in out
    assert "cancelled, not in the file: The organizer's own talk" in out
    talks = client.get("/api/events/testcon/talks").json()["items"]
    assert [(t["guid"], t["cancelled"]) for t in talks] == [("own-talk", False)]


def test_import_errors_are_one_line_with_a_non_zero_exit(
    event: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "schedule.xml"
    broken.write_text("<schedule><day><room name='A'><event guid='x'>\n<title>oops</event></room></day></schedule>")
    cases = [
        (["import-schedule", "testcon", str(broken)], "schedule.xml, line"),
        (["import-schedule", "testcon", str(tmp_path / "missing.json")], "cannot read the file"),
        (["import-schedule", "nocon", str(SCHEDULE)], "no event 'nocon'"),
        (["import-schedule", "testcon", "ftp://example.org/x.json"], None),
        (
            ["import-schedule", "testcon", "pretalx.example/39c3/schedule.json"],
            "no such file; to fetch it from the web, give https://pretalx.example/39c3/schedule.json",
        ),
    ]
    for argv, expected in cases:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("backchannel: ") and "\n" not in err, err
        assert expected is None or expected in err, err


def test_export_writes_each_format(
    client: TestClient, event: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["import-schedule", "testcon", str(SCHEDULE)])
    talk = client.get("/api/events/testcon/talks").json()["items"][0]
    post_note(client, "A question worth keeping?", kind="question", talk_id=talk["id"])
    assert main(["export", "testcon", "--format", "md", "-o", str(tmp_path)]) == 0
    markdown = (tmp_path / "testcon-summaries.md").read_text()
    assert talk["title"] in markdown and "A question worth keeping?" in markdown
    assert main(["export", "testcon", "--talk", talk["guid"], "-f", "json", "-o", str(tmp_path / "talk.json")]) == 0
    assert "A question worth keeping?" in json.dumps(json.loads((tmp_path / "talk.json").read_text()))
    assert main(["export", "testcon", "-f", "zip", "-o", str(tmp_path / "all.zip")]) == 0
    assert "index.md" in zipfile.ZipFile(tmp_path / "all.zip").namelist()
    capsys.readouterr()
    assert main(["export", "testcon", "-f", "docx", "-o", str(tmp_path)]) == 2
    assert main(["export", "testcon", "--talk", "nope", "-o", str(tmp_path)]) == 1
    assert "no talk with guid 'nope'" in capsys.readouterr().err


def test_purge_erases_posts_past_retention(
    client: TestClient, event: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    post_note(client, "recent note")
    assert main(["purge", "testcon"]) == 0
    assert "testcon: 0 posts" in capsys.readouterr().out
    client.patch("/api/events/testcon/moderation/policy", json={"retention_days": 1}, headers=auth(event))
    assert main(["purge"]) == 0
    assert "testcon: 0 posts" in capsys.readouterr().out


def test_create_event_prints_the_organizer_token_once_and_it_organizes_the_event(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["create-event", "shellcon", "--name", "Shell Con", "--hashtag", "#ShellCon", "--hashtag", "shell26"]
    assert main([*argv, "--time-zone", "Europe/Berlin", "--starts-on", "2026-05-04", "--ends-on", "2026-05-05"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("created shellcon (Shell Con); organizer token (shown once): ")
    assert out.rstrip().endswith("/e/shellcon/organize") and out.count("\n") == 1
    token = out.split("(shown once): ")[1].split(";")[0]
    event = client.get("/api/events/shellcon").json()
    assert (event["hashtags"], event["time_zone"], event["ends_on"]) == (
        ["shellcon", "shell26"],
        "Europe/Berlin",
        "2026-05-05",
    )
    assert (
        client.get("/api/events/shellcon/moderation/policy", headers=auth({"organizer_token": token})).status_code
        == 200
    )


def test_an_organizer_who_lost_the_token_gets_a_new_one_from_the_shell_and_the_old_one_stops(
    client: TestClient, event: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rotate-token", "testcon"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("new organizer token for testcon (shown once; the old one no longer works): ")
    assert out.rstrip().endswith("/e/testcon/organize") and out.count("\n") == 1
    token = out.split("no longer works): ")[1].split(";")[0]
    policy = "/api/events/testcon/moderation/policy"
    assert client.get(policy, headers=auth({"organizer_token": token})).status_code == 200
    assert client.get(policy, headers=auth(event)).status_code == 403
    assert main(["rotate-token", "nocon"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("backchannel: ") and "no event 'nocon'" in err and "\n" not in err


def test_every_demo_start_shows_a_token_that_opens_the_demo_console(client: TestClient) -> None:
    # only a hash is kept: a second start cannot show the first token again, so it makes a new one
    from app.cli.serve import _prepare_demo

    settings = get_settings()
    slug, first = asyncio.run(_prepare_demo(settings))
    again, second = asyncio.run(_prepare_demo(settings))
    assert (slug, again) == (settings.demo_slug, settings.demo_slug) and first != second
    policy = f"/api/events/{slug}/moderation/policy"
    assert client.get(policy, headers=auth({"organizer_token": second})).status_code == 200
    assert client.get(policy, headers=auth({"organizer_token": first})).status_code == 403


def test_create_event_errors_name_the_option_and_create_nothing(
    client: TestClient, event: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    cases = [
        (["create-event", "Bad Slug", "--name", "X"], "slug: Only lower-case letters, digits and dashes"),
        (
            ["create-event", "okcon", "--name", "X", "--starts-on", "0001-01-01"],
            "--starts-on: A day between 1970-01-01",
        ),
        (["create-event", "okcon", "--name", "X", "--time-zone", "Mars/Olympus"], "--time-zone: unknown time zone"),
        (["create-event", "okcon", "--name", "X", "--hashtag", "#a-b"], "--hashtag: '#a-b' is not a hashtag"),
        (
            ["create-event", "okcon", "--name", "X", "--starts-on", "2026-05-05", "--ends-on", "2026-05-04"],
            "--ends-on: The last day must not be before the first day",
        ),
        (["create-event", "testcon", "--name", "Again"], "an event with slug 'testcon' already exists"),
    ]
    for argv, expected in cases:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith(f"backchannel: {expected}") and err.count("\n") == 1, (argv, err)
    assert client.get("/api/events/okcon").status_code == 404
    assert client.get("/api/events/testcon").json()["name"] == "Test Conference"
