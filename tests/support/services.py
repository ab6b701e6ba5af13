"""The real services the tests use, and how a test asks for one.

On a machine without a service the test skips with a reason; with `CI` set it fails instead, so
that a missing service can never turn CI green by skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

# name -> (host, port, the URL a generated service is given)
SERVICES: dict[str, tuple[str, int, str]] = {
    "postgresql": ("127.0.0.1", 5432, "postgresql://postgres@127.0.0.1:5432/test"),
    "mariadb": ("127.0.0.1", 3306, "mysql://root@127.0.0.1:3306/test"),
    "redis": ("127.0.0.1", 6379, "redis://127.0.0.1:6379/0"),
    "rabbitmq": ("127.0.0.1", 5672, "amqp://guest:guest@127.0.0.1:5672/"),
    "nats": ("127.0.0.1", 4222, "nats://127.0.0.1:4222"),
    # nx-27017, the MongoDB stand-in: see start_mongodb() below.
    "mongodb": ("127.0.0.1", 27017, "mongodb://127.0.0.1:27017/test"),
}


def is_listening(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a TCP connection to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require(name: str) -> str:
    """Return the URL of service `name`; skip (or fail under CI) when it does not answer."""
    host, port, url = SERVICES[name]
    if name == "mongodb" and not is_listening(host, port):
        start_mongodb()
    if not is_listening(host, port):
        message = f"{name} is not reachable on {host}:{port}"
        if os.environ.get("CI"):
            pytest.fail(f"{message}, and CI is set: .ci/run must start it")
        pytest.skip(message)
    return url


@contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database with a unique name; its URL, then it is dropped.

    Unique names keep parallel test processes (pytest -n) from ever sharing a database.
    """
    import psycopg

    server = require("postgresql")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_mysql_database(prefix: str) -> Iterator[str]:
    """A new, empty database with a unique name on the MariaDB server; its URL, then dropped.

    MariaDB stands in for MySQL: no MySQL 8 server package exists on these machines. The
    `mariadb` client that comes with the server runs the statements (no Python driver needed).
    """
    server = require("mariadb")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    host, port, _ = SERVICES["mariadb"]
    client = ["mariadb", "--protocol=TCP", "-h", host, "-P", str(port), "-u", "root"]
    subprocess.run([*client, "-e", f"CREATE DATABASE `{name}`"], check=True, timeout=30)
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        subprocess.run([*client, "-e", f"DROP DATABASE IF EXISTS `{name}`"], check=True, timeout=30)


def mysql_rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    """The rows of `sql`, in autocommit (so committed), on the MySQL/MariaDB database at `url`."""
    from urllib.parse import urlsplit

    import pymysql

    parts = urlsplit(url)
    connection = pymysql.connect(
        host=parts.hostname,
        port=parts.port or 3306,
        user=parts.username,
        password=parts.password or "",
        database=parts.path.lstrip("/"),
        autocommit=True,
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return list(cursor.fetchall())
    finally:
        connection.close()


def stop_process(process: subprocess.Popen[bytes], grace: float = 10) -> None:
    """SIGTERM, then SIGKILL if it is still running after `grace` seconds; reap it either way."""
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# Where the MongoDB stand-in keeps its files: outside any test's tmp_path, since it outlives the
# session that starts it (like the machine's other servers). .ci/services.sh uses the same place.
MONGODB_DIR = Path(os.environ.get("NEWSERVICE_NX27017_DIR", "/tmp/nx-27017"))


def start_mongodb(within: float = 20) -> None:
    """Start nx-27017 (PyPI, from the test extra) on 127.0.0.1:27017 unless something listens.

    No MongoDB server can be installed on these machines (every package downloads a binary);
    nx-27017 speaks MongoDB's wire protocol over SQLite. What it cannot prove: replication,
    read/write concerns, exact error codes, and (seen by the API's tests) enforcement of a
    $jsonSchema validator, compound indexes that include `_id`, and range queries on dates.
    Started detached, like the machine's other servers, so that parallel test processes share it.
    """
    host, port, _ = SERVICES["mongodb"]
    if is_listening(host, port):
        return
    binary = shutil.which("nx-27017")
    if binary is None:
        return  # require() then skips, or fails under CI, naming the port
    MONGODB_DIR.mkdir(parents=True, exist_ok=True)
    log = MONGODB_DIR / "server.log"
    with log.open("ab") as out:
        subprocess.Popen(
            [binary, "--data-dir", str(MONGODB_DIR / "data"), "--host", host, "-p", str(port),
             "--log-file", str(log), "--pid-file", str(MONGODB_DIR / "nx-27017.pid")],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + within
    while not is_listening(host, port, timeout=0.5) and time.monotonic() < deadline:
        time.sleep(0.1)
