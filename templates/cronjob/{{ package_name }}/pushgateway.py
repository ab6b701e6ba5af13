"""Run metrics pushed to a Prometheus Pushgateway: a job that exits cannot be scraped.

Each run pushes its duration, its outcome and the time it ended; a successful run (done or
skipped: either way the slot's work is committed) also pushes the last success time, which is what
an alert on a job that stopped succeeding watches:
    time() - cronjob_last_success_timestamp_seconds{job="<service>"} > 26 * 3600
`pushadd_to_gateway` (HTTP POST) replaces only the metrics it sends, so a failed run leaves the
previous last-success time in place; a PUT (`push_to_gateway`) would delete it.
"""

from __future__ import annotations

import logging
import time

from prometheus_client import CollectorRegistry, Gauge, pushadd_to_gateway

from . import SERVICE_NAME

log = logging.getLogger(__name__)

OUTCOMES = ("done", "skipped", "failed", "aborted")
SUCCESSFUL = ("done", "skipped")


def run_metrics(outcome: str, duration_seconds: float, now: float) -> CollectorRegistry:
    """The registry one run pushes (a fresh one: nothing else of the process goes along)."""
    registry = CollectorRegistry()
    Gauge("cronjob_duration_seconds", "Wall time of the last run.", registry=registry).set(
        duration_seconds
    )
    Gauge("cronjob_last_run_timestamp_seconds", "When the last run ended.", registry=registry).set(
        now
    )
    outcome_gauge = Gauge(
        "cronjob_last_outcome",
        "1 for the outcome of the last run, 0 for the others.",
        ["outcome"],
        registry=registry,
    )
    for name in OUTCOMES:
        outcome_gauge.labels(outcome=name).set(1 if name == outcome else 0)
    if outcome in SUCCESSFUL:
        Gauge(
            "cronjob_last_success_timestamp_seconds",
            "When the last successful run ended.",
            registry=registry,
        ).set(now)
    return registry


def push_run_metrics(url: str, outcome: str, duration_seconds: float, timeout: float) -> bool:
    """Push to the gateway at `url`; a failed push is logged, never fails the run."""
    registry = run_metrics(outcome, duration_seconds, time.time())
    try:
        pushadd_to_gateway(url, job=SERVICE_NAME, registry=registry, timeout=timeout)
    except OSError as exc:  # URLError and HTTPError are OSErrors
        log.warning("could not push metrics", extra={"pushgateway": url, "error": str(exc)})
        return False
    log.debug("metrics pushed", extra={"pushgateway": url, "outcome": outcome})
    return True
