"""Prometheus metrics: read at scrape time from the live objects of a process (hub, broker, ingest, clustering)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


def source_kind(source_key: str) -> str:
    """``event1:source2:mastodon`` → ``mastodon`` (the key format of app.pipeline.ingest.source_key)."""
    return source_key.rsplit(":", 1)[-1]


@dataclass
class Tally:
    """A count kept where the work happens (notes accepted by this replica's API and form)."""

    value: int = 0


@dataclass(eq=False)
class ProcessMetrics(Collector):
    """Whatever this process runs; anything left None is simply not reported.

    Counters are kept where the work happens (the hub counts frames, the ingest runners count
    posts); this reads them, so there is no second bookkeeping to drift.
    """

    hub: Any = None  # app.broadcast.hub.Hub
    broker: Any = None  # app.broadcast.broker.Broker
    ingest: Any = None  # app.pipeline.ingest.IngestSupervisor
    cluster: Any = None  # app.pipeline.cluster.ClusterPipeline
    notes: Tally | None = None  # notes posted to this replica
    role: str = "api"

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("backchannel_process_info", "This process and its role", labels=["role"])
        up.add_metric([self.role], 1)
        yield up
        if self.hub is not None:
            yield GaugeMetricFamily(
                "backchannel_live_connections", "Followers connected to this replica", value=self.hub.connections
            )
            yield CounterMetricFamily(
                "backchannel_live_frames_sent", "Frames fanned out to followers", value=self.hub.frames_fanned_out
            )
            yield CounterMetricFamily(
                "backchannel_live_frames_dropped",
                "Followers cut off with resync because they fell behind",
                value=self.hub.frames_dropped,
            )
        if self.broker is not None:
            lag = getattr(self.broker, "lag_seconds", None)
            if lag is not None:
                yield GaugeMetricFamily(
                    "backchannel_broker_lag_seconds", "Publish-to-delivery time of the last broker message", value=lag
                )
        if self.ingest is not None or self.notes is not None:
            yield from self._ingest()
        if self.cluster is not None:
            yield from self._cluster()

    def _ingest(self) -> Iterator[Metric]:
        posts = CounterMetricFamily(
            "backchannel_posts_ingested", "Posts accepted from each source", labels=["source", "source_key"]
        )
        lag = GaugeMetricFamily(
            "backchannel_ingest_lag_seconds", "Commit time minus post time, last post", labels=["source", "source_key"]
        )
        statuses = self.ingest.statuses().values() if self.ingest is not None else ()
        for status in statuses:
            labels = [source_kind(status.source_key), status.source_key]
            posts.add_metric(labels, status.accepted)
            if status.lag_seconds is not None:
                lag.add_metric(labels, status.lag_seconds)
        if self.notes is not None:
            posts.add_metric(["notes", "notes"], self.notes.value)
        yield posts
        yield lag

    def _cluster(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "backchannel_clustering_lag_seconds",
            "Arrival-to-clustering time of the last batch, per event",
            labels=["event_id"],
        )
        for event_id, seconds in dict(getattr(self.cluster, "lag_seconds", {}) or {}).items():
            lag.add_metric([str(event_id)], seconds)
        yield lag
        processed = getattr(self.cluster, "processed", None)
        if processed is not None:
            yield CounterMetricFamily(
                "backchannel_clustering_posts", "Posts clustered by this process", value=processed
            )


def render(metrics: ProcessMetrics) -> bytes:
    """The Prometheus text exposition of one process."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics)
    return generate_latest(registry)
