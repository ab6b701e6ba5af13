"""`python -m <package> migrate`: apply the Alembic migrations that ship inside the package.

Safe to run concurrently (every CronJob pod runs it as an init container): the upgrade runs in one
transaction that first takes a PostgreSQL advisory lock, so a second migrator waits, then finds
the schema at head and does nothing. PostgreSQL's DDL is transactional, so a failed migration
leaves no half-applied schema behind.
"""

from __future__ import annotations

import logging
import zlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import func, select

from . import SERVICE_NAME
from .database import make_engine
from .settings import Settings

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# One lock id per service, so that services sharing a database do not wait on one another.
MIGRATION_LOCK_ID = zlib.crc32(f"{SERVICE_NAME}:migrate".encode())


def alembic_config() -> Config:
    """Alembic's configuration, built in code: no alembic.ini has to ship in the image."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def migrate(settings: Settings, revision: str = "head") -> None:
    """Upgrade the database to `revision` under the migration lock."""
    # Alembic announces each of its plugins at INFO on every start: noise in the job's logs.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    engine = make_engine(settings)
    config = alembic_config()
    try:
        with engine.begin() as conn:
            conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_ID)))
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    finally:
        engine.dispose()
    log.info("database migrated", extra={"revision": revision})
