"""Backchannel's web app: API, live WebSocket, persistence and the glue between stages."""
