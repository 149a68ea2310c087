"""Ingest stage: turn bytes from the network into SourceItems (pure library, never imports app)."""
