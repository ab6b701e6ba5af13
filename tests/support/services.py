"""The real services the tests use, and how a test asks for one.

On a machine without a service the test skips with a reason; with `CI` set it fails instead, so
that a missing service can never turn CI green by skipping.
"""

from __future__ import annotations

import os
import socket

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
