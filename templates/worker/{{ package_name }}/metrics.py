"""The worker's Prometheus metrics (served on the side port at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PROCESSED = Counter(
    "worker_messages_processed_total", "Messages whose effect was committed (first delivery)."
)
DUPLICATES = Counter(
    "worker_messages_duplicate_total",
    "Messages acked without effect: their event id was in the inbox.",
)
RETRIED = Counter("worker_messages_retried_total", "Failed attempts that were retried.")
FAILED = Counter("worker_messages_failed_total", "Messages that failed every attempt.")
DEAD_LETTERED = Counter(
    "worker_messages_dead_lettered_total",
    "Messages sent to the dead-letter destination, by reason.",
    ["reason"],
)
HANDLING_SECONDS = Histogram(
    "worker_message_handling_seconds",
    "Time from receiving a message to its ack or dead-letter, retries included.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
IN_FLIGHT = Gauge("worker_messages_in_flight", "Messages being handled right now.")
