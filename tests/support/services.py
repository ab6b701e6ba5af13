"""The real services the tests use, and how a test asks for one.

On a machine without a service the test skips with a reason; with `CI` set it fails instead, so
that a missing service can never turn CI green by skipping.
"""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

# name -> (host, port, the URL a generated service is given)
SERVICES: dict[str, tuple[str, int, str]] = {
    "postgresql": ("127.0.0.1", 5432, "postgresql://postgres@127.0.0.1:5432/test"),
    "mariadb": ("127.0.0.1", 3306, "mysql://root@127.0.0.1:3306/test"),
    "redis": ("127.0.0.1", 6379, "redis://127.0.0.1:6379/0"),
    "rabbitmq": ("127.0.0.1", 5672, "amqp://guest:guest@127.0.0.1:5672/"),
    "nats": ("127.0.0.1", 4222, "nats://127.0.0.1:4222"),
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


def stop_process(process: subprocess.Popen[bytes], grace: float = 10) -> None:
    """SIGTERM, then SIGKILL if it is still running after `grace` seconds; reap it either way."""
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
