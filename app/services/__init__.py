"""Use cases shared by HTTP routes and workers. Services take a session and never commit."""
