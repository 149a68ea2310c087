"""Argument types for options with a range: argparse names the option and refuses the value in one line."""

from __future__ import annotations

import argparse
import math


def port_number(value: str) -> int:
    """A TCP port to listen on (1-65535): a larger number was taken modulo 65,536 by the socket, silently."""
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1-65535)")
    return port


def positive_number(value: str) -> float:
    """A finite number above zero (a pace, an interval in seconds)."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not math.isfinite(number) or number <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be a number above zero")
    return number
