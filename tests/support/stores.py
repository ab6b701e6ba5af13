"""The worker's stores for the generator's tests: a fresh database per test, and its counts.

- PostgreSQL and MariaDB (MySQL's stand-in: no MySQL 8 server package exists here) run on the
  machine (tests/support/services.py);
- MongoDB: no MongoDB server can be installed here. `nx-27017` (PyPI), a MongoDB wire-protocol
  server on SQLite, stands in: the one on 127.0.0.1:27017 when it answers, else one this session
  starts on a free port. It cannot prove real mongod semantics (replication, write concerns,
  exact error codes; its JSON-schema validators are not enforced, and its multi-document
  transactions are not isolated from each other, which is why the worker needs none).
- DynamoDB: no DynamoDB runs here. moto's server stands in (the one tests/support/dynamodb.py
  starts, its requests serialized: see moto_server.py), because the worker's commit is a
  TransactWriteItems, which dynalite (the stricter stand-in the API's tests use) lacks. moto
  cannot prove AWS's capacity limits and throttling, transaction conflicts between concurrent
  transactions (it runs one request at a time), latency, IAM, or validation as strict as AWS's.
  A "URL" `dynamodb://host:port/table` names a table on it (store_environment says how the
  worker is pointed at it); the worker's `migrate` creates the table (DYNAMODB_CREATE_TABLE).
"""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from .brokers import AWS_ENV, _process, free_port
from .dynamodb import moto_dynamodb
from .services import fresh_database, fresh_mysql_database, is_listening, mysql_rows

MONGODB_PORT = 27017


def nx_27017_command(port: int, workdir: Path) -> list[str]:
    """The command that starts the nx-27017 stand-in on 127.0.0.1:`port` with data in workdir."""
    binary = shutil.which("nx-27017") or str(Path(sys.executable).parent / "nx-27017")
    return [binary, "--data-dir", str(workdir / "data"), "--host", "127.0.0.1", "-p", str(port)]


@pytest.fixture(scope="session")
def mongodb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mongodb://host:port` of a MongoDB (stand-in) server: 27017's, or a private one."""
    if is_listening("127.0.0.1", MONGODB_PORT):
        yield f"mongodb://127.0.0.1:{MONGODB_PORT}"
        return
    workdir = tmp_path_factory.mktemp("nx-27017")
    port = free_port()
    with _process(nx_27017_command(port, workdir), port, "nx-27017", workdir / "nx.log"):
        yield f"mongodb://127.0.0.1:{port}"


@contextmanager
def fresh_mongodb_database(server: str, prefix: str) -> Iterator[str]:
    from pymongo import MongoClient

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        yield f"{server}/{name}"
    finally:
        with MongoClient(server, serverSelectionTimeoutMS=5000) as client:
            client.drop_database(name)


@pytest.fixture(scope="session")
def dynamodb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`http://host:port` of a moto server of this session (DynamoDB's stand-in)."""
    with moto_dynamodb(tmp_path_factory.mktemp("moto-dynamodb")) as endpoint:
        yield endpoint.url


def _dynamodb(database_url: str) -> tuple[Any, str]:
    """A boto3 client on the server of `dynamodb://host:port/table`, and the table's name."""
    import boto3

    parts = urlsplit(database_url)
    client = boto3.client(
        "dynamodb",
        endpoint_url=f"http://{parts.netloc}",
        region_name=AWS_ENV["AWS_REGION"],
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )
    return client, parts.path.lstrip("/")


@contextmanager
def fresh_dynamodb_table(server: str, prefix: str) -> Iterator[str]:
    """A table name not used yet on `server`; deleted afterwards if something created it."""
    url = f"dynamodb://{urlsplit(server).netloc}/{prefix}-{uuid.uuid4().hex[:12]}"
    try:
        yield url
    finally:
        client, table = _dynamodb(url)
        with suppress(client.exceptions.ResourceNotFoundException):
            client.delete_table(TableName=table)


def store_environment(database_url: str) -> dict[str, str]:
    """The variables that point a generated worker at the store of `database_url`."""
    if not database_url.startswith("dynamodb://"):
        return {"DATABASE_URL": database_url}
    parts = urlsplit(database_url)
    return {
        **AWS_ENV,
        "AWS_ENDPOINT_URL_DYNAMODB": f"http://{parts.netloc}",
        "DYNAMODB_TABLE": parts.path.lstrip("/"),
        "DYNAMODB_CREATE_TABLE": "true",
    }


@contextmanager
def fresh_store(request: pytest.FixtureRequest, database: str, prefix: str) -> Iterator[str]:
    """DATABASE_URL of a new, empty database of `database` (dropped afterwards); for DynamoDB,
    a table as `dynamodb://host:port/table` (store_environment)."""
    if database == "postgresql":
        with fresh_database(prefix) as url:
            yield url
    elif database == "mysql":
        with fresh_mysql_database(prefix) as url:
            yield url
    elif database == "mongodb":
        with fresh_mongodb_database(request.getfixturevalue("mongodb_server"), prefix) as url:
            yield url
    elif database == "dynamodb":
        with fresh_dynamodb_table(request.getfixturevalue("dynamodb_server"), prefix) as url:
            yield url
    else:
        raise ValueError(f"no store {database}")


def counts(database_url: str) -> tuple[int, int, int]:
    """(notifications, distinct events among them, inbox records) in the worker's store."""
    if database_url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(database_url) as connection:
            row = connection.execute(SQL_COUNTS).fetchone()
        assert row is not None
        return row
    if database_url.startswith("mysql"):
        found = mysql_rows(database_url, SQL_COUNTS)[0]
        assert found is not None
        return (int(found[0]), int(found[1]), int(found[2]))
    if database_url.startswith("mongodb"):
        from pymongo import MongoClient

        server, _, name = database_url.rpartition("/")
        with MongoClient(server, serverSelectionTimeoutMS=5000) as client:
            notifications = client[name]["notifications"]
            # One document per event: the claim (inbox) and, once sent, the notification.
            sent = notifications.count_documents({"sent_at": {"$ne": None}})
            return (sent, sent, notifications.count_documents({}))
    if database_url.startswith("dynamodb"):
        client, table = _dynamodb(database_url)
        try:
            scan = client.get_paginator("scan")
            pages = scan.paginate(TableName=table, ProjectionExpression="pk")
            keys = [item["pk"]["S"] for page in pages for item in page["Items"]]
        except client.exceptions.ResourceNotFoundException:
            keys = []  # not migrated yet
        # Two items per event: its inbox item and its notification (one per event by key).
        notifications = sum(key.startswith("NOTIFICATION#") for key in keys)
        return (notifications, notifications, sum(key.startswith("INBOX#") for key in keys))
    raise ValueError(f"no store for {database_url}")


def progress(database_url: str) -> int:
    """How many events the store has recorded, cheaply enough to poll while a worker runs.

    On DynamoDB the table's item count over two (DescribeTable): moto scans in Python under its
    one request lock (tests/support/moto_server.py), so a full scan of 2,000 items every 0.1 s
    would take most of the server's time from the worker under test. A final check reads
    `counts`, which tells the inbox items and the notifications apart.
    """
    if not database_url.startswith("dynamodb"):
        return counts(database_url)[0]
    client, table = _dynamodb(database_url)
    try:
        return int(client.describe_table(TableName=table)["Table"]["ItemCount"]) // 2
    except client.exceptions.ResourceNotFoundException:
        return 0  # not migrated yet


SQL_COUNTS = (
    "SELECT (SELECT count(*) FROM notifications),"
    " (SELECT count(*) FROM (SELECT DISTINCT event_source, event_id FROM notifications) AS d),"
    " (SELECT count(*) FROM inbox)"
)
