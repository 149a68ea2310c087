"""Loopback ports for the tests' own servers and for servers that are down."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port the OS just handed out and took back: free to listen on, and nothing answers there."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


closed_port = free_port  # the same port seen by a client: connecting is refused
