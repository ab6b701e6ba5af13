"""Apply the Alembic migrations shipped inside the package, safely from many processes at once."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from .db import async_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # "%" is ConfigParser interpolation syntax; a password may contain it.
    config.set_main_option("sqlalchemy.url", async_url(database_url).replace("%", "%%"))
    return config


def migrate(database_url: str) -> None:
    """Upgrade to the newest revision (env.py holds an advisory lock while it does)."""
    command.upgrade(alembic_config(database_url), "head")
