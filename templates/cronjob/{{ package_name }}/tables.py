"""The tables the job reads and writes (SQLAlchemy Core); the migrations create them.

- `orders`: the example's source data (an orders service would own it in a real system).
- `daily_reports`: one row per calendar day, the job's output.
- `job_runs`: the ledger; a row per completed slot, written in the same transaction as the report,
  so a row exists exactly when that slot's work has been committed.
"""

from __future__ import annotations

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
    func,
)

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
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("amount_cents >= 0", name="amount_not_negative"),
    Index(None, "created_at"),
)

daily_reports = Table(
    "daily_reports",
    metadata,
    Column("report_date", Date, primary_key=True),
    Column("slot", DateTime(timezone=True), nullable=False),
    Column("order_count", Integer, nullable=False),
    Column("revenue_cents", BigInteger, nullable=False),
    Column("generated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

job_runs = Table(
    "job_runs",
    metadata,
    Column("slot", DateTime(timezone=True), primary_key=True),
    Column("report_date", Date, nullable=False),
    Column("completed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
