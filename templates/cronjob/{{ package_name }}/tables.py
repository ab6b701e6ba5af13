"""The tables the job reads and writes (SQLAlchemy Core); the migrations create them.

- `orders`: the example's source data (an orders service would own it in a real system).
- `daily_reports`: one row per calendar day, the job's output.
- `job_runs`: the ledger; a row per completed slot, written in the same transaction as the report,
  so a row exists exactly when that slot's work has been committed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    TypeDecorator,
    func,
)
from sqlalchemy.engine import Dialect


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime in, an aware UTC datetime out, on every database.

    PostgreSQL's `timestamptz` does this itself. MySQL's DATETIME has no time zone and its drivers
    drop the offset of an aware value: there, values are stored as naive UTC (the job's sessions
    run in UTC, see database.py) and read back as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and dialect.name in MYSQL and value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value  # type: ignore[no-any-return]


MYSQL = ("mysql", "mariadb")

metadata = MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

orders = Table(
    "orders",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("amount_cents", BigInteger, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False, server_default=func.now()),
    CheckConstraint("amount_cents >= 0", name="amount_not_negative"),
    Index(None, "created_at"),
)

daily_reports = Table(
    "daily_reports",
    metadata,
    Column("report_date", Date, primary_key=True),
    Column("slot", UtcDateTime(), nullable=False),
    Column("order_count", Integer, nullable=False),
    Column("revenue_cents", BigInteger, nullable=False),
    Column("generated_at", UtcDateTime(), nullable=False, server_default=func.now()),
)

job_runs = Table(
    "job_runs",
    metadata,
    Column("slot", UtcDateTime(), primary_key=True),
    Column("report_date", Date, nullable=False),
    Column("completed_at", UtcDateTime(), nullable=False, server_default=func.now()),
)
