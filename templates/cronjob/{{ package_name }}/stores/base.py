"""What a run needs of its database: claim the slot, write the day's report, commit both or none.

One module of this package per database implements `Store`; `stores/__init__.py` picks the one
this repo was generated with. `job.py` drives every store the same way:

    with store.unit_of_work(slot, window) as work:
        if work.claim():
            report = work.write_report()

Leaving the block normally commits the claim and the report together; leaving it by an
exception (a failure, or `Aborted` on SIGTERM) undoes the claim, so the retry does the work.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from ..schedule import ReportWindow


@dataclass(frozen=True)
class DailyReport:
    """What a run wrote for one day."""

    report_date: date
    order_count: int
    revenue_cents: int


class UnitOfWork(Protocol):
    """One slot's work, open until its `with` block ends."""

    def claim(self) -> bool:
        """Claim the slot in the ledger; False when another run has already done its work.

        A concurrent run that holds the claim is waited for: when it commits, False; when it
        gives up, this run takes the claim and True.
        """
        ...

    def write_report(self) -> DailyReport:
        """Aggregate the window's orders into the day's report, committed with the claim."""
        ...

    def hold(self, seconds: float) -> None:
        """Keep the work open, uncommitted, for `seconds` (PAUSE_BEFORE_COMMIT: tests, demos)."""
        ...


class Store(Protocol):
    """The job's database: the source orders, the reports and the ledger of slots."""

    def unit_of_work(
        self, slot: datetime, window: ReportWindow
    ) -> AbstractContextManager[UnitOfWork]:
        """The unit of work of `slot`: committed when its block ends, undone on an exception."""
        ...

    def close(self) -> None:
        """Close the connections."""
        ...
