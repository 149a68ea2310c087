"""The arrows between stages: sources → store (ingest) and store → clusterer → broker (cluster)."""
