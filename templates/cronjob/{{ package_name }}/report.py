"""The unit of work, as SQL: claim the slot in the ledger, then aggregate one day of orders.

Both statements run on the caller's connection, inside the caller's transaction: the report and
the ledger row commit together or not at all. PostgreSQL and MySQL say "insert unless present"
and "insert or update" differently (and MySQL has no RETURNING): each has its two functions
below, picked by the connection's dialect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, func, insert, literal, select
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.exc import IntegrityError

from .schedule import ReportWindow
from .tables import MYSQL, UtcDateTime, daily_reports, job_runs, orders

DUPLICATE_KEY = 1062  # MySQL's ER_DUP_ENTRY


@dataclass(frozen=True)
class DailyReport:
    """What a run wrote for one day."""

    report_date: date
    order_count: int
    revenue_cents: int


def claim_slot(conn: Connection, slot: datetime, window: ReportWindow) -> bool:
    """Insert the slot's ledger row; False when another run has already committed that slot.

    The primary key is the lock: a concurrent run inserting the same slot waits on this row until
    our transaction ends, then sees the conflict (we committed: it does nothing) or inserts its own
    row (we rolled back: it does the work). Exactly one run of a slot ever does the work. (InnoDB
    waits on the row the same way PostgreSQL does.)
    """
    if conn.dialect.name in MYSQL:
        try:
            conn.execute(insert(job_runs).values(slot=slot, report_date=window.day))
        except IntegrityError as error:
            if getattr(error.orig, "args", (None,))[0] == DUPLICATE_KEY:
                return False
            raise
        return True
    claimed = conn.execute(
        postgresql.insert(job_runs)
        .values(slot=slot, report_date=window.day)
        .on_conflict_do_nothing(index_elements=[job_runs.c.slot])
        .returning(job_runs.c.slot)
    ).first()
    return claimed is not None


def write_report(conn: Connection, slot: datetime, window: ReportWindow) -> DailyReport:
    """Aggregate the orders created in the window into the day's `daily_reports` row.

    A later slot that reports on the same day (a schedule that fires more than once a day)
    refreshes the row, so the report always reflects the latest completed run.
    """
    day_orders = select(
        literal(window.day).label("report_date"),
        literal(slot, UtcDateTime()).label("slot"),
        func.count().label("order_count"),
        func.coalesce(func.sum(orders.c.amount_cents), 0).label("revenue_cents"),
    ).where(orders.c.created_at >= window.start, orders.c.created_at < window.end)
    columns = ["report_date", "slot", "order_count", "revenue_cents"]
    if conn.dialect.name in MYSQL:
        # Aggregate, then upsert the values: the SQL that MySQL 8 and MariaDB both accept (an
        # INSERT ... SELECT ... ON DUPLICATE KEY UPDATE would need VALUES() or a row alias).
        totals = conn.execute(day_orders).one()
        values = {
            "slot": slot,
            "order_count": totals.order_count,
            "revenue_cents": int(totals.revenue_cents),
        }
        conn.execute(
            mysql.insert(daily_reports)
            .values(report_date=window.day, **values)
            .on_duplicate_key_update(**values, generated_at=func.now())
        )
        return DailyReport(window.day, totals.order_count, int(totals.revenue_cents))
    statement = postgresql.insert(daily_reports).from_select(columns, day_orders)
    statement = statement.on_conflict_do_update(
        index_elements=[daily_reports.c.report_date],
        set_={
            "slot": statement.excluded.slot,
            "order_count": statement.excluded.order_count,
            "revenue_cents": statement.excluded.revenue_cents,
            "generated_at": func.now(),
        },
    )
    row = conn.execute(
        statement.returning(daily_reports.c.order_count, daily_reports.c.revenue_cents)
    ).one()
    return DailyReport(window.day, row.order_count, row.revenue_cents)
