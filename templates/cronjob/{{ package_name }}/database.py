"""The job's database engine: synchronous SQLAlchemy (psycopg 3 on PostgreSQL, PyMySQL on MySQL).

A run is one short transaction, so there is nothing to gain from asyncio here, and no pool: the
process opens one connection and exits.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from . import SERVICE_NAME
from .settings import Settings


def make_engine(settings: Settings) -> Engine:
    """An engine for DATABASE_URL; the connection carries the job's name (pg_stat_activity,
    performance_schema.session_connect_attrs)."""
    url = settings.sqlalchemy_url
    connect_args: dict[str, Any]
    if make_url(url).get_backend_name() == "mysql":
        connect_args = {
            "program_name": SERVICE_NAME,
            "connect_timeout": 10,
            # DATETIME has no time zone: the job writes and reads UTC (tables.UtcDateTime).
            "init_command": "SET time_zone = '+00:00'",
        }
    else:
        connect_args = {"application_name": SERVICE_NAME, "connect_timeout": 10}
    return create_engine(url, poolclass=NullPool, connect_args=connect_args)
