"""Local protocol servers for ingest tests: a Mastodon instance and a Jetstream relay on 127.0.0.1.

In-process use (same event loop as the test)::

    async with MastodonServer(hashtag="pycon") as mastodon:     # mastodon.url = "http://127.0.0.1:PORT"
        status = mastodon.publish("Great keynote #pycon")
        mastodon.edit(status, "Great keynote, edited #pycon"); mastodon.delete(status)

    async with JetstreamServer() as jetstream:                  # jetstream.url = "ws://127.0.0.1:PORT/subscribe"
        uri = jetstream.publish_post("Bonjour #pycon"); jetstream.delete_post(uri)

Separate process: ``python -m tests.servers.mastodon --port N`` / ``python -m tests.servers.jetstream --port N``;
both then accept the same operations as JSON over ``POST /_control/...`` (see each module).
"""

from __future__ import annotations
