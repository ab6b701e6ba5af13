"""DATABASE_URL as platforms and operators hand it out, checked and given the service's driver.

Platforms give a plain URL (`postgresql://user:password@host:5432/db`, `mysql://...:3306/db`);
SQLAlchemy needs the driver in the scheme (`postgresql+asyncpg`, `mysql+asyncmy`). The service
picks its driver itself, so the same Secret serves any client. A value that cannot work raises
DatabaseUrlError, whose message names DATABASE_URL and what to give instead, before anything
connects.

Plain Python, no template logic: every template that stores data in a SQL database or MongoDB
includes this one copy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:  # SQLAlchemy is imported by the SQL functions only: a MongoDB service lacks it
    from sqlalchemy.engine import URL

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
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

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


# MongoDB: the URI is handed to PyMongo as given (it reads replicaSet, tls, authSource... itself);
# only what would fail later, or silently pick the wrong database, is checked here.
MONGODB_EXAMPLE = "mongodb://user:password@host:27017/database (or mongodb+srv://...)"
# Characters MongoDB does not allow in a database name.
MONGODB_FORBIDDEN = set('/\\. "$')


def mongodb_database(value: str | None) -> tuple[str, str]:
    """`value` (DATABASE_URL) checked to be a MongoDB URI naming a database: (URI, database).

    No DNS lookup happens here (a `mongodb+srv://` URI is resolved when the client connects).
    """
    if not value:
        raise DatabaseUrlError(f"DATABASE_URL is not set: give {MONGODB_EXAMPLE}")
    parts = urlsplit(value)
    if parts.scheme not in ("mongodb", "mongodb+srv"):
        shown = f"{parts.scheme}://" if parts.scheme else "no scheme"
        raise DatabaseUrlError(f"DATABASE_URL must be a mongodb:// URI, not {shown}")
    hosts = parts.netloc.rpartition("@")[2]
    if not hosts or any(not host for host in hosts.split(",")):
        raise DatabaseUrlError(f"DATABASE_URL names no host: give {MONGODB_EXAMPLE}")
    for host in hosts.split(","):
        port = host.rpartition(":")[2] if not host.endswith("]") and ":" in host else ""
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise DatabaseUrlError(f"DATABASE_URL has a port that is not a number: {port}")
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise DatabaseUrlError(f"DATABASE_URL names no database: give {MONGODB_EXAMPLE}")
    if MONGODB_FORBIDDEN & set(database) or len(database) > 63:
        raise DatabaseUrlError(f"DATABASE_URL names an invalid MongoDB database: {database!r}")
    return value, database
