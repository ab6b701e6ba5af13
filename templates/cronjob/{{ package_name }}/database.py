"""The job's database engine: synchronous SQLAlchemy over psycopg 3.

A run is one short transaction, so there is nothing to gain from asyncio here, and no pool: the
process opens one connection and exits.
"""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from . import SERVICE_NAME
from .settings import Settings


def make_engine(settings: Settings) -> Engine:
    """An engine for DATABASE_URL; the connection is named after the job in pg_stat_activity."""
    return create_engine(
        settings.sqlalchemy_url,
        poolclass=NullPool,
        connect_args={"application_name": SERVICE_NAME, "connect_timeout": 10},
    )
