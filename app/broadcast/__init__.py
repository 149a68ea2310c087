"""Fan-out: the Broker seam (memory or Redis Streams) and the per-socket Hub."""
