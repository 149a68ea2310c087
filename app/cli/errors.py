"""The one error a command raises to stop with a one-line message and a non-zero exit."""

from __future__ import annotations


class CommandError(Exception):
    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
