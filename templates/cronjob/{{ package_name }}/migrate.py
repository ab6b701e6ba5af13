"""`python -m <package> migrate`: apply the Alembic migrations that ship inside the package.

Safe to run concurrently (every CronJob pod runs it as an init container): the upgrade runs in one
transaction that first takes a PostgreSQL advisory lock, so a second migrator waits, then finds
the schema at head and does nothing. PostgreSQL's DDL is transactional, so a failed migration
leaves no half-applied schema behind. On MySQL, whose DDL commits statement by statement, the
lock is the session's named lock (GET_LOCK), released after the new revision is committed.
"""

from __future__ import annotations

import logging
import zlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, func, select, text

from . import SERVICE_NAME
from .database import make_engine
from .settings import Settings
from .tables import MYSQL

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
        if engine.dialect.name in MYSQL:
            _upgrade_under_named_lock(engine, config, revision)
        else:
            with engine.begin() as conn:
                conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_ID)))
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
    finally:
        engine.dispose()
    log.info("database migrated", extra={"revision": revision})


# A GET_LOCK name may have at most 64 characters.
MIGRATION_LOCK_NAME = f"{SERVICE_NAME}.migrations"[:64]


def _upgrade_under_named_lock(engine: Engine, config: Config, revision: str) -> None:
    with engine.connect() as conn:
        taken = conn.execute(
            text("SELECT GET_LOCK(:name, 300)"), {"name": MIGRATION_LOCK_NAME}
        ).scalar()
        if taken != 1:
            raise RuntimeError(f"could not take the migration lock {MIGRATION_LOCK_NAME!r}")
        try:
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
            conn.commit()  # the new revision is visible before the next migrator gets the lock
        finally:
            conn.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": MIGRATION_LOCK_NAME})
