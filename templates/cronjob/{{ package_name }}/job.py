"""One run of the job: claim the slot and write the report as ONE unit of work, or do nothing.

Outcomes: "done" (this run did the work), "skipped" (the slot was already done: a rerun, a retry
after a late failure, or a concurrent run that won). A failure or a signal raises out of the
unit of work, which undoes it: the ledger never says done without the report (stores/base.py;
how each database keeps that promise is in its module of stores/).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from opentelemetry import trace

from .schedule import report_window
from .settings import Settings
from .stores import DailyReport, Store

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

Outcome = Literal["done", "skipped"]


@dataclass(frozen=True)
class RunResult:
    """What a run did for its slot."""

    outcome: Outcome
    slot: datetime
    report: DailyReport | None = None


def run_once(settings: Settings, store: Store, slot: datetime) -> RunResult:
    """Do the slot's work unless it is already done; return what happened."""
    window = report_window(slot, settings.zone)
    facts = {"slot": slot.isoformat(), "report_date": window.day.isoformat()}
    with tracer.start_as_current_span("run", attributes=facts) as span:
        log.info("claiming slot", extra=facts)
        with store.unit_of_work(slot, window) as work:
            with tracer.start_as_current_span("claim slot"):
                claimed = work.claim()
            if not claimed:
                span.set_attribute("outcome", "skipped")
                log.info("slot already done, nothing to do", extra=facts)
                return RunResult("skipped", slot)
            with tracer.start_as_current_span("write report"):
                report = work.write_report()
            written = {**facts, "order_count": report.order_count}
            if settings.PAUSE_BEFORE_COMMIT:
                log.info("report written, pausing before commit", extra=written)
                work.hold(settings.PAUSE_BEFORE_COMMIT)
        span.set_attribute("outcome", "done")
        log.info(
            "report committed",
            extra={**written, "revenue_cents": report.revenue_cents},
        )
        return RunResult("done", slot, report)
