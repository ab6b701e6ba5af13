"""One run of the job: claim the slot and write the report in ONE transaction, or do nothing.

Outcomes: "done" (this run did the work), "skipped" (the slot was already done: a rerun, a retry
after a late failure, or a concurrent run that won). A failure or a signal raises out of the
transaction, which rolls it back: the ledger and the report never disagree.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from opentelemetry import trace
from sqlalchemy import Engine

from .report import DailyReport, claim_slot, write_report
from .schedule import report_window
from .settings import Settings

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

Outcome = Literal["done", "skipped"]


@dataclass(frozen=True)
class RunResult:
    """What a run did for its slot."""

    outcome: Outcome
    slot: datetime
    report: DailyReport | None = None


def run_once(settings: Settings, engine: Engine, slot: datetime) -> RunResult:
    """Do the slot's work unless it is already done; return what happened."""
    window = report_window(slot, settings.zone)
    facts = {"slot": slot.isoformat(), "report_date": window.day.isoformat()}
    with tracer.start_as_current_span("run", attributes=facts) as span:
        log.info("claiming slot", extra=facts)
        with engine.begin() as conn:
            with tracer.start_as_current_span("claim slot"):
                claimed = claim_slot(conn, slot, window)
            if not claimed:
                span.set_attribute("outcome", "skipped")
                log.info("slot already done, nothing to do", extra=facts)
                return RunResult("skipped", slot)
            with tracer.start_as_current_span("write report"):
                report = write_report(conn, slot, window)
            written = {**facts, "order_count": report.order_count}
            if settings.PAUSE_BEFORE_COMMIT:
                log.info("report written, pausing before commit", extra=written)
                time.sleep(settings.PAUSE_BEFORE_COMMIT)
        span.set_attribute("outcome", "done")
        log.info(
            "report committed",
            extra={**written, "revenue_cents": report.revenue_cents},
        )
        return RunResult("done", slot, report)
