"""The `backchannel` command. Each module registers its own subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from app.cli import organizer, serve, workers
from app.cli.errors import CommandError
from app.logs import configure_logging
from app.settings import get_settings

COMMAND_MODULES = [serve, workers, organizer]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="backchannel", description="Backchannel: conference conversation → learning")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as exc:
        # the variable and what is wrong with it; not pydantic's echo of the value (a database URL holds a password)
        error = exc.errors()[0]
        name = f"BACKCHANNEL_{str(error['loc'][0]).upper()}" if error["loc"] else "configuration"
        sys.stderr.write(f"backchannel: invalid configuration: {name}: {error['msg'].removeprefix('Value error, ')}\n")
        return 2
    except Exception as exc:
        first = str(exc).strip().splitlines()
        sys.stderr.write(f"backchannel: invalid configuration: {' '.join(first[:3])}\n")
        return 2
    configure_logging(settings.log_level, json_lines=settings.log_json)
    try:
        result = args.func(args, settings)
    except CommandError as exc:
        sys.stderr.write(f"backchannel: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return int(result or 0)
