"""DATABASE_URL as platforms and operators hand it out, checked and given the service's driver.

Platforms give a plain URL (`postgresql://user:password@host:5432/db`, `mysql://...:3306/db`);
SQLAlchemy needs the driver in the scheme (`postgresql+asyncpg`, `mysql+asyncmy`). The service
picks its driver itself, so the same Secret serves any client. A value that cannot work raises
DatabaseUrlError, whose message names DATABASE_URL and what to give instead, before anything
connects.

Plain Python, no template logic: every template that stores data in a SQL database includes this
one copy.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

# database -> (the schemes platforms use for it, the first one canonical; its default port)
DATABASES: dict[str, tuple[tuple[str, ...], int]] = {
    "postgresql": (("postgresql", "postgres"), 5432),
    "mysql": (("mysql", "mariadb"), 3306),
}


class DatabaseUrlError(ValueError):
    """DATABASE_URL is missing or cannot be a URL of this service's database."""


def example_url(database: str) -> str:
    """The form DATABASE_URL takes for `database`, as an error message shows it."""
    schemes, port = DATABASES[database]
    return f"{schemes[0]}://user:password@host:{port}/database"


def driver_url(value: str | None, database: str, driver: str) -> URL:
    """`value` (DATABASE_URL) checked to be a URL of `database`, with `driver` in its scheme.

    Query parameters are kept as given; a storage module translates the ones its driver names
    differently (e.g. libpq's `sslmode`).
    """
    schemes, _ = DATABASES[database]
    example = example_url(database)
    if not value:
        raise DatabaseUrlError(f"DATABASE_URL is not set: give {example}")
    try:
        url = make_url(value)
        url.port  # noqa: B018  # a port that is not a number fails here, not at connect
    except (ArgumentError, ValueError):
        raise DatabaseUrlError(f"DATABASE_URL is not a URL such as {example}") from None
    backend = url.get_backend_name()
    if backend not in schemes:
        raise DatabaseUrlError(f"DATABASE_URL must be a {schemes[0]}:// URL, not {backend}://")
    if not url.database:
        raise DatabaseUrlError(f"DATABASE_URL names no database: give {example}")
    return url.set(drivername=f"{schemes[0]}+{driver}")
