"""Local protocol servers for ingest tests: a Mastodon instance and a Jetstream relay on 127.0.0.1.

In-process use (same event loop as the test)::

    async with MastodonServer(hashtag="pycon") as mastodon:     # mastodon.url = "http://127.0.0.1:PORT"
        status = mastodon.publish("Great keynote #pycon")
        mastodon.edit(status, "Great keynote, edited #pycon"); mastodon.delete(status)

    async with JetstreamServer() as jetstream:                  # jetstream.url = "ws://127.0.0.1:PORT/subscribe"
        uri = jetstream.publish_post("Bonjour #pycon"); jetstream.delete_post(uri)

From synchronous code (a Playwright sync test, a thread), run them on an anyio blocking portal::

    with anyio.from_thread.start_blocking_portal() as portal, \
            portal.wrap_async_context_manager(MastodonServer()) as mastodon:
        portal.call(lambda: mastodon.publish("Seen in the browser #pycon"))

Separate process: ``python -m tests.servers.mastodon --port N`` / ``python -m tests.servers.jetstream --port N``;
both then accept the same operations as JSON over ``POST /_control/...`` (see each module).
"""

from __future__ import annotations
