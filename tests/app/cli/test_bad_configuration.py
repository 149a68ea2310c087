"""What a newcomer who mistypes an option or a BACKCHANNEL_* variable sees: one line naming it, a non-zero exit,
and no server started."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli import main
from app.settings import get_settings
from tests.ports import closed_port


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("BACKCHANNEL_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("BACKCHANNEL_LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["serve", "--port", "99999"], "argument --port: 99999 is not a port number (1-65535)"),
        (["demo", "--port", "0"], "argument --port: 0 is not a port number"),
        (["serve", "--port", "http"], "argument --port: 'http' is not a port number"),
        (["demo", "--speed", "0"], "argument --speed: 0 must be a number above zero"),
        (["demo", "--speed", "nan"], "argument --speed: nan must be a number above zero"),
        (["cluster", "--poll-interval", "-5"], "argument --poll-interval: -5 must be a number above zero"),
        (["ingest", "--metrics-port", "70000"], "argument --metrics-port: 70000 is not a port number"),
    ],
)
def test_an_option_out_of_range_is_refused_by_name(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith(f"backchannel {argv[0]}: error: ") and said in last


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("BACKCHANNEL_DATABASE_URL", "mysql://ana:hunter2@db/conf", "unsupported database 'mysql'"),
        ("BACKCHANNEL_BROKER_URL", "kafka://queue:9092", "unsupported broker 'kafka://queue:9092'"),
        ("BACKCHANNEL_PORT", "eighty", "Input should be a valid integer"),
    ],
)
def test_a_misspelt_variable_is_named_in_one_line_and_a_password_is_not_repeated(
    variable: str, value: str, said: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(variable, value)
    assert main(["purge"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"backchannel: invalid configuration: {variable}: ") and said in err
    assert err.count("\n") == 1 and "hunter2" not in err


@pytest.mark.parametrize("argv", [["serve"], ["demo"], ["purge"], ["cluster"], ["create-event", "x", "--name", "X"]])
def test_a_database_that_does_not_answer_stops_the_command_with_one_line_before_anything_starts(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BACKCHANNEL_DATABASE_URL", f"postgresql://ana:hunter2@127.0.0.1:{closed_port()}/conf")
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("backchannel: cannot open the database postgresql+asyncpg://ana:***@127.0.0.1:")
    assert err.count("\n") == 1 and "hunter2" not in err


def test_a_sqlite_file_where_no_folder_can_be_made_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("BACKCHANNEL_DATABASE_URL", f"sqlite:///{tmp_path / 'a-file' / 'inside' / 'b.db'}")
    assert main(["purge"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("backchannel: cannot open the database sqlite+aiosqlite:///") and err.count("\n") == 1


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_port_already_taken_is_named_in_one_line_before_the_app_starts(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main([command, "--host", "127.0.0.1", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err == f"backchannel: cannot listen on 127.0.0.1:{port}: address already in use\n"
    assert not (tmp_path / "cli.db").exists()  # nothing was created: no demo event, no migrated database


@pytest.mark.parametrize(
    ("host", "said"),
    [
        ("no.such.host.invalid", "cannot listen on no.such.host.invalid:8000: no such host ("),
        ("192.0.2.1", "cannot listen on 192.0.2.1:8000: cannot assign requested address"),  # not this machine's
    ],
)
def test_a_host_this_machine_cannot_listen_on_is_named_in_one_line(
    host: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--host", host, "--port", "8000"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"backchannel: {said}") and err.count("\n") == 1
