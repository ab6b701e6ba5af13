"""The outbox table, the same on PostgreSQL and MySQL (migration 0002 creates it).

Only unpublished events live here: the relay deletes each row in the transaction that claimed
it, once the broker has confirmed it (the broker keeps the history). `seq` gives the order of
publication; `created_at` is seconds since the epoch, from which the backlog's age is read.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Double, LargeBinary, String, Table

from ..storage.tables import metadata

outbox = Table(
    "outbox",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("headers", JSON, nullable=False),
    Column("created_at", Double, nullable=False),
)
