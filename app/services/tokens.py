"""Secret tokens: shown once, stored only as a hash, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token() -> str:
    return secrets.token_urlsafe(24)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str | None, token_hash: str | None) -> bool:
    if not token or not token_hash:
        return False
    return hmac.compare_digest(hash_token(token), token_hash)


def client_key(raw: str) -> str:
    """A stable pseudonymous key for a browser or client; the raw id is never stored."""
    return hashlib.sha256(("client:" + raw).encode()).hexdigest()[:32]


def browser_delete_token(raw: str) -> str:
    """The delete token of posts written from a plain form: the browser's own id is the secret it holds."""
    return "browser:" + raw


def anon_handle(client: str) -> str:
    """The pseudonymous author handle of in-app notes from one client key (see ``client_key``)."""
    return f"anon-{client[:12]}"


def is_anon_handle(handle: str | None) -> bool:
    """Whether ``handle`` is one ``anon_handle`` made. It names no one, and shown it would let readers link
    every note of one browser, so pages and exports leave it out."""
    return handle is not None and handle.startswith("anon-")
