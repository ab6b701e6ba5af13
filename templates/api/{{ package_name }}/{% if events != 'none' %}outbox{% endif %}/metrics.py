"""The outbox's metrics: what the PrometheusRule in deploy/platform/alerts.yaml watches."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

BACKLOG = Gauge("outbox_backlog_events", "Events in the outbox waiting to be published.")
OLDEST_AGE = Gauge(
    "outbox_oldest_event_age_seconds",
    "Seconds since the oldest unpublished event was written (0 when the outbox is empty).",
)
PUBLISHED = Counter("outbox_published_total", "Events the broker confirmed.")
FAILED = Counter(
    "outbox_publish_failures_total", "Failed attempts to publish a batch (it is retried)."
)
