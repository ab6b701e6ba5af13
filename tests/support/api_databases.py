"""The orders API's database for the system tests, whichever system of record it was made for:
the environment that points the API at a fresh one, and how many events wait in its outbox.

- postgresql: a fresh database on the machine's server;
- mysql: a fresh database on the MariaDB server (it stands in for MySQL 8: MySQL-only behaviour
  is not proven);
- mongodb: a fresh database on nx-27017, the MongoDB stand-in (a wire-protocol server on
  SQLite, not a replica set: it runs multi-document transactions without one, so the replica set
  a real MongoDB needs for them is not proven here, nor real mongod's concurrency);
- dynamodb: a table on a private moto server (it supports TransactWriteItems; dynalite, the
  stricter stand-in of the API's own tests, does not). Not proven: AWS's throttling, the
  eventual consistency of the index the relay reads (moto answers from it at once).
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .brokers import AWS_ENV
from .dynamodb import moto_dynamodb
from .services import SERVICES, fresh_database, fresh_mysql_database, require


@dataclass(frozen=True)
class ApiDatabase:
    """What the API is given to reach its database, and a count of its outbox's events."""

    environment: dict[str, str]
    outbox_events: Callable[[], int]


@contextmanager
def api_database(database: str, workdir: Path) -> Iterator[ApiDatabase]:
    """A fresh database of kind `database` for one test; dropped (or stopped) at the end."""
    if database == "postgresql":
        with fresh_database("system_api") as url:
            yield ApiDatabase({"DATABASE_URL": url}, lambda: _postgresql_outbox(url))
    elif database == "mysql":
        with fresh_mysql_database("system_api") as url:
            yield ApiDatabase({"DATABASE_URL": url}, lambda: _mysql_outbox(url))
    elif database == "mongodb":
        with _fresh_mongodb_database() as url:
            yield ApiDatabase({"DATABASE_URL": url}, lambda: _mongodb_outbox(url))
    elif database == "dynamodb":
        with moto_dynamodb(workdir) as endpoint:
            table = f"system-orders-{uuid.uuid4().hex[:10]}"
            env = {**endpoint.environment(), "DYNAMODB_TABLE": table}
            env["DYNAMODB_CREATE_TABLE"] = "true"
            # moto 5.x deep-copies the whole table on every TransactWriteItems (its rollback),
            # so a POST's time grows with the table and with the machine's load: past the
            # default deadline of 0.5 s on a busy machine. DynamoDB's latency is not what this
            # test proves; its POSTs must still all answer 201.
            env["REQUEST_TIMEOUT"] = "5"
            yield ApiDatabase(env, lambda: _dynamodb_outbox(endpoint.url, table))
    else:
        raise ValueError(f"no system-test database {database!r}")


def _postgresql_outbox(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT count(*) FROM outbox").fetchone()
    assert row is not None
    return int(row[0])


def _mysql_outbox(url: str) -> int:
    # Through the mariadb client, as services.py does (no Python driver needed).
    host, port, _ = SERVICES["mariadb"]
    name = url.rsplit("/", 1)[1]
    client = ["mariadb", "--protocol=TCP", "-h", host, "-P", str(port), "-u", "root", "-N"]
    query = [*client, name, "-e", "SELECT count(*) FROM outbox"]
    return int(subprocess.run(query, check=True, capture_output=True, text=True).stdout)


@contextmanager
def _fresh_mongodb_database() -> Iterator[str]:
    from pymongo import MongoClient

    server = require("mongodb")
    name = f"system_api_{uuid.uuid4().hex[:12]}"
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with MongoClient(server, serverSelectionTimeoutMS=5000) as client:
            client.drop_database(name)


def _mongodb_outbox(url: str) -> int:
    from pymongo import MongoClient

    name = url.rsplit("/", 1)[1]
    with MongoClient(url, serverSelectionTimeoutMS=5000) as client:
        return int(client[name]["outbox"].count_documents({}))


def _dynamodb_outbox(endpoint: str, table: str) -> int:
    import boto3

    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=AWS_ENV["AWS_REGION"],
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )
    count = 0
    for page in client.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression="begins_with(pk, :outbox)",
        ExpressionAttributeValues={":outbox": {"S": "OUTBOX#"}},
        Select="COUNT",
    ):
        count += int(page["Count"])
    return count
