"""DATABASE_URL as platforms and operators hand it out, checked and given the service's driver.

Platforms give a plain URL (`postgresql://user:password@host:5432/db`, `mysql://...:3306/db`);
SQLAlchemy needs the driver in the scheme (`postgresql+asyncpg`, `mysql+asyncmy`). The service
picks its driver itself, so the same Secret serves any client. A value that cannot work raises
DatabaseUrlError, whose message names DATABASE_URL and what to give instead, before anything
connects.

MongoDB takes its connection string as given (`mongodb://` or `mongodb+srv://`, checked by
`mongodb_database`); DynamoDB is reached by table name and the standard AWS variables, checked by
`dynamodb_table` and `endpoint_url`.

Plain Python, no template logic: every template that stores data in a database includes this one
copy. SQLAlchemy is imported only by the SQL functions, so the document databases do without it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
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


MONGODB_EXAMPLE = (
    "mongodb://user:password@host:27017/database"
    " or mongodb+srv://user:password@cluster.example.net/database"
)
# What MongoDB refuses in a database name (and the 63-byte limit below).
_MONGODB_NAME_FORBIDDEN = re.compile(r'[/\\. "$*<>:|?\x00]')


def mongodb_database(value: str | None) -> tuple[str, str]:
    """`value` (DATABASE_URL) checked to be a MongoDB connection string naming a database:
    (the string, the database's name). The string goes to the driver unchanged (its options
    included), and nothing is resolved here: a `mongodb+srv://` host is looked up in DNS at the
    first connect.
    """
    if not value:
        raise DatabaseUrlError(f"DATABASE_URL is not set: give {MONGODB_EXAMPLE}")
    scheme, separator, rest = value.partition("://")
    if scheme not in ("mongodb", "mongodb+srv"):
        given = f"not {scheme}://" if separator else f"such as {MONGODB_EXAMPLE}"
        raise DatabaseUrlError(f"DATABASE_URL must be a mongodb:// or mongodb+srv:// URL, {given}")
    # Several hosts are a comma-separated list (a replica set): check each host's port.
    parts = urlsplit("mongodb://" + rest)
    hosts = parts.netloc.rpartition("@")[2]
    if not hosts or any(not host or host.startswith(":") for host in hosts.split(",")):
        raise DatabaseUrlError(f"DATABASE_URL names no host: give {MONGODB_EXAMPLE}")
    for host in hosts.split(","):
        _, colon, port = host.rpartition("]")[2].rpartition(":")
        if colon and not (port.isdigit() and 0 < int(port) < 65536):
            raise DatabaseUrlError(f"DATABASE_URL has a port that is not a number: {host}")
        if colon and scheme == "mongodb+srv":
            raise DatabaseUrlError("DATABASE_URL: a mongodb+srv:// host takes no port")
    if scheme == "mongodb+srv" and "," in hosts:
        raise DatabaseUrlError("DATABASE_URL: a mongodb+srv:// URL names exactly one host")
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise DatabaseUrlError(f"DATABASE_URL names no database: give {MONGODB_EXAMPLE}")
    if _MONGODB_NAME_FORBIDDEN.search(database) or len(database.encode()) > 63:
        raise DatabaseUrlError(
            f"DATABASE_URL names the database {database!r}, which MongoDB does not allow: at most"
            ' 63 bytes, none of / \\ . space " $ * < > : | ?'
        )
    return value, database


_DYNAMODB_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")


def dynamodb_table(value: str | None) -> str:
    """`value` (DYNAMODB_TABLE) checked against DynamoDB's rules for a table name."""
    if not value:
        raise DatabaseUrlError("DYNAMODB_TABLE is not set: give the name of the orders table")
    if not _DYNAMODB_TABLE.match(value):
        raise DatabaseUrlError(
            f"DYNAMODB_TABLE {value!r} is not a DynamoDB table name: 3 to 255 characters of"
            " letters, digits, '_', '-' and '.'"
        )
    return value


def endpoint_url(value: str | None, variable: str) -> str | None:
    """An optional endpoint URL (e.g. AWS_ENDPOINT_URL_DYNAMODB of a local server) checked to be
    http(s)://host[:port]; None when not set (the AWS endpoint of the region is used)."""
    if not value:
        return None
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018  # a port that is not a number fails here, not at connect
    except ValueError:
        raise DatabaseUrlError(f"{variable} has a port that is not a number: {value}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DatabaseUrlError(f"{variable} must be an http(s)://host[:port] URL, not {value!r}")
    return value
