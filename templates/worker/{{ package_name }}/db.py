"""The database: tables (the migrations create them) and the async engine."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKeyConstraint,
    Identity,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

metadata = MetaData()

# One row per event ever handled; its primary key is what makes handling idempotent. CloudEvents
# makes `source` + `id` unique (two producers may use the same ids): that pair is the key.
inbox = Table(
    "inbox",
    metadata,
    Column("source", String(1000), primary_key=True),
    Column("event_id", String(200), primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The effect: one notification per order.created event.
notifications = Table(
    "notifications",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("event_source", String(1000), nullable=False),
    Column("event_id", String(200), nullable=False),
    Column("order_id", String(100), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("message", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("event_source", "event_id", name="notifications_event_key"),
    ForeignKeyConstraint(
        ["event_source", "event_id"],
        ["inbox.source", "inbox.event_id"],
        name="notifications_event_fkey",
    ),
)


def async_url(database_url: str) -> str:
    """`postgresql://...` as given by the platform, with the asyncpg driver this code uses."""
    url = make_url(database_url)
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise ValueError("DATABASE_URL must be a postgresql:// URL")
    query = dict(url.query)
    if "sslmode" in query:  # libpq's name; asyncpg calls it ssl and takes the same values
        query["ssl"] = query.pop("sslmode")
    url = url.set(drivername="postgresql+asyncpg", query=query)
    return url.render_as_string(hide_password=False)


def create_engine(database_url: str, pool_size: int) -> AsyncEngine:
    """The process-wide engine.

    No `pool_pre_ping`: it would cost a round trip per transaction (a quarter of the work of a
    batch). A connection that a database restart broke fails its first statement instead;
    SQLAlchemy then discards the whole pool, and the retry of that event gets a fresh connection.
    """
    return create_async_engine(async_url(database_url), pool_size=pool_size, max_overflow=0)
